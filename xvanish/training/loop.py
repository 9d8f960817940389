"""Train R runs at once and record gradient, update and relative-update rows at the logged steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch

from xvanish import reduce, stats
from xvanish.core import COST, GradientBatch, Group, Theory, bound, exact, group, measure, require
from xvanish.training.config import TrainConfig
from xvanish.training.optim import BatchedOptimizer

__all__ = ["FAMILIES", "Measured", "Problem", "RecordedStep", "TrainingRecorder", "groups_of", "train"]

Tensor = torch.Tensor

#: The families of a training row: the gradient, the update Δθ and the update relative to θ.
FAMILIES = ("grad", "update", "rel_update")


@dataclass(frozen=True)
class Measured:
    """A parameter tensor that gets rows: its label in group names and its position."""

    label: str
    position: float | None


@dataclass
class Problem:
    """What a domain's training task hands the loop.

    Attributes:
        domain: the domain name (results.csv ``domain``).
        config: the domain's config dataclass (its values become columns).
        params: name -> initial values ``[R, ...]`` (R runs stacked first).
        loss: ``loss(params, t)`` -> the R runs' losses ``[R]`` on update t's minibatch;
            run r's loss depends on run r's slice only, so one backward pass of the sum
            gives every run its own gradient.
        measured: parameter name -> :class:`Measured` (the others train but get no rows).
        headline: the group the CLI tabulates and plots by default.
    """

    domain: str
    config: Any
    params: dict[str, Tensor]
    loss: Callable[[Mapping[str, Tensor], int], Tensor]
    measured: dict[str, Measured]
    headline: str


def groups_of(measured: Mapping[str, Measured]) -> list[Group]:
    """``grad/<l>``, ``update/<l>``, ``rel_update/<l>`` for every measured tensor, then ``cost``."""
    return [*(group(f"{family}/{m.label}", m.position) for family in FAMILIES for m in measured.values()), COST]


def _rms(values: Tensor) -> Tensor:
    """Root mean square of each run's entries, ``[R, 1]``."""
    return values.square().mean(dim=1, keepdim=True).sqrt()


@dataclass
class RecordedStep:
    """The rows of one logged step as a sampler, so :func:`xvanish.core.measure` summarises them."""

    domain: str
    config: Any
    declared: list[Group]
    batch: GradientBatch
    theory: dict[str, Theory] = field(default_factory=dict)

    def groups(self) -> list[Group]:
        return self.declared

    def sample(self, n: int, seed: int) -> GradientBatch:
        return self.batch

    def theory_var(self) -> dict[str, Theory]:
        return self.theory


def _theory(cfg: TrainConfig, t: int, grads: Mapping[str, Tensor], sizes: Mapping[str, int]) -> dict[str, Theory]:
    """Closed forms of an update's variance (docs/training.md, "Theory"), where one exists.

    * plain SGD (no momentum, clipping or decay): Δθ = −lr·g, so Var[Δθ] = lr²·Var[g] (exact);
    * Adam/AdamW (no decoupled decay) at t = 1: |Δθ| = lr·|g|/(|g| + ε) < lr for every
      coordinate whatever the gradient's scale (bias correction), so Var[Δθ] ≤ lr² (bound);
    * SGD with norm clipping: every run's ‖Δθ‖ ≤ lr·clip_at over all tensors, so a tensor of
      k entries has Var[Δθ] ≤ E[Δθ²] ≤ (lr·clip_at)²/k (bound).
    """
    plain = cfg.decay == 0
    if cfg.optimizer == "sgd" and cfg.clip == "none" and plain:
        return {
            f"update/{label}": exact(cfg.lr**2 * stats.summarize_sums(reduce.draw_sums(g))["var"])
            for label, g in grads.items()
        }
    if cfg.optimizer in ("adam", "adamw") and t == 1 and (cfg.optimizer == "adam" or plain):
        return {f"update/{label}": bound(cfg.lr**2) for label in grads}
    if cfg.optimizer == "sgd" and cfg.clip == "norm" and plain:
        return {f"update/{label}": bound((cfg.lr * cfg.clip_at) ** 2 / sizes[label]) for label in grads}
    return {}


@dataclass
class TrainingRecorder:
    """Turns one logged update of R runs into rows (through :func:`xvanish.core.measure`)."""

    problem: Problem
    config: TrainConfig
    seed: int
    scale_name: str | None = None
    scale: Any = None

    def rows(
        self,
        t: int,
        grads: Mapping[str, Tensor],
        before: Mapping[str, Tensor],
        after: Mapping[str, Tensor],
        losses: Tensor,
    ) -> pd.DataFrame:
        """Rows of update t: the gradient at θ_{t−1}, Δθ = θ_t − θ_{t−1} and Δθ/rms(θ_{t−1})."""
        measured = self.problem.measured
        runs = losses.shape[0]
        flat = {name: grads[name].detach().reshape(runs, -1) for name in measured}
        values: dict[str, Tensor] = {}
        for name, m in measured.items():
            values[f"grad/{m.label}"] = flat[name]
        for name, m in measured.items():
            old = before[name].reshape(runs, -1)
            delta = after[name].detach().reshape(runs, -1) - old
            values[f"update/{m.label}"] = delta
            values[f"rel_update/{m.label}"] = delta / _rms(old)
        by_label = {m.label: flat[name] for name, m in measured.items()}
        theory = _theory(self.config, t, by_label, {label: g.shape[1] for label, g in by_label.items()})
        recorded = RecordedStep(
            self.problem.domain,
            self.problem.config,
            groups_of(measured),
            GradientBatch(grads=values, cost=losses.detach()),
            theory,
        )
        stepped = self.scale_name == "step"
        frame = measure(recorded, runs, self.seed, scale_name=self.scale_name, scale=t if stepped else self.scale)
        frame.insert(frame.columns.get_loc("group"), "step", t)
        return frame


def train(
    problem: Problem, config: TrainConfig, *, seed: int, scale_name: str | None = None, scale: Any = None
) -> pd.DataFrame:
    """Train the problem's R runs for ``config.train_steps`` updates; rows at the logged steps.

    Args:
        problem: parameters, loss and measured tensors (a domain's training task).
        config: optimizer, clipping and steps.
        seed: recorded in the rows (the task drew its runs from it).
        scale_name, scale: the sweep axis and this point's value; ``scale_name="step"``
            makes each row's scale its step.

    Returns:
        The rows of every logged step in the results.csv schema plus a ``step`` column;
        ``seconds`` is the training time up to that step.

    Raises:
        ConfigError: ``config.optimizer`` is None (nothing to train).
    """
    require(config.optimizer is not None, "train.optimizer", None, "must name an optimizer to train")
    params = {name: value.detach().clone().requires_grad_() for name, value in problem.params.items()}
    optimizer = BatchedOptimizer(config)
    recorder = TrainingRecorder(problem, config, seed, scale_name, scale)
    logged = set(config.steps_logged)
    frames = []
    start = time.perf_counter()
    for t in range(1, config.train_steps + 1):
        with torch.enable_grad():
            losses = problem.loss(params, t)
            grads = dict(zip(params, torch.autograd.grad(losses.sum(), list(params.values()))))
        before = {name: params[name].detach().clone() for name in problem.measured} if t in logged else None
        optimizer.step(params, grads)
        if before is not None:
            frame = recorder.rows(t, grads, before, params, losses)
            frame["seconds"] = time.perf_counter() - start
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)
