"""measure / sweep / seeds on a known-answer numpy domain."""

import math

import numpy as np
import pandas as pd
import pytest

from xvanish import ConfigError, fit_decay, measure, point_seed, sweep
from xvanish.core import RESULT_COLUMNS
from xvanish.fit import best_fits

import toy_domain


def test_measure_rows_follow_the_results_schema():
    rows = measure(toy_domain.sampler(depth=3, width=2), n_samples=16, seed=1, scale_name="depth", scale=3)
    assert list(rows.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    assert list(rows["group"]) == ["layer/1", "layer/2", "layer/3", "input", "cost"]
    assert rows.set_index("group").loc["layer/2", "position"] == 2
    assert math.isnan(rows.set_index("group").loc["input", "position"])
    assert (rows["n_params"].iloc[:4] == 2).all() and rows["n_params"].iloc[4] == 1
    assert {"depth", "width", "decay"} <= set(rows.columns)


def test_measured_variance_matches_theory_within_interval_bound():
    # Gaussian entries: the log-variance SE is sqrt(2/(n·k)) = 0.0079 for n·k = 32000 and
    # the 95% half-width is 1.96 SE; allowing 2 half-widths (~3.9 SE) makes a false
    # failure of any of the 4 groups < 4e-4.
    rows = measure(toy_domain.sampler(depth=3, width=8, decay=0.3), n_samples=4000, seed=2)
    rows = rows[rows.group != "cost"]
    half_width = (np.log(rows.var_hi) - np.log(rows.var_lo)) / 2
    assert (np.abs(np.log(rows["var"] / rows["theory_var"])) < 2 * half_width).all()


def test_point_seed_depends_only_on_run_seed_and_point():
    seeds = [point_seed(0, "depth", v) for v in (2, 4, 8)]
    assert len(set(seeds)) == 3
    assert point_seed(0, "depth", 4) == seeds[1] == point_seed(0, "depth", 4.0) == point_seed(0, "depth", np.int64(4))
    assert point_seed(1, "depth", 4) != seeds[1]


def test_adding_a_point_leaves_the_others_unchanged():
    short = sweep(toy_domain.sampler, "depth", [2, 4], n_samples=8, seed=3)
    longer = sweep(toy_domain.sampler, "depth", [2, 3, 4], n_samples=8, seed=3)
    for depth in (2, 4):
        a = short[short.scale == depth].reset_index(drop=True)
        b = longer[longer.scale == depth].reset_index(drop=True)
        pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


def test_sweep_recovers_the_known_rate():
    df = sweep(toy_domain.sampler, "depth", [2, 4, 6, 8, 10], n_samples=400, seed=4, decay=0.5)
    best = best_fits(fit_decay(df))
    input_fit = best[(best.kind == "scale") & (best.group == "input")].iloc[0]
    assert input_fit["theory_rate"] == pytest.approx(math.log(0.5), abs=1e-12)
    assert input_fit["rate_lo"] <= math.log(0.5) <= input_fit["rate_hi"]


def test_bad_value_fails_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"depth=0: must be an integer >= 1"):
        sweep(toy_domain.sampler, "depth", [2, 0], n_samples=8, seed=0, out_dir=tmp_path)
    assert not (tmp_path / "results.csv").exists()


@pytest.mark.parametrize("n_samples", [1, 0, 2.5])
def test_n_samples_below_two_is_refused(n_samples):
    with pytest.raises(ConfigError, match="measure.n_samples"):
        measure(toy_domain.sampler(), n_samples=n_samples, seed=0)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="deptth=3: unknown key; known keys: depth, width, decay"):
        toy_domain.sampler(deptth=3)


def test_linked_keys_move_with_the_scale():
    df = sweep(toy_domain.sampler, "width", [2, 3], n_samples=4, seed=0, linked={"depth": [1, 2]})
    assert dict(zip(df.scale, df.depth)) == {2.0: 1, 3.0: 2}
    with pytest.raises(ConfigError, match="sweep.linked.depth"):
        sweep(toy_domain.sampler, "width", [2, 3], n_samples=4, seed=0, linked={"depth": [1]})


def test_sweep_writes_after_each_point_and_resumes(tmp_path, monkeypatch):
    first = sweep(toy_domain.sampler, "depth", [2, 3], n_samples=8, seed=5, out_dir=tmp_path)
    assert pd.read_csv(tmp_path / "results.csv").shape[0] == len(first)
    calls = []
    original = toy_domain.ToySampler.sample
    monkeypatch.setattr(toy_domain.ToySampler, "sample", lambda self, n, s: calls.append(self.config.depth) or original(self, n, s))
    resumed = sweep(toy_domain.sampler, "depth", [2, 3, 4], n_samples=8, seed=5, out_dir=tmp_path, resume=True)
    assert calls == [4]
    np.testing.assert_allclose(resumed[resumed.scale < 4]["var"], first["var"], rtol=1e-12)
