"""Import paths ``package.module:callable`` that a module config names."""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable

from xvanish.core import ConfigError, require

_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def _resolve(key: str, path: Any) -> Callable[..., Any]:
    """The callable ``package.module:attribute`` names; ConfigError naming ``key`` otherwise."""
    require(
        isinstance(path, str) and _IMPORT_PATH.fullmatch(path) is not None,
        key,
        path,
        "must be an import path package.module:callable",
    )
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as error:  # any import failure is the user's path, one line
        raise ConfigError(key, path, f"cannot import {module_name}: {type(error).__name__}: {error}") from None
    for part in attribute.split("."):
        require(hasattr(target, part), key, path, f"{module_name} has no attribute {attribute}")
        target = getattr(target, part)
    require(callable(target), key, path, f"{attribute} is not callable")
    return target
