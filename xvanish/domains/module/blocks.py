"""The model's blocks: which container they live in, how their modules and parameters are named."""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

from torch import nn


def _block_container(model: nn.Module) -> Optional[Tuple[str, nn.Module]]:
    """The model's blocks: its largest ModuleList/Sequential (the first of equal ones), if any."""
    containers = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, (nn.ModuleList, nn.Sequential)) and len(module) >= 1
    ]
    return max(containers, key=lambda item: len(item[1])) if containers else None


def _default_blocks(model: nn.Module) -> List[str]:
    """Each top-level block: the children of :func:`_block_container`, else the model's children."""
    found = _block_container(model)
    if found is None:
        return [name for name, _ in model.named_children()]
    name, container = found
    return [f"{name}.{child}" if name else child for child, _ in container.named_children()]


def _in_block(name: str, blocks: Optional[Tuple[str, int]]) -> Optional[Tuple[int, str]]:
    """(block number from 0, the rest of the path) of a module path inside the blocks, else None.

    ``layers.7.linear1.weight`` -> ``(7, ".linear1.weight")`` for blocks ``("layers", L)``.
    """
    if blocks is None:
        return None
    prefix = f"{blocks[0]}." if blocks[0] else ""
    match = re.match(re.escape(prefix) + r"(\d+)(\..*)?$", name)
    return None if match is None else (int(match.group(1)), match.group(2) or "")


def _from_output(name: str, blocks: Optional[Tuple[str, int]]) -> str:
    """``layers.7.linear1.weight`` -> ``layers.-1.linear1.weight`` in a model of 8 blocks."""
    where = _in_block(name, blocks)
    if where is None:
        return name
    prefix = f"{blocks[0]}." if blocks[0] else ""
    return f"{prefix}{where[0] - blocks[1]}{where[1]}"


def _chosen_modules(model: nn.Module, acts: Optional[List[str]]) -> List[str]:
    if acts is None:
        return _default_blocks(model)
    wanted = set(acts)
    return [
        name for name, module in model.named_modules() if name and (type(module).__name__ in wanted or name in wanted)
    ]


def _weight_of(layer: str) -> str:
    """The parameter name of the weight of the module at path ``layer``."""
    return f"{layer}.weight" if layer else "weight"
