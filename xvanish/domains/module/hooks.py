"""Hooks that watch a forward pass: parameters in order of first use, and taps on module outputs."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

Tensor = torch.Tensor


class _FirstUse(TorchFunctionMode):
    """Record the order in which parameter tensors first appear as arguments of torch functions, and how often.

    Module call order would miss parameters used functionally (``nn.MultiheadAttention``
    passes ``out_proj.weight`` to ``F.multi_head_attention_forward`` without calling
    ``out_proj``); every such call goes through ``__torch_function__``.
    """

    def __init__(self, names: Dict[int, str]) -> None:
        super().__init__()
        self.names, self.order = names, []
        self.uses: Dict[str, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        for leaf in pytree.tree_leaves((args, kwargs)):
            name = self.names.get(id(leaf)) if isinstance(leaf, Tensor) else None
            if name is not None:
                if name not in self.order:
                    self.order.append(name)
                self.uses[name] = self.uses.get(name, 0) + 1
        return func(*args, **kwargs)


class _Taps:
    """Forward hooks that add a tap tensor to chosen modules' outputs while ``values`` is set.

    Adding zeros changes nothing, and ∂L/∂tap = ∂L/∂(module output): the gradient reaching
    a block, obtained like a parameter gradient — which also works inside ``torch.func``
    transforms, where ``retain_grad`` and tensor hooks do not. The modules in
    ``keep_inputs`` also leave their input in ``inputs`` (the other factor of a dense
    layer's weight gradient).
    """

    def __init__(self, model: nn.Module, names: List[str], keep_inputs: Tuple[str, ...] = ()) -> None:
        self.values: Optional[Dict[str, Tensor]] = None
        self.seen: List[str] = []
        self.shapes: Dict[str, Tuple[int, ...]] = {}
        self.inputs: Dict[str, Tensor] = {}
        self.calls: Dict[str, int] = {}
        self._keep_inputs = set(keep_inputs)
        self._handles = [model.get_submodule(name).register_forward_hook(self._hook(name)) for name in names]

    def _hook(self, name: str) -> Callable[..., Any]:
        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            if not isinstance(output, Tensor):
                return None
            self.calls[name] = self.calls.get(name, 0) + 1
            if name not in self.seen:
                self.seen.append(name)
                self.shapes[name] = tuple(output.shape)
            if name in self._keep_inputs and args:  # a layer called with keywords only is not factored
                self.inputs[name] = args[0]
            if self.values is not None and name in self.values:
                return output + self.values[name]
            return None

        return hook

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
