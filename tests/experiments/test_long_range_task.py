"""``experiment=long_range_task`` through the front door: a run, a multirun over seeds combined at
the sweep root, resume, determinism across the two, and bad options (exit 2).

Tiny sizes throughout (3 updates of 8 windows, Δ = 5, 10, two models, hidden 8): the
accuracies are noise, but the same noise for the same seed wherever it runs; threshold=0.3
lets every Δ be tried.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from xvanish.core import ConfigError
from xvanish.domains.rnn import data as seqdata
from xvanish.experiments import check_runner
from xvanish.experiments import long_range_task as lrt

TINY = [
    "experiment=long_range_task",
    "runner.options.updates=3",
    "runner.options.deltas=[5,10]",
    "runner.options.batch=8",
    "runner.options.threshold=0.3",
    "runner.options.model=[rnn_default,lstm_chrono]",
    "sweep.values=[6,11]",
    "measure.n_samples=4",
    "domain.hidden=8",
]


def xvanish(*args):
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, "-m", "xvanish", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    done = xvanish(*TINY, f"hydra.run.dir={out}")
    assert done.returncode == 0, done.stderr
    return out, done.stdout


@pytest.fixture(scope="module")
def multirun(tmp_path_factory):
    sweep = tmp_path_factory.mktemp("sweep")
    done = xvanish("-m", *TINY, "measure.seed=0,1", f"hydra.sweep.dir={sweep}")
    assert done.returncode == 0, done.stderr
    return sweep, done.stdout


def test_a_run_measures_then_trains(single_run):
    out, stdout = single_run
    for name in ("results.csv", "summary.json", "plot.png", lrt.TABLE_NAME, lrt.FIGURE_NAME):
        assert (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / lrt.TABLE_NAME)
    assert list(table.model) == ["rnn_default", "lstm_chrono"] * 2 and list(table.delta) == [5, 5, 10, 10]
    assert (table.seed == 0).all() and (table.updates == 3).all() and (table.hidden == 8).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runner"]["name"] == "long_range_task"
    assert summary["runner"]["largest_delta"] == lrt.largest_learnt(table)
    assert "seed 0          rnn_default: largest Δ at ≥ 30%:   10" in stdout


def test_multirun_combines_the_seeds_and_a_job_equals_the_run(single_run, multirun):
    sweep, stdout = multirun
    combined = pd.read_csv(sweep / lrt.TABLE_NAME)
    assert sorted(combined.seed.unique()) == [0, 1] and (sweep / lrt.FIGURE_NAME).stat().st_size > 0
    job0 = pd.read_csv(sweep / "0" / lrt.TABLE_NAME)
    pd.testing.assert_frame_equal(job0, pd.read_csv(single_run[0] / lrt.TABLE_NAME))
    assert "largest Δ learnt to ≥ 30%, seeds 0 / 1" in stdout and "rnn_default  10 / 10" in stdout


def test_resume_reuses_every_trained_model(single_run):
    out, _ = single_run
    before = pd.read_csv(out / lrt.TABLE_NAME)
    done = xvanish(*TINY, f"hydra.run.dir={out}", "measure.resume=true")
    assert done.returncode == 0, done.stderr
    assert "training: reused 4 of 4 (model, Δ) from training.csv" in done.stdout
    pd.testing.assert_frame_equal(pd.read_csv(out / lrt.TABLE_NAME), before)


def test_labels_are_balanced_and_are_the_first_residue():
    """Independent of the training: every window's label is half[its first residue], half of them 1."""
    sequences = seqdata.load("proteome")
    half = lrt.balanced_half(sequences.frequencies())
    assert abs(sequences.frequencies()[half].sum() - 0.5) < 0.01
    x, y = lrt.examples(sequences, half, 7, 200, np.random.default_rng(0))
    assert x.shape == (200, 8) and y.mean().item() == 0.5
    assert np.array_equal(y.numpy().astype(bool), half[x[:, 0].numpy()])


@pytest.mark.parametrize(
    "options, key",
    [
        ({"deltas": [10, 5]}, "deltas"),
        ({"deltas": []}, "deltas"),
        ({"updates": 0}, "updates"),
        ({"batch": 7}, "batch"),
        ({"lr": 0}, "lr"),
        ({"threshold": 1.5}, "threshold"),
        ({"model": 3}, "model"),
        ({"seeds": 3}, "seeds"),
    ],
)
def test_bad_options_name_the_key(options, key):
    with pytest.raises(ConfigError) as error:
        check_runner("long_range_task", options)
    assert error.value.key == f"runner.options.{key}"


def test_an_unknown_model_is_one_line_and_exit_2_before_any_work(tmp_path):
    done = xvanish(
        *TINY[:-4], "runner.options.model=[foo]", "sweep.values=[6]", "measure.n_samples=4", f"hydra.run.dir={tmp_path}"
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: runner.options.model=") and "lstm_chrono" in lines[0]
    assert not (tmp_path / "results.csv").exists()
