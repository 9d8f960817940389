"""The measurement core every domain plugs into: the sampler protocol, ``measure`` and ``sweep``.

A *sampler* is a domain object built for one scale value. ``sampler.sample(n, seed)``
returns the gradients of ``n`` independent random draws, computed together in one batch,
as a :class:`GradientBatch`. ``measure`` turns one batch into rows of the results table
(one row per gradient group); ``sweep`` builds a sampler per scale value and stacks the
rows. Statistics live in :mod:`xvanish.stats` (numpy only); this module imports no
framework either: tensors are recognised by duck typing (``.detach()``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from xvanish import stats

__all__ = [
    "COST",
    "ConfigError",
    "Domain",
    "Group",
    "OuterProduct",
    "PREDICTION_KINDS",
    "THEORY_KINDS",
    "Theory",
    "asymptotic",
    "bound",
    "draw_slices",
    "exact",
    "group",
    "is_int",
    "is_number",
    "is_numeric_text",
    "require_int",
    "require_number",
    "streams",
    "make_config",
    "require",
    "require_choice",
    "require_memory",
    "GradientBatch",
    "RESULT_COLUMNS",
    "Sampler",
    "measure",
    "point_seed",
    "replace_atomic",
    "write_csv_atomic",
]

#: Columns of ``results.csv`` in order (DESIGN.md, output contract). Domain config values
#: follow as extra columns.
RESULT_COLUMNS: tuple[str, ...] = (
    "domain", "scale_name", "scale", "group", "position", "n_samples", "n_params",
    "mean", "var", "var_lo", "var_hi", "mean_sq", "mean_abs", "zero_frac",
    "nonfinite_frac", "theory_var", "theory_kind", "seconds", "seed", "family",
)


#: Prefix of the jackknife columns that follow the contract columns in results.csv
#: (``lnvar_jk0 … lnvar_jk9``: ln Var with one tenth of the draws left out).
JACKKNIFE_PREFIX = stats.JACKKNIFE_PREFIX


class ConfigError(ValueError):
    """Bad user input: one line naming the key, the value and what is allowed.

    Attributes:
        key: the config key as a user writes it (``"depth"``, ``"measure.n_samples"``).
        value: the offending value.
        allowed: what is allowed (``"must be an integer >= 1"``).
    """

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r}: {allowed}")



def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise ``ConfigError(key, value, allowed)`` unless ``ok``.

    Args:
        ok: the condition that holds for valid input.
        key: the config key (``"depth"``); the CLI adds ``domain.`` in front.
        value: the offending value.
        allowed: what is allowed, e.g. ``"must be an integer >= 1"``.

    Raises:
        ConfigError: when ``ok`` is false.
    """
    if not ok:
        raise ConfigError(key, value, allowed)


def require_choice(key: str, value: Any, choices: Iterable[Any]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices`` (listed in the message)."""
    choices = list(choices)
    require(value in choices, key, value, "must be one of " + ", ".join(map(str, choices)))


def is_int(value: Any) -> bool:
    """An integer that is not a bool (numpy integers included)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def is_numeric_text(text: str) -> bool:
    """A string that reads as a finite number (``"12"``, ``"0.5"``, ``"1e-3"``; not ``"nan"``)."""
    try:
        return math.isfinite(float(text))
    except (TypeError, ValueError):
        return False


def require_int(key: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an integer in ``[minimum, maximum]``."""
    ok = is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if minimum is not None and maximum is not None:
        allowed = f"must be an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        allowed = f"must be an integer >= {minimum}"
    elif maximum is not None:
        allowed = f"must be an integer <= {maximum}"
    else:
        allowed = "must be an integer"
    require(ok, key, value, allowed)


def require_number(key: str, value: Any, minimum: float | None = None, *, strict: bool = False,
                   allow_none: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite number ``>= minimum`` (``>`` if ``strict``).

    ``allow_none``: ``None`` is also accepted (the message then says ``null or ...``).
    """
    if allow_none and value is None:
        return
    ok = is_number(value) and (minimum is None or (value > minimum if strict else value >= minimum))
    allowed = "must be " + ("null or " if allow_none else "") + "a finite number"
    if minimum is not None:
        allowed += f" {'>' if strict else '>='} {minimum:g}"
    require(ok, key, value, allowed)


def draw_slices(n: int, per_slice: int) -> list[slice]:
    """Consecutive slices covering draws 0 … n−1, each of at most ``per_slice`` draws (at least one).

    Example:
        >>> draw_slices(5, 2)
        [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    step = max(1, int(per_slice))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def require_memory(need: float, limit_gb: float, what: str, *, key: str = "memory_limit_gb", value: Any = None,
                   lower: str = "lower them", limit_key: str = "memory_limit_gb") -> None:
    """Refuse, before anything is allocated, work whose memory model needs more than the limit.

    Args:
        need: bytes the work needs (a domain's model of it, computed from the sizes).
        limit_gb: the domain's ``memory_limit_gb``.
        what: what needs it, with the sizes that set it (``one draw (depth=8, width=4096)``).
        key, value: the key the message names (default ``memory_limit_gb`` and its value).
        lower: what to lower instead of raising the limit.
        limit_key: the limit's key as the user writes it (``domain.memory_limit_gb``).

    Raises:
        ConfigError: ``need > limit_gb·10⁹``.
    """
    require(need <= limit_gb * 1e9, key, limit_gb if value is None else value,
            f"{what} would need {need / 1e9:.3g} GB, more than memory_limit_gb={limit_gb:g}; {lower} "
            f"or raise {limit_key}")


def streams(seed: int, k: int) -> list[int]:
    """``k`` independent 64-bit seeds derived from ``seed`` (numpy SeedSequence).

    Domains seed one random generator per stream (``torch.Generator().manual_seed(s)``,
    ``np.random.default_rng(s)``). The i-th seed does not depend on ``k``: a domain that
    draws layer l from stream l gets the same layer at every depth.
    """
    states = np.random.SeedSequence(int(seed)).generate_state(int(k), dtype=np.uint64)
    return [int(state) for state in states]


def make_config(config_class: type, **kwargs: Any) -> Any:
    """Build a domain config dataclass, turning an unknown keyword into a :class:`ConfigError`.

    The dataclass validates ranges in its ``__post_init__`` (raising ConfigError).
    """
    known = [f.name for f in dataclasses.fields(config_class)]
    for key, value in kwargs.items():
        require(key in known, key, value, "unknown key; known keys: " + ", ".join(known))
    return config_class(**kwargs)


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


def _stable_hash(*parts: Any) -> int:
    """A 63-bit hash of ``repr`` of the parts that is the same in every process (unlike ``hash``)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def point_seed(run_seed: int, param: str | None = None, value: Any = None) -> int:
    """Derive the seed of one scale point from the run seed.

    The point's seed depends only on ``(run_seed, param, value)`` through numpy's
    SeedSequence, so adding or removing points of a sweep leaves the others unchanged.
    ``1``, ``1.0`` and ``np.int64(1)`` give the same seed. The seed does not depend on the
    other config keys: variants (and multirun jobs) at the same point share their random
    streams — a paired design, so differences between variants are not blurred by
    independent noise; change ``measure.seed`` for independent replicates.
    """
    if isinstance(value, np.generic):  # np.int64(4) must seed like 4
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    sequence = np.random.SeedSequence(entropy=int(run_seed), spawn_key=(_stable_hash(param, value),))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def _group_sums(values: Any) -> stats.DrawSums:
    """Per-draw sums of one group value that :func:`measure` has not reduced in torch: sums
    as they are, numpy arrays reduced here."""
    if isinstance(values, stats.DrawSums):
        return values
    return stats.draw_sums(np.asarray(values))


def theory_values(sampler: Sampler) -> dict[str, Theory]:
    """The sampler's typed theory, checked: every value a :class:`Theory`."""
    theory = dict(sampler.theory_var())
    for name, value in theory.items():
        if not isinstance(value, Theory):
            raise TypeError(f"{type(sampler).__name__}.theory_var()[{name!r}] is {value!r}, not an "
                            "xvanish.core.Theory (use exact(v), asymptotic(v) or bound(v))")
    return theory


def _config_columns(config: Any) -> dict[str, Any]:
    """The sampler's config values as extra result columns (renamed if they collide)."""
    if config is None or not dataclasses.is_dataclass(config):
        return {}
    columns = {}
    for key, value in dataclasses.asdict(config).items():
        if isinstance(value, (list, tuple, dict)):
            value = repr(value)
        columns[f"cfg_{key}" if key in RESULT_COLUMNS else key] = value
    return columns


def measure(
    sampler: Sampler,
    n_samples: int,
    seed: int,
    *,
    scale_name: str | None = None,
    scale: Any = None,
) -> pd.DataFrame:
    """Draw ``n_samples`` gradients from ``sampler`` in one batch and summarise each group.

    Each group is reduced to per-draw sums (:class:`~xvanish.stats.DrawSums`) where its
    values live (torch groups in torch, outer products from their factors), then dropped:
    the statistics never see a float64 copy of the raw gradients.

    Args:
        sampler: a domain sampler (see :class:`Sampler`).
        n_samples: number of independent draws, >= 2 (a variance needs two).
        seed: the seed handed to ``sampler.sample``.
        scale_name: the swept config key, recorded in the rows.
        scale: its value for this sampler (a number; a categorical value is recorded as NaN
            here and lives in its config column).

    Returns:
        A DataFrame in the ``results.csv`` schema, one row per declared group, in the order
        the sampler declares them.

    Raises:
        ConfigError: when ``n_samples < 2``.
        RuntimeError: when the sampler returns other groups than it declared, or a group
            with the wrong number of draws (a bug in the domain, not bad input).

    Example:
        >>> from xvanish.domains import mlp
        >>> df = measure(mlp.sampler(depth=10, width=32), n_samples=64, seed=0)  # doctest: +SKIP
    """
    require_int("measure.n_samples", n_samples, minimum=2)
    start = time.perf_counter()
    declared = list(sampler.groups())
    batch = sampler.sample(int(n_samples), int(seed))
    values: dict[str, Any] = dict(batch.grads)
    if batch.cost is not None:
        values["cost"] = batch.cost
    names = [g.name for g in declared]
    if set(values) != set(names):
        raise RuntimeError(f"{type(sampler).__name__}.sample returned groups {sorted(values)} but declared "
                           f"{sorted(names)}")
    theory = theory_values(sampler)
    torch_values = {name: v for name, v in values.items() if isinstance(v, OuterProduct) or hasattr(v, "detach")}
    if torch_values:  # reduced where they live, dense groups of one shape together (stacked)
        from xvanish import reduce  # torch only when a domain hands over torch tensors

        values.update(reduce.many_group_sums(torch_values))
    group_sums = []
    for spec in declared:
        sums = _group_sums(values.pop(spec.name))
        if sums.n != n_samples:
            raise RuntimeError(f"sampler returned {sums.n} draws for group {spec.name!r}, asked for {n_samples}")
        group_sums.append(sums)
    # Positioned groups also get leave-one-block-out ln Var, for honest intervals on fits
    # across groups that share these draws (the per-layer profile).
    summaries = stats.summarize_many(group_sums, jackknife=[spec.position is not None for spec in declared])
    rows = []
    for spec, sums, summary in zip(declared, group_sums, summaries):
        jackknife = {column: summary.pop(column, math.nan) for column in stats.JACKKNIFE_COLUMNS}
        prediction = theory.get(spec.name)
        rows.append({
            "group": spec.name,
            "family": spec.family,
            "position": math.nan if spec.position is None else float(spec.position),
            "n_samples": int(n_samples),
            "n_params": int(sums.size),
            **summary,
            "theory_var": math.nan if prediction is None else prediction.value,
            "theory_kind": "" if prediction is None else prediction.kind,
            **jackknife,
        })
    del batch, values
    elapsed = time.perf_counter() - start
    frame = pd.DataFrame(rows)
    frame.insert(0, "scale", _scale_number(scale))
    frame.insert(0, "scale_name", scale_name or "")
    frame.insert(0, "domain", getattr(sampler, "domain", ""))
    frame["seconds"] = elapsed
    frame["seed"] = int(seed)
    for key, value in _config_columns(getattr(sampler, "config", None)).items():
        frame[key] = value
    return frame[list(RESULT_COLUMNS) + [c for c in frame.columns if c not in RESULT_COLUMNS]]


def _scale_number(scale: Any) -> float:
    """The scale as a float; NaN for None or a categorical (non-numeric) value."""
    if scale is None or isinstance(scale, bool) or not is_number(scale):
        return math.nan
    return float(scale)


def replace_atomic(path: str | os.PathLike[str], write: Callable[[str], Any]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are for sharing
        _fsync(tmp)  # the data on disk before the rename makes it visible: a crash leaves old or new
        os.replace(tmp, path)
        _fsync(path.parent)  # the rename itself
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fsync(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # a folder on a file system that cannot sync directories
        pass
    finally:
        os.close(fd)


def write_csv_atomic(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` to ``path`` atomically (:func:`replace_atomic`)."""
    replace_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))
