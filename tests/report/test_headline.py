"""What a report shows per series: the headline group's rows, its better fit, the profile."""

import math

import numpy as np
import pandas as pd
import pytest
import synthetic

from xvanish.fit import fit_decay
from xvanish.report.headline import (
    build_series,
    families,
    headline_record,
    theory_kinds,
)

DEPTHS = [2, 3, 4, 5, 6]
DECAYS = {"slow": 0.8, "fast": 0.5}


def _toy(depths, decay, variant=None):
    """Var of position l at depth L is decay**(L - l) (input: decay**L), theory the same (exact)."""
    law = lambda s, l: decay ** (float(s) - l)
    return synthetic.results(depths, law, theory=law, kind="exact", variant=variant)


@pytest.fixture(scope="module")
def two_variants():
    df = pd.concat([_toy(DEPTHS, decay, name) for name, decay in DECAYS.items()], ignore_index=True)
    return df, fit_decay(df)


def test_one_series_per_variant_with_the_headline_rows(two_variants):
    df, fits = two_variants
    series = build_series(df, fits, "input")
    assert [one.label for one in series] == list(DECAYS)
    for one in series:
        assert one.group == "input" and one.scale_name == "depth" and one.categories is None
        assert one.rows["scale"].tolist() == DEPTHS
        assert (one.rows["variant"] == one.label).all()


def test_the_fit_is_the_better_law_record_and_its_theory_rate_is_exact(two_variants):
    """Var[input] = decay**depth exactly, so the exponential theory rate is ln(decay) (to 1e-12)."""
    df, fits = two_variants
    for one in build_series(df, fits, "input"):
        expected = fits[
            (fits["variant"] == one.label) & (fits["kind"] == "scale") & (fits["group"] == "input") & fits["better"]
        ].iloc[0]
        assert one.fit["law"] == expected["law"] == "exponential" and one.fit["rate"] == expected["rate"]
        assert one.fit["theory_rate"] == pytest.approx(math.log(DECAYS[one.label]), abs=1e-12)


def test_profile_is_the_family_at_the_largest_scale(two_variants):
    """preact/l has variance decay**(depth - l): along position the rate is -ln(decay)."""
    df, fits = two_variants
    for one in build_series(df, fits, "preact/1"):
        assert one.profile_family == "preact" and one.profile_scale == max(DEPTHS)
        assert one.profile_rows["position"].tolist() == list(range(1, max(DEPTHS) + 1))
        assert set(one.profile_rows["scale"]) == {max(DEPTHS)}
        assert one.profile_fit["rate"] == pytest.approx(-math.log(DECAYS[one.label]), abs=1e-9)


def test_a_group_without_position_takes_the_first_family_as_profile(two_variants):
    df, fits = two_variants
    (one, _) = build_series(df, fits, "input")
    assert one.profile_family == "preact"


def test_the_declared_family_column_wins_over_the_name():
    """A sampler may declare families the name does not spell (``grad/layer/3`` in family ``block``)."""
    df = _toy([2, 3, 4], 0.5)
    positioned = df["position"].notna()
    df.loc[positioned, "group"] = "grad/layer/" + df.loc[positioned, "position"].astype(int).astype(str)
    df.loc[positioned, "family"] = "block"
    (one,) = build_series(df, fit_decay(df), "grad/layer/1")
    assert one.profile_family == "block" and len(one.profile_rows) == 4
    assert families(df).tolist() == ["block" if p else "input" for p in positioned]
    # Without the column (an older table), the family comes from the name.
    assert set(families(df.drop(columns="family"))) == {"grad/layer", "input"}


def test_theory_kinds_read_empty_cells_as_none():
    rows = pd.DataFrame({"theory_kind": ["exact", np.nan, "", " bound", None]})
    assert theory_kinds(rows).tolist() == ["exact", "", "", "bound", ""]
    assert theory_kinds(pd.DataFrame({"x": [1, 2]})).tolist() == ["", ""]


def test_a_categorical_axis_keeps_sweep_order_and_has_no_fit():
    levels = {"tanh": 1.0, "relu": 0.5, "sigmoid": 1e-3}
    df = synthetic.results(
        list(levels),
        lambda s, l: levels[s] * 0.9 ** (4 - l),
        depth=lambda s: 4,
        scale_name="activation",
        categorical=True,
    )
    (one,) = build_series(df, fit_decay(df), "preact/1")
    assert one.categories == ["tanh", "relu", "sigmoid"]
    assert one.rows["activation"].tolist() == one.categories and one.fit is None
    assert one.rows["var"].tolist() == [levels[v] * 0.9**3 for v in one.categories]
    # The profile of every value, by value then position.
    assert one.profile_rows["activation"].tolist() == [v for v in one.categories for _ in range(4)]
    assert one.profile_rows["position"].tolist() == [1, 2, 3, 4] * 3
    assert one.profile_fit is None and math.isnan(one.profile_scale)
    record = headline_record(one)
    assert record["categories"] == one.categories and record["fit"] is None
    assert record["profile"]["group"] == "preact"


def test_without_variants_one_unlabelled_series_and_json_record():
    df = _toy([2, 3], 0.5)
    (one,) = build_series(df, fit_decay(df), "input")
    assert one.label is None and one.fit is None  # two points: no fit (three needed)
    record = headline_record(one)
    assert record["variant"] is None and record["fit"] is None and record["categories"] is None
    assert record["profile"]["group"] == "preact" and record["profile"]["scale"] == 3
    assert np.isfinite(one.rows["var"]).all()
