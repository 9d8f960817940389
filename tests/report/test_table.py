"""The console table shows the results' own numbers and the fit in the stated wording."""

import dataclasses
import math

import pytest
import toy_domain

from xvanish.core import sweep
from xvanish.fit import fit_decay
from xvanish.report.headline import build_series
from xvanish.report.table import fit_line, format_report, format_series

DEPTHS = [2, 3, 4, 5]


@pytest.fixture(scope="module")
def series():
    df = sweep(toy_domain.sampler, "depth", DEPTHS, n_samples=32, seed=3, width=4)
    return build_series(df, fit_decay(df), "input")[0]


def test_rows_show_the_measured_numbers(series):
    text = format_series(series)
    lines = text.splitlines()
    assert lines[0] == "input across depth"
    for row, line in zip(series.rows.itertuples(), lines[2:]):
        assert line.split()[0] == f"{row.scale:g}"
        assert f"{row.var:.3e} [{row.var_lo:.2e}, {row.var_hi:.2e}]" in line
        assert line.rstrip().endswith(f"{row.theory_var:.3e}")


def test_fit_line_names_rate_interval_theory_and_law(series):
    record = series.fit
    words = {"exponential": "rate of ln Var per depth", "power": "exponent of Var in depth"}[record["law"]]
    expected = (f"{words}: {record['rate']:.4g} [{record['rate_lo']:.4g}, {record['rate_hi']:.4g}] "
                f"(theory {record['theory_rate']:.4g}), better law: {record['law']} (R²={record['r2']:.4f})")
    assert expected in format_series(series)


@pytest.mark.parametrize("law, words", [("exponential", "rate of ln Var per depth: -0.5 "),
                                        ("power", "exponent of Var in depth: -0.5 ")])
def test_fit_line_wording_per_law(law, words):
    record = {"law": law, "rate": -0.5, "rate_lo": -0.6, "rate_hi": -0.4, "theory_rate": None, "r2": 0.99}
    line = fit_line(record, "depth")
    assert line.startswith(words) and "(theory —)" in line and f"better law: {law} (R²=0.9900)" in line


def test_missing_numbers_and_missing_fit():
    assert fit_line(None, "depth") == "fit across depth: not fitted (fewer than 3 usable points)"
    record = {"law": "exponential", "rate": math.nan, "rate_lo": math.nan, "rate_hi": math.nan,
              "theory_rate": math.nan, "r2": math.nan}
    assert fit_line(record, "n") == "rate of ln Var per n: — [—, —] (theory —), better law: exponential (R²=—)"


def test_variants_are_titled_and_separated(series):
    series.label = "tanh"
    try:
        text = format_report([series, series])
    finally:
        series.label = None
    assert text.count("[tanh] input across depth") == 2 and "\n\n[tanh]" in text


def test_zero_fraction_column_appears_only_where_gradients_underflow(series):
    assert "zeros" not in format_series(series)
    underflowed = series.rows.copy()
    underflowed.loc[underflowed.index[-1], "zero_frac"] = 0.25
    text = format_series(dataclasses.replace(series, rows=underflowed))
    assert text.splitlines()[1].rstrip().endswith("zeros")
    assert text.splitlines()[-3 if series.profile_family else -2].rstrip().endswith("25.0%")
