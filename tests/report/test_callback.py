"""Multirun aggregation from job directories on disk (as any launcher leaves them)."""

import json

import pandas as pd
import pytest
import toy_domain
from omegaconf import OmegaConf

from xvanish.core import sweep
from xvanish.fit import fit_decay
from xvanish.report.callback import AggregateCallback, aggregate, find_jobs
from xvanish.report.headline import build_series
from xvanish.report.outputs import run_summary, write_json_atomic

JOBS = {0: ["domain.decay=0.5", "measure.seed=0"], 1: ["domain.decay=0.8", "measure.seed=0"],
        2: ["domain.decay=0.9", "measure.seed=0"]}


def _write_job(sweep_dir, num, overrides, with_results=True):
    job = sweep_dir / str(num)
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": {"job": {"num": num}}}), job / ".hydra" / "hydra.yaml")
    if not with_results:
        return None
    decay = float(overrides[0].split("=")[1])
    df = sweep(toy_domain.sampler, "depth", [2, 3, 4], n_samples=16, seed=num, decay=decay, out_dir=job)
    fits = fit_decay(df)
    summary = run_summary(df=df, fits=fits, series=build_series(df, fits, "input"), domain="toy",
                          config={}, wall_seconds=0.5)
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
