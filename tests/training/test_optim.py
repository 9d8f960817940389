"""Batched optimizers and clipping against torch.optim run once per run, and their closed forms."""

import pytest
import torch

from xvanish.core import ConfigError
from xvanish.training.config import OPTIMIZER_NAMES, TrainConfig, default_log_steps
from xvanish.training.optim import BatchedOptimizer, clip_gradients

RUNS, STEPS = 4, 6
SHAPES = {"w": (3, 5), "b": (3,)}

#: Our name -> the torch.optim call of one run (the independent reference).
TORCH = {
    "sgd": lambda p, c: torch.optim.SGD(p, lr=c.lr, weight_decay=c.decay),
    "momentum": lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, weight_decay=c.decay),
    "adam": lambda p, c: torch.optim.Adam(p, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps, weight_decay=c.decay),
    "adamw": lambda p, c: torch.optim.AdamW(p, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps, weight_decay=c.decay),
    "rmsprop": lambda p, c: torch.optim.RMSprop(p, lr=c.lr, alpha=c.beta2, eps=c.eps, weight_decay=c.decay),
}
CLIP_REFERENCE = {
    "none": lambda params, bound: None,
    "norm": lambda params, bound: torch.nn.utils.clip_grad_norm_(params, bound),
    "value": lambda params, bound: torch.nn.utils.clip_grad_value_(params, bound),
}


def _gradients(step: int, dtype: torch.dtype) -> dict:
    """Gradients of very different scales per run (1e-4 … 1e2), fixed by the step."""
    gen = torch.Generator().manual_seed(100 + step)
    scales = torch.logspace(-4, 2, RUNS, dtype=dtype)
    return {
        name: torch.randn((RUNS, *shape), generator=gen, dtype=dtype) * scales.reshape(-1, *[1] * len(shape))
        for name, shape in SHAPES.items()
    }


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("clip", ["none", "norm", "value"])
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_batched_optimizer_matches_torch_optim_run_by_run(name, clip, dtype, rtol):
    # The reference: R separate parameter sets, each with its own torch.optim optimizer and
    # torch's clip_grad_*_; the same gradients fed to both. Tolerance: rounding only (same
    # operations in the same order; 1e-12 in float64, 1e-6 relative in float32).
    cfg = TrainConfig(optimizer=name, lr=0.05, clip=clip, clip_at=0.5, weight_decay=0.1 if name != "sgd" else None)
    gen = torch.Generator().manual_seed(0)
    start = {n: torch.randn((RUNS, *s), generator=gen, dtype=dtype) for n, s in SHAPES.items()}
    ours = {n: v.clone() for n, v in start.items()}
    reference = [{n: v[r].clone().requires_grad_() for n, v in start.items()} for r in range(RUNS)]
    optimizers = [TORCH[name](list(run.values()), cfg) for run in reference]
    batched = BatchedOptimizer(cfg)
    for step in range(STEPS):
        grads = _gradients(step, dtype)
        batched.step(ours, grads)
        for r, (run, optimizer) in enumerate(zip(reference, optimizers)):
            for n, p in run.items():
                p.grad = grads[n][r].clone()
            CLIP_REFERENCE[clip](list(run.values()), cfg.clip_at)
            optimizer.step()
    for n in SHAPES:
        expected = torch.stack([run[n].detach() for run in reference])
        torch.testing.assert_close(ours[n], expected, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1.0, 1e6])
@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_first_update_is_lr_per_coordinate_whatever_the_gradient_scale(name, scale):
    # Bias correction: m̂₁ = g, v̂₁ = g², so Δθ = −lr·g/(|g| + ε). With ε = 0 every
    # coordinate moves by exactly lr; with torch's ε by lr·|g|/(|g| + ε), held at every scale.
    # Tolerance: θ₁ − θ₀ is rounded to the spacing of θ (|θ| < 8: 2e-15 in float64).
    for eps in (0.0, 1e-8):
        cfg = TrainConfig(optimizer=name, lr=1e-3, eps=eps, weight_decay=0.0)
        theta = torch.randn(RUNS, 50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        g = torch.randn(RUNS, 50, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * scale
        before = theta.clone()
        BatchedOptimizer(cfg).step({"w": theta}, {"w": g})
        expected = -cfg.lr * g / (g.abs() + eps)
        torch.testing.assert_close(theta - before, expected, rtol=0.0, atol=2e-15)
        if eps == 0.0:
            torch.testing.assert_close((theta - before).abs(), torch.full_like(g, cfg.lr), rtol=0.0, atol=2e-15)


def test_sgd_update_is_minus_lr_times_gradient():
    cfg = TrainConfig(optimizer="sgd", lr=0.3)
    theta = torch.zeros(RUNS, 7, dtype=torch.float64)
    g = torch.randn(RUNS, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    BatchedOptimizer(cfg).step({"w": theta}, {"w": g})
    assert torch.equal(theta, -0.3 * g)  # from θ = 0 no rounding of a difference: exact


def test_norm_clipping_bounds_every_runs_global_norm_and_leaves_small_ones():
    # ‖clip(g)‖ = min(‖g‖, c·‖g‖/(‖g‖ + 1e-6)) per run over all tensors together (torch's rule).
    grads = _gradients(0, torch.float64)
    bound = 0.5
    clipped = clip_gradients(grads, "norm", bound)
    norm = lambda gs: torch.sqrt(sum(g.reshape(RUNS, -1).square().sum(1) for g in gs.values()))  # noqa: E731
    before, after = norm(grads), norm(clipped)
    assert torch.all(after <= bound * (1 + 1e-12))
    small = before < bound
    assert small.any() and (~small).any()
    torch.testing.assert_close(after[small], before[small], rtol=0, atol=0)
    torch.testing.assert_close(after[~small], bound * before[~small] / (before[~small] + 1e-6), rtol=1e-12, atol=0)


def test_value_clipping_clamps_each_entry():
    grads = _gradients(1, torch.float64)
    clipped = clip_gradients(grads, "value", 0.2)
    for name, g in grads.items():
        assert torch.equal(clipped[name], g.clamp(-0.2, 0.2))


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("optimizer", "adagrad", "train.optimizer='adagrad': must be one of sgd, momentum, adam, adamw, rmsprop"),
        ("lr", 0.0, "train.lr=0.0: must be a finite number > 0"),
        ("lr", -1e-3, "train.lr=-0.001: must be a finite number > 0"),
        ("clip_at", 0.0, "train.clip_at=0.0: must be a finite number > 0"),
        ("clip", "max", "train.clip='max': must be one of none, norm, value"),
        ("log_steps", [1, 2000], "train.log_steps=[1, 2000]: must be distinct integers in [1, train.train_steps=1000]"),
        ("log_steps", [0], "train.log_steps=[0]: must be distinct integers in [1, train.train_steps=1000]"),
    ],
)
def test_bad_training_keys_name_key_value_and_what_is_allowed(key, value, message):
    with pytest.raises(ConfigError) as error:
        TrainConfig(**{"optimizer": "adam", key: value})
    assert str(error.value) == message


def test_default_log_steps_are_half_decades_and_the_last_step():
    assert default_log_steps(1000) == [1, 3, 10, 30, 100, 300, 1000]
    assert default_log_steps(50) == [1, 3, 10, 30, 50]
    assert default_log_steps(1) == [1]
