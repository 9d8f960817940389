"""The PNG: two log-variance panels with CI bars, fit and theory lines, one colour per series."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import toy_domain
from matplotlib.image import imread

from xvanish.core import sweep
from xvanish.fit import fit_decay
from xvanish.report.headline import build_series
from xvanish.report.plots import law_curve, plot_series

DEPTHS = [2, 3, 4, 5]


@pytest.fixture(scope="module")
def series():
    frames = [sweep(toy_domain.sampler, "depth", DEPTHS, n_samples=32, seed=0, decay=decay, width=4)
              .assign(variant=f"decay {decay}") for decay in (0.5, 0.8)]
    df = pd.concat(frames, ignore_index=True)
    return build_series(df, fit_decay(df), "input")


def test_plot_writes_a_two_panel_png(series, tmp_path):
    path = tmp_path / "plot.png"
    figure = plot_series(series, path, title="toy")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = imread(path).shape
    assert width > height > 100
    scale_ax, profile_ax = figure.axes
    assert scale_ax.get_yscale() == profile_ax.get_yscale() == "log"
    assert [text.get_text() for text in scale_ax.get_legend().get_texts()] == ["decay 0.5", "decay 0.8"]


def test_panel_data_are_the_measured_and_theory_variances(series, tmp_path):
    figure = plot_series(series, tmp_path / "plot.png")
    scale_ax = figure.axes[0]
    first = series[0]
    dashed = [line for line in scale_ax.get_lines() if line.get_linestyle() == "--"]
    # The plotted arrays are the table's own numbers: equal, not merely close (variances can
    # be far below allclose's default atol).
    assert np.array_equal(dashed[0].get_ydata(), first.rows["theory_var"])  # theory line
    points = [line for line in scale_ax.get_lines() if line.get_marker() == "o"]
    assert np.array_equal(points[0].get_ydata(), first.rows["var"])


@pytest.mark.parametrize("law, expected", [
    ("exponential", lambda x: np.exp(0.3 - 0.2 * x)),
    ("power", lambda x: math.exp(0.3) * x ** -0.2),
])
def test_law_curve_is_the_fitted_law(law, expected):
    x = np.array([1.0, 2.0, 5.0])
    record = {"law": law, "rate": -0.2, "intercept": 0.3}
    assert np.allclose(law_curve(record, x), expected(x), rtol=1e-14, atol=0)
    assert law_curve(None, x) is None
    assert law_curve({"law": law, "rate": None, "intercept": 0.3}, x) is None


def test_nothing_to_profile_still_plots(series, tmp_path):
    bare = [dataclasses.replace(one, profile_rows=one.profile_rows.iloc[:0], profile_family=None,
                                profile_fit=None) for one in series]
    path = tmp_path / "plot.png"
    figure = plot_series(bare, path)
    # Without a profile the second panel shows the cost's variance across the sweep.
    has_cost = any(len(one.cost_rows) for one in bare)
    assert figure.axes[1].has_data() == has_cost
    assert figure.axes[1].get_ylabel() == "Var[cost]"
    assert path.stat().st_size > 0
