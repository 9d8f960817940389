"""What a report shows per series: the headline group's rows, its better fit, the profile."""

import math

import numpy as np
import pandas as pd
import pytest
import toy_domain

from xvanish.core import sweep
from xvanish.fit import fit_decay
from xvanish.report.headline import build_series, headline_record

DEPTHS = [2, 3, 4, 5, 6]
DECAYS = {"slow": 0.8, "fast": 0.5}


@pytest.fixture(scope="module")
def two_variants():
    frames = [sweep(toy_domain.sampler, "depth", DEPTHS, n_samples=64, seed=1, decay=decay, width=4)
              .assign(variant=name) for name, decay in DECAYS.items()]
    df = pd.concat(frames, ignore_index=True)
    return df, fit_decay(df)


def test_one_series_per_variant_with_the_headline_rows(two_variants):
    df, fits = two_variants
    series = build_series(df, fits, "input")
    assert [one.label for one in series] == list(DECAYS)
    for one in series:
        assert one.group == "input" and one.scale_name == "depth"
        assert one.rows["scale"].tolist() == DEPTHS
        assert (one.rows["variant"] == one.label).all()


def test_the_fit_is_the_better_law_record_and_its_theory_rate_is_exact(two_variants):
    """The toy's theory variance of ``input`` is decay**depth, so the theory rate of the
    exponential law is ln(decay) exactly (to rounding: 1e-12)."""
    df, fits = two_variants
    for one in build_series(df, fits, "input"):
        expected = fits[(fits["variant"] == one.label) & (fits["kind"] == "scale")
                        & (fits["group"] == "input") & fits["better"]].iloc[0]
        assert one.fit["law"] == expected["law"] and one.fit["rate"] == expected["rate"]
        exponential = fits[(fits["variant"] == one.label) & (fits["kind"] == "scale")
                           & (fits["group"] == "input") & (fits["law"] == "exponential")].iloc[0]
        assert exponential["theory_rate"] == pytest.approx(math.log(DECAYS[one.label]), abs=1e-12)


def test_profile_is_the_family_at_the_largest_scale(two_variants):
    """layer/l has theory variance decay**(depth - l): along position the rate is -ln(decay)."""
    df, fits = two_variants
    for one in build_series(df, fits, "layer/1"):
        assert one.profile_family == "layer" and one.profile_scale == max(DEPTHS)
        assert one.profile_rows["position"].tolist() == list(range(1, max(DEPTHS) + 1))
        assert set(one.profile_rows["scale"]) == {max(DEPTHS)}
        assert one.profile_fit["law"] in ("exponential", "power")
        exponential = fits[(fits["variant"] == one.label) & (fits["kind"] == "profile")
                           & (fits["scale"] == max(DEPTHS)) & (fits["law"] == "exponential")].iloc[0]
        assert exponential["theory_rate"] == pytest.approx(-math.log(DECAYS[one.label]), abs=1e-12)


def test_a_group_without_position_takes_the_first_family_as_profile(two_variants):
    df, fits = two_variants
    (one, _) = build_series(df, fits, "input")
    assert one.profile_family == "layer"


def test_without_variants_one_unlabelled_series_and_json_record():
    df = sweep(toy_domain.sampler, "depth", [2, 3], n_samples=16, seed=0)
    (one,) = build_series(df, fit_decay(df), "input")
    assert one.label is None and one.fit is None  # two points: no fit (three needed)
    record = headline_record(one)
    assert record["variant"] is None and record["fit"] is None
    assert record["profile"]["group"] == "layer" and record["profile"]["scale"] == 3
    assert np.isfinite(one.rows["var"]).all()
