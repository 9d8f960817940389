"""Optimizers and clipping as functional updates of parameters stacked over R runs ``[R, ...]``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from xvanish.training.config import TrainConfig

__all__ = ["BatchedOptimizer", "CLIPPERS", "UPDATES", "clip_gradients"]

Tensor = torch.Tensor
#: Torch's clip_grad_norm_ adds this to the norm before dividing (kept, to agree with it).
NORM_CLIP_EPS = 1e-6


def _clip_none(grads: Mapping[str, Tensor], bound: float) -> dict[str, Tensor]:
    return dict(grads)


def _clip_norm(grads: Mapping[str, Tensor], bound: float) -> dict[str, Tensor]:
    """Scale each run's gradient so that its global norm over all tensors is at most ``bound``."""
    runs = next(iter(grads.values())).shape[0]
    per_tensor = torch.stack([torch.linalg.vector_norm(g.reshape(runs, -1), dim=1) for g in grads.values()])
    total = torch.linalg.vector_norm(per_tensor, dim=0)  # [R]
    coef = torch.clamp(bound / (total + NORM_CLIP_EPS), max=1.0)
    return {name: g * coef.reshape(-1, *([1] * (g.dim() - 1))) for name, g in grads.items()}


def _clip_value(grads: Mapping[str, Tensor], bound: float) -> dict[str, Tensor]:
    return {name: g.clamp(-bound, bound) for name, g in grads.items()}


#: ``clip`` -> clipper(grads, bound): every run clipped on its own (a run is the leading dim).
CLIPPERS: dict[str, Callable[[Mapping[str, Tensor], float], dict[str, Tensor]]] = {
    "none": _clip_none,
    "norm": _clip_norm,
    "value": _clip_value,
}


def clip_gradients(grads: Mapping[str, Tensor], clip: str, bound: float) -> dict[str, Tensor]:
    """The gradients after clipping (new tensors where clipped; the inputs are not changed)."""
    return CLIPPERS[clip](grads, bound)


# Each update changes ``param`` in place as torch.optim does for one tensor (same operation
# order, so the two agree to rounding), given the step number t (1, 2, …) and its state.
# Everything is elementwise, so stacking R runs along the first axis batches them for free.


def _sgd(cfg: TrainConfig, param: Tensor, grad: Tensor, state: dict, t: int) -> None:
    if cfg.decay:
        grad = grad.add(param, alpha=cfg.decay)
    param.add_(grad, alpha=-cfg.lr)


def _momentum(cfg: TrainConfig, param: Tensor, grad: Tensor, state: dict, t: int) -> None:
    if cfg.decay:
        grad = grad.add(param, alpha=cfg.decay)
    if "buffer" not in state:
        state["buffer"] = grad.clone()
    else:
        state["buffer"].mul_(cfg.momentum).add_(grad)
    param.add_(state["buffer"], alpha=-cfg.lr)


def _adam_step(cfg: TrainConfig, param: Tensor, grad: Tensor, state: dict, t: int) -> None:
    """Adam with bias correction (Kingma & Ba 2015, Algorithm 1; torch's ε placement)."""
    if "m" not in state:
        state["m"], state["v"] = torch.zeros_like(param), torch.zeros_like(param)
    m, v = state["m"], state["v"]
    m.lerp_(grad, 1 - cfg.beta1)
    v.mul_(cfg.beta2).addcmul_(grad, grad, value=1 - cfg.beta2)
    step_size = cfg.lr / (1 - cfg.beta1**t)
    denom = (v.sqrt() / (1 - cfg.beta2**t) ** 0.5).add_(cfg.eps)
    param.addcdiv_(m, denom, value=-step_size)


def _adam(cfg: TrainConfig, param: Tensor, grad: Tensor, state: dict, t: int) -> None:
    if cfg.decay:
        grad = grad.add(param, alpha=cfg.decay)
    _adam_step(cfg, param, grad, state, t)


def _adamw(cfg: TrainConfig, param: Tensor, grad: Tensor, state: dict, t: int) -> None:
    param.mul_(1 - cfg.lr * cfg.decay)  # decoupled decay (Loshchilov & Hutter 2019)
    _adam_step(cfg, param, grad, state, t)


def _rmsprop(cfg: TrainConfig, param: Tensor, grad: Tensor, state: dict, t: int) -> None:
    if cfg.decay:
        grad = grad.add(param, alpha=cfg.decay)
    if "v" not in state:
        state["v"] = torch.zeros_like(param)
    state["v"].mul_(cfg.beta2).addcmul_(grad, grad, value=1 - cfg.beta2)
    param.addcdiv_(grad, state["v"].sqrt().add_(cfg.eps), value=-cfg.lr)


#: ``optimizer`` -> in-place update of one stacked tensor.
UPDATES: dict[str, Callable[[TrainConfig, Tensor, Tensor, dict, int], None]] = {
    "sgd": _sgd,
    "momentum": _momentum,
    "adam": _adam,
    "adamw": _adamw,
    "rmsprop": _rmsprop,
}


@dataclass
class BatchedOptimizer:
    """One optimizer for R runs at once: parameters ``name -> [R, ...]`` updated in place.

    RMSprop's α is ``beta2`` (torch's ``alpha``; set ``train.beta2=0.99`` for torch's default).

    Example:
        >>> opt = BatchedOptimizer(TrainConfig(optimizer="adam", lr=1e-3))
        >>> params = {"w": torch.zeros(16, 4, 4)}
        >>> opt.step(params, {"w": torch.ones(16, 4, 4)})  # clips, then updates ``params`` in place
    """

    config: TrainConfig
    t: int = 0
    state: dict[str, dict] = field(default_factory=dict)

    def step(self, params: Mapping[str, Tensor], grads: Mapping[str, Tensor]) -> None:
        """Clip every run's gradient, then take one update of every run."""
        cfg = self.config
        self.t += 1
        clipped = clip_gradients(grads, cfg.clip, cfg.clip_at)
        update = UPDATES[cfg.optimizer]
        with torch.no_grad():
            for name, param in params.items():
                update(cfg, param, clipped[name], self.state.setdefault(name, {}), self.t)
