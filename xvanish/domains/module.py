"""Any torch model (``domain=module``): which layers starve at initialisation, and what reaches each block.

A user points ``model`` at a factory ``package.module:function`` that returns a freshly
initialised ``torch.nn.Module``. For one scale point the sampler draws ``n`` independent
draws; each draw is

* a fresh initialisation: the factory called under the CPU default generator seeded with
  the draw's own seed (so the factory's own init — ``reset_parameters``, custom init code
  in ``__init__`` — runs as written; the global random state is saved before and restored
  after, nothing leaks), or, with ``vary=data``, one initialisation from ``init_seed``
  shared by all draws;
* fresh inputs: standard-normal of the shape ``inputs`` (one draw's input, the model's own
  batch dimension included), or a callable ``inputs(n, generator) -> batch`` for data of
  your own (token ids, ``(x, y)`` pairs);
* a per-draw loss: by default a random linear readout L = Σ a ⊙ f(x) of the model's output
  with a ~ N(0, 1/d) (d the output's last dimension; the MLP domain's readout), or a
  callable ``loss(output, batch) -> one value``.

Gradient groups of one draw:

* ``act/<name>``: ∂L/∂y at the output y of chosen modules — by default each top-level block
  (the children of the model's largest ``nn.ModuleList``/``nn.Sequential``), or modules
  whose type name or path is listed in ``acts`` — position = order in the forward pass.
  A module called several times gets the sum of the gradients at its outputs. The
  per-block rate is fitted along this profile like the MLP's per-layer rate;
* ``param/<name>``: ∂L/∂θ for each parameter tensor (``named_parameters`` names), declared
  in order of first use in the forward pass. Inside the blocks each parameter role is one
  family across the blocks (``param/layers.*.linear2.weight``, position = block number),
  so each weight's profile along depth is fitted too; outside them (embedding, final
  norm) a parameter is a group of its own. ``count_from=output`` numbers the blocks from
  the last one (``layers.-1``), so the last blocks keep their names across a depth sweep.
  A parameter the forward never touches gets an exactly zero gradient;
* ``input``: ∂L/∂x when the model's input is floating point (the signal that crossed the
  whole model; the domain's headline group);
* the cost: the n losses.

Two ways to compute the n draws, which give the same numbers (tests: 1e-10 in float64):

* ``vmap``: the n initialisations are stacked along a leading dimension and one
  ``torch.func.vmap`` of ``torch.func.grad`` over ``torch.func.functional_call`` computes
  every draw in one batched forward and backward. Gradients at module outputs come from
  zero "taps" added to those outputs by forward hooks, differentiated like parameters.
  The factory runs once; the other draws rerun that instance's own ``reset_parameters``
  under their seeds, straight into the stack, when that reproduces the factory on the
  first draw (bit for bit, and the generator's state after it); else the factory runs per draw.
  An ``nn.Linear`` fed one row per draw has a weight gradient (∂L/∂output) ⊗ input: it is
  returned as those two factors (:class:`~xvanish.core.OuterProduct`), whose statistics
  come without building the ``[n, out·in]`` gradients.
* ``loop``: one model and one ``loss.backward()`` per draw, the plain way.

``batching=auto`` (default) tries ``vmap`` on the first ``sample`` call and falls back to
the loop when the model cannot run under it (data-dependent Python control flow,
``.item()``, in-place updates of unbatched state, dropout: vmap runs with
``randomness="error"`` so both paths always agree); ``info()`` (and summary.json's
``points[i].info``) says which path ran and why. ``batching=vmap`` makes that failure an
error; ``batching=loop`` skips vmap.

There is no closed-form variance for an arbitrary model: ``theory_var()`` is empty.

Configuration is checked before any work: importing the paths, the factory's signature
against the keywords it will receive, then one instance built (under a fixed seed, global
random state restored) and one draw run forward through the loss, which catches a factory that
raises or returns no Module, a model without trainable parameters, inputs the model
rejects and a loss that does not give one value per draw — each as one
:class:`~xvanish.core.ConfigError` line naming the key.

Example:
    >>> from xvanish import measure
    >>> from xvanish.domains import module
    >>> s = module.sampler(model="xvanish.examples.resnet:residual_mlp", depth=8, width=32, inputs=[4, 32])
    >>> rows = measure(s, n_samples=64, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from xvanish.core import (
    COST,
    ConfigError,
    Domain,
    GradientBatch,
    Group,
    OuterProduct,
    Theory,
    group,
    is_int,
    make_config,
    require,
    require_choice,
    require_int,
    require_memory,
    require_number,
    streams,
)

__all__ = ["BATCHING", "DOMAIN", "DTYPES", "VARY", "ModuleConfig", "ModuleSampler", "sampler"]

Tensor = torch.Tensor

VARY = ("init", "data")
BATCHING = ("auto", "vmap", "loop")
COUNT_FROM = ("input", "output")
DTYPES: Dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}

#: The generic scale keys a factory receives when they are set (not null).
SCALE_KEYS = ("depth", "width")

#: Seed of the instance built to check a config (independent of every run seed).
PROBE_SEED = 0
#: Safety factor of the memory model (as the RNN's).
MEMORY_SAFETY = 1.5

_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


# --- import paths ---------------------------------------------------------------------------------

def _resolve(key: str, path: Any) -> Callable[..., Any]:
    """The callable ``package.module:attribute`` names; ConfigError naming ``key`` otherwise."""
    require(isinstance(path, str) and _IMPORT_PATH.fullmatch(path) is not None, key, path,
            "must be an import path package.module:callable")
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


@contextlib.contextmanager
def _cpu_rng_restored() -> Iterator[None]:
    """Run a block that reseeds torch's CPU default generator, then put its state back.

    Factories initialise through the default generator (``reset_parameters``); seeding it
    per draw is the only way to run their own init reproducibly. Saving and restoring the
    state once around all draws keeps that from leaking into the caller's random stream.
    """
    state = torch.get_rng_state()
    try:
        yield
    finally:
        torch.set_rng_state(state)


def _attention_kernel() -> contextlib.AbstractContextManager:
    """Scaled dot-product attention on its math kernel, in both paths.

    The CPU flash kernel has no vmap batching rule (functorch would loop over the draws,
    4x slower at 32 layers); the math kernel is plain matmul and softmax. Both paths use
    it so they run the same arithmetic.
    """
    return sdpa_kernel(SDPBackend.MATH)


# --- config ---------------------------------------------------------------------------------------

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
        require(isinstance(self.kwargs, dict) and all(isinstance(k, str) for k in self.kwargs), "kwargs",
                self.kwargs, "must be a mapping of keyword names to values")
        for key in SCALE_KEYS:
            value = getattr(self, key)
            if value is not None:
                require_int(key, value, minimum=1)
                require(key not in self.kwargs, f"kwargs.{key}", self.kwargs.get(key),
                        f"{key} is also set as the top-level key {key}={value}; give it once")
        # Each import path is resolved here once; the sampler reuses what it names.
        resolved: Dict[str, Optional[Callable[..., Any]]] = {"model": factory, "inputs": None, "loss": None}
        if isinstance(self.inputs, str):
            resolved["inputs"] = _resolve("inputs", self.inputs)
        else:
            shape = list(self.inputs) if isinstance(self.inputs, (list, tuple)) else None
            require(shape is not None and len(shape) > 0 and all(is_int(s) and s >= 1 for s in shape), "inputs",
                    self.inputs, "must be a shape (list of integers >= 1) or an import path package.module:callable")
        if self.loss is not None:
            resolved["loss"] = _resolve("loss", self.loss)
        object.__setattr__(self, "_callables", resolved)
        if self.acts is not None:
            require(isinstance(self.acts, (list, tuple)) and len(self.acts) > 0
                    and all(isinstance(a, str) and a for a in self.acts), "acts", self.acts,
                    "must be null or a list of module type names or module paths")
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
            require_memory(MEMORY_SAFETY * DTYPES[self.dtype].itemsize * 3 * entries, self.memory_limit_gb,
                           f"one draw's model ({entries} parameter and buffer entries, {self.factory_keywords()})")
        # One instance and one draw through the forward pass and the loss: cheap at the sizes one probes,
        # and it turns every model-level mistake into one line before any work.
        object.__setattr__(self, "_probe", _probe(factory, self))
        require_memory(self.memory_need(1), self.memory_limit_gb,
                       f"one draw ({self._probe.n_params} parameters, {self._probe.activation_entries} activations)")

    def memory_need(self, n: int) -> int:
        """Bytes ``sample(n)`` needs, from what the probe measured (a model, safety factor 1.5).

        Per draw: the parameters stacked for the draws, their gradients and the instance each
        draw is initialised in (3 × parameters), and 8 × the entries of the input, the output
        and every tapped block output (what autograd keeps inside the blocks is not seen;
        8 covers a residual block's few intermediate tensors and their gradients).
        """
        probe = self._probe
        return int(MEMORY_SAFETY * DTYPES[self.dtype].itemsize * n * (3 * probe.n_params + 8 * probe.activation_entries))

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
    accepted = [name for name, p in parameters.items()
                if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    keywords = config.factory_keywords()
    for key, value in keywords.items():
        require(takes_any or key in accepted, _shown(key), value,
                f"{config.model} does not accept keyword {key}; it takes: " + (", ".join(accepted) or "nothing"))
    try:
        signature.bind(**keywords)
    except TypeError as error:
        raise ConfigError("kwargs", config.kwargs, f"{config.model}: {error}") from None


# --- probing one instance ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Probe:
    """What one instance and one draw revealed (see :func:`_probe`).

    Attributes:
        params: trainable parameter names in order of first use in the forward pass.
        acts: module paths with ``act`` groups, in forward order.
        act_shapes: each one's output shape for one draw.
        output_shape: the model's output shape for one draw.
        input_grad: the model's input is floating point (an ``input`` group).
        n_params: trainable parameter entries.
        blocks: path and length of the block container (largest ModuleList/Sequential), or None.
        factored: ``nn.Linear`` modules whose weight gradient is one outer product — called
            once, on one row, no forward hook of their own, the weight used nowhere else — by
            path, with their output shape: the gradient is (∂L/∂output) ⊗ input, kept as an
            :class:`OuterProduct` by the vmap path.
    """

    params: Tuple[str, ...]
    acts: Tuple[str, ...]
    act_shapes: Dict[str, Tuple[int, ...]]
    output_shape: Tuple[int, ...]
    input_grad: bool
    n_params: int
    blocks: Optional[Tuple[str, int]]
    factored: Dict[str, Tuple[int, ...]]
    activation_entries: int = 0


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


def _block_container(model: nn.Module) -> Optional[Tuple[str, nn.Module]]:
    """The model's blocks: its largest ModuleList/Sequential (the first of equal ones), if any."""
    containers = [(name, module) for name, module in model.named_modules()
                  if isinstance(module, (nn.ModuleList, nn.Sequential)) and len(module) >= 1]
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
    return [name for name, module in model.named_modules() if name and (type(module).__name__ in wanted or name in wanted)]


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


def _meta_entries(factory: Callable[..., Any], config: "ModuleConfig") -> Optional[int]:
    """Parameter and buffer entries of one instance built on the meta device (no memory), or
    None where the factory cannot build there (it reads values, calls numpy): the probe then
    builds the real instance and the check after it applies."""
    try:
        with _cpu_rng_restored(), torch.device("meta"):
            model = factory(**config.factory_keywords())
    except Exception:
        return None
    if not isinstance(model, nn.Module):
        return None
    return sum(t.numel() for t in (*model.parameters(), *model.buffers()))


def _call_factory(factory: Callable[..., Any], config: ModuleConfig) -> nn.Module:
    """Call the factory (seeded by the caller): the model as it initialises it, in its own dtype."""
    keywords = config.factory_keywords()
    try:
        model = factory(**keywords)
    except Exception as error:  # the user's factory: one line naming what it was called with
        raise ConfigError("model", config.model, f"the factory raised {type(error).__name__}: {error} "
                          f"(called with {keywords})") from None
    require(isinstance(model, nn.Module), "model", config.model,
            f"the factory returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _prepare(model: nn.Module, config: ModuleConfig) -> nn.Module:
    """A factory's instance as the draws run it: cast after its init (so the init is the factory's), train/eval."""
    return model.to(DTYPES[config.dtype]).train(config.train)


def _build(factory: Callable[..., Any], config: ModuleConfig) -> nn.Module:
    """Call the factory (seeded by the caller) and prepare the instance: dtype, train/eval."""
    return _prepare(_call_factory(factory, config), config)


def _state_tensors(model: nn.Module) -> Dict[str, Tensor]:
    """Every tensor an initialisation sets: parameters (frozen ones too) and buffers, by name."""
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


class _Replay:
    """Rerun a model's own initialisation under another seed, in place of calling its factory again.

    Building a model per draw costs the factory's random numbers plus constructing every
    module and copying its tensors into the stack. Most factories initialise only through
    each module's ``reset_parameters`` (``_reset_parameters`` in ``nn.MultiheadAttention``),
    which constructors run children first, parents last. Calling those, in that order, on
    one instance whose tensors point at draw i's rows of the stack draws the same numbers
    straight into the stack, at the cost of the random numbers and the initialisers alone.
    Whether a factory does only that cannot be read from its code, so :meth:`safely_reproduces`
    checks it on the draw the factory has just built: every tensor rewritten bit for bit and
    the generator left in the same state (so nothing else drew random numbers). A factory
    with other init code (an ``init_`` pass after construction, copied layers, tensors no
    initialiser writes) fails the check and is built per draw.
    """

    def __init__(self, model: nn.Module) -> None:
        self._tensors = _state_tensors(model)
        self._own = {name: t.data for name, t in self._tensors.items()}
        self._initialisers: List[Callable[[], Any]] = []
        self._collect(model)

    def _collect(self, module: nn.Module) -> None:
        for child in module.children():
            self._collect(child)
        initialiser = getattr(module, "reset_parameters", None) or getattr(module, "_reset_parameters", None)
        if callable(initialiser):
            self._initialisers.append(initialiser)

    def run(self, seed: int, rows: Dict[str, Tensor]) -> None:
        """Initialise under ``seed``, writing every tensor into its row (``rows[name]``)."""
        for name, t in self._tensors.items():
            t.data = rows[name]
        torch.default_generator.manual_seed(seed)
        for initialiser in self._initialisers:
            initialiser()

    def safely_reproduces(self, seed: int, stacked: Dict[str, Tensor]) -> bool:
        """Rerun the init of the factory's own instance (built under ``seed``) into row 0 of ``stacked``.

        True when it equals the instance exactly and consumed the same random numbers. Row 0
        starts unlike the instance everywhere, so a tensor the initialisers never write fails.
        False, the instance restored, otherwise — also when an initialiser raises on the
        stack's rows: the user's code was written for its own tensors, and the factory per
        draw still works.
        """
        if not self._initialisers:
            return False
        try:
            after_factory = torch.get_rng_state()
            first = {name: rows[0] for name, rows in stacked.items()}
            for name, row in first.items():
                row.copy_(_unlike(self._own[name]))
            self.run(seed, first)
            same = torch.equal(torch.get_rng_state(), after_factory) and all(
                torch.equal(first[name], self._own[name]) for name in first)
        except Exception:  # noqa: BLE001 - any failure of user code means: do not replay
            same = False
        if not same:
            self.restore()
        return same

    def restore(self) -> None:
        """Point the instance back at its own tensors (the first draw's initialisation)."""
        for name, t in self._tensors.items():
            t.data = self._own[name]


def _unlike(t: Tensor) -> Tensor:
    """A tensor of ``t``'s shape and dtype that differs from it in every entry."""
    if t.is_floating_point() or t.is_complex():
        return torch.full_like(t, math.nan)
    return ~t if t.dtype == torch.bool else t + 1


def _weight_of(layer: str) -> str:
    """The parameter name of the weight of the module at path ``layer``."""
    return f"{layer}.weight" if layer else "weight"


def _trainable(model: nn.Module) -> Dict[str, nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _draw_inputs(config: ModuleConfig, n: int, seed: int) -> Any:
    """The inputs of ``n`` draws: a tensor ``[n, ...]`` or a tuple of them (floats in the config's dtype)."""
    generator = torch.Generator().manual_seed(seed)
    dtype = DTYPES[config.dtype]
    if not isinstance(config.inputs, str):
        return torch.randn([n, *config.inputs], generator=generator, dtype=dtype)
    try:
        batch = config._callables["inputs"](n, generator)
    except Exception as error:  # the user's callable
        raise ConfigError("inputs", config.inputs, f"raised {type(error).__name__}: {error}") from None
    parts = batch if isinstance(batch, (tuple, list)) else (batch,)
    require(len(parts) > 0 and all(isinstance(p, Tensor) and p.dim() >= 1 and p.shape[0] == n for p in parts),
            "inputs", config.inputs, f"must return a tensor [n, ...] or a tuple of them (n={n} here)")
    parts = tuple(p.to(dtype) if p.is_floating_point() else p for p in parts)
    return parts if isinstance(batch, (tuple, list)) else parts[0]


def _model_input(batch: Any) -> Any:
    """The model's input in a batch: the batch itself or a tuple's first element."""
    return batch[0] if isinstance(batch, tuple) else batch


def _with_input(batch: Any, x: Any) -> Any:
    return (x, *batch[1:]) if isinstance(batch, tuple) else x


def _index(batch: Any, i: Any) -> Any:
    return tuple(p[i] for p in batch) if isinstance(batch, tuple) else batch[i]


def _probe(factory: Callable[..., Any], config: ModuleConfig) -> _Probe:
    """Build one instance, run one draw forward through the loss; every failure is a ConfigError."""
    with _cpu_rng_restored():
        torch.default_generator.manual_seed(PROBE_SEED)
        model = _build(factory, config)
        params = _trainable(model)
        require(len(params) > 0, "model", config.model,
                "the model has no trainable parameters: nothing to measure")
        batch = _index(_draw_inputs(config, 2, PROBE_SEED), 0)
        taps = _Taps(model, _chosen_modules(model, config.acts))
        linears = {name: m for name, m in model.named_modules()
                   if isinstance(m, nn.Linear) and type(m).forward is nn.Linear.forward}
        linear_calls = _Taps(model, list(linears), keep_inputs=tuple(linears))
        recorder = _FirstUse({id(p): name for name, p in params.items()})
        try:
            with recorder:
                output = model(_model_input(batch))
        except Exception as error:  # the model rejected the inputs
            raise ConfigError("inputs", config.inputs, f"the model's forward failed on one draw's inputs: "
                              f"{type(error).__name__}: {error}") from None
        finally:
            taps.remove()
            linear_calls.remove()
        if config.loss is None:
            require(isinstance(output, Tensor) and output.is_floating_point(), "loss", None,
                    f"the model returns {type(output).__name__}, not a floating tensor: give "
                    "loss=package.module:function mapping (output, batch) to one value per draw")
            value = (output * torch.randn_like(output)).sum()
        else:
            try:
                value = config._callables["loss"](output, batch)
            except Exception as error:  # the user's loss
                raise ConfigError("loss", config.loss, f"raised {type(error).__name__}: {error}") from None
            require(isinstance(value, Tensor) and value.numel() == 1 and value.is_floating_point(), "loss",
                    config.loss, "must return one floating value per draw (a scalar tensor); returned "
                    + (f"shape {list(value.shape)}" if isinstance(value, Tensor) else type(value).__name__))
        require(value.requires_grad, "loss", config.loss, "does not depend on the model's parameters")
    if config.acts is not None:
        require(len(taps.seen) > 0, "acts", config.acts,
                "no module of these types or paths returns a tensor in the forward pass; types in the model: "
                + ", ".join(sorted({type(m).__name__ for m in model.modules()})))
    order = list(recorder.order) + [name for name in params if name not in recorder.order]
    factored = {}
    for name, linear in linears.items():
        weight = _weight_of(name)
        # A forward hook of the model's own could change the output after F.linear, and the
        # gradient at the changed output would no longer be the weight's.
        if (weight in params and params[weight] is linear.weight and recorder.uses.get(weight) == 1
                and linear_calls.calls.get(name) == 1 and name in linear_calls.inputs
                and linear_calls.inputs[name].numel() == linear.in_features
                and not linear._forward_hooks):
            factored[name] = linear_calls.shapes[name]
    x = _model_input(batch)
    container = _block_container(model)
    return _Probe(params=tuple(order), acts=tuple(taps.seen), act_shapes=dict(taps.shapes),
                  output_shape=tuple(output.shape) if isinstance(output, Tensor) else (),
                  input_grad=isinstance(x, Tensor) and x.is_floating_point(),
                  n_params=sum(p.numel() for p in params.values()),
                  blocks=None if container is None else (container[0], len(container[1])),
                  factored=factored,
                  activation_entries=sum(math.prod(shape) for shape in taps.shapes.values())
                  + (output.numel() if isinstance(output, Tensor) else 0)
                  + sum(p.numel() for p in (batch if isinstance(batch, tuple) else (batch,)) if isinstance(p, Tensor)))


# --- sampler --------------------------------------------------------------------------------------

class ModuleSampler:
    """Per-draw gradients of a user's ``nn.Module`` at initialisation (see the module docstring).

    Attributes:
        domain: ``"module"``.
        config: the validated :class:`ModuleConfig`.
    """

    domain = "module"

    def __init__(self, config: ModuleConfig) -> None:
        self.config = config
        self._factory = config._callables["model"]  # resolved by ModuleConfig (not a config key)
        self._probe: _Probe = config._probe  # set by ModuleConfig.__post_init__ (not a config key)
        self._dtype = DTYPES[config.dtype]
        self._path: Optional[str] = None if config.batching == "auto" else config.batching
        self._fallback = ""

    def groups(self) -> List[Group]:
        """``act/<module>``, ``param/<name>`` (each in forward order), ``input`` if any, cost.

        * ``act``: one family, positions 1, 2, … in forward order (the per-block profile).
        * ``param`` inside the blocks: one family per parameter role across the blocks
          (``param/layers.*.linear2.weight``), position = the block's number from the input
          (1 … L), so each weight's profile along depth is fitted like the MLP's per-layer
          rate; parameters outside the blocks (embedding, final norm) are single groups
          without a position. A model without a block container: family ``param``,
          position = order of first use in the forward pass.

        The act family comes first: it is the profile reports show by default.
        """
        probe = self._probe
        out = [group(self._label(f"act/{name}"), k) for k, name in enumerate(probe.acts, start=1)]
        for k, name in enumerate(probe.params, start=1):
            label = self._label(f"param/{name}")
            where = _in_block(name, probe.blocks)
            if probe.blocks is None:
                out.append(Group(label, "param", float(k)))
            elif where is None:
                out.append(group(label))
            else:
                prefix = f"{probe.blocks[0]}." if probe.blocks[0] else ""
                out.append(Group(label, f"param/{prefix}*{where[1]}", float(where[0] + 1)))
        if probe.input_grad:
            out.append(group("input"))
        return out + [COST]

    def _label(self, key: str) -> str:
        """A group's name: ``family/<module path>``, blocks numbered as ``count_from`` says."""
        if self.config.count_from == "input" or "/" not in key:
            return key
        family, _, name = key.partition("/")
        return f"{family}/{_from_output(name, self._probe.blocks)}"

    def info(self) -> Dict[str, Any]:
        """Which path computed the draws (``vmap`` or ``loop``; why the loop, after a fallback)."""
        info: Dict[str, Any] = {"batching": self.config.batching, "path": self._path or "not run yet",
                                "n_params": self._probe.n_params}
        if self._fallback:
            info["vmap_failed"] = self._fallback
        return info

    def theory_var(self) -> Dict[str, Theory]:
        """Empty: an arbitrary model has no closed-form gradient variance (never a fake value)."""
        return {}

    # -- random draws --
    # seed -> core.streams -> 4 streams: initialisation seeds (one per draw, the i-th
    # independent of n), inputs, readout, forward randomness (dropout, loop path only).
    def draw_seeds(self, n: int, seed: int) -> List[int]:
        """The seed the factory runs under for each draw (``vary=init``), or ``[init_seed]``."""
        if self.config.vary == "data":
            return [int(self.config.init_seed)]
        return streams(streams(seed, 4)[0], n)

    def draw(self, n: int, seed: int) -> Dict[str, Any]:
        """The inputs and readout :meth:`sample` uses for ``(n, seed)`` (for checks).

        Returns:
            ``inputs`` (tensor ``[n, ...]`` or tuple), ``readout`` ``[n, *output]`` (None with a
            custom loss) and ``init_seeds`` (:meth:`draw_seeds`).
        """
        require_int("n", n, minimum=1)
        _, data_seed, readout_seed, _ = streams(seed, 4)
        readout = None
        if self.config.loss is None:
            shape = self._probe.output_shape
            generator = torch.Generator().manual_seed(readout_seed)
            readout = torch.randn([n, *shape], generator=generator, dtype=self._dtype) / math.sqrt(shape[-1] if shape else 1)
        return {"inputs": _draw_inputs(self.config, n, data_seed), "readout": readout,
                "init_seeds": self.draw_seeds(n, seed)}

    def _loss(self, output: Tensor, batch: Any, readout: Optional[Tensor]) -> Tensor:
        if readout is not None:
            return (output * readout).sum()
        return self.config._callables["loss"](output, batch).reshape(())

    # -- the two paths --
    def sample(self, n: int, seed: int) -> GradientBatch:
        """Gradients of ``n`` draws: ``vmap`` where the model allows it, else the per-draw loop.

        Args:
            n: number of draws (>= 1).
            seed: seed of this call's random streams.

        Returns:
            ``param/<name>`` ``[n, numel]`` (on the vmap path an :class:`OuterProduct` for the
            weight of an ``nn.Linear`` fed one row), ``act/<module>`` ``[n, numel]``, ``input`` and the
            cost of each draw, in the config's dtype.

        Raises:
            ConfigError: ``batching=vmap`` and the model cannot run under ``torch.func.vmap``.
        """
        require_int("n", n, minimum=1)
        require_memory(self.config.memory_need(n), self.config.memory_limit_gb, f"{n} draws", key="measure.n_samples",
                       value=n, lower="use fewer draws or a smaller model")
        drawn = self.draw(n, seed)
        forward_seeds = streams(streams(seed, 4)[3], n)
        if self._path in (None, "vmap"):
            try:
                batch = self.vmap_gradients(drawn)
                self._path = "vmap"
                return self._labelled(batch)
            except ConfigError:
                raise
            except Exception as error:  # the model does not run under vmap: say so, use the loop
                if self.config.batching == "vmap":
                    raise ConfigError("batching", "vmap", "the model does not run under torch.func.vmap "
                                      f"({type(error).__name__}: {_first_line(error)}); use auto or loop") from None
                self._fallback = f"{type(error).__name__}: {_first_line(error)}"
                self._path = "loop"
        return self._labelled(self.loop_gradients(drawn, forward_seeds))

    def _labelled(self, batch: GradientBatch) -> GradientBatch:
        return GradientBatch(grads={self._label(k): v for k, v in batch.grads.items()}, cost=batch.cost)

    def stack(self, seeds: List[int]) -> Tuple[nn.Module, Dict[str, Tensor], Dict[str, Tensor]]:
        """A template module and every draw's initialisation stacked ``[m, ...]``.

        Draw i is the factory's model built under ``seeds[i]`` (:meth:`draw_seeds`). The
        factory is called once, for the first draw; the other draws rerun that instance's
        own initialisers under their seeds (:class:`_Replay`), writing straight into the
        stack, when doing so for the first draw reproduces the factory exactly. Otherwise
        each draw's model is built by the factory, copied into the stack and dropped.

        Returns:
            The template (the first draw's model), the trainable parameters and the other
            tensors (buffers, frozen parameters), each ``[m, ...]``, in the config's dtype.
        """
        with _cpu_rng_restored(), torch.no_grad():
            torch.default_generator.manual_seed(seeds[0])
            template = _call_factory(self._factory, self.config)
            tensors = _state_tensors(template)
            stacked = {name: torch.empty((len(seeds), *t.shape), dtype=t.dtype) for name, t in tensors.items()}
            replay = _Replay(template) if len(seeds) > 1 else None
            if replay is not None and replay.safely_reproduces(seeds[0], stacked):
                try:
                    for i, seed in enumerate(seeds[1:], start=1):
                        replay.run(seed, {name: rows[i] for name, rows in stacked.items()})
                finally:
                    replay.restore()
            else:
                for i, seed in enumerate(seeds):
                    if i > 0:
                        torch.default_generator.manual_seed(seed)
                        tensors = _state_tensors(_call_factory(self._factory, self.config))
                    for name, t in tensors.items():
                        stacked[name][i].copy_(t)
        template = _prepare(template, self.config)
        trainable = _trainable(template)
        stacked = {name: rows.to(self._dtype) if rows.is_floating_point() else rows for name, rows in stacked.items()}
        return (template, {name: rows for name, rows in stacked.items() if name in trainable},
                {name: rows for name, rows in stacked.items() if name not in trainable})

    def vmap_gradients(self, drawn: Dict[str, Any],
                       stacked: Optional[Tuple[nn.Module, Dict[str, Tensor], Dict[str, Tensor]]] = None
                       ) -> GradientBatch:
        """Every draw in one ``vmap(grad(functional_call))`` (see the module docstring).

        Args:
            drawn: :meth:`draw`'s result.
            stacked: the initialisations as :meth:`stack` gives them (built here when None;
                the benchmark passes them to time the gradients alone).
        """
        probe = self._probe
        inputs, readout = drawn["inputs"], drawn["readout"]
        n = _model_input(inputs).shape[0]
        template, params, buffers = stacked if stacked is not None else self.stack(drawn["init_seeds"])
        shared = self.config.vary == "data"
        if shared:
            # Buffers may be updated in place (batch-norm running statistics): one copy per draw.
            buffers = {name: b.expand(n, *b.shape[1:]).clone() for name, b in buffers.items()}
            params = {name: p[0] for name, p in params.items()}
        # A factored layer's weight is not differentiated: its gradient is the outer product of
        # the gradient at the layer's output (a tap, like an act's) and its input, never built.
        factored = {_weight_of(layer): layer for layer in probe.factored}
        tap_shapes = {**probe.factored, **probe.act_shapes}
        taps = _Taps(template, list(tap_shapes), keep_inputs=tuple(probe.factored))
        zeros = {name: torch.zeros(shape, dtype=self._dtype) for name, shape in tap_shapes.items()}

        def one_draw(p: Dict[str, Tensor], b: Dict[str, Tensor], batch: Any, r: Optional[Tensor]):
            # b is an argument, not a closure: batch norm updates its running statistics in
            # place, which grad allows for its inputs but not for captured tensors.
            def loss_of(p: Dict[str, Tensor], tap: Dict[str, Tensor], x: Any, b: Dict[str, Tensor]):
                taps.values = tap
                try:
                    output = functional_call(template, {**p, **b}, (x,))
                finally:
                    taps.values = None
                value = self._loss(output, _with_input(batch, x), r)
                return value, (value, dict(taps.inputs))

            x = _model_input(batch)
            differentiated = {name: t for name, t in p.items() if name not in factored}
            fixed = {**b, **{name: p[name] for name in factored}}
            argnums = (0, 1, 2) if probe.input_grad else (0, 1)
            grads, (value, layer_inputs) = grad(loss_of, argnums=argnums, has_aux=True)(differentiated, zeros, x, fixed)
            if not probe.input_grad:  # vmap returns tensors only: a placeholder for the input's (token ids)
                grads = (*grads, value.new_zeros(()))
            return (*grads, value, layer_inputs)

        in_dims = (None if shared else 0, 0, 0, None if readout is None else 0)
        try:
            with warnings.catch_warnings(), _attention_kernel():
                # Ops without a batching rule run through functorch's per-draw fallback:
                # correct, slower, and not something a user can act on.
                warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
                g_params, g_taps, g_input, cost, layer_inputs = vmap(one_draw, in_dims=in_dims, randomness="error")(
                    params, buffers, inputs, readout)
        finally:
            taps.remove()
        out: Dict[str, Any] = {f"param/{name}": OuterProduct(g_taps[factored[name]].reshape(n, -1),
                                                             layer_inputs[factored[name]].reshape(n, -1))
                               if name in factored else g_params[name].reshape(n, -1) for name in probe.params}
        out.update({f"act/{name}": g_taps[name].reshape(n, -1) for name in probe.acts})
        if probe.input_grad:
            out["input"] = g_input.reshape(n, -1)
        return GradientBatch(grads=out, cost=cost.detach().reshape(n))

    def loop_gradients(self, drawn: Dict[str, Any], forward_seeds: List[int]) -> GradientBatch:
        """One model and one ``loss.backward()`` per draw: the plain way, and the fallback.

        Draw i's model is built under its own seed (:meth:`draw_seeds`), exactly as the vmap
        path builds it; forward randomness (dropout) runs under ``forward_seeds[i]``.
        """
        probe = self._probe
        inputs, readout = drawn["inputs"], drawn["readout"]
        n = _model_input(inputs).shape[0]
        seeds = drawn["init_seeds"]
        shared = self.config.vary == "data"
        grads: Dict[str, Tensor] = {}
        cost = torch.empty(n, dtype=self._dtype)
        with _cpu_rng_restored():
            model, initial = None, None
            for i in range(n):
                if model is None or not shared:
                    torch.default_generator.manual_seed(seeds[0 if shared else i])
                    model = _build(self._factory, self.config)
                    initial = {k: v.clone() for k, v in model.state_dict().items()} if shared else None
                else:
                    model.load_state_dict(initial)  # the same initialisation, buffers too, for every draw
                    model.zero_grad(set_to_none=True)
                batch = _index(inputs, i)
                x = _model_input(batch)
                if probe.input_grad:
                    x = x.detach().clone().requires_grad_()
                taps = _Taps(model, list(probe.acts))
                taps.values = {name: torch.zeros(probe.act_shapes[name], dtype=self._dtype, requires_grad=True)
                               for name in probe.acts}
                torch.default_generator.manual_seed(forward_seeds[i])
                try:
                    with _attention_kernel():
                        output = model(x)
                finally:
                    taps.remove()
                value = self._loss(output, _with_input(batch, x), None if readout is None else readout[i])
                value.backward()
                params = _trainable(model)
                rows = {f"param/{name}": params[name].grad for name in probe.params}
                rows.update({f"act/{name}": tap.grad for name, tap in taps.values.items()})
                if probe.input_grad:
                    rows["input"] = x.grad
                for key, g in rows.items():
                    if key not in grads:
                        like = params[key[6:]] if key.startswith("param/") else (
                            taps.values[key[4:]] if key.startswith("act/") else x)
                        grads[key] = torch.zeros((n, like.numel()), dtype=self._dtype)
                    if g is not None:  # None: unused in the forward pass, the gradient is zero
                        grads[key][i] = g.reshape(-1)
                cost[i] = value.detach()
        return GradientBatch(grads=grads, cost=cost)


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else ""


def sampler(**kwargs: Any) -> ModuleSampler:
    """Build a module sampler from domain keys (see :class:`ModuleConfig`).

    Raises:
        ConfigError: for an unknown key or a bad value (the message names key and value).
    """
    return ModuleSampler(make_config(ModuleConfig, **kwargs))


DOMAIN = Domain(
    name="module",
    config=ModuleConfig,
    factory=sampler,
    natural_axis="depth",
    headline_group="input",
    description="any torch nn.Module from a factory: each parameter's gradient and what reaches each block",
    small={"depth": 2, "width": 4, "inputs": [3, 4]},
    oversized={"width": 1 << 17},
)
