"""Reports of a run: the console table, the plot, summary.json, and multirun aggregation.

* :mod:`~xvanish.report.headline`: what a report shows per series (variant);
* :mod:`~xvanish.report.table`: the console table;
* :mod:`~xvanish.report.plots`: the PNG (matplotlib Agg);
* :mod:`~xvanish.report.outputs`: summary.json and atomic writes;
* :mod:`~xvanish.report.callback`: the Hydra callback that aggregates a multirun;
* :mod:`~xvanish.report.progress`: a progress bar that stays out of logs.
"""
