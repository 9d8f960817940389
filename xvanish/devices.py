"""The one torch-device check every torch domain's config uses (core itself imports no torch),
and the thread helper the torch domains share."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, List, TypeVar

import torch

from xvanish.core import ConfigError, require

__all__ = ["on_threads", "require_device"]

T = TypeVar("T")
P = TypeVar("P")


def require_device(key: str, value: Any) -> None:
    """Raise :class:`~xvanish.core.ConfigError` unless ``value`` names a torch device here.

    ``cpu`` and ``cuda[:k]`` are the devices the domains support. Asking for CUDA on a build
    or machine without it is one line saying so. The name is parsed and the CUDA index
    checked against the devices torch sees, without allocating: no CUDA context is created
    at validation time (a check runs for every planned point, in the parent process too).
    """
    require(
        isinstance(value, str) and (value == "cpu" or value.startswith("cuda")), key, value, "must be cpu or cuda[:k]"
    )
    if value.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(key, value, f"CUDA is not available on this machine (torch {torch.__version__}); use cpu")
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError) as error:
        raise ConfigError(key, value, f"not a usable torch device: {str(error).splitlines()[0]}") from None
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise ConfigError(
                key,
                value,
                f"not a usable torch device: invalid device ordinal "
                f"({count} CUDA device{'s' if count != 1 else ''} here)",
            )


def on_threads(function: Callable[[P], T], parts: Iterable[P], device: torch.device) -> List[T]:
    """``function(part)`` for every part, on torch's threads when there are several (CPU).

    torch releases the GIL inside its kernels, so independent parts run in parallel, up to
    ``torch.get_num_threads()`` at a time; elsewhere (one thread, or not the CPU) they run
    in order here. Each part runs on one intra-op thread meanwhile: the parts already fill the cores, and OpenMP teams inside each would
    oversubscribe them (measured for the RNN: 1.0–1.4 s instead of 1.6–1.9 s for the
    benchmark's measure() on 2 cores); torch's thread count is restored after. Errors of a
    part are re-raised.
    """
    parts = list(parts)
    workers = min(torch.get_num_threads(), len(parts)) if device.type == "cpu" else 1
    if workers <= 1:
        return [function(part) for part in parts]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(function, parts))
    finally:
        torch.set_num_threads(threads)
