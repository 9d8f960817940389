"""experiments/long_range_task.py as a Hydra app: a run, a multirun over seeds combined at
the sweep root by its callback, determinism across the two, and bad input (exit 2).

Tiny sizes throughout (3 updates of 8 windows, Δ = 5, 10, two models): the numbers are
noise, but the same noise for the same seed wherever it runs. threshold=0.3 lets every Δ
be tried."""

import contextlib
import importlib.util
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "long_range_task.py"
TINY = ["updates=3", "deltas=[5,10]", "batch=8", "threshold=0.3", "model=[rnn_default,lstm_chrono]"]


def _load_script():
    """The script as module ``long_range_task`` (the name its callbacks' _target_ uses)."""
    if "long_range_task" not in sys.modules:
        spec = importlib.util.spec_from_file_location("long_range_task", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["long_range_task"] = module
        spec.loader.exec_module(module)
    return sys.modules["long_range_task"]


lrt = _load_script()


@contextlib.contextmanager
def _logging_kept():
    """Hydra configures the root logger for each run; put back what pytest had."""
    root = logging.getLogger()
    kept = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:], root.level = kept


def _main(patch, *args):
    """Run the script's main() in this process; returns (exit code, stderr)."""
    patch.delenv("HYDRA_FULL_ERROR", raising=False)
    patch.setattr(sys, "argv", [str(SCRIPT), *args])
    stderr = io.StringIO()
    with _logging_kept(), contextlib.redirect_stderr(stderr):
        try:
            lrt.main()
        except SystemExit as stop:
            return stop.code, stderr.getvalue()
    return 0, stderr.getvalue()


@pytest.fixture(scope="module")
def multirun(tmp_path_factory):
    """``-m seed=0,1`` with the basic launcher, as a user runs it."""
    sweep = tmp_path_factory.mktemp("sweep")
    done = subprocess.run([sys.executable, str(SCRIPT), "-m", "seed=0,1", *TINY, f"hydra.sweep.dir={sweep}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return sweep, done.stdout


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    """A run in this process, its figure sent elsewhere by ``figure=``."""
    tmp = tmp_path_factory.mktemp("single")
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
        code, err = _main(patch, *TINY, f"figure={tmp / 'elsewhere' / 'fig.png'}", f"hydra.run.dir={tmp / 'run'}")
    assert code == 0, err
    return tmp, stdout.getvalue()


def test_single_run_writes_results_and_figure(single_run):
    tmp, stdout = single_run
    summary = json.loads((tmp / "run" / lrt.RESULT_NAME).read_text())
    assert [r["model"] for r in summary["results"]] == ["rnn_default", "lstm_chrono"]
    assert all(r["seed"] == 0 and list(r["accuracy"]) == ["5", "10"] for r in summary["results"])
    assert summary["deltas"] == [5, 10] and summary["updates"] == 3 and summary["batch"] == 8
    assert (tmp / "elsewhere" / "fig.png").stat().st_size > 0 and not (tmp / "run" / lrt.FIGURE_NAME).exists()
    assert "seed 0          rnn_default: largest Δ at ≥ 30%:   10" in stdout


def test_multirun_combines_jobs_at_the_sweep_root(multirun):
    sweep, stdout = multirun
    combined = json.loads((sweep / lrt.RESULT_NAME).read_text())
    assert (sweep / lrt.FIGURE_NAME).stat().st_size > 0
    assert sorted({r["seed"] for r in combined["results"]}) == [0, 1]
    assert combined["missing"] == [] and len(combined["jobs"]) == 2 and combined["updates"] == 3
    for job in combined["jobs"]:
        own = json.loads((sweep / job["dir"] / lrt.RESULT_NAME).read_text())
        assert [{k: v for k, v in r.items() if k != "job"} for r in combined["results"]
                if r["job"] == job["job"]] == own["results"]
        assert (sweep / job["dir"] / lrt.FIGURE_NAME).exists()
    assert "largest Δ learnt to ≥ 30%, seeds 0 / 1" in stdout
    assert "rnn_default  10 / 10" in stdout


def test_same_seed_same_accuracies_in_a_run_and_a_multirun_job(single_run, multirun):
    single = json.loads((single_run[0] / "run" / lrt.RESULT_NAME).read_text())
    job = json.loads((multirun[0] / "0" / lrt.RESULT_NAME).read_text())
    assert job["results"] == single["results"]


@pytest.mark.parametrize("argument, key", [
    ("model=foo", "model"),
    ("seed=-1", "seed"),
    ("deltas=[10,5]", "deltas"),
    ("deltas=[]", "deltas"),
    ("updates=0", "updates"),
    ("batch=7", "batch"),
    ("lr=0", "lr"),
    ("threshold=1.5", "threshold"),
])
def test_bad_input_is_one_line_and_exit_2(monkeypatch, tmp_path, argument, key):
    code, err = _main(monkeypatch, argument, f"hydra.run.dir={tmp_path}")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}="), err
    assert not list(tmp_path.rglob(lrt.RESULT_NAME)) and not list(tmp_path.rglob("*.png"))


def test_unknown_model_lists_the_models(monkeypatch, tmp_path):
    code, err = _main(monkeypatch, "model=foo", f"hydra.run.dir={tmp_path}")
    assert code == 2 and "lstm_chrono" in err and "rnn_default" in err


def test_a_bad_job_stops_the_multirun_before_any_job(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "-m", "seed=0,-1", *TINY, f"hydra.sweep.dir={tmp_path / 's'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: seed=-1: must be an integer >= 0 (multirun job 1: seed=-1 " + " ".join(TINY) + "; no job was started)"]
    assert not (tmp_path / "s").exists()


def test_a_badly_typed_seed_in_a_multirun_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "-m", "seed=0,abc", *TINY, f"hydra.sweep.dir={tmp_path / 's'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: seed=0,abc: must be of type int (multirun job 1:")
    assert not (tmp_path / "s").exists()


def test_results_are_never_overwritten_or_mixed(monkeypatch, single_run, multirun):
    """A run into a dir that holds results, or a multirun into a sweep dir that does, stops
    with one line and exit 2 and leaves the old files as they were (a combined file must
    not mix in an earlier sweep's jobs)."""
    tmp, _ = single_run
    before = (tmp / "run" / lrt.RESULT_NAME).read_bytes()
    code, err = _main(monkeypatch, *TINY, f"hydra.run.dir={tmp / 'run'}")
    assert code == 2 and err.strip().startswith(f"error: output directory='{tmp / 'run'}': already holds")
    assert (tmp / "run" / lrt.RESULT_NAME).read_bytes() == before
    sweep, _ = multirun
    combined = (sweep / lrt.RESULT_NAME).read_bytes()
    done = subprocess.run([sys.executable, str(SCRIPT), "-m", "seed=5", *TINY, f"hydra.sweep.dir={sweep}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: hydra.sweep.dir={sweep}: already holds 3 {lrt.RESULT_NAME} (results are never overwritten or "
        "mixed): choose another sweep dir"]
    assert (sweep / lrt.RESULT_NAME).read_bytes() == combined
