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
    "ConfigError",
    "Domain",
    "make_config",
    "require",
    "require_choice",
    "GradientBatch",
    "RESULT_COLUMNS",
    "Sampler",
    "measure",
    "point_seed",
    "sweep",
    "replace_atomic",
    "write_csv_atomic",
]

#: Columns of ``results.csv`` in order (DESIGN.md, output contract). Domain config values
#: follow as extra columns.
RESULT_COLUMNS: tuple[str, ...] = (
    "domain", "scale_name", "scale", "group", "position", "n_samples", "n_params",
    "mean", "var", "var_lo", "var_hi", "mean_sq", "mean_abs", "zero_frac",
    "nonfinite_frac", "theory_var", "seconds", "seed",
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


def make_config(config_class: type, **kwargs: Any) -> Any:
    """Build a domain config dataclass, turning an unknown keyword into a :class:`ConfigError`.

    The dataclass validates ranges in its ``__post_init__`` (raising ConfigError).
    """
    known = [f.name for f in dataclasses.fields(config_class)]
    for key, value in kwargs.items():
        require(key in known, key, value, "unknown key; known keys: " + ", ".join(known))
    return config_class(**kwargs)


@dataclass
class GradientBatch:
    """The gradients of ``n`` independent draws, as one batch.

    Attributes:
        grads: group name -> array ``[n, k]`` (torch tensor or numpy array) of the k
            gradient entries of that group for each of the n draws. Kept in the model's
            dtype: underflow to exact zero is part of what is measured.
        positions: group name -> position along the model's axis (layer index, time step,
            parameter index), or ``None`` for groups without one (``input``, ``cost``).
        cost: optional cost values ``[n]``; reported as the group ``cost``.
    """

    grads: Mapping[str, Any]
    positions: Mapping[str, float | None]
    cost: Any | None = None


@runtime_checkable
class Sampler(Protocol):
    """A domain object built for one scale value.

    Attributes:
        domain: the registered domain name (``"mlp"``, ``"vqc"``).
        config: the validated config dataclass the sampler was built from.
    """

    domain: str
    config: Any

    def sample(self, n: int, seed: int) -> GradientBatch:
        """Return the gradients of ``n`` independent draws, computed as one batch.

        The same ``(n, seed)`` gives the same numbers (on CPU).
        """
        ...

    def theory_var(self) -> Mapping[str, float]:
        """Closed-form prediction of each group's variance; groups without one are absent."""
        ...


@dataclass(frozen=True)
class Domain:
    """What a domain registers (entry-point group ``xvanish.domains``).

    Attributes:
        name: the name used on the command line (``domain=<name>``).
        config: the config dataclass; its fields are exactly the factory's keyword arguments
            and the keys of the domain's YAML config. Constructing it validates ranges and
            raises :class:`ConfigError`.
        factory: ``factory(**config_fields) -> Sampler``.
        natural_axis: the default ``sweep.param`` (``depth`` for MLPs, ``n_qubits`` for VQCs).
        headline_group: the group plotted and tabulated across the sweep by default
            (``preact/1`` for MLPs: the signal that reaches the first layer).
        description: one line for listings.
    """

    name: str
    config: type
    factory: Callable[..., Sampler]
    natural_axis: str
    headline_group: str
    description: str = ""


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


def _to_numpy(values: Any) -> np.ndarray:
    """Float64 numpy copy of a tensor/array; exact zeros and non-finite values are preserved."""
    if hasattr(values, "detach"):  # torch tensor, without importing torch here
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


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
    scale: float | None = None,
) -> pd.DataFrame:
    """Draw ``n_samples`` gradients from ``sampler`` in one batch and summarise each group.

    Args:
        sampler: a domain sampler (see :class:`Sampler`).
        n_samples: number of independent draws, >= 2 (a variance needs two).
        seed: the seed handed to ``sampler.sample``.
        scale_name: the swept config key, recorded in the rows.
        scale: its value for this sampler.

    Returns:
        A DataFrame in the ``results.csv`` schema, one row per group (``cost`` included when
        the sampler returns cost values), ordered as the sampler lists its groups.

    Raises:
        ConfigError: when ``n_samples < 2``.

    Example:
        >>> from xvanish.domains import mlp
        >>> df = measure(mlp.sampler(depth=10, width=32), n_samples=64, seed=0)  # doctest: +SKIP
    """
    require(isinstance(n_samples, (int, np.integer)) and n_samples >= 2,
            "measure.n_samples", n_samples, "must be an integer >= 2")
    start = time.perf_counter()
    batch = sampler.sample(int(n_samples), int(seed))
    groups: dict[str, Any] = dict(batch.grads)
    positions: dict[str, float | None] = dict(batch.positions)
    if batch.cost is not None:
        groups["cost"] = _to_numpy(batch.cost).reshape(-1, 1)
        positions.setdefault("cost", None)
    theory = dict(sampler.theory_var())
    rows = []
    for group, values in groups.items():
        array = _to_numpy(values)
        if array.shape[0] != n_samples:
            raise RuntimeError(f"sampler returned {array.shape[0]} draws for group {group!r}, "
                               f"asked for {n_samples}")
        array = array.reshape(array.shape[0], -1)
        position = positions.get(group)
        # Positioned groups also get leave-one-block-out ln Var, for honest intervals on fits
        # across groups that share these draws (the per-layer profile).
        summary = stats.summarize(array, jackknife=position is not None)
        jackknife = {column: summary.pop(column, math.nan) for column in stats.JACKKNIFE_COLUMNS}
        rows.append({
            "group": group,
            "position": math.nan if position is None else float(position),
            "n_samples": int(n_samples),
            "n_params": int(array[0].size),
            **summary,
            "theory_var": float(theory.get(group, math.nan)),
            **jackknife,
        })
    elapsed = time.perf_counter() - start
    frame = pd.DataFrame(rows)
    frame.insert(0, "scale", math.nan if scale is None else float(scale))
    frame.insert(0, "scale_name", scale_name or "")
    frame.insert(0, "domain", getattr(sampler, "domain", ""))
    frame["seconds"] = elapsed
    frame["seed"] = int(seed)
    for key, value in _config_columns(getattr(sampler, "config", None)).items():
        frame[key] = value
    return frame[list(RESULT_COLUMNS) + [c for c in frame.columns if c not in RESULT_COLUMNS]]


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
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_csv_atomic(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` to ``path`` atomically (:func:`replace_atomic`)."""
    replace_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))


def _resumable_rows(previous: pd.DataFrame | None, scale: float, seed: int, n_samples: int,
                    config_columns: Mapping[str, Any]) -> pd.DataFrame | None:
    """Rows of an earlier run of exactly this point (same scale, seed, n_samples and config)."""
    if previous is None or previous.empty:
        return None
    match = (previous["scale"] == scale) & (previous["seed"] == seed) & (previous["n_samples"] == n_samples)
    for key, value in config_columns.items():
        if key not in previous.columns:
            return None
        # A None config value is written as an empty cell and read back as NaN.
        column = previous[key]
        match &= column.isna() if value is None else column.astype(str) == str(value)
    rows = previous[match]
    return rows if len(rows) else None


def sweep(
    factory: Callable[..., Sampler],
    param: str,
    values: Sequence[Any],
    n_samples: int,
    seed: int,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    linked: Mapping[str, Sequence[Any]] | None = None,
    resume: bool = False,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    **fixed: Any,
) -> pd.DataFrame:
    """Measure ``factory(**fixed, param=value)`` for each value and stack the rows.

    Every sampler is built (and so validated) before any is measured: a bad value fails
    before work starts. Each point's seed is :func:`point_seed` ``(seed, param, value)``.

    Args:
        factory: a domain factory, e.g. ``xvanish.domains.mlp.sampler``.
        param: the swept keyword (a key of the domain config).
        values: the scale values.
        n_samples: draws per point (>= 2).
        seed: the run seed.
        linked: other keywords that change along with ``param``: key -> values aligned with
            ``values`` (e.g. ``n_layers`` growing with ``n_qubits``).
        out_dir: if given, ``results.csv`` there is rewritten atomically after each point,
            so a killed sweep keeps its finished points.
        resume: reuse rows of ``out_dir/results.csv`` from an identical earlier point.
        progress: optional wrapper around the iteration (a progress bar).
        **fixed: the other keywords of the factory.

    Returns:
        The stacked rows of all points, in the order of ``values``.

    Raises:
        ConfigError: for a bad key or value, before any point is measured.
    """
    require(len(values) > 0, "sweep.values", list(values), "must list at least one value")
    require(isinstance(n_samples, (int, np.integer)) and n_samples >= 2,
            "measure.n_samples", n_samples, "must be an integer >= 2")
    linked = dict(linked or {})
    for key, series in linked.items():
        require(len(series) == len(values), f"sweep.linked.{key}", list(series),
                f"must have one value per sweep value ({len(values)})")
    samplers = []
    for index, value in enumerate(values):
        point = {**fixed, **{key: series[index] for key, series in linked.items()}, param: value}
        samplers.append(factory(**point))
    csv_path = Path(out_dir) / "results.csv" if out_dir is not None else None
    previous = None
    if resume and csv_path is not None and csv_path.exists():
        previous = pd.read_csv(csv_path)
    frames: list[pd.DataFrame] = []
    iterator: Iterable[Any] = zip(values, samplers)
    if progress is not None:
        iterator = progress(list(iterator))
    for value, sampler in iterator:
        seed_here = point_seed(seed, param, value)
        reused = _resumable_rows(previous, float(value), seed_here, int(n_samples),
                                 _config_columns(getattr(sampler, "config", None)))
        if reused is not None:
            frames.append(reused)
        else:
            frames.append(measure(sampler, n_samples, seed_here, scale_name=param, scale=float(value)))
        if csv_path is not None:
            write_csv_atomic(pd.concat(frames, ignore_index=True), csv_path)
    return pd.concat(frames, ignore_index=True)
