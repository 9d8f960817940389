"""The protocol a domain implements: groups, gradient batches, theory values, the sampler and its registration."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "COST",
    "Domain",
    "GradientBatch",
    "Group",
    "OuterProduct",
    "PREDICTION_KINDS",
    "THEORY_KINDS",
    "Sampler",
    "Theory",
    "asymptotic",
    "bound",
    "draw_slices",
    "exact",
    "group",
]


#: Kinds of a theory value (:class:`Theory`).
THEORY_KINDS: tuple[str, ...] = ("exact", "asymptotic", "bound")
#: The kinds that are predictions (a rate can be fitted to them); a bound is a ceiling.
PREDICTION_KINDS: tuple[str, ...] = ("exact", "asymptotic")


@dataclass(frozen=True)
class Theory:
    """A closed-form prediction of one group's variance, with what kind of statement it is.

    Attributes:
        value: the predicted variance of the group's entries.
        kind: ``exact`` (holds at the sampler's finite size), ``asymptotic`` (a limit:
            mean field at large width, a 2-design at large depth) or ``bound`` (an upper
            bound on the variance). Fits report ``theory_rate`` only for exact and
            asymptotic values; plots draw a bound as a ceiling, not as a prediction.
    """

    value: float
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in THEORY_KINDS:
            raise ValueError(f"theory kind {self.kind!r} is not one of {', '.join(THEORY_KINDS)}")


def exact(value: float) -> Theory:
    """A prediction that holds at the sampler's finite size (``Theory(value, "exact")``)."""
    return Theory(float(value), "exact")


def asymptotic(value: float) -> Theory:
    """A prediction exact only in a limit (large width, large depth)."""
    return Theory(float(value), "asymptotic")


def bound(value: float) -> Theory:
    """An upper bound on the variance."""
    return Theory(float(value), "bound")


@dataclass(frozen=True)
class Group:
    """A gradient group a sampler declares before it samples anything.

    Attributes:
        name: ``family/<position>`` where the group has a place along an axis
            (``preact/3``, ``state/40``), else a plain name (``input``, ``cost``).
        family: the profile it belongs to (``preact``, ``grad/layer``); groups of one family
            are fitted against their positions. Equal to ``name`` for a group without one.
        position: its place along the model's axis, or ``None``.
    """

    name: str
    family: str
    position: float | None = None


def group(name: str, position: float | None = None) -> Group:
    """A :class:`Group` whose family is ``name`` up to its last ``/`` when it has a position.

    ``group("preact/3", 3)`` -> family ``preact``; ``group("input")`` -> family ``input``.
    """
    family = name.rpartition("/")[0] if position is not None and "/" in name else name
    return Group(name, family, None if position is None else float(position))


#: The group every sampler that returns cost values declares (no position).
COST = Group("cost", "cost", None)


@dataclass(frozen=True)
class OuterProduct:
    """A group whose entries for draw i are the outer product ``left[i] ⊗ right[i]``.

    The weight gradient of a dense layer fed one input is δ uᵀ: ``left`` = δ ``[n, a]``,
    ``right`` = u ``[n, b]``, k = a·b entries per draw in row-major order. Its per-draw sums
    are computed from the factors (:func:`xvanish.reduce.outer_sums`) without building
    ``[n, a, b]``; ``dtype`` is the model's dtype, in which zeros and overflow are counted as
    materialising would give them.
    """

    left: Any
    right: Any

    def materialize(self) -> Any:
        """The ``[n, a·b]`` values (for checks and small groups)."""
        return (self.left[:, :, None] * self.right[:, None, :]).reshape(self.left.shape[0], -1)


@dataclass
class GradientBatch:
    """The gradients of ``n`` independent draws, as one batch.

    Attributes:
        grads: group name -> the group's values for the n draws: an array ``[n, k]`` (torch
            tensor or numpy array, kept in the model's dtype: underflow to exact zero is part
            of what is measured), an :class:`OuterProduct`, or ready
            :class:`~xvanish.stats.DrawSums`. Names are exactly the declared groups (without
            ``cost``).
        cost: optional cost values ``[n]``; reported as the group ``cost``.
    """

    grads: Mapping[str, Any]
    cost: Any | None = None


@runtime_checkable
class Sampler(Protocol):
    """A domain object built for one scale value.

    Building one is cheap (validate, resolve derived values); heavy work (loading data,
    training) happens in :meth:`sample`.

    Attributes:
        domain: the registered domain name (``"mlp"``, ``"vqc"``).
        config: the validated config dataclass the sampler was built from.
    """

    domain: str
    config: Any

    def groups(self) -> Sequence[Group]:
        """The groups :meth:`sample` returns, in order (``cost`` last where costs are returned)."""
        ...

    def sample(self, n: int, seed: int) -> GradientBatch:
        """Return the gradients of ``n`` independent draws, computed as one batch.

        The same ``(n, seed)`` gives the same numbers (on CPU).
        """
        ...

    def theory_var(self) -> Mapping[str, Theory]:
        """Closed-form prediction of each group's variance; groups without one are absent."""
        ...


@dataclass(frozen=True)
class Domain:
    """What a domain registers (entry-point group ``xvanish.domains``).

    Attributes:
        name: the name used on the command line (``domain=<name>``).
        config: the config dataclass; its fields are exactly the factory's keyword arguments
            and the keys of the domain's YAML config, and its defaults are the defaults
            (the YAML repeats them for reading; a test holds them equal). Constructing it
            validates ranges and raises :class:`ConfigError`.
        factory: ``factory(**config_fields) -> Sampler``; cheap.
        natural_axis: the default ``sweep.param`` (``depth`` for MLPs, ``n_qubits`` for VQCs).
        headline_group: the group plotted and tabulated across the sweep by default
            (``preact/1`` for MLPs: the signal that reaches the first layer).
        description: one line for listings.
        small: a small config (keyword overrides) for the conformance suite, which runs over
            every installed domain.
        oversized: keyword overrides (on top of ``small``) whose config needs more memory
            than its ``memory_limit_gb``: the conformance suite checks that the domain
            refuses it (ConfigError naming memory_limit_gb) before allocating anything.
            ``None``: the domain has no memory guard, and the suite says so.
    """

    name: str
    config: type
    factory: Callable[..., Sampler]
    natural_axis: str
    headline_group: str
    description: str = ""
    small: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    oversized: Mapping[str, Any] | None = None


def draw_slices(n: int, per_slice: int) -> list[slice]:
    """Consecutive slices covering draws 0 … n−1, each of at most ``per_slice`` draws (at least one).

    Example:
        >>> draw_slices(5, 2)
        [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    step = max(1, int(per_slice))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]
