"""``python -m xvanish`` with ``train.*``: rows over steps, and bad training input."""

import pandas as pd
import pytest

SMALL = [
    "domain=mlp",
    "domain.depth=3",
    "domain.width=8",
    "measure.n_samples=4",
    "train.train_steps=5",
    "train.batch_size=8",
    "report.plot=false",
]


def test_training_over_steps_writes_rows_with_step_column(run_main, tmp_path):
    code, out = run_main(*SMALL, "train.optimizer=sgd", "train.lr=0.1", "sweep.param=step", "train.log_steps=[1,5]")
    assert code == 0, out.err
    rows = pd.read_csv(tmp_path / "results.csv")
    assert sorted(set(rows["step"])) == [1, 5]
    assert (rows["scale"] == rows["step"]).all() and (rows["scale_name"] == "step").all()
    assert {"grad/1", "update/1", "rel_update/1", "rel_update/readout", "cost"} <= set(rows["group"])
    assert set(rows["n_samples"]) == {4}
    assert (rows["train_optimizer"] == "sgd").all()
    # plain SGD: Var[Δθ] = lr²·Var[g] (exact theory; float32 differences of θ: 1e-3 relative)
    update = rows[rows["group"] == "update/2"].reset_index()
    grad = rows[rows["group"] == "grad/2"].reset_index()
    assert (update["theory_kind"] == "exact").all()
    pd.testing.assert_series_equal(update["theory_var"], 0.01 * grad["var"], check_names=False, rtol=1e-12)
    pd.testing.assert_series_equal(update["var"], update["theory_var"], check_names=False, rtol=1e-3)


def test_training_sweep_over_a_domain_key_keeps_every_step(run_main, tmp_path):
    code, out = run_main(*SMALL, "train.optimizer=adam", "sweep.param=depth", "sweep.values=[2,3]")
    assert code == 0, out.err
    rows = pd.read_csv(tmp_path / "results.csv")
    assert sorted(set(rows["scale"])) == [2, 3] and sorted(set(rows["step"])) == [1, 3, 5]


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "train.optimizer=adagrad",
            "error: train.optimizer='adagrad': must be one of sgd, momentum, adam, adamw, rmsprop",
        ),
        ("train.lr=0", "error: train.lr=0.0: must be a finite number > 0"),
        ("train.lr=-1", "error: train.lr=-1.0: must be a finite number > 0"),
        ("train.clip_at=0", "error: train.clip_at=0.0: must be a finite number > 0"),
        (
            "train.log_steps=[1,10]",
            "error: train.log_steps=[1, 10]: must be distinct integers in [1, train.train_steps=5]",
        ),
        ("train.task=mnist", "error: train.task='mnist': must be default or a task of domain mlp: digits"),
    ],
)
def test_bad_training_input_is_one_line_exit_2_and_nothing_written(run_main, tmp_path, override, message):
    optimizer = [] if override.startswith("train.optimizer") else ["train.optimizer=adam"]
    code, out = run_main(*SMALL, *optimizer, "sweep.param=step", override)
    assert code == 2
    assert out.err.strip() == message
    assert not (tmp_path / "results.csv").exists() and not (tmp_path / "summary.json").exists()


def test_a_domain_without_a_training_task_is_refused(run_main, tmp_path):
    code, out = run_main("domain=gan", "train.optimizer=adam")
    assert code == 2
    assert out.err.strip().startswith("error: train.optimizer='adam': domain gan has no training task")
    assert not (tmp_path / "results.csv").exists()
