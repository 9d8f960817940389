"""The run's PNG: variance vs scale and the profile at the largest scale, readable at any size.

Row 1 always: the headline group's variance vs the swept key (left) and the profile of its
family along position at the largest scale (right; the variance of the cost itself where
there is no profile). A run of one sweep value with a profile shows the profile alone. Two more rows appear only where they inform:

* **zoom**: when a panel spans so many decades that the series which stay put become one
  smear (deep_mlp: 1e-115 … 1e5, six of ten series within a few decades), a second panel
  shows just those series on their own y-range. The top panel keeps every series, so
  the vanishing ones are still compared against each other;
* **zero fraction**: wherever exact zeros occur (``zero_frac > 0``, underflow), the
  fraction of entries exactly 0, on a linear 0–100% axis. In the log panels a variance
  of exactly 0 cannot be drawn; it is marked by a ▼ at the axis floor instead of vanishing.

A fitted law is drawn only where it describes the points: R² ≥ ``MIN_DRAWN_R2`` (0.9), or
within a factor ``MAX_DRAWN_FACTOR`` (2) of them in log RMS (a flat series: R² says nothing).

Theory is drawn by kind: a prediction (``exact`` dashed, ``asymptotic`` dash-dotted) is a
line; a ``bound`` is a dotted ceiling with the excluded region above it hatched. A
categorical sweep axis (``activation=[tanh,relu]``) gets categorical ticks, points per
value and no fit line; its profile panel shows one profile per value (a marker per value).

One legend, outside the axes at the right: the series (a colour each, never repeated:
tab10 up to 10 series, tab20 up to 20, a sampled colour map beyond, with a marker cycle
from 11 series on) and a grey key of what the line styles and markers mean.

Matplotlib's object-oriented API with the Agg canvas: no pyplot, no global backend state,
works without a display.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter
from matplotlib.transforms import blended_transform_factory

from xvanish.core import is_numeric_text
from xvanish.report.headline import Series, theory_kinds, x_values

__all__ = ["MARKERS", "law_curve", "plot_series", "series_styles", "zoom_subset"]

#: The fitted curve ln V(x) of each law from its (intercept, rate).
_LAWS = {
    "exponential": lambda x, a, r: np.exp(a + r * x),
    "power": lambda x, a, r: np.exp(a) * x**r,
}

#: Line style of each theory kind; ``""``: a table from before theory_kind (kind unknown).
THEORY_STYLES = {"exact": "--", "asymptotic": "-.", "": "--"}
THEORY_LABELS = {"exact": "theory (exact)", "asymptotic": "theory (asymptotic)", "": "theory"}
BOUND_LABEL = "theory bound (dotted; hatched above: excluded)"
ZERO_LABEL = "Var = 0 (all entries 0): ▼ at the floor"
MEASURED_LABEL = "measured (±95% CI)"
FIT_LABEL = "fit (better law)"
#: Markers cycled from 11 series on (colour and marker together never repeat).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")
#: Grey of the legend's key entries (what a style means, not a series).
KEY_COLOR = "0.35"
#: A panel spanning more decades than this may get a zoom (see :func:`zoom_subset`).
ZOOM_MIN_DECADES = 30.0
LEGEND_FONTSIZE = 7


#: A fitted law is drawn only where it describes the points: it explains at least this share
#: of ln Var's variation, or (a flat series has nothing to explain) it stays within a factor
#: of MAX_DRAWN_FACTOR of them, root mean square on the log scale.
MIN_DRAWN_R2 = 0.9
MAX_DRAWN_FACTOR = 2.0


def law_curve(record: dict | None, x: np.ndarray) -> np.ndarray | None:
    """The fitted variance along ``x`` for a fit record, or None if there is no usable fit."""
    if record is None or record.get("rate") is None or record.get("intercept") is None:
        return None
    rate, intercept = float(record["rate"]), float(record["intercept"])
    if not (math.isfinite(rate) and math.isfinite(intercept)):
        return None
    return _LAWS[record["law"]](x, intercept, rate)


def series_styles(n: int) -> list[tuple[tuple[float, float, float, float], str]]:
    """A (colour, marker) per series; no two series share a colour.

    Up to 10: tab10 with circles. Up to 20: tab20, its dark halves first, then the light
    ones, with a marker cycle. Beyond: ``n`` samples of the turbo colour map (distinct,
    ordered like the series) with the marker cycle.
    """
    if n <= 10:
        colors = [matplotlib.colormaps["tab10"](i) for i in range(n)]
        return [(color, "o") for color in colors]
    if n <= 20:
        order = list(range(0, 20, 2)) + list(range(1, 20, 2))
        colors = [matplotlib.colormaps["tab20"](i) for i in order[:n]]
    else:
        colors = [tuple(c) for c in matplotlib.colormaps["turbo"](np.linspace(0.03, 0.97, n))]
    return [(color, MARKERS[i % len(MARKERS)]) for i, color in enumerate(colors)]


@dataclass
class _Encoding:
    """How series are told apart: a (colour, marker) each, and the legend entries that say so."""

    styles: list[tuple[tuple, str]]
    entries: list[tuple[object, str]]


def _factored(series: Sequence[Series]) -> _Encoding | None:
    """Colour by one facet, marker by another, when more than 10 series form such a grid.

    A 7 × 5 multirun (35 jobs) then needs 7 colour + 5 marker entries instead of 35, and a
    numeric key gets an ordered colour map (a trend reads at a glance). The pair of keys is
    chosen so that (colour, marker) is unique per series; None when no pair is.
    """
    facets = [one.facets for one in series]
    if len(series) <= 10 or any(not f for f in facets):
        return None
    keys = list(facets[0])
    if len(keys) < 2 or any(list(f) != keys for f in facets):
        return None
    values = {key: list(dict.fromkeys(str(f[key]) for f in facets)) for key in keys}
    pairs = sorted(itertools.permutations(keys, 2), key=lambda ab: (-len(values[ab[0]]), len(values[ab[1]])))
    for by_color, by_marker in pairs:
        unique = len({(str(f[by_color]), str(f[by_marker])) for f in facets}) == len(series)
        if unique and len(values[by_marker]) <= len(MARKERS):
            break
    else:
        return None
    levels = values[by_color]
    if all(map(is_numeric_text, levels)):
        levels = sorted(levels, key=float)
        cmap = matplotlib.colormaps["viridis"]
        colors = {v: cmap(0.92 * i / max(len(levels) - 1, 1)) for i, v in enumerate(levels)}
    else:
        colors = {v: color for v, (color, _) in zip(levels, series_styles(len(levels)))}
    markers = {v: MARKERS[i] for i, v in enumerate(values[by_marker])}
    styles = [(colors[str(f[by_color])], markers[str(f[by_marker])]) for f in facets]
    heading = Line2D([], [], alpha=0)
    entries = [(heading, f"{by_color}:")]
    entries += [(Line2D([], [], color=colors[v], marker="o", ls="-", lw=1, ms=4), f"  {v}") for v in levels]
    entries += [(heading, f"{by_marker}:")]
    entries += [
        (Line2D([], [], color=KEY_COLOR, marker=markers[v], ls="none", ms=4), f"  {v}") for v in values[by_marker]
    ]
    return _Encoding(styles, entries)


def _encoding(series: Sequence[Series]) -> _Encoding:
    """A factored colour × marker grid where it fits (:func:`_factored`), else a style per series."""
    factored = _factored(series)
    if factored is not None:
        return factored
    styles = series_styles(len(series))
    entries = [
        (Line2D([], [], color=color, marker=marker, ls="-", lw=1, ms=4), one.label or one.group)
        for one, (color, marker) in zip(series, styles)
    ]
    return _Encoding(styles, entries)


@dataclass
class _Trace:
    """One series' points in one panel (a categorical profile: one per value)."""

    index: int  # of the series
    rows: pd.DataFrame
    x: np.ndarray
    color: tuple
    marker: str
    fit: dict | None = None
    half_width: float | None = None  # categorical x: theory drawn as segments this wide


@dataclass
class _Column:
    """A column of panels: its traces and how to label its axes."""

    traces: list[_Trace]
    xlabel: str
    ylabel: str
    title: str
    categories: list[str] | None = None  # categorical x ticks
    key: dict[str, object] = field(default_factory=dict)  # legend key entries it needs


def _positive(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values > 0)


def _scale_traces(series: Sequence[Series], styles, rows_of, fit_of) -> list[_Trace]:
    """One trace per series across the sweep (categorical: side by side around each tick)."""
    traces = []
    n = len(series)
    slot = min(0.7 / max(n, 1), 0.2)
    for j, (one, (color, marker)) in enumerate(zip(series, styles)):
        rows = rows_of(one)
        x = x_values(rows, one.scale_name, one.categories)
        half = None
        if one.categories is not None:
            x = x + (j - (n - 1) / 2) * slot
            half = max(slot * 0.45, 0.08)
        traces.append(_Trace(j, rows, x, color, marker, fit=fit_of(one), half_width=half))
    return traces


def _profile_column(series: Sequence[Series], styles) -> _Column:
    """The profile panel: each series' family along position (per value on a categorical axis)."""
    traces, key = [], {}
    for j, (one, (color, marker)) in enumerate(zip(series, styles)):
        rows = one.profile_rows
        if not len(rows):
            continue
        if one.categories is None:
            traces.append(
                _Trace(j, rows, rows["position"].astype(float).to_numpy(), color, marker, fit=one.profile_fit)
            )
            continue
        values = rows[one.scale_name].astype(str)
        for i, value in enumerate(one.categories):
            part = rows[values == value]
            cat_marker = MARKERS[i % len(MARKERS)]
            key[f"{one.scale_name}={value}"] = Line2D([], [], color=KEY_COLOR, marker=cat_marker, ls="none", ms=5)
            traces.append(_Trace(j, part, part["position"].astype(float).to_numpy(), color, cat_marker))
    families = sorted({one.profile_family for one in series if one.profile_family and len(one.profile_rows)})
    ylabel = f"Var[{'/'.join(families)}/<position>]" if families else "Var"
    scales = {(one.scale_name, one.profile_scale) for one in series if len(one.profile_rows)}
    if any(one.categories is not None for one in series):
        title = f"profile per {series[0].scale_name} value"
    elif len(scales) == 1:
        ((name, value),) = scales
        title = f"profile at {name}={value:g}"
    else:
        title = "profile at each series' largest scale"
    return _Column(traces, "position", ylabel, title, key=key)


def _columns(series: Sequence[Series], styles) -> list[_Column]:
    first = series[0]
    categories = first.categories
    scale = _Column(
        _scale_traces(series, styles, lambda one: one.rows, lambda one: one.fit),
        first.scale_name,
        f"Var[{first.group}]",
        f"variance vs {first.scale_name}",
        categories=categories,
    )
    if any(len(one.profile_rows) for one in series):
        profile = _profile_column(series, styles)
        # One sweep value (rnn_memory: seq_len=200): a "variance vs" panel would be one column
        # of dots on an empty axis; the profile is the whole story.
        return [profile] if all(len(one.rows) <= 1 for one in series) else [scale, profile]
    # No positioned groups (one parameter's gradient): show how the cost itself concentrates.
    cost = _Column(
        _scale_traces(series, styles, lambda one: one.cost_rows, lambda one: None),
        first.scale_name,
        "Var[cost]",
        "variance of the cost itself",
        categories=categories,
    )
    return [scale, cost]


def zoom_subset(ranges: Sequence[tuple[float, float]]) -> list[int] | None:
    """Which traces get a zoom panel, from each one's (min, max) of log10 of what it draws.

    A panel whose traces span ``D`` > :data:`ZOOM_MIN_DECADES` decades squeezes the traces
    that stay put into a smear. Those whose own span is at most ``D/8`` are *compact*; they
    get a zoom when there is at least one other trace (else nothing is squeezed) and the
    compact ones together span at most ``D/4`` (else a zoom would not be closer). A trace
    with a variance of exactly 0 has min ``-inf``: it left the scale and is never compact.

    Returns:
        The indices of the compact traces, or None when no zoom helps.
    """
    usable = [(i, lo, hi) for i, (lo, hi) in enumerate(ranges) if math.isfinite(hi)]
    lows = [lo for _, lo, _ in usable if math.isfinite(lo)]
    if len(usable) < 2 or not lows:
        return None
    span = max(hi for _, _, hi in usable) - min(lows)
    if span <= ZOOM_MIN_DECADES:
        return None
    compact = [i for i, lo, hi in usable if hi - lo <= span / 8]
    if not compact or len(compact) == len(usable):
        return None
    window = max(ranges[i][1] for i in compact) - min(ranges[i][0] for i in compact)
    return compact if window <= span / 4 else None


def _log10_range(rows: pd.DataFrame) -> tuple[float, float]:
    """log10 (min, max) of a trace's variances and theory; min ``-inf`` when a variance is 0."""
    if not len(rows):
        return math.nan, math.nan
    var = rows["var"].astype(float).to_numpy()
    values = np.concatenate([var, rows["theory_var"].astype(float).to_numpy()])
    values = values[_positive(values)]
    if not values.size:
        return math.nan, math.nan
    low = -math.inf if (var == 0).any() else float(np.log10(values.min()))
    return low, float(np.log10(values.max()))


def _segments(trace: _Trace, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pieces of a theory curve: the whole curve, or a short flat segment per categorical point."""
    keep = _positive(y) & np.isfinite(trace.x)
    x, y = trace.x[keep], y[keep]
    if trace.half_width is None:
        return [(x, y)] if x.size else []
    return [(np.array([xi - trace.half_width, xi + trace.half_width]), np.array([yi, yi])) for xi, yi in zip(x, y)]


def _joined(pieces: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Pieces as one polyline, NaN between pieces (one Line2D per theory curve)."""
    xs, ys = [], []
    for x, y in pieces:
        xs += [x, [np.nan]]
        ys += [y, [np.nan]]
    return np.concatenate(xs[:-1]), np.concatenate(ys[:-1])


def _draw_measured(ax, trace: _Trace, key: dict) -> None:
    rows = trace.rows
    var = rows["var"].astype(float).to_numpy()
    shown = _positive(var)
    if shown.any():
        lower = np.nan_to_num(var - rows["var_lo"].astype(float).to_numpy(), nan=0.0)
        upper = np.nan_to_num(rows["var_hi"].astype(float).to_numpy() - var, nan=0.0)
        # Missing interval ends draw no bar rather than a misleading one.
        yerr = [np.clip(lower, 0, None)[shown], np.clip(upper, 0, None)[shown]]
        bars = ax.errorbar(trace.x[shown], var[shown], yerr=yerr, fmt=trace.marker, ms=4, capsize=2, color=trace.color)
        bars.lines[0].set_gid("measured")
        key.setdefault(MEASURED_LABEL, Line2D([], [], color=KEY_COLOR, marker="o", ls="none", ms=4))
    zero = var == 0
    if zero.any():
        # log y cannot show 0: a ▼ on the axis floor (x in data, y in axes coordinates).
        floor = blended_transform_factory(ax.transData, ax.transAxes)
        (marks,) = ax.plot(
            trace.x[zero],
            np.zeros(int(zero.sum())),
            "v",
            ms=7,
            color=trace.color,
            transform=floor,
            clip_on=False,
            zorder=5,
            markeredgecolor="black",
            mew=0.5,
        )
        marks.set_gid("zero-floor")
        key.setdefault(ZERO_LABEL, Line2D([], [], color=KEY_COLOR, marker="v", ls="none", ms=6))


def _close_to_points(trace: _Trace, record: dict) -> bool:
    """Whether the law is within MAX_DRAWN_FACTOR of the fitted range's positive points (log RMS)."""
    var = trace.rows["var"].to_numpy(dtype=float)
    inside = (trace.x >= float(record["x_min"])) & (trace.x <= float(record["x_max"])) & (var > 0)
    law = law_curve(record, trace.x[inside])
    if law is None or not inside.any():
        return False
    residual = np.log(var[inside]) - np.log(law)
    return bool(np.sqrt(np.mean(residual**2)) <= math.log(MAX_DRAWN_FACTOR))


def _draw_fit(ax, trace: _Trace, key: dict) -> None:
    record = trace.fit
    x_min, x_max = (record or {}).get("x_min"), (record or {}).get("x_max")
    if x_min is None or x_max is None or trace.half_width is not None:
        return
    # A law that does not describe the points (a GAN profile over discriminator steps rises,
    # then falls) would draw a shape that is not there; the table still gives it, with R².
    if not (record.get("r2", 0.0) >= MIN_DRAWN_R2 or _close_to_points(trace, record)):
        return
    x = np.linspace(float(x_min), float(x_max), 100)
    y = law_curve(record, x)
    if y is not None:
        (line,) = ax.plot(x, y, "-", color=trace.color, alpha=0.6, lw=1)
        line.set_gid("fit")
        key.setdefault(FIT_LABEL, Line2D([], [], color=KEY_COLOR, ls="-", lw=1))


def _draw_theory(ax, trace: _Trace, key: dict) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
    """Theory lines by kind; returns the bound pieces, hatched once the y-range is known."""
    theory = trace.rows["theory_var"].astype(float).to_numpy()
    kinds = theory_kinds(trace.rows)
    ceilings = []
    for kind in dict.fromkeys(kinds[np.isfinite(theory)]):
        y = np.where(kinds == kind, theory, np.nan)
        pieces = _segments(trace, y)
        if not pieces:
            continue
        x, y = _joined(pieces)
        single = trace.half_width is None and np.isfinite(x).sum() == 1  # one point: a tick, not a line
        if kind == "bound":
            (line,) = ax.plot(x, y, ":", lw=1.6, color=trace.color, marker="_" if single else None, ms=14)
            key.setdefault(
                BOUND_LABEL,
                (
                    Line2D([], [], color=KEY_COLOR, ls=":", lw=1.6),
                    Patch(facecolor="none", edgecolor=KEY_COLOR, hatch="///", lw=0),
                ),
            )
            ceilings += [(px, py, trace.color) for px, py in pieces]
        else:
            style = THEORY_STYLES.get(kind, "--")
            (line,) = ax.plot(x, y, style, color=trace.color, alpha=0.85, marker="_" if single else None, ms=14)
            key.setdefault(THEORY_LABELS.get(kind, f"theory ({kind})"), Line2D([], [], color=KEY_COLOR, ls=style))
        line.set_gid(f"theory:{kind or 'unknown'}")
    return ceilings


def _hatch_above(ax, ceilings) -> None:
    """Hatch the region above each bound up to the top of the (now final) y-range."""
    if not ceilings:
        return
    bottom, top = ax.get_ylim()
    for x, y, color in ceilings:
        rgb = matplotlib.colors.to_rgb(color)
        if x.size == 1:  # a single point: a narrow band around it
            x = np.array([x[0] * 0.98, x[0] * 1.02]) if x[0] else np.array([-0.02, 0.02])
            y = np.repeat(y, 2)
        ax.fill_between(
            x, y, top, facecolor=(*rgb, 0.06), edgecolor=(*rgb, 0.4), hatch="///", lw=0, gid="bound-excluded"
        )
    ax.set_ylim(bottom, top)


#: A numeric x axis whose positive values span this factor or more is drawn log-like.
WIDE_X_SPAN = 1000.0


def _set_x(ax, column: _Column) -> None:
    ax.set_xlabel(column.xlabel)
    if column.categories is not None:
        ax.set_xticks(range(len(column.categories)), column.categories)
        ax.set_xlim(-0.5, len(column.categories) - 0.5)
        return
    # Log-spaced positions (GAN discriminator steps 0, 1, 3, 10, ..., 10^4) squash into the
    # left edge of a linear axis; symlog keeps 0 on a linear stretch and spreads the rest.
    xs = np.concatenate([t.x for t in column.traces]) if column.traces else np.empty(0)
    xs = xs[np.isfinite(xs)]
    positive = xs[xs > 0]
    if positive.size and xs.min() >= 0 and positive.max() / positive.min() >= WIDE_X_SPAN:
        ax.set_xscale("symlog", linthresh=float(positive.min()))


def _draw_variance(ax, column: _Column, traces: list[_Trace], key: dict) -> None:
    """Points, fits and theory of ``traces`` on a log-y panel."""
    ax.set_yscale("log")
    ceilings = []
    for trace in traces:
        _draw_measured(ax, trace, key)
        _draw_fit(ax, trace, key)
        ceilings += _draw_theory(ax, trace, key)
    _set_x(ax, column)
    ax.set_ylabel(column.ylabel)
    if ax.has_data():
        _hatch_above(ax, ceilings)
    else:
        ax.text(0.5, 0.5, "nothing to show", ha="center", va="center", transform=ax.transAxes)


def _draw_zero_fraction(ax, column: _Column) -> None:
    for trace in column.traces:
        zeros = trace.rows["zero_frac"].astype(float).to_numpy()
        style = "none" if column.categories is not None else "-"
        (line,) = ax.plot(trace.x, zeros, marker=trace.marker, ls=style, ms=4, lw=1, color=trace.color)
        line.set_gid("zero-frac")
    ax.set_ylim(-0.04, 1.04)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("entries exactly 0")
    _set_x(ax, column)


def _has_zeros(column: _Column) -> bool:
    return any((trace.rows["zero_frac"].astype(float) > 0).any() for trace in column.traces if len(trace.rows))


def _legend_layout(labels: list[str], height: float) -> tuple[int, float]:
    """Columns the legend needs at this figure height, and its width in inches."""
    rows_fit = max(int(height * 72 / (LEGEND_FONTSIZE * 1.5)) - 2, 5)
    columns = math.ceil(len(labels) / rows_fit)
    longest = max(map(len, labels), default=10)
    return columns, columns * (longest * LEGEND_FONTSIZE * 0.56 / 72 + 0.45)


def plot_series(series: Sequence[Series], path: str | os.PathLike[str], title: str = "") -> Figure:
    """Draw the panels for every series and save a PNG (see the module docstring).

    Args:
        series: from :func:`xvanish.report.headline.build_series`.
        path: the PNG file to write.
        title: figure title.

    Returns:
        The figure (already saved), for inspection. Its axes carry ``gid``s naming their
        role (``variance``, ``zoom``, ``zeros``, with the column: ``variance:0``), and the
        drawn artists ``gid``s for what they show (``measured``, ``fit``,
        ``theory:<kind>``, ``bound-excluded``, ``zero-floor``, ``zero-frac``).
    """
    series = list(series)
    encoding = _encoding(series)
    styles = encoding.styles
    figure = Figure(layout="constrained")
    FigureCanvasAgg(figure)
    if not series:
        ax = figure.subplots()
        ax.text(0.5, 0.5, "nothing to show", ha="center", va="center", transform=ax.transAxes)
        figure.savefig(os.fspath(path), dpi=110, format="png")
        return figure
    columns = _columns(series, styles)
    zooms = [zoom_subset([_log10_range(trace.rows) for trace in column.traces]) for column in columns]
    zeros = [_has_zeros(column) for column in columns]
    rows = [("variance", 3.9)]
    if any(z is not None for z in zooms):
        rows.append(("zoom", 3.0))
    if any(zeros):
        rows.append(("zeros", 2.0))
    height = sum(h for _, h in rows) + (0.4 if title else 0.1)
    key: dict[str, object] = {}
    for column in columns:
        key.update(column.key)
    # Draw first, size the legend from the key it needs; the figure grows to hold it.
    axes = figure.subplots(len(rows), len(columns), squeeze=False, height_ratios=[h for _, h in rows])
    for r, (role, _) in enumerate(rows):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            ax.set_gid(f"{role}:{c}")
            if role == "variance":
                _draw_variance(ax, column, column.traces, key)
                ax.set_title(column.title, fontsize=9)
            elif role == "zoom" and zooms[c] is not None:
                subset = [column.traces[i] for i in zooms[c]]
                _draw_variance(ax, column, subset, key)
                shown = sorted({trace.index for trace in subset})
                low, high = ax.get_ylim()
                ax.set_title(
                    f"zoom: the {len(shown)} of {len(series)} series that stay within "
                    f"{math.log10(high / low):.0f} decades",
                    fontsize=9,
                )
            elif role == "zeros" and zeros[c]:
                _draw_zero_fraction(ax, column)
                ax.set_title("fraction of gradient entries exactly 0", fontsize=9)
            else:
                ax.remove()
    # One legend outside the axes: the series (or the colour/marker facets), then the key.
    handles = [handle for handle, _ in encoding.entries] + list(key.values())
    labels = [label for _, label in encoding.entries] + list(key)
    legend_columns, width = _legend_layout(labels, height)
    figure.set_size_inches(5.5 * len(columns) + width, height)
    figure.legend(
        handles, labels, loc="outside right upper", fontsize=LEGEND_FONTSIZE, ncols=legend_columns, frameon=False
    )
    if title:
        figure.suptitle(title, fontsize=10)
    figure.savefig(os.fspath(path), dpi=110, format="png")
    return figure
