"""Building a factory's models: seeded, cast, and re-initialised straight into a stack."""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List

import torch
from torch import nn

from xvanish.core import ConfigError, require

if TYPE_CHECKING:
    from .config import ModuleConfig

Tensor = torch.Tensor

DTYPES: Dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


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


def _call_factory(factory: Callable[..., Any], config: ModuleConfig) -> nn.Module:
    """Call the factory (seeded by the caller): the model as it initialises it, in its own dtype."""
    keywords = config.factory_keywords()
    try:
        model = factory(**keywords)
    except Exception as error:  # the user's factory: one line naming what it was called with
        raise ConfigError(
            "model", config.model, f"the factory raised {type(error).__name__}: {error} (called with {keywords})"
        ) from None
    require(
        isinstance(model, nn.Module),
        "model",
        config.model,
        f"the factory returned {type(model).__name__}, not a torch.nn.Module",
    )
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
                torch.equal(first[name], self._own[name]) for name in first
            )
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


def _trainable(model: nn.Module) -> Dict[str, nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}
