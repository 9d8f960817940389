"""The command line's output folder: held first, Hydra's record after the checks, nothing left by a refusal."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from xvanish import cli
from xvanish.core import ConfigError, RESULT_COLUMNS
from xvanish.domains import mlp

TINY = ["domain=mlp", "domain.width=8", "measure.n_samples=8", "report.plot=false"]


def xvanish(*args, cwd=None, timeout=300):
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    return subprocess.Popen(
        [sys.executable, "-m", "xvanish", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def error_lines(err):
    return [line for line in err.splitlines() if line.strip()]


def test_a_run_refused_for_its_input_leaves_no_folder(tmp_path):
    """Checked before Hydra creates outputs/<date>/<time>/: nothing at all is left."""
    code, _, err = finish(xvanish(*TINY, "domain.width=-3", cwd=tmp_path))
    assert code == cli.EXIT_BAD_INPUT and len(error_lines(err)) == 1
    assert os.listdir(tmp_path) == []


def test_a_run_refused_once_its_folder_exists_removes_it(tmp_path, monkeypatch, main_with):
    """A refusal found while measuring (after Hydra made the folder) removes the folder it made."""
    monkeypatch.chdir(tmp_path)

    def refuse(self, n, seed):
        raise ConfigError("domain.width", 8, "refused while sampling (test)")

    monkeypatch.setattr(mlp.MLPSampler, "sample", refuse)
    code, out = main_with(*TINY, "sweep.values=[2]", "hydra.run.dir=outputs/day/time")
    assert code == cli.EXIT_BAD_INPUT and "refused while sampling" in out.err
    assert os.listdir(tmp_path) == []


def test_a_refused_rerun_leaves_the_folders_record_as_it_was(tmp_path, main_with):
    """Refused for an existing results.csv: .hydra/ still records the run that wrote it."""
    code, _ = main_with(*TINY, "sweep.values=[2]", f"hydra.run.dir={tmp_path}")
    assert code == 0
    record = {p.name: p.read_bytes() for p in (tmp_path / ".hydra").iterdir()}
    assert set(record) == {"config.yaml", "hydra.yaml", "overrides.yaml"}
    code, out = main_with(*TINY, "sweep.values=[2]", "measure.seed=7", f"hydra.run.dir={tmp_path}")
    assert code == cli.EXIT_BAD_INPUT and "already holds results.csv" in out.err
    assert {p.name: p.read_bytes() for p in (tmp_path / ".hydra").iterdir()} == record


def test_an_unreadable_results_csv_is_one_line_and_exit_2(tmp_path, main_with):
    (tmp_path / "results.csv").write_bytes(b"\x89\xff not a table")
    code, out = main_with(*TINY, "sweep.values=[2]", "measure.resume=true", f"hydra.run.dir={tmp_path}")
    assert code == cli.EXIT_BAD_INPUT
    lines = error_lines(out.err)
    assert len(lines) == 1 and str(tmp_path / "results.csv") in lines[0] and "not UTF-8" in lines[0]
    assert not (tmp_path / ".hydra").exists()


def test_resume_says_which_points_it_measured_again_and_why(tmp_path, main_with):
    code, _ = main_with(*TINY, "sweep.values=[2,3]", f"hydra.run.dir={tmp_path}")
    assert code == 0
    lines = (tmp_path / "results.csv").read_text().splitlines()
    (tmp_path / "results.csv").write_text("\n".join(lines[:-3]) + "\n")  # depth=3 loses 3 of its 8 rows
    code, out = main_with(*TINY, "sweep.values=[2,3]", "measure.resume=true", f"hydra.run.dir={tmp_path}")
    assert code == 0
    assert (
        "resume: reused 1 of 2 points from results.csv, measured 1; 1 recomputed (depth=3: 5 of its 8 groups)"
    ) in out.out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [p.get("recomputed", "") for p in summary["points"]] == ["", "5 of its 8 groups"]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["domain.width=1000000"], ["domain.memory_limit_gb=4.0", "one draw", "GB, more than memory_limit_gb=4"]),
        (["measure.n_samples=20000000"], ["measure.n_samples=20000000", "draws at depth=2", "domain.memory_limit_gb"]),
    ],
    ids=["width", "draws"],
)
def test_memory_guard_is_one_line_before_any_work(tmp_path, main_with, args, fragments):
    code, out = main_with(*TINY, "sweep.values=[2,3]", *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == cli.EXIT_BAD_INPUT
    lines = error_lines(out.err)
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), lines
    assert not (tmp_path / "run").exists()


def test_two_runs_racing_on_one_folder(tmp_path):
    """Started together in one hydra.run.dir: one measures, the other is refused with one line
    (busy while the first holds the folder, or its results exist once it has finished), and
    the folder holds exactly the first run's results."""
    args = [
        "domain=mlp",
        "domain.width=64",
        "measure.n_samples=64",
        "sweep.values=[2,4,8,16,32]",
        "report.plot=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    results = [finish(proc) for proc in [xvanish(*args), xvanish(*args)]]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, cli.EXIT_BAD_INPUT], results
    refused = next(err for code, _, err in results if code)
    lines = error_lines(refused)
    assert len(lines) == 1 and str(tmp_path / "run") in lines[0]
    assert "is in use by another run (pid " in lines[0] or "already holds results.csv" in lines[0]
    df = pd.read_csv(tmp_path / "run" / "results.csv")
    assert (
        list(df.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS) and len(df) == (2 + 4 + 8 + 16 + 32) * 2 + 5 * 2
    )
    assert not (tmp_path / "run" / ".xvanish.lock").exists()


def test_a_multirun_without_plots_draws_none(tmp_path):
    code, _, err = finish(
        xvanish("-m", *TINY, "sweep.values=[2,3]", "domain.activation=tanh,relu", f"hydra.sweep.dir={tmp_path}")
    )
    assert code == 0, err
    assert (tmp_path / "summary.json").exists() and not list(tmp_path.rglob("plot.png"))
