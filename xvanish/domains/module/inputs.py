"""One call's inputs: standard-normal of a shape, or the user's callable; and how a batch is indexed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from xvanish.core import ConfigError, require
from xvanish.draws import stream_rows

from .build import DTYPES

if TYPE_CHECKING:
    from .config import ModuleConfig

Tensor = torch.Tensor


def _draw_inputs(config: ModuleConfig, n: int, seed: int, start: int = 0) -> Any:
    """The inputs of draws start … start+n−1: a tensor ``[n, ...]`` or a tuple of them (floats
    in the config's dtype). A user's ``inputs(m, generator)`` is called for m = start + n and
    its first start rows dropped: prefix-stable when the callable is."""
    generator = torch.Generator().manual_seed(seed)
    dtype = DTYPES[config.dtype]
    if not isinstance(config.inputs, str):
        return stream_rows(lambda out: out.normal_(generator=generator), list(config.inputs), start, n, dtype)
    try:
        batch = config._callables["inputs"](start + n, generator)
    except Exception as error:  # the user's callable
        raise ConfigError("inputs", config.inputs, f"raised {type(error).__name__}: {error}") from None
    parts = batch if isinstance(batch, (tuple, list)) else (batch,)
    require(
        len(parts) > 0 and all(isinstance(p, Tensor) and p.dim() >= 1 and p.shape[0] == start + n for p in parts),
        "inputs",
        config.inputs,
        f"must return a tensor [n, ...] or a tuple of them (n={start + n} here)",
    )
    parts = tuple((p.to(dtype) if p.is_floating_point() else p)[start:] for p in parts)
    return parts if isinstance(batch, (tuple, list)) else parts[0]


def _model_input(batch: Any) -> Any:
    """The model's input in a batch: the batch itself or a tuple's first element."""
    return batch[0] if isinstance(batch, tuple) else batch


def _with_input(batch: Any, x: Any) -> Any:
    return (x, *batch[1:]) if isinstance(batch, tuple) else x


def _index(batch: Any, i: Any) -> Any:
    return tuple(p[i] for p in batch) if isinstance(batch, tuple) else batch[i]
