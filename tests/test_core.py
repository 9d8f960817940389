"""measure / sweep / seeds on a known-answer numpy domain."""

import math

import numpy as np
import pandas as pd
import pytest

from xvanish import ConfigError, Theory, Variant, fit_decay, measure, plan, point_seed, streams, sweep
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
    # The swept key's name is part of the point: a width sweep must not share a depth
    # sweep's streams (compared over many values, not one: no chance agreement).
    assert all(point_seed(0, "depth", v) != point_seed(0, "width", v) for v in range(1, 200))


def test_adding_a_point_leaves_the_others_unchanged():
    short = sweep(toy_domain.DOMAIN, "depth", [2, 4], n_samples=8, seed=3)
    longer = sweep(toy_domain.DOMAIN, "depth", [2, 3, 4], n_samples=8, seed=3)
    for depth in (2, 4):
        a = short[short.scale == depth].reset_index(drop=True)
        b = longer[longer.scale == depth].reset_index(drop=True)
        pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


def test_sweep_recovers_the_known_rate():
    df = sweep(toy_domain.DOMAIN, "depth", [2, 4, 6, 8, 10], n_samples=400, seed=4, decay=0.5)
    best = best_fits(fit_decay(df))
    input_fit = best[(best.kind == "scale") & (best.group == "input")].iloc[0]
    # input's theory is a bound (toy_domain): a ceiling has no rate; the layers' exact values do.
    assert set(df[df.group == "input"].theory_kind) == {"bound"}
    assert math.isnan(input_fit["theory_rate"])
    profile = best[(best.kind == "profile") & (best.group == "layer") & (best.scale == 10)].iloc[0]
    assert profile["theory_rate"] == pytest.approx(-math.log(0.5), abs=1e-12)


def test_rate_interval_covers_the_known_rate_over_many_seeds():
    """Coverage over 100 run seeds, not one seed's 95% interval (which misses 1 time in 20):
    binomial SE at 0.95 is 0.022, so >= 0.88 is 3.2 SE below nominal."""
    hits = 0
    for seed in range(100):
        df = sweep(toy_domain.DOMAIN, "depth", [2, 4, 6, 8, 10], n_samples=100, seed=seed, decay=0.5)
        fits = fit_decay(df)
        row = fits[(fits.kind == "scale") & (fits.group == "input") & (fits.law == "exponential")].iloc[0]
        hits += row["rate_lo"] <= math.log(0.5) <= row["rate_hi"]
    assert hits / 100 >= 0.88


def test_bad_value_fails_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"depth=0: must be an integer >= 1"):
        sweep(toy_domain.DOMAIN, "depth", [2, 0], n_samples=8, seed=0, out_dir=tmp_path)
    assert not (tmp_path / "results.csv").exists()


@pytest.mark.parametrize("n_samples", [1, 0, 2.5])
def test_n_samples_below_two_is_refused(n_samples):
    with pytest.raises(ConfigError, match="measure.n_samples"):
        measure(toy_domain.sampler(), n_samples=n_samples, seed=0)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="deptth=3: unknown key; known keys: depth, width, decay, kind"):
        toy_domain.sampler(deptth=3)


def test_linked_keys_move_with_the_scale():
    df = sweep(toy_domain.DOMAIN, "width", [2, 3], n_samples=4, seed=0, linked={"depth": [1, 2]})
    assert dict(zip(df.scale, df.depth)) == {2.0: 1, 3.0: 2}
    with pytest.raises(ConfigError, match="sweep.linked.depth"):
        sweep(toy_domain.DOMAIN, "width", [2, 3], n_samples=4, seed=0, linked={"depth": [1]})


def test_sweep_writes_after_each_point_and_resumes(tmp_path, monkeypatch):
    first = sweep(toy_domain.DOMAIN, "depth", [2, 3], n_samples=8, seed=5, out_dir=tmp_path)
    assert pd.read_csv(tmp_path / "results.csv").shape[0] == len(first)
    calls = []
    original = toy_domain.ToySampler.sample
    monkeypatch.setattr(
        toy_domain.ToySampler, "sample", lambda self, n, s: calls.append(self.config.depth) or original(self, n, s)
    )
    done = []
    resumed = sweep(
        toy_domain.DOMAIN, "depth", [2, 3, 4], n_samples=8, seed=5, out_dir=tmp_path, resume=True, on_point=done.append
    )
    assert calls == [4]
    assert [d.reused for d in done] == [True, True, False]
    np.testing.assert_allclose(resumed[resumed.scale < 4]["var"], first["var"], rtol=1e-12)


@pytest.mark.parametrize("change", [{"decay": 0.25}, {"n_samples": 9}, {"seed": 6}])
def test_resume_measures_again_when_config_seed_or_draws_change(tmp_path, change):
    """A rerun with any changed key must not reuse the old rows (config columns, seed, n_samples)."""
    base = {"n_samples": 8, "seed": 5, "decay": 0.5}
    sweep(toy_domain.DOMAIN, "depth", [2, 3], out_dir=tmp_path, **base)
    done = []
    sweep(toy_domain.DOMAIN, "depth", [2, 3], out_dir=tmp_path, resume=True, on_point=done.append, **{**base, **change})
    assert [d.reused for d in done] == [False, False]


def test_results_are_written_after_each_point(tmp_path):
    """A killed sweep keeps its finished points: the file on disk grows point by point."""
    seen = []
    sweep(
        toy_domain.DOMAIN,
        "depth",
        [2, 3, 4],
        n_samples=8,
        seed=0,
        out_dir=tmp_path,
        on_point=lambda done: seen.append(sorted(set(pd.read_csv(tmp_path / "results.csv").scale))),
    )
    assert seen == [[2.0], [2.0, 3.0], [2.0, 3.0, 4.0]]


def test_existing_results_are_not_overwritten_without_resume(tmp_path):
    sweep(toy_domain.DOMAIN, "depth", [2], n_samples=4, seed=0, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="already holds results.csv; set measure.resume=true"):
        sweep(toy_domain.DOMAIN, "depth", [2], n_samples=4, seed=0, out_dir=tmp_path)


def test_unwritable_output_directory_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"output directory='.*file/out': cannot be written"):
        sweep(toy_domain.DOMAIN, "depth", [2], n_samples=4, seed=0, out_dir=blocker / "out")


def test_each_sampler_is_built_once_and_lazily():
    toy_domain.BUILT.clear()
    built_before_measuring = []
    run = plan(toy_domain.DOMAIN, "depth", [2, 3, 4], n_samples=4, seed=0)
    assert toy_domain.BUILT == []  # planning validates configs, builds nothing
    run.run(on_point=lambda done: built_before_measuring.append(len(toy_domain.BUILT)))
    assert built_before_measuring == [1, 2, 3]
    assert [s.config.depth for s in toy_domain.BUILT] == [2, 3, 4]


def test_categorical_axis_gives_rows_per_value_and_no_scale_fit():
    df = sweep(toy_domain.DOMAIN, "kind", ["plain", "other"], n_samples=40, seed=0, depth=3)
    assert list(dict.fromkeys(df["kind"])) == ["plain", "other"]
    assert df["scale"].isna().all() and set(df["scale_name"]) == {"kind"}
    fits = fit_decay(df)
    assert (fits.kind == "profile").all()
    assert set(fits.point) == {"plain", "other"}


def test_variants_run_from_python_with_one_table():
    done = []
    df = sweep(
        toy_domain.DOMAIN,
        "depth",
        [2, 3],
        n_samples=4,
        seed=0,
        on_point=done.append,
        variants=[Variant("slow", {"decay": 0.9}), Variant("fast", {"decay": 0.1})],
    )
    assert list(df.columns[:1]) == ["variant"]
    assert [(d.point.variant, d.point.value) for d in done] == [("slow", 2), ("slow", 3), ("fast", 2), ("fast", 3)]
    assert dict(zip(df.variant, df.decay)) == {"slow": 0.9, "fast": 0.1}
    assert done[0].info == {"built_as": "toy"}
    # Paired design: the variants share each point's seed.
    assert df[df.variant == "slow"].seed.tolist() == df[df.variant == "fast"].seed.tolist()


@pytest.mark.parametrize(
    "variants, match",
    [
        ([Variant("a", {"deptth": 1})], r"variants\[0\].domain.deptth=1: unknown key"),
        ([Variant("a", {"decay": -1})], r"decay=-1.0: must be > 0 \(from variants\[0\].domain.decay\)"),
        ([Variant("a"), Variant("a")], r"variants\[0\].name='a'"),
        ([Variant("a", linked={"width": [1]})], r"variants\[0\].linked.width"),
    ],
)
def test_bad_variants_are_refused_at_planning(variants, match):
    with pytest.raises(ConfigError, match=match):
        plan(toy_domain.DOMAIN, "depth", [2, 3], n_samples=4, seed=0, variants=variants)


def test_streams_do_not_depend_on_how_many_are_asked_for():
    assert streams(7, 3) == streams(7, 10)[:3]
    assert len(set(streams(7, 10))) == 10


def test_theory_must_be_typed():
    with pytest.raises(ValueError, match="kind 'guess'"):
        Theory(1.0, "guess")

    class Untyped(toy_domain.ToySampler):
        def theory_var(self):
            return {"input": 1.0}

    with pytest.raises(TypeError, match="not an xvanish.core.Theory"):
        measure(Untyped(toy_domain.ToyConfig()), n_samples=4, seed=0)


def test_undeclared_groups_are_a_domain_bug_not_bad_input():
    class Liar(toy_domain.ToySampler):
        def groups(self):
            return super().groups()[1:]

    with pytest.raises(RuntimeError, match="declared"):
        measure(Liar(toy_domain.ToyConfig()), n_samples=4, seed=0)
