"""The run's PNG: variance vs scale (panel 1) and the profile at the largest scale (panel 2).

Matplotlib's object-oriented API with the Agg canvas: no pyplot, no global backend state,
works without a display.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from xvanish.report.headline import Series

__all__ = ["law_curve", "plot_series"]

#: The fitted curve ln V(x) of each law from its (intercept, rate).
_LAWS = {
    "exponential": lambda x, a, r: np.exp(a + r * x),
    "power": lambda x, a, r: np.exp(a) * x**r,
}


def law_curve(record: dict | None, x: np.ndarray) -> np.ndarray | None:
    """The fitted variance along ``x`` for a fit record, or None if there is no usable fit."""
    if record is None or record.get("rate") is None or record.get("intercept") is None:
        return None
    rate, intercept = float(record["rate"]), float(record["intercept"])
    if not (math.isfinite(rate) and math.isfinite(intercept)):
        return None
    return _LAWS[record["law"]](x, intercept, rate)


def _errorbars(ax, rows, x_column: str, color, label: str | None) -> None:
    x = rows[x_column].astype(float).to_numpy()
    var = rows["var"].astype(float).to_numpy()
    # Missing interval ends draw no bar rather than a misleading one.
    lower = np.nan_to_num(var - rows["var_lo"].astype(float).to_numpy(), nan=0.0)
    upper = np.nan_to_num(rows["var_hi"].astype(float).to_numpy() - var, nan=0.0)
    ax.errorbar(x, var, yerr=[np.clip(lower, 0, None), np.clip(upper, 0, None)], fmt="o",
                ms=4, capsize=2, color=color, label=label)
    theory = rows["theory_var"].astype(float).to_numpy()
    if np.isfinite(theory).any():
        ax.plot(x, theory, "--", color=color, alpha=0.8)


def _fit_line(ax, record: dict | None, color) -> None:
    x_min, x_max = (record or {}).get("x_min"), (record or {}).get("x_max")
    if x_min is None or x_max is None:
        return
    x = np.linspace(float(x_min), float(x_max), 100)
    y = law_curve(record, x)
    if y is not None:
        ax.plot(x, y, "-", color=color, alpha=0.5, lw=1)


def plot_series(series: Sequence[Series], path: str | os.PathLike[str], title: str = "") -> Figure:
    """Draw the two panels for every series and save a PNG.

    Panel 1: the headline group's variance vs scale with 95% CI bars, the better fitted law
    (solid) and the theory (dashed), one colour per series. Panel 2: the variance of the
    profile family vs position at each series' largest scale, theory dashed.

    Args:
        series: from :func:`xvanish.report.headline.build_series`.
        path: the PNG file to write.
        title: figure title.

    Returns:
        The figure (already saved), for inspection.
    """
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    scale_ax, profile_ax = figure.subplots(1, 2)
    colors = [f"C{i % 10}" for i in range(len(series))]
    profile_scales = {(one.scale_name, one.profile_scale) for one in series if len(one.profile_rows)}
    for one, color in zip(series, colors):
        label = one.label or one.group
        _errorbars(scale_ax, one.rows, "scale", color, label)
        _fit_line(scale_ax, one.fit, color)
        if len(one.profile_rows):
            # The scale goes in the legend only when the series' largest scales differ.
            where = f" ({one.scale_name}={one.profile_scale:g})" if len(profile_scales) > 1 else ""
            _errorbars(profile_ax, one.profile_rows, "position", color, label + where)
            _fit_line(profile_ax, one.profile_fit, color)
    has_profile = any(len(one.profile_rows) for one in series)
    if not has_profile:
        # No positioned groups (one parameter's gradient): show how the cost itself concentrates.
        for one, color in zip(series, colors):
            if len(one.cost_rows):
                _errorbars(profile_ax, one.cost_rows, "scale", color, one.label or "cost")
    first = series[0] if series else None
    scale_ax.set_xlabel(first.scale_name if first else "scale")
    scale_ax.set_ylabel(f"Var[{first.group}]" if first else "Var")
    scale_ax.set_title("variance vs scale (dots ±95% CI, solid fit, dashed theory)", fontsize=9)
    families = sorted({one.profile_family for one in series if one.profile_family})
    profile_ax.set_xlabel("position")
    profile_ax.set_ylabel(f"Var[{'/'.join(families)}/<position>]" if families else "Var")
    if not has_profile:
        profile_ax.set_xlabel(first.scale_name if first else "scale")
        profile_ax.set_ylabel("Var[cost]")
        profile_ax.set_title("variance of the cost itself (dots ±95% CI, dashed theory)", fontsize=9)
    elif len(profile_scales) == 1:
        (name, value), = profile_scales
        profile_ax.set_title(f"profile at {name}={value:g} (dots ±95% CI, solid fit, dashed theory)", fontsize=9)
    else:
        profile_ax.set_title("profile at each series' largest scale", fontsize=9)
    for ax in (scale_ax, profile_ax):
        ax.set_yscale("log")
        if ax.has_data():
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "nothing to show", ha="center", va="center", transform=ax.transAxes)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.savefig(os.fspath(path), dpi=110, format="png")
    return figure
