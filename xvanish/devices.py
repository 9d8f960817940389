"""The one torch-device check every torch domain's config uses (core itself imports no torch)."""

from __future__ import annotations

from typing import Any

import torch

from xvanish.core import ConfigError, require

__all__ = ["require_device"]


def require_device(key: str, value: Any) -> None:
    """Raise :class:`~xvanish.core.ConfigError` unless torch can allocate on ``value`` here.

    ``cpu`` and ``cuda[:k]`` are the devices the domains support. Asking for CUDA on a build
    or machine without it is one line saying so (a CPU-only torch raises AssertionError,
    others RuntimeError or ValueError: all three are caught).
    """
    require(isinstance(value, str) and (value == "cpu" or value.startswith("cuda")), key, value,
            "must be cpu or cuda[:k]")
    if value.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(key, value, f"CUDA is not available on this machine (torch {torch.__version__}); use cpu")
    try:
        torch.empty(0, device=value)
    except (AssertionError, RuntimeError, ValueError) as error:
        raise ConfigError(key, value, f"not a usable torch device: {str(error).splitlines()[0]}") from None
