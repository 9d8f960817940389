"""The measurement core: config checks, seeds, ``measure`` and atomic file writes.

The protocol a domain implements (groups, batches, theory values, the sampler) lives one
floor below, in :mod:`xvanish.base`, and is re-exported here. Statistics live in
:mod:`xvanish.stats` (numpy only); this module imports no framework either: tensors are
recognised by duck typing (``.detach()``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import numbers
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xvanish import adaptive, stats
from xvanish.base import (
    COST,
    PREDICTION_KINDS,
    THEORY_KINDS,
    Domain,
    GradientBatch,
    Group,
    OuterProduct,
    Sampler,
    Theory,
    asymptotic,
    bound,
    draw_slices,
    exact,
    group,
)

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
    "check_precision",
    "draw_slices",
    "exact",
    "group",
    "is_int",
    "is_number",
    "is_numeric_text",
    "require_int",
    "require_number",
    "streams",
    "takes_start",
    "make_config",
    "require",
    "require_choice",
    "require_memory",
    "GradientBatch",
    "RESULT_COLUMNS",
    "Sampler",
    "measure",
    "measure_sums",
    "point_seed",
    "replace_atomic",
    "write_csv_atomic",
]

#: Columns of ``results.csv`` in order (DESIGN.md, output contract). Domain config values
#: follow as extra columns.
RESULT_COLUMNS: tuple[str, ...] = (
    "domain",
    "scale_name",
    "scale",
    "group",
    "position",
    "n_samples",
    "n_params",
    "mean",
    "var",
    "var_lo",
    "var_hi",
    "mean_sq",
    "mean_abs",
    "zero_frac",
    "nonfinite_frac",
    "theory_var",
    "theory_kind",
    "seconds",
    "seed",
    "family",
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


def require_number(
    key: str, value: Any, minimum: float | None = None, *, strict: bool = False, allow_none: bool = False
) -> None:
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


def require_memory(
    need: float,
    limit_gb: float,
    what: str,
    *,
    key: str = "memory_limit_gb",
    value: Any = None,
    lower: str = "lower them",
    limit_key: str = "memory_limit_gb",
) -> None:
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
    require(
        need <= limit_gb * 1e9,
        key,
        limit_gb if value is None else value,
        f"{what} would need {need / 1e9:.3g} GB, more than memory_limit_gb={limit_gb:g}; {lower} or raise {limit_key}",
    )


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
            raise TypeError(
                f"{type(sampler).__name__}.theory_var()[{name!r}] is {value!r}, not an "
                "xvanish.core.Theory (use exact(v), asymptotic(v) or bound(v))"
            )
    return theory


def config_columns(config: Any) -> dict[str, Any]:
    """The sampler's config values as extra result columns (renamed if they collide)."""
    if config is None or not dataclasses.is_dataclass(config):
        return {}
    columns = {}
    for key, value in dataclasses.asdict(config).items():
        if isinstance(value, (list, tuple, dict)):
            value = repr(value)
        columns[f"cfg_{key}" if key in RESULT_COLUMNS else key] = value
    return columns


def _round_sums(sampler: Sampler, declared: Sequence[Group], n: int, seed: int, start: int) -> list[stats.DrawSums]:
    """Per-draw sums of every declared group for draws start … start+n−1 (one ``sample`` call).

    A sampler whose ``sample`` takes no ``start`` (a plugin written before it) computes the
    first start+n draws and the first ``start`` are dropped: correct (its draws are
    prefix-stable, :func:`xvanish.testing.check_prefix_stable`), but computed again.
    """
    if start == 0:
        batch = sampler.sample(int(n), int(seed))
    elif takes_start(sampler):
        batch = sampler.sample(int(n), int(seed), start=int(start))
    else:
        batch = sampler.sample(int(start + n), int(seed))
    values: dict[str, Any] = dict(batch.grads)
    if batch.cost is not None:
        values["cost"] = batch.cost
    names = [g.name for g in declared]
    if set(values) != set(names):
        raise RuntimeError(
            f"{type(sampler).__name__}.sample returned groups {sorted(values)} but declared {sorted(names)}"
        )
    torch_values = {name: v for name, v in values.items() if isinstance(v, OuterProduct) or hasattr(v, "detach")}
    if torch_values:  # reduced where they live, dense groups of one shape together (stacked)
        from xvanish import reduce  # torch only when a domain hands over torch tensors

        values.update(reduce.many_group_sums(torch_values))
    asked = n if start == 0 or takes_start(sampler) else start + n
    group_sums = []
    for spec in declared:
        sums = _group_sums(values.pop(spec.name))
        if sums.n != asked:
            raise RuntimeError(f"sampler returned {sums.n} draws for group {spec.name!r}, asked for {asked}")
        group_sums.append(sums if asked == n else sums.take(slice(start, None)))
    return group_sums


def takes_start(sampler: Sampler) -> bool:
    """``sampler.sample`` accepts ``start`` (draws start … start+n−1 without the ones before)."""
    try:
        return "start" in inspect.signature(sampler.sample).parameters
    except (TypeError, ValueError):
        return False


#: Most draws of an adaptive point when ``max_samples`` is not given (or ``n_samples``, if larger).
DEFAULT_MAX_SAMPLES = 10_000


def check_precision(target_rel_ci: float | None, max_samples: int | None, n_samples: int) -> int | None:
    """Check an adaptive target and budget (before any work); the budget, or None without a target.

    Raises:
        ConfigError: a target outside (0, 1), a budget below ``n_samples``, or a budget
            without a target.
    """
    if target_rel_ci is None:
        require(
            max_samples is None,
            "measure.max_samples",
            max_samples,
            "needs measure.target_rel_ci (without a target every point takes exactly measure.n_samples draws)",
        )
        return None
    require_number("measure.target_rel_ci", target_rel_ci, 0.0, strict=True)
    require(
        target_rel_ci < 1,
        "measure.target_rel_ci",
        target_rel_ci,
        "must be < 1 (the interval's half-width relative to the variance; 0.1 is ±10%)",
    )
    max_samples = max(int(n_samples), DEFAULT_MAX_SAMPLES) if max_samples is None else max_samples
    require_int("measure.max_samples", max_samples, minimum=int(n_samples))
    return int(max_samples)


def _precision(
    target_rel_ci: float | None,
    max_samples: int | None,
    target_groups: Sequence[str] | None,
    n_samples: int,
    declared: Sequence[Group],
) -> adaptive.Precision | None:
    """The checked precision of an adaptive point, or None for a fixed ``n_samples``."""
    budget = check_precision(target_rel_ci, max_samples, n_samples)
    if budget is None:
        return None
    if target_groups is not None:
        for name in target_groups:
            require_choice("measure.target_groups", name, [g.name for g in declared])
    return adaptive.Precision(float(target_rel_ci), budget, None if target_groups is None else tuple(target_groups))


def measure(
    sampler: Sampler,
    n_samples: int,
    seed: int,
    *,
    scale_name: str | None = None,
    scale: Any = None,
    target_rel_ci: float | None = None,
    max_samples: int | None = None,
    target_groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Draw gradients from ``sampler`` and summarise each group: ``n_samples`` draws, or as
    many as ``target_rel_ci`` needs.

    Each group is reduced to per-draw sums (:class:`~xvanish.stats.DrawSums`) where its
    values live (torch groups in torch, outer products from their factors), then dropped:
    the statistics never see a float64 copy of the raw gradients.

    With ``target_rel_ci`` the draws come in rounds (docs/adaptive.md): ``n_samples`` first,
    then more — draws n, n+1, … of the same prefix-stable stream (``sample(m, seed,
    start=n)``), their sums joined to the earlier ones, nothing computed again — until the
    variance interval of every target group has a relative half-width
    (var_hi − var_lo)/(2·var) <= ``target_rel_ci`` (:func:`xvanish.adaptive.next_total`),
    or ``max_samples`` is reached (then ``settled`` is false). A settled point then adds a
    confirmation batch of :data:`~xvanish.adaptive.CONFIRM` × its draws (within
    max_samples), and reports the interval of all of them, its log half-width widened by
    :data:`~xvanish.adaptive.WIDEN` (the stopping rule alone under-covers on heavy tails;
    docs/adaptive.md has the simulation).

    Args:
        sampler: a domain sampler (see :class:`Sampler`).
        n_samples: number of independent draws (the first round's, adaptively), >= 2.
        seed: the seed handed to ``sampler.sample``.
        scale_name: the swept config key, recorded in the rows.
        scale: its value for this sampler (a number; a categorical value is recorded as NaN
            here and lives in its config column).
        target_rel_ci: the relative half-width to reach (0 < t < 1); None: fixed n_samples.
        max_samples: the most draws (default ``max(n_samples, DEFAULT_MAX_SAMPLES)``).
        target_groups: the groups that must reach the target; None: every group.

    Returns:
        A DataFrame in the ``results.csv`` schema, one row per declared group, in the order
        the sampler declares them (``n_samples``: the draws used). Adaptively also
        ``target_rel_ci``, ``rel_ci`` (each group's relative half-width), ``settled`` (the
        target groups reached the target) and ``rounds``.

    Raises:
        ConfigError: ``n_samples < 2``, or a bad target, budget or target group.
        RuntimeError: when the sampler returns other groups than it declared, or a group
            with the wrong number of draws (a bug in the domain, not bad input).

    Example:
        >>> from xvanish.domains import mlp
        >>> df = measure(mlp.sampler(depth=10, width=32), n_samples=64, seed=0)  # doctest: +SKIP
        >>> df = measure(mlp.sampler(depth=10), 100, 0, target_rel_ci=0.1, max_samples=5000)  # doctest: +SKIP
    """
    return measure_sums(
        sampler,
        n_samples,
        seed,
        scale_name=scale_name,
        scale=scale,
        target_rel_ci=target_rel_ci,
        max_samples=max_samples,
        target_groups=target_groups,
    )[0]


def measure_sums(
    sampler: Sampler,
    n_samples: int,
    seed: int,
    *,
    scale_name: str | None = None,
    scale: Any = None,
    target_rel_ci: float | None = None,
    max_samples: int | None = None,
    target_groups: Sequence[str] | None = None,
    prior: Sequence[stats.DrawSums] | None = None,
) -> tuple[pd.DataFrame, list[stats.DrawSums]]:
    """:func:`measure`, also returning every declared group's per-draw sums (in order).

    ``prior``: the sums of draws 0 … m−1 of an earlier run of this point (resume): the
    rounds continue from draw m instead of drawing those again.
    """
    require_int("measure.n_samples", n_samples, minimum=2)
    start = time.perf_counter()
    declared = list(sampler.groups())
    names = [g.name for g in declared]
    precision = _precision(target_rel_ci, max_samples, target_groups, n_samples, declared)
    parts: list[list[stats.DrawSums]] = [list(prior)] if prior else []
    drawn = prior[0].n if prior else 0
    want, rounds, settled = max(int(n_samples), drawn), 0, None
    targets = [
        i
        for i, name in enumerate(names)
        if precision is not None and (precision.groups is None or name in precision.groups)
    ]
    while True:
        if want > drawn:
            parts.append(_round_sums(sampler, declared, want - drawn, seed, drawn))
            drawn, rounds = want, rounds + 1
        if precision is None or settled is not None:
            break
        summaries = stats.summarize_many([stats.concat_sums([p[i] for p in parts]) for i in targets])
        widths = adaptive.widths(*(np.array([row[key] for row in summaries]) for key in ("var", "var_lo", "var_hi")))
        following = adaptive.next_total(drawn, widths, precision)
        if following is None:
            settled = adaptive.settled(widths, precision)
            if settled:  # a fresh batch the stopping rule has not seen (docs/adaptive.md)
                want = adaptive.confirmed_total(drawn, precision)
        else:
            want = following
    group_sums = [stats.concat_sums([p[i] for p in parts]) for i in range(len(declared))]
    theory = theory_values(sampler)
    # Positioned groups also get leave-one-block-out ln Var, for honest intervals on fits
    # across groups that share these draws (the per-layer profile).
    summaries = stats.summarize_many(group_sums, jackknife=[spec.position is not None for spec in declared])
    rows = []
    for spec, sums, summary in zip(declared, group_sums, summaries):
        jackknife = {column: summary.pop(column, math.nan) for column in stats.JACKKNIFE_COLUMNS}
        prediction = theory.get(spec.name)
        row = {
            "group": spec.name,
            "family": spec.family,
            "position": math.nan if spec.position is None else float(spec.position),
            "n_samples": int(drawn),
            "n_params": int(sums.size),
            **summary,
            "theory_var": math.nan if prediction is None else prediction.value,
            "theory_kind": "" if prediction is None else prediction.kind,
            **jackknife,
        }
        if precision is not None:
            if settled:  # docs/adaptive.md: the confirmed interval, widened, covers >= 0.93
                low, high = adaptive.widened(summary["var_lo"], summary["var_hi"])
                row.update(var_lo=float(low), var_hi=float(high))
                summary.update(var_lo=row["var_lo"], var_hi=row["var_hi"])
            row.update(
                target_rel_ci=precision.target_rel_ci,
                rel_ci=float(adaptive.widths(summary["var"], summary["var_lo"], summary["var_hi"])[0]),
                settled=bool(settled),
                rounds=rounds,
            )
        rows.append(row)
    elapsed = time.perf_counter() - start
    frame = pd.DataFrame(rows)
    frame.insert(0, "scale", _scale_number(scale))
    frame.insert(0, "scale_name", scale_name or "")
    frame.insert(0, "domain", getattr(sampler, "domain", ""))
    frame["seconds"] = elapsed
    frame["seed"] = int(seed)
    for key, value in config_columns(getattr(sampler, "config", None)).items():
        frame[key] = value
    return frame[list(RESULT_COLUMNS) + [c for c in frame.columns if c not in RESULT_COLUMNS]], group_sums


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
