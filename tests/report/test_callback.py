"""Multirun aggregation from job directories on disk (as any launcher leaves them)."""

import json

import numpy as np

import pandas as pd
import pytest
import synthetic
from matplotlib.colors import to_rgba
from omegaconf import OmegaConf

from xvanish import stats
from xvanish.core import write_csv_atomic
from xvanish.fit import fit_decay
from xvanish.report.callback import AggregateCallback, aggregate, find_jobs
from xvanish.report.headline import build_series
from xvanish.report.outputs import run_summary, write_json_atomic

JOBS = {
    0: ["domain.decay=0.5", "measure.seed=0"],
    1: ["domain.decay=0.8", "measure.seed=0"],
    2: ["domain.decay=0.9", "measure.seed=0"],
}


def _write_job(sweep_dir, num, overrides, with_results=True, kind="exact"):
    job = sweep_dir / str(num)
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": {"job": {"num": num}}}), job / ".hydra" / "hydra.yaml")
    if not with_results:
        return None
    decay = float(overrides[0].split("=")[1])
    law = lambda s, l: decay ** (float(s) - l)
    df = synthetic.results([2, 3, 4], law, theory=law, kind=kind).assign(decay=decay, seed=num)
    write_csv_atomic(df, job / "results.csv")
    df = pd.read_csv(job / "results.csv")  # as the job left it on disk
    fits = fit_decay(df)
    summary = run_summary(
        df=df, fits=fits, series=build_series(df, fits, "input"), domain="toy", config={}, wall_seconds=0.5
    )
    write_json_atomic(summary, job / "summary.json")
    return df


@pytest.fixture
def sweep_dir(tmp_path):
    frames = {num: _write_job(tmp_path, num, overrides, with_results=num != 2) for num, overrides in JOBS.items()}
    return tmp_path, frames


def test_a_swept_key_named_like_a_column_is_prefixed(tmp_path):
    for num, seed in ((0, 1), (1, 2)):
        _write_job(tmp_path, num, ["domain.decay=0.5", f"seed={seed}"])
    combined = pd.read_csv(aggregate(tmp_path) and tmp_path / "results.csv")
    assert list(combined.columns[:3]) == ["job", "overrides", "override.seed"]
    assert set(combined["override.seed"]) == {1, 2}


def test_combined_results_have_job_overrides_and_swept_columns(sweep_dir):
    root, frames = sweep_dir
    result = aggregate(root)
    combined = pd.read_csv(root / "results.csv")
    assert list(combined.columns[:3]) == ["job", "overrides", "domain.decay"]  # measure.seed did not vary
    assert len(combined) == len(frames[0]) + len(frames[1])
    for num in (0, 1):
        rows = combined[combined["job"] == num]
        assert (rows["overrides"] == ",".join(JOBS[num])).all()
        assert (rows["domain.decay"] == rows["decay"]).all()
        assert (rows["decay"] == float(JOBS[num][0].split("=")[1])).all()
        pd.testing.assert_frame_equal(rows.iloc[:, 3:].reset_index(drop=True), frames[num], check_dtype=False)
    assert result["swept_keys"] == ["domain.decay"] and result["missing"] == ["2"] and result["n_jobs"] == 3


def test_combined_summary_and_overlay_plot(sweep_dir):
    root, _ = sweep_dir
    aggregate(root)
    summary = json.loads((root / "summary.json").read_text())
    assert [job["job"] for job in summary["jobs"]] == [0, 1]
    for job in summary["jobs"]:
        own = json.loads((root / str(job["job"]) / "summary.json").read_text())
        assert job["headline"] == own["headline"] and job["overrides"] == JOBS[job["job"]]
    assert [entry["series"] for entry in summary["headline"]] == ["domain.decay=0.5", "domain.decay=0.8"]
    assert (root / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_jobs_are_found_in_job_number_order_and_root_is_skipped(tmp_path):
    for num in (10, 2, 1):
        _write_job(tmp_path, num, [f"domain.decay=0.{num}"], with_results=False)
    (tmp_path / ".hydra").mkdir()
    assert [job.name for job in find_jobs(tmp_path)] == ["1", "2", "10"]
    assert aggregate(tmp_path) is None  # nothing to combine, nothing written
    assert not (tmp_path / "results.csv").exists()


def test_callback_reads_the_sweep_dir_from_the_config(sweep_dir):
    root, _ = sweep_dir
    AggregateCallback().on_multirun_end(config=OmegaConf.create({"hydra": {"sweep": {"dir": str(root)}}}))
    assert (root / "results.csv").exists() and (root / "summary.json").exists()


def test_theory_kind_and_family_travel_with_the_rows(tmp_path):
    _write_job(tmp_path, 0, ["domain.decay=0.5"], kind="bound")
    _write_job(tmp_path, 1, ["domain.decay=0.8"], kind="asymptotic")
    aggregate(tmp_path)
    combined = pd.read_csv(tmp_path / "results.csv")
    assert combined.groupby("job")["theory_kind"].unique().map(list).to_dict() == {0: ["bound"], 1: ["asymptotic"]}
    assert set(combined["family"]) == {"preact", "input"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    rates = {entry["job"]: entry["fit"]["theory_rate"] for entry in summary["headline"]}
    assert rates[0] is None and rates[1] is not None  # a bound gives no theory rate


@pytest.fixture
def captured(monkeypatch):
    """The series aggregate() hands to the plot (and the figure it draws)."""
    from xvanish.report import plots

    calls = []
    real = plots.plot_series

    def spy(series, path, **kwargs):
        figure = real(series, path, **kwargs)
        calls.append((series, figure))
        return figure

    monkeypatch.setattr(plots, "plot_series", spy)
    return calls


def test_the_overlay_draws_kinds_and_distinct_colours_for_12_jobs(tmp_path, captured):
    decays = [str(round(0.51 + 0.01 * num, 2)) for num in range(12)]
    for num, decay in enumerate(decays):
        _write_job(tmp_path, num, [f"domain.decay={decay}"], kind="asymptotic" if num % 2 else "exact")
    aggregate(tmp_path)
    ((series, figure),) = captured
    assert [one.facets for one in series] == [{"domain.decay": decay} for decay in decays]
    texts = [text.get_text() for text in figure.legends[0].get_texts()]
    assert texts[:12] == [f"domain.decay={decay}" for decay in decays]
    assert {"theory (exact)", "theory (asymptotic)"} <= set(texts)
    for ax in figure.axes:
        colours = {to_rgba(line.get_color()) for line in ax.get_lines() if line.get_gid() == "measured"}
        assert len(colours) == 12
        assert len([line for line in ax.get_lines() if line.get_gid() == "theory:asymptotic"]) == 6
    (legend,) = figure.legends
    box = legend.get_window_extent(figure.canvas.get_renderer())
    assert all(not box.overlaps(ax.get_window_extent()) for ax in figure.axes)


def test_variants_are_a_facet_of_each_series(tmp_path, captured):
    for num, decay in ((0, 0.5), (1, 0.8)):
        job = tmp_path / str(num)
        _write_job(tmp_path, num, [f"domain.decay={decay}"])
        df = pd.read_csv(job / "results.csv")
        df = pd.concat([df.assign(variant="a"), df.assign(variant="b")], ignore_index=True)
        df = df[["variant"] + [c for c in df.columns if c != "variant"]]
        write_csv_atomic(df, job / "results.csv")
        fits = fit_decay(df)
        write_json_atomic(
            run_summary(
                df=df, fits=fits, series=build_series(df, fits, "input"), domain="toy", config={}, wall_seconds=0.5
            ),
            job / "summary.json",
        )
    aggregate(tmp_path)
    ((series, _),) = captured
    assert [(one.label, one.facets) for one in series] == [
        (f"domain.decay={d} {v}", {"domain.decay": str(d), "variant": v}) for d in (0.5, 0.8) for v in "ab"
    ]


def _write_seed_job(sweep_dir, num, width, seed, draws):
    """A job whose rows are the real statistics of ``draws[(scale, group)]`` (arrays [n, k])."""
    job = sweep_dir / str(num)
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(
        OmegaConf.create([f"domain.width={width}", f"measure.seed={seed}"]), job / ".hydra" / "overrides.yaml"
    )
    OmegaConf.save(OmegaConf.create({"hydra": {"job": {"num": num}}}), job / ".hydra" / "hydra.yaml")
    df = synthetic.results([2, 3, 4], lambda s, l: 1.0, n_params=5).assign(width=width, seed=seed)
    for index, row in df.iterrows():
        values = draws[(width, seed, row["scale"], row["group"])]
        df.loc[index, list(stats.summarize(values))] = list(stats.summarize(values).values())
        df.loc[index, "n_samples"] = values.shape[0]
    write_csv_atomic(df, job / "results.csv")
    fits = fit_decay(df)
    write_json_atomic(
        run_summary(
            df=df, fits=fits, series=build_series(df, fits, "input"), domain="toy", config={}, wall_seconds=0.5
        ),
        job / "summary.json",
    )
    return df


def test_a_multirun_over_seeds_is_pooled_into_one_result_per_point(tmp_path):
    # Independent reference: the statistics of all seeds' draws concatenated, computed
    # directly. Mean and variance are exact (1e-12); the interval comes from the seeds'
    # standard errors, within 10% in log-width of the direct one (tests/test_stats.py).
    rng = np.random.default_rng(5)
    draws, num = {}, 0
    for width in (8, 16):
        for seed in (0, 1, 2):
            n = 40 + 20 * seed  # seeds need not have the same number of draws
            for scale in (2.0, 3.0, 4.0):
                for group in ["input", *(f"preact/{l}" for l in range(1, int(scale) + 1))]:
                    draws[(width, seed, scale, group)] = rng.laplace(0.1, np.exp(-0.3 * scale), (n, 5))
            _write_seed_job(tmp_path, num, width, seed, draws)
            num += 1
    result = aggregate(tmp_path)
    pooled = pd.read_csv(tmp_path / "pooled.csv")
    assert len(pooled) == 2 * (3 + 4 + 5)  # per width: at depth s, s positions and the input group
    for row in pooled.itertuples():
        direct = stats.summarize(np.concatenate([draws[(row.width, seed, row.scale, row.group)] for seed in (0, 1, 2)]))
        assert row.var == pytest.approx(direct["var"], rel=1e-12)
        assert row.mean == pytest.approx(direct["mean"], rel=1e-12, abs=1e-15)
        assert row.n_samples == 40 + 60 + 80 and row.seed == "0,1,2" and row.n_seeds == 3
        ratio = np.log(row.var_hi / row.var_lo) / np.log(direct["var_hi"] / direct["var_lo"])
        assert 0.9 <= ratio <= 1.1
    assert result["pooled"]["over"] == ["measure.seed"] and result["pooled"]["seeds"] == ["0", "1", "2"]
    labels = [entry["series"] for entry in result["pooled"]["headline"]]
    assert labels == ["domain.width=8 pooled over measure.seed", "domain.width=16 pooled over measure.seed"]
