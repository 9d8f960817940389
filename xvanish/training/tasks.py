"""The domains' training tasks: each builds a :class:`~xvanish.training.loop.Problem` of R runs."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from xvanish.core import require, streams
from xvanish.training.config import TrainConfig
from xvanish.training.loop import Measured, Problem

__all__ = ["TASKS", "build_problem", "digits"]

Tensor = torch.Tensor


@functools.lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits (1,797 images, shipped with sklearn): features standardised
    (constant pixels left at 0), labels 0–9."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data.astype(np.float64)
    spread = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return x, data.target.astype(np.int64)


def _mlp_digits(keys: Mapping[str, Any], cfg: TrainConfig, runs: int, seed: int) -> Problem:
    """The MLP domain's network (its depth, width, activation, init, norm, residual, dtype)
    classifying digits: 64 inputs, L hidden N×N layers (the first N×64), a 10-way readout,
    cross-entropy; every run its own initialisation and minibatches."""
    from xvanish.domains import mlp

    config = mlp.sampler(**keys).config
    dtype, device = mlp.DTYPES[config.dtype], torch.device(config.device)
    draw_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    x_all, y_all = digits()
    inputs = torch.as_tensor(x_all, dtype=dtype, device=device)
    labels = torch.as_tensor(y_all, device=device)
    depth, width, features = config.depth, config.width, inputs.shape[1]
    generators = [torch.Generator(device=device).manual_seed(s) for s in streams(seed, depth + 2)]
    scheme, norm = mlp.INITS[config.init], mlp.NORMS[config.norm]
    params: dict[str, Tensor] = {}
    for layer in range(depth):  # stream l: layer l's weights then biases, as the MLP domain
        fan_in = features if layer == 0 else width
        weight = torch.empty((runs, width, fan_in), dtype=draw_dtype, device=device)
        scheme.fill(weight, generators[layer], config.effective_weight_var)
        bias = torch.empty((runs, width, 1), dtype=draw_dtype, device=device)
        bias.normal_(0.0, math.sqrt(config.bias_var), generator=generators[layer])
        params[f"weight/{layer + 1}"], params[f"bias/{layer + 1}"] = weight.to(dtype), bias.to(dtype)
    readout = torch.empty((runs, 10, width), dtype=draw_dtype, device=device)
    params["weight/readout"] = readout.normal_(0.0, math.sqrt(1.0 / width), generator=generators[depth]).to(dtype)
    params["bias/readout"] = torch.zeros((runs, 10, 1), dtype=dtype, device=device)
    batches = generators[depth + 1]
    phi = mlp.ACTIVATIONS[config.activation]

    def loss(p: Mapping[str, Tensor], t: int) -> Tensor:
        index = torch.randint(0, inputs.shape[0], (runs, cfg.batch_size), generator=batches, device=device)
        h = None
        for layer in range(1, depth + 1):  # layout [R, N, B]: features on dim 1, as the domain's
            u = inputs[index].transpose(1, 2) if h is None else phi(norm.pre(h))
            m = torch.bmm(p[f"weight/{layer}"], u)
            z = (m if norm.linear is None else norm.linear(m)) + p[f"bias/{layer}"]
            h = norm.post(h + z if config.residual and layer > 1 else z)
        logits = torch.bmm(p["weight/readout"], phi(h)) + p["bias/readout"]  # [R, 10, B]
        return F.cross_entropy(logits, labels[index], reduction="none").mean(dim=1)

    measured = {f"weight/{l}": Measured(str(l), float(l)) for l in range(1, depth + 1)}
    measured["weight/readout"] = Measured("readout", float(depth + 1))
    return Problem("mlp", config, params, loss, measured, headline="rel_update/1")


#: (domain, task) -> builder(domain keys, train config, runs, seed); ``default`` names each
#: domain's own task.
TASKS: dict[tuple[str, str], Callable[[Mapping[str, Any], TrainConfig, int, int], Problem]] = {
    ("mlp", "digits"): _mlp_digits,
}
DEFAULT_TASKS = {"mlp": "digits"}


def task_name(domain: str, cfg: TrainConfig) -> str:
    """The task a config trains (``default`` resolved), checked against :data:`TASKS`."""
    name = DEFAULT_TASKS.get(domain, "") if cfg.task == "default" else cfg.task
    known = [task for (owner, task) in TASKS if owner == domain]
    require(
        bool(known),
        "train.optimizer",
        cfg.optimizer,
        f"domain {domain} has no training task; domains that train: " + ", ".join(sorted(DEFAULT_TASKS)),
    )
    require(name in known, "train.task", cfg.task, f"must be default or a task of domain {domain}: " + ", ".join(known))
    return name


def build_problem(domain: str, keys: Mapping[str, Any], cfg: TrainConfig, runs: int, seed: int) -> Problem:
    """The training problem of ``domain``'s task for R = ``runs`` runs drawn from ``seed``."""
    return TASKS[(domain, task_name(domain, cfg))](keys, cfg, runs, seed)
