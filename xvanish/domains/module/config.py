"""The module domain's keys (``conf/domain/module.yaml``), checked against the model they name."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from xvanish.core import ConfigError, is_int, require, require_choice, require_int, require_memory, require_number

from .build import DTYPES, _cpu_rng_restored
from .paths import _resolve
from .probe import _probe

VARY = ("init", "data")
BATCHING = ("auto", "vmap", "loop")
COUNT_FROM = ("input", "output")


#: The generic scale keys a factory receives when they are set (not null).
SCALE_KEYS = ("depth", "width")


@dataclass
class ModuleConfig:
    """Keys of the module domain (= ``conf/domain/module.yaml`` = keywords of :func:`sampler`).

    Attributes:
        model: import path ``package.module:factory`` of a function returning a freshly
            initialised ``nn.Module``.
        kwargs: keyword arguments for the factory.
        depth: passed to the factory as ``depth=`` when not null (a sweepable key).
        width: passed to the factory as ``width=`` when not null (a sweepable key).
        inputs: one draw's input shape (a list of sizes; the model's own batch dimension
            included) for standard-normal inputs, or an import path of
            ``inputs(n, generator) -> batch``: a tensor ``[n, ...]`` (the model's input) or a
            tuple whose first element is the model's input, every element ``[n, ...]``.
        loss: null for the random linear readout Σ a ⊙ output, a ~ N(0, 1/d); or an import
            path of ``loss(output, batch) -> one value`` (called per draw; ``batch`` is the
            draw's inputs as ``inputs`` gives them).
        acts: module type names or module paths whose outputs get ``act/<name>`` groups;
            null = each top-level block (children of the largest ModuleList/Sequential).
        vary: ``init`` (each draw its own initialisation and inputs) or ``data`` (one
            initialisation from ``init_seed``, only the inputs drawn).
        init_seed: seed of the shared initialisation when ``vary=data``.
        dtype: float32 or float64 (the model is cast after its init).
        batching: ``auto`` (vmap, else the per-draw loop), ``vmap`` or ``loop``.
        train: run the model in training mode (batch norm uses batch statistics) or eval mode.
        count_from: block numbers in group names count from the ``input`` (``layers.0`` is
            the first block, as the model names it) or from the ``output`` (``layers.-1`` is
            the last block, ``layers.-2`` the one before): then the last blocks keep their
            names across a depth sweep and are fitted across it (Xiong et al. 2020's
            last-layer gradient). Blocks are the children of the largest ModuleList/Sequential.
        memory_limit_gb: working memory allowed (:meth:`memory_need`): a model too large for
            it is refused before it is built (its size read on the meta device), a run whose
            draws do not fit before any work (``measure.n_samples``).
    """

    model: str = "xvanish.examples.resnet:residual_mlp"
    kwargs: Dict[str, Any] = field(default_factory=dict)
    depth: Optional[int] = None
    width: Optional[int] = None
    inputs: Any = field(default_factory=lambda: [4, 128])
    loss: Optional[str] = None
    acts: Optional[List[str]] = None
    vary: str = "init"
    init_seed: int = 0
    dtype: str = "float32"
    batching: str = "auto"
    train: bool = True
    count_from: str = "input"
    memory_limit_gb: float = 4.0

    def __post_init__(self) -> None:
        factory = _resolve("model", self.model)
        require(
            isinstance(self.kwargs, dict) and all(isinstance(k, str) for k in self.kwargs),
            "kwargs",
            self.kwargs,
            "must be a mapping of keyword names to values",
        )
        for key in SCALE_KEYS:
            value = getattr(self, key)
            if value is not None:
                require_int(key, value, minimum=1)
                require(
                    key not in self.kwargs,
                    f"kwargs.{key}",
                    self.kwargs.get(key),
                    f"{key} is also set as the top-level key {key}={value}; give it once",
                )
        # Each import path is resolved here once; the sampler reuses what it names.
        resolved: Dict[str, Optional[Callable[..., Any]]] = {"model": factory, "inputs": None, "loss": None}
        if isinstance(self.inputs, str):
            resolved["inputs"] = _resolve("inputs", self.inputs)
        else:
            shape = list(self.inputs) if isinstance(self.inputs, (list, tuple)) else None
            require(
                shape is not None and len(shape) > 0 and all(is_int(s) and s >= 1 for s in shape),
                "inputs",
                self.inputs,
                "must be a shape (list of integers >= 1) or an import path package.module:callable",
            )
        if self.loss is not None:
            resolved["loss"] = _resolve("loss", self.loss)
        object.__setattr__(self, "_callables", resolved)
        if self.acts is not None:
            require(
                isinstance(self.acts, (list, tuple))
                and len(self.acts) > 0
                and all(isinstance(a, str) and a for a in self.acts),
                "acts",
                self.acts,
                "must be null or a list of module type names or module paths",
            )
        require_choice("vary", self.vary, VARY)
        require_int("init_seed", self.init_seed, minimum=0)
        require_choice("dtype", self.dtype, DTYPES)
        require_choice("batching", self.batching, BATCHING)
        require(isinstance(self.train, bool), "train", self.train, "must be true or false")
        require_choice("count_from", self.count_from, COUNT_FROM)
        _check_signature(factory, self)
        require_number("memory_limit_gb", self.memory_limit_gb, 0, strict=True)
        # The model's size from an instance built on the meta device (nothing allocated), so a
        # model too large for the limit is refused before the probe builds a real one.
        entries = _meta_entries(factory, self)
        if entries is not None:
            require_memory(
                MEMORY_SAFETY * DTYPES[self.dtype].itemsize * 3 * entries,
                self.memory_limit_gb,
                f"one draw's model ({entries} parameter and buffer entries, {self.factory_keywords()})",
            )
        # One instance and one draw through the forward pass and the loss: cheap at the sizes one probes,
        # and it turns every model-level mistake into one line before any work.
        object.__setattr__(self, "_probe", _probe(factory, self))
        require_memory(
            self.memory_need(1),
            self.memory_limit_gb,
            f"one draw ({self._probe.n_params} parameters, {self._probe.activation_entries} activations)",
        )

    def memory_need(self, n: int) -> int:
        """Bytes ``sample(n)`` needs, from what the probe measured (a model, safety factor 1.5).

        Per draw: the parameters stacked for the draws, their gradients and the instance each
        draw is initialised in (3 × parameters), and 8 × the entries of the input, the output
        and every tapped block output (what autograd keeps inside the blocks is not seen;
        8 covers a residual block's few intermediate tensors and their gradients).
        """
        probe = self._probe
        return int(
            MEMORY_SAFETY * DTYPES[self.dtype].itemsize * n * (3 * probe.n_params + 8 * probe.activation_entries)
        )

    def factory_keywords(self) -> Dict[str, Any]:
        """What the factory is called with: ``kwargs`` plus the scale keys that are set."""
        return {**self.kwargs, **{key: getattr(self, key) for key in SCALE_KEYS if getattr(self, key) is not None}}


def _shown(key: str) -> str:
    """The config key a factory keyword came from (``depth`` or ``kwargs.<key>``)."""
    return key if key in SCALE_KEYS else f"kwargs.{key}"


def _check_signature(factory: Callable[..., Any], config: ModuleConfig) -> None:
    """Every keyword the factory will receive is one it accepts, and none it needs is missing."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: calling it will tell
        return
    parameters = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    accepted = [
        name
        for name, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    keywords = config.factory_keywords()
    for key, value in keywords.items():
        require(
            takes_any or key in accepted,
            _shown(key),
            value,
            f"{config.model} does not accept keyword {key}; it takes: " + (", ".join(accepted) or "nothing"),
        )
    try:
        signature.bind(**keywords)
    except TypeError as error:
        raise ConfigError("kwargs", config.kwargs, f"{config.model}: {error}") from None


#: Safety factor of the memory model (as the RNN's).
MEMORY_SAFETY = 1.5


def _meta_entries(factory: Callable[..., Any], config: "ModuleConfig") -> Optional[int]:
    """Parameter and buffer entries of one instance built on the meta device (no memory), or
    None where the factory cannot build there (it reads values, calls numpy): the probe then
    builds the real instance and the check after it applies."""
    import torch
    from torch import nn

    try:
        with _cpu_rng_restored(), torch.device("meta"):
            model = factory(**config.factory_keywords())
    except Exception:
        return None
    if not isinstance(model, nn.Module):
        return None
    return sum(t.numel() for t in (*model.parameters(), *model.buffers()))
