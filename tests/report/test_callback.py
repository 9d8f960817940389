"""Multirun aggregation from job directories on disk (as any launcher leaves them)."""

import json

import pandas as pd
import pytest
import synthetic
from matplotlib.colors import to_rgba
from omegaconf import OmegaConf

from xvanish.core import write_csv_atomic
from xvanish.fit import fit_decay
from xvanish.report.callback import AggregateCallback, aggregate, find_jobs
from xvanish.report.headline import build_series
from xvanish.report.outputs import run_summary, write_json_atomic

JOBS = {0: ["domain.decay=0.5", "measure.seed=0"], 1: ["domain.decay=0.8", "measure.seed=0"],
        2: ["domain.decay=0.9", "measure.seed=0"]}


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
        write_json_atomic(run_summary(df=df, fits=fits, series=build_series(df, fits, "input"), domain="toy",
                                      config={}, wall_seconds=0.5), job / "summary.json")
    aggregate(tmp_path)
    ((series, _),) = captured
    assert [(one.label, one.facets) for one in series] == [
        (f"domain.decay={d} {v}", {"domain.decay": str(d), "variant": v}) for d in (0.5, 0.8) for v in "ab"]
