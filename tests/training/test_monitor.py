"""xvanish.monitor against statistics computed directly from the tensors it watched."""

import numpy as np
import pytest
import torch

import xvanish
from xvanish.core import ConfigError
from xvanish.training.monitor import monitor


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))


def _train(model, steps, every, record=None, poison=None):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    mon = xvanish.monitor(model, optimizer, every=every)
    x, y = torch.randn(16, 7, generator=torch.Generator().manual_seed(1)), torch.randint(0, 3, (16,))
    for t in range(1, steps + 1):
        before = [p.detach().clone() for p in model.parameters()]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if poison == t:
            model[0].weight.grad[0, :3] = float("nan")
        if record is not None:
            record[t] = ([p.grad.detach().clone() for p in model.parameters()], before)
        optimizer.step()
        mon.step(loss)
        if record is not None:
            record[t] = (*record[t], [p.detach().clone() for p in model.parameters()], float(loss.detach()))
    return mon


def test_monitor_rows_equal_the_statistics_of_the_tensors_themselves():
    # The pooled variance of a tensor's entries does not depend on how they are split into
    # blocks, so each row must equal np.var(..., ddof=1) of the tensor; the relative update's
    # mean_sq is (‖Δθ‖/‖θ‖)². Tolerance: float32 block sums (1e-5 relative).
    model = _model()
    record = {}
    mon = _train(model, steps=12, every=5, record=record)
    rows = mon.rows()
    assert sorted(set(rows["step"])) == [1, 5, 10]
    names = [name for name, _ in model.named_parameters()]
    for step in (1, 5, 10):
        grads, before, after, loss = record[step]
        at = rows[rows["step"] == step].set_index("group")
        for name, g, b, a in zip(names, grads, before, after):
            delta = (a - b).double().numpy().ravel()
            np.testing.assert_allclose(at.loc[f"grad/{name}", "var"], np.var(g.double().numpy(), ddof=1), rtol=1e-5)
            np.testing.assert_allclose(
                at.loc[f"update/{name}", "var"], np.var(delta, ddof=1), rtol=1e-5, atol=1e-6 * np.mean(delta**2)
            )  # all-equal entries: var is rounding
            ratio = np.sum(delta**2) / np.sum(b.double().numpy() ** 2)
            np.testing.assert_allclose(at.loc[f"rel_update/{name}", "mean_sq"], ratio, rtol=1e-5)
            assert at.loc[f"grad/{name}", "n_params"] == g.numel()
            assert at.loc[f"grad/{name}", "var_lo"] <= at.loc[f"grad/{name}", "var"] <= at.loc[f"grad/{name}", "var_hi"]
        assert at.loc["cost", "mean"] == pytest.approx(loss)


def test_monitor_counts_non_finite_gradients_and_leaves_them_out():
    model = _model()
    record = {}
    mon = _train(model, steps=5, every=5, record=record, poison=5)
    at = mon.rows().query("step == 5").set_index("group")
    grad = record[5][0][0].double().numpy()
    assert at.loc["grad/0.weight", "nonfinite_frac"] == pytest.approx(3 / grad.size)
    np.testing.assert_allclose(at.loc["grad/0.weight", "var"], np.nanvar(grad, ddof=1), rtol=1e-5)


def test_zero_initialised_tensor_has_no_relative_update():
    model = _model()
    with torch.no_grad():
        model[2].bias.zero_()
    at = _train(model, steps=1, every=1).rows().set_index("group")
    assert at.loc["rel_update/2.bias", "nonfinite_frac"] == 1.0
    assert np.isnan(at.loc["rel_update/2.bias", "var"])


def test_monitor_writes_the_output_contract(tmp_path):
    mon = _train(_model(), steps=10, every=5)
    summary = mon.write(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"results.csv", "summary.json", "plot.png"}
    assert summary["scale_name"] == "step"
    with pytest.raises(ConfigError, match="already holds results.csv"):
        mon.write(tmp_path)


@pytest.mark.parametrize(
    "model, every, message",
    [
        (torch.nn.ReLU(), 10, "model='ReLU': has no trainable parameters: a monitor needs at least one"),
        (torch.nn.Linear(2, 2).requires_grad_(False), 10, "model='Linear': has no trainable parameters"),
        (torch.nn.Linear(2, 2), 0, "every=0: must be an integer >= 1"),
    ],
)
def test_bad_monitor_input_is_one_clear_line(model, every, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        monitor(model, every=every)
