"""results.csv, summary.json and plot.png of training rows (the output contract, over steps)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from xvanish.core import require, write_csv_atomic
from xvanish.fit import fit_decay
from xvanish.report.headline import build_series
from xvanish.report.outputs import PLOT_NAME, RESULTS_NAME, SUMMARY_NAME, replace_atomic, run_summary, write_json_atomic

__all__ = ["write_outputs"]


def write_outputs(
    df: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    domain: str,
    group: str,
    config: Mapping[str, Any],
    wall_seconds: float,
    plot: bool = True,
) -> dict[str, Any]:
    """Write the three files of a training run into ``out_dir``; returns the summary.

    The rows' scale is the step, so fits and the plot run over steps; the profile panel
    is the last logged step's. An existing results.csv is refused, never overwritten.
    """
    out_dir = Path(out_dir)
    require(
        not (out_dir / RESULTS_NAME).exists(),
        "output directory",
        str(out_dir),
        f"already holds {RESULTS_NAME}; choose another directory",
    )
    fits = fit_decay(df)
    series = build_series(df, fits, group)
    write_csv_atomic(df, out_dir / RESULTS_NAME)
    if plot:
        from xvanish.report.plots import plot_series

        replace_atomic(out_dir / PLOT_NAME, lambda tmp: plot_series(series, tmp, title=f"{domain}: {group} over steps"))
    summary = run_summary(df=df, fits=fits, series=series, domain=domain, config=config, wall_seconds=wall_seconds)
    write_json_atomic(summary, out_dir / SUMMARY_NAME)
    return summary
