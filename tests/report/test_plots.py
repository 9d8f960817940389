"""The PNG: what every panel draws, by theory kind, with many series, with underflow, categorical.

Each test reads the drawn artists back (their data, styles, colours, positions) and
compares them with the numbers put into the table; artists and axes carry ``gid``s that
name their role (see :func:`xvanish.report.plots.plot_series`).
"""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import synthetic
from matplotlib.colors import to_rgba
from matplotlib.image import imread
from synthetic import series_of

from xvanish.report.plots import (
    BOUND_LABEL,
    FIT_LABEL,
    MARKERS,
    MIN_DRAWN_R2,
    THEORY_LABELS,
    ZERO_LABEL,
    law_curve,
    plot_series,
    series_styles,
    zoom_subset,
)

DEPTHS = [2, 4, 8, 16]


def _two_variants(kind="exact"):
    return pd.concat(
        [
            synthetic.results(
                DEPTHS, synthetic.decaying(rate), theory=synthetic.decaying(rate * 1.1), kind=kind, variant=name
            )
            for name, rate in (("slow", -0.1), ("fast", -0.5))
        ],
        ignore_index=True,
    )


def _axes(figure):
    """Visible axes by their gid (``variance:0``, ``zoom:1``, ``zeros:0``…)."""
    return {ax.get_gid(): ax for ax in figure.axes}


def _lines(ax, gid):
    return [line for line in ax.get_lines() if line.get_gid() == gid]


def _legend_texts(figure):
    (legend,) = figure.legends
    return [text.get_text() for text in legend.get_texts()]


@pytest.fixture
def png(tmp_path):
    return tmp_path / "plot.png"


def test_both_panels_draw_the_tables_numbers(png):
    series = series_of(_two_variants())
    figure = plot_series(series, png, title="toy")
    height, width, _ = imread(png).shape
    assert width > height > 100
    axes = _axes(figure)
    assert set(axes) == {"variance:0", "variance:1"}  # no zoom, no zeros: nothing to add
    for gid, rows_of in (("variance:0", lambda one: one.rows), ("variance:1", lambda one: one.profile_rows)):
        ax = axes[gid]
        assert ax.get_yscale() == "log"
        measured, theory, fits = _lines(ax, "measured"), _lines(ax, "theory:exact"), _lines(ax, "fit")
        assert len(measured) == len(theory) == len(fits) == len(series)
        for one, points, predicted, fit in zip(series, measured, theory, fits):
            rows = rows_of(one)
            # The plotted arrays are the table's own numbers: equal, not merely close.
            assert np.array_equal(points.get_ydata(), rows["var"])
            assert np.array_equal(predicted.get_ydata(), rows["theory_var"])
            assert predicted.get_linestyle() == "--"
            assert points.get_color() == fit.get_color() == predicted.get_color()
        assert ax.get_xlabel() == ("depth" if gid.endswith("0") else "position")
    fit_line = _lines(axes["variance:0"], "fit")[1]
    assert np.allclose(fit_line.get_ydata(), law_curve(series[1].fit, fit_line.get_xdata()), rtol=1e-12)
    assert axes["variance:1"].get_title() == "profile at depth=16"


def test_a_law_that_does_not_describe_the_points_is_not_drawn(png):
    """The fit records with R² below MIN_DRAWN_R2: a law still within a factor 2 of the points
    (a flat series) is drawn; moved 10× off them, it is not (the table still reports it)."""
    series = series_of(_two_variants())
    for one in series:
        one.fit = {**one.fit, "r2": MIN_DRAWN_R2 - 0.01}
        one.profile_fit = {**one.profile_fit, "r2": MIN_DRAWN_R2 - 0.01}
    axes = _axes(plot_series(series, png))
    assert len(_lines(axes["variance:0"], "fit")) == len(_lines(axes["variance:1"], "fit")) == len(series)
    for one in series:
        one.fit = {**one.fit, "intercept": one.fit["intercept"] + math.log(10)}
        one.profile_fit = {**one.profile_fit, "intercept": one.profile_fit["intercept"] + math.log(10)}
    axes = _axes(plot_series(series, png))
    assert not _lines(axes["variance:0"], "fit") and not _lines(axes["variance:1"], "fit")
    assert _lines(axes["variance:0"], "measured")


def test_the_legend_is_outside_every_panel_and_names_series_and_styles(png):
    series = series_of(_two_variants())
    figure = plot_series(series, png)
    (legend,) = figure.legends
    renderer = figure.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    for ax in figure.axes:
        assert not box.overlaps(ax.get_window_extent(renderer))
    assert box.x0 >= max(ax.get_window_extent(renderer).x1 for ax in figure.axes)
    assert _legend_texts(figure)[:2] == ["slow", "fast"]
    assert {"measured (±95% CI)", FIT_LABEL, "theory (exact)"} <= set(_legend_texts(figure))


@pytest.mark.parametrize("kind, style", [("exact", "--"), ("asymptotic", "-."), ("", "--")])
def test_a_prediction_is_a_line_labelled_with_its_kind(png, kind, style):
    figure = plot_series(series_of(_two_variants(kind)), png)
    for ax in figure.axes:
        lines = _lines(ax, f"theory:{kind or 'unknown'}")
        assert len(lines) == 2 and all(line.get_linestyle() == style for line in lines)
        assert not [c for c in ax.collections if c.get_gid() == "bound-excluded"]
    texts = _legend_texts(figure)
    assert THEORY_LABELS[kind] in texts and BOUND_LABEL not in texts
    assert [label for label in THEORY_LABELS.values() if label in texts] == [THEORY_LABELS[kind]]


def test_a_bound_is_a_dotted_ceiling_with_the_region_above_hatched(png):
    df = synthetic.results(DEPTHS, synthetic.decaying(-0.5), theory=synthetic.decaying(-0.2, 3.0), kind="bound")
    (one,) = series_of(df)
    figure = plot_series([one], png)
    ax = _axes(figure)["variance:0"]
    assert not _lines(ax, "theory:exact") and not _lines(ax, "theory:asymptotic")
    (ceiling,) = _lines(ax, "theory:bound")
    assert ceiling.get_linestyle() == ":" and np.array_equal(ceiling.get_ydata(), one.rows["theory_var"])
    (hatched,) = [c for c in ax.collections if c.get_gid() == "bound-excluded"]
    assert hatched.get_hatch() == "///"
    vertices = hatched.get_paths()[0].vertices
    top = ax.get_ylim()[1]
    # The excluded region runs from the bound up to the top of the panel, over the swept range.
    assert np.isclose(vertices[:, 1].max(), top) and np.isclose(vertices[:, 1].min(), one.rows["theory_var"].min())
    assert np.isclose(vertices[:, 0].min(), min(DEPTHS)) and np.isclose(vertices[:, 0].max(), max(DEPTHS))
    assert ax.get_ylim()[0] <= one.rows["var"].min()  # the data stay in view
    assert BOUND_LABEL in _legend_texts(figure) and "theory (exact)" not in _legend_texts(figure)


@pytest.mark.parametrize("n", [1, 9, 10, 11, 12, 20, 21, 35, 60])
def test_series_styles_never_repeat_a_colour(n):
    styles = series_styles(n)
    assert len(styles) == n and len({to_rgba(color) for color, _ in styles}) == n
    assert all(marker in MARKERS for _, marker in styles)


def test_twelve_series_get_twelve_colours_in_every_panel(png):
    df = pd.concat(
        [synthetic.results(DEPTHS, synthetic.decaying(-0.1 * i), variant=f"job {i}") for i in range(12)],
        ignore_index=True,
    )
    figure = plot_series(series_of(df), png)
    for ax in figure.axes:
        colors = [to_rgba(line.get_color()) for line in _lines(ax, "measured")]
        assert len(colors) == 12 and len(set(colors)) == 12
    assert _legend_texts(figure)[:12] == [f"job {i}" for i in range(12)]


def test_a_35_job_grid_is_coloured_by_one_key_and_marked_by_the_other(png):
    weights, biases = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0], [0.0, 0.05, 0.1, 0.3, 0.5]
    frames, facets = [], []
    for w in weights:
        for b in biases:
            frames.append(synthetic.results([30], lambda s, l, w=w: w ** (30 - l), variant=f"w={w} b={b}"))
            facets.append({"domain.weight_var": str(w), "domain.bias_var": str(b)})
    series = series_of(pd.concat(frames, ignore_index=True))
    for one, facet in zip(series, facets):
        one.facets = facet
    figure = plot_series(series, png)
    texts = _legend_texts(figure)
    # 7 colours + 5 markers (+ two headings) instead of 35 entries.
    assert texts[:14] == (
        ["domain.weight_var:"] + [f"  {w}" for w in weights] + ["domain.bias_var:"] + [f"  {b}" for b in biases]
    )
    # one depth per job: the profile is the only panel (no one-column "variance vs depth")
    assert "variance:1" not in _axes(figure)
    profile = _lines(_axes(figure)["variance:0"], "measured")
    styles = [(to_rgba(line.get_color()), line.get_marker()) for line in profile]
    assert len(set(styles)) == 35
    for (color, marker), facet in zip(styles, facets):
        assert marker == MARKERS[biases.index(float(facet["domain.bias_var"]))]
    colours_by_weight = [styles[i * len(biases)][0] for i in range(len(weights))]
    assert len(set(colours_by_weight)) == len(weights)  # one colour per weight_var, ordered (viridis)
    box = figure.legends[0].get_window_extent(figure.canvas.get_renderer())
    assert all(not box.overlaps(ax.get_window_extent()) for ax in figure.axes)


def test_many_decades_get_a_zoom_on_the_series_that_stay_put(png):
    """deep_mlp's shape: 4 series vanish by 10-110 decades, 6 stay within ~6 decades."""
    series = series_of(synthetic.deep_mlp_like())
    figure = plot_series(series, png)
    axes = _axes(figure)
    assert set(axes) == {"variance:0", "variance:1", "zoom:0", "zoom:1"}
    for column, rows_of in (("0", lambda one: one.rows), ("1", lambda one: one.profile_rows)):
        assert len(_lines(axes[f"variance:{column}"], "measured")) == 10  # the overview keeps all
        zoomed = _lines(axes[f"zoom:{column}"], "measured")
        stable = [one for one in series if one.label.startswith("stable")]
        assert [list(line.get_ydata()) for line in zoomed] == [list(rows_of(one)["var"]) for one in stable]
        low, high = axes[f"zoom:{column}"].get_ylim()
        assert high / low < 1e12  # the zoom spans a dozen decades, not 120
    assert "zoom" in axes["zoom:0"].get_title()


@pytest.mark.parametrize(
    "ranges, expected",
    [
        ([(-110, 0), (-3, 0), (0, 2)], [1, 2]),  # two stay within 5 decades of 110
        ([(-110, 0), (-60, 0)], None),  # nothing compact: no zoom
        ([(-20, 0), (-1, 0)], None),  # 20 decades: the overview is readable
        ([(-110, 0), (-100, -99), (0, 1)], None),  # compact ones 100 decades apart: a zoom would not help
        ([(-3, 0), (-2, 0)], None),
        ([(math.nan, math.nan), (-1, 0)], None),
        ([(-math.inf, 0), (-110, 0)], None),  # underflowed to 0: left the scale, not compact
        ([(-math.inf, 0), (-110, 0), (-2, 0)], [2]),
    ],
)
def test_zoom_subset(ranges, expected):
    assert zoom_subset(ranges) == expected


def test_underflow_gets_a_zero_fraction_panel_and_floor_markers(png):
    series = series_of(synthetic.underflow_like())
    figure = plot_series(series, png)
    axes = _axes(figure)
    assert {"zeros:0", "zeros:1"} <= set(axes)
    for column, rows_of in (("0", lambda one: one.rows), ("1", lambda one: one.profile_rows)):
        zeros = axes[f"zeros:{column}"]
        assert zeros.get_yscale() == "linear" and zeros.get_ylim() == pytest.approx((-0.04, 1.04))
        lines = _lines(zeros, "zero-frac")
        assert [list(line.get_ydata()) for line in lines] == [list(rows_of(one)["zero_frac"]) for one in series]
        log_ax = axes[f"variance:{column}"]
        floors = _lines(log_ax, "zero-floor")
        for one, points in zip(series, _lines(log_ax, "measured")):
            rows = rows_of(one)
            assert np.array_equal(points.get_ydata(), rows["var"][rows["var"] > 0])  # 0 cannot be on log y
        # Each series with a zero variance has a ▼ at the axis floor (y = 0 in axes coordinates).
        zero_rows = [rows_of(one) for one in series if (rows_of(one)["var"] == 0).any()]
        assert len(floors) == len(zero_rows) >= 1
        for marks, rows in zip(floors, zero_rows):
            x_column = "scale" if column == "0" else "position"
            assert np.array_equal(marks.get_xdata(), rows[x_column][rows["var"] == 0])
            assert set(marks.get_ydata()) == {0.0} and marks.get_marker() == "v" and not marks.get_clip_on()
            display = marks.get_transform().transform([[marks.get_xdata()[0], 0.0]])[0]
            assert np.isclose(display[1], log_ax.get_window_extent().y0)
    assert ZERO_LABEL in _legend_texts(figure)
    assert not [gid for gid in axes if gid.startswith("zoom")]  # a series that underflowed is no smear


def test_the_zoom_range_covers_the_theory_a_zoom_panel_draws():
    """Across the sweep: a series measured flat at 1 whose theory falls 120 decades is not compact."""
    df = synthetic.results([2, 4, 8], lambda s, l: 1.0, theory=lambda s, l: 10.0 ** (-15 * float(s)), kind="exact")
    steep = synthetic.results([2, 4, 8], lambda s, l: 10.0 ** (-14 * float(s)))
    series = series_of(pd.concat([df.assign(variant="a"), steep.assign(variant="b")], ignore_index=True))
    figure = plot_series(series, "/dev/null")
    assert "zoom:0" not in _axes(figure)


def test_no_zeros_no_zero_panel(png):
    figure = plot_series(series_of(_two_variants()), png)
    assert not [gid for gid in _axes(figure) if gid.startswith("zeros")]


def _categorical():
    def level(value):
        return {"tanh": 1.0, "relu": 0.5, "sigmoid": 1e-3}[value]

    return pd.concat(
        [
            synthetic.results(
                ["tanh", "relu", "sigmoid"],
                lambda s, l: level(s) * 0.9 ** (10 - l),
                depth=lambda s: 10,
                scale_name="activation",
                categorical=True,
                theory=lambda s, l: level(s) * 0.9 ** (10 - l),
                kind="exact",
                variant=v,
            )
            for v in ("xavier", "he")
        ],
        ignore_index=True,
    )


def test_a_categorical_axis_has_ticks_per_value_points_and_no_fit_line(png):
    series = series_of(_categorical())
    figure = plot_series(series, png)
    axes = _axes(figure)
    scale_ax = axes["variance:0"]
    assert [t.get_text() for t in scale_ax.get_xticklabels()] == ["tanh", "relu", "sigmoid"]
    assert not _lines(scale_ax, "fit") and not _lines(axes["variance:1"], "fit")
    for one, points in zip(series, _lines(scale_ax, "measured")):
        assert np.array_equal(points.get_ydata(), one.rows["var"])
        assert points.get_linestyle() == "None"  # points per value, never joined
        # side by side around each tick, within the tick's slot
        offsets = points.get_xdata() - [0, 1, 2]
        assert np.all(np.abs(offsets) < 0.5) and np.ptp(offsets) < 1e-12  # one offset per series
    # The theory is a short flat segment per value (NaN between), not a line across values.
    theory = _lines(scale_ax, "theory:exact")[0]
    y = theory.get_ydata()
    assert np.isnan(y).sum() == 2 and np.array_equal(y[~np.isnan(y)], np.repeat(series[0].rows["theory_var"], 2))
    # The profile panel: one profile per value and series, a marker per value.
    profiles = _lines(axes["variance:1"], "measured")
    assert len(profiles) == 6
    assert [line.get_marker() for line in profiles[:3]] == list(MARKERS[:3])
    assert {"activation=tanh", "activation=relu", "activation=sigmoid"} <= set(_legend_texts(figure))
    assert axes["variance:1"].get_title() == "profile per activation value"


@pytest.mark.parametrize(
    "law, expected",
    [
        ("exponential", lambda x: np.exp(0.3 - 0.2 * x)),
        ("power", lambda x: math.exp(0.3) * x**-0.2),
    ],
)
def test_law_curve_is_the_fitted_law(law, expected):
    x = np.array([1.0, 2.0, 5.0])
    record = {"law": law, "rate": -0.2, "intercept": 0.3}
    assert np.allclose(law_curve(record, x), expected(x), rtol=1e-14, atol=0)
    assert law_curve(None, x) is None
    assert law_curve({"law": law, "rate": None, "intercept": 0.3}, x) is None


def test_without_a_profile_the_second_panel_shows_the_cost(png):
    df = synthetic.results(DEPTHS, synthetic.decaying(-0.3), cost=True)
    (one,) = series_of(df)
    bare = dataclasses.replace(one, profile_rows=one.profile_rows.iloc[:0], profile_family=None, profile_fit=None)
    figure = plot_series([bare], png)
    cost_ax = _axes(figure)["variance:1"]
    assert cost_ax.get_ylabel() == "Var[cost]"
    (points,) = _lines(cost_ax, "measured")
    assert np.array_equal(points.get_ydata(), one.cost_rows["var"])


def test_no_series_still_writes_a_png(png):
    figure = plot_series([], png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure.axes[0].texts[0].get_text() == "nothing to show"
