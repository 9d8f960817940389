"""The console table shows the results' own numbers, the theory's kind, and honest percentages."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import synthetic
from synthetic import series_of

from xvanish.report.table import fit_line, format_fraction, format_report, format_series, format_theory

DEPTHS = [2, 3, 4, 5]


@pytest.fixture
def series():
    df = synthetic.results(DEPTHS, synthetic.decaying(-0.7), theory=synthetic.decaying(-0.69), kind="exact")
    return series_of(df)[0]


def test_rows_show_the_measured_numbers_and_the_theory_kind(series):
    lines = format_series(series).splitlines()
    assert lines[0] == "preact/1 across depth"
    assert lines[1].split() == ["depth", "var", "[95%", "CI]", "theory"]
    for row, line in zip(series.rows.itertuples(), lines[2:]):
        assert line.split()[0] == f"{row.scale:g}"
        assert f"{row.var:.3e} [{row.var_lo:.2e}, {row.var_hi:.2e}]" in line
        assert line.endswith(f"{row.theory_var:.3e} (exact)")


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("exact", "1.500e-03 (exact)"),
        ("asymptotic", "1.500e-03 (asymptotic)"),
        ("bound", "≤ 1.500e-03 (bound)"),
        ("", "1.500e-03"),
    ],
)
def test_theory_cell_says_its_kind(kind, expected):
    assert format_theory(1.5e-3, kind) == expected
    assert format_theory(math.nan, kind) == "—"


def test_a_bound_reads_as_a_ceiling_and_gives_no_theory_rate():
    df = synthetic.results(DEPTHS, synthetic.decaying(-0.7), theory=synthetic.decaying(-0.1, 2.0), kind="bound")
    (one,) = series_of(df)
    text = format_series(one)
    for row, line in zip(one.rows.itertuples(), text.splitlines()[2:]):
        assert line.endswith(f"≤ {row.theory_var:.3e} (bound)")
    assert "(theory —)" in text  # fits report theory_rate only for exact/asymptotic values


def test_a_series_without_the_report_group_says_so_instead_of_an_empty_table(series):
    """A variant that does not measure the report group (WGAN-GP: no saturating loss) gets
    one line saying so, not a header over no rows and a 'not fitted' line."""
    lines = format_series(dataclasses.replace(series, rows=series.rows.iloc[:0])).splitlines()
    assert lines[1] == "  this series has no group preact/1"
    assert not any("var [95% CI]" in line or "not fitted" in line for line in lines)


def test_one_sweep_value_says_there_is_nothing_to_fit(series):
    lines = format_series(dataclasses.replace(series, rows=series.rows.iloc[:1])).splitlines()
    assert lines[3] == "  one depth value: nothing to fit across depth"


def test_fit_line_names_rate_interval_theory_and_law(series):
    record = series.fit
    words = {"exponential": "rate of ln Var per depth", "power": "exponent of Var in depth"}[record["law"]]
    expected = (
        f"{words}: {record['rate']:.4g} [{record['rate_lo']:.4g}, {record['rate_hi']:.4g}] "
        f"(theory {record['theory_rate']:.4g}), better law: {record['law']} (R²={record['r2']:.4f})"
    )
    assert expected in format_series(series)


@pytest.mark.parametrize(
    "law, words", [("exponential", "rate of ln Var per depth: -0.5 "), ("power", "exponent of Var in depth: -0.5 ")]
)
def test_fit_line_wording_per_law(law, words):
    record = {"law": law, "rate": -0.5, "rate_lo": -0.6, "rate_hi": -0.4, "theory_rate": None, "r2": 0.99}
    line = fit_line(record, "depth")
    assert line.startswith(words) and "(theory —)" in line and f"better law: {law} (R²=0.9900)" in line


def test_missing_numbers_and_missing_fit():
    assert fit_line(None, "depth") == "fit across depth: not fitted (fewer than 3 usable points)"
    record = {
        "law": "exponential",
        "rate": math.nan,
        "rate_lo": math.nan,
        "rate_hi": math.nan,
        "theory_rate": math.nan,
        "r2": math.nan,
    }
    assert fit_line(record, "n") == "rate of ln Var per n: — [—, —] (theory —), better law: exponential (R²=—)"


def test_variants_are_titled_and_separated(series):
    labelled = dataclasses.replace(series, label="tanh")
    text = format_report([labelled, labelled])
    assert text.count("[tanh] preact/1 across depth") == 2 and "\n\n[tanh]" in text


@pytest.mark.parametrize(
    "fraction, expected",
    [
        (0.999756, "99.98%"),  # the case: not "100.0%"
        (1.0, "100%"),
        (0.0, "0%"),
        (0.25, "25.0%"),
        (0.5, "50.0%"),
        (0.9995, "99.95%"),
        (0.0004, "0.04%"),
        (1 - 1e-9, ">99.999%"),
        (1e-9, "<0.001%"),
        (math.nan, "—"),
    ],
)
def test_fractions_never_round_to_all_or_nothing(fraction, expected):
    assert format_fraction(fraction) == expected


def test_no_fraction_strictly_between_0_and_1_prints_as_0_or_100_percent():
    fractions = np.concatenate(
        [np.random.default_rng(0).random(2000), 1 - np.logspace(-12, -1, 200), np.logspace(-12, -1, 200)]
    )
    for fraction in fractions:
        text = format_fraction(float(fraction))
        digits = text.lstrip("<>").rstrip("%")
        assert 0 < float(digits) < 100 or text[0] in "<>", (fraction, text)
        assert text not in ("0%", "100%", "0.0%", "100.0%")


def test_zero_fraction_column_appears_only_where_gradients_underflow(series):
    assert "zeros" not in format_series(series)
    underflowed = series.rows.copy()
    underflowed.loc[underflowed.index[-2], "zero_frac"] = 0.999756
    underflowed.loc[underflowed.index[-1], "zero_frac"] = 1.0
    lines = format_series(dataclasses.replace(series, rows=underflowed)).splitlines()
    assert lines[1].endswith("zeros")
    assert lines[2].endswith("  0%") and lines[4].endswith("  99.98%") and lines[5].endswith("  100%")


def test_non_finite_fraction_is_flagged_without_rounding_to_nothing(series):
    rows = series.rows.copy()
    rows.loc[rows.index[0], "nonfinite_frac"] = 1 / 64 / 8 / 100  # one entry in 51200
    line = format_series(dataclasses.replace(series, rows=rows)).splitlines()[2]
    assert line.endswith("(non-finite gradients: 0.002%)")


def test_a_categorical_axis_lists_rows_per_value_without_a_fit():
    levels = {"tanh": 1.0, "relu": 0.5}
    df = synthetic.results(
        ["tanh", "relu"], lambda s, l: levels[s], depth=lambda s: 3, scale_name="activation", categorical=True
    )
    (one,) = series_of(df)
    lines = format_series(one).splitlines()
    assert lines[0] == "preact/1 across activation"
    assert [line.split()[0] for line in lines[2:4]] == ["tanh", "relu"]
    assert [line.split()[1] for line in lines[2:4]] == [f"{levels['tanh']:.3e}", f"{levels['relu']:.3e}"]
    assert "no decay fit" in lines[4] and not any("rate of" in line or "exponent" in line for line in lines)
    assert lines[5] == "  profile of preact: one per activation value (see the plot)"


def test_a_table_from_before_theory_kind_still_prints():
    df = synthetic.results(DEPTHS, synthetic.decaying(-0.7), theory=synthetic.decaying(-0.7), kind="exact")
    (one,) = series_of(df.drop(columns="theory_kind"))
    assert format_series(one).splitlines()[2].endswith(f"{one.rows['theory_var'].iloc[0]:.3e}")
    (empty,) = series_of(df.assign(theory_kind=pd.NA, theory_var=math.nan))
    assert format_series(empty).splitlines()[2].endswith("—")
