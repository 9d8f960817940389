"""Plan a run once, then run it: points, variants, seeds, resume, lazy samplers.

A run is a list of *points*: one sampler config per scale value and variant. :func:`plan`
checks everything that can be checked before any work — the swept key and its values, the
linked keys, the variants, every point's config (types and ranges, by constructing the
domain's config dataclass) — and returns a :class:`Plan`. Nothing heavy happens then:
:meth:`Plan.run` builds each point's sampler exactly once, right before it is measured,
and drops it afterwards, so a sweep never holds more than one sampler (with its data,
trained networks, compiled circuits) in memory.

The rule this relies on (docs/core.md): a domain's config dataclass validates every key
(ranges and cross-key constraints); its factory only resolves derived values and does not
reject a config its dataclass accepted. Heavy work belongs in ``sample()``.

Research code::

    from xvanish import plan
    run = plan("mlp", "depth", [4, 8, 16], n_samples=128, seed=0, fixed={"activation": "tanh"},
               variants=[Variant("xavier", {"init": "xavier"}), Variant("he", {"init": "he"})])
    df = run.run(out_dir="results/", on_point=lambda done: print(done.point.label))
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xvanish import registry
from xvanish.core import (
    ConfigError,
    Domain,
    Group,
    Sampler,
    check_precision,
    config_columns,
    is_number,
    measure_sums,
    point_seed,
    replace_atomic,
    require,
    require_int,
    require_memory,
)
from xvanish.folder import hold_folder, remove_temp_files
from xvanish.resume import Earlier, read_results, results_text, whole_point_rows
from xvanish.stats import DrawSums

__all__ = ["Plan", "Point", "PointDone", "Variant", "plan", "prepare_out_dir", "sweep"]

log = logging.getLogger("xvanish")

#: A variant name: a plain name usable as a legend label and a file name.
_VARIANT_NAME = re.compile(r"[A-Za-z0-9_+\-][A-Za-z0-9_.+\-]*")
#: Name of the results table in an output directory.
RESULTS_NAME = "results.csv"
#: Folder of an adaptive run's per-draw sums, one file per point: what resume extends.
SUMS_DIR = "draws"
#: The fields of DrawSums stored per group and draw.
_SUM_FIELDS = ("count", "total", "total_sq", "total_abs", "zeros", "nonfinite")
#: Files written atomically into an output folder (their temporary files are cleaned on a new run).
TEMP_NAMES = (RESULTS_NAME, "summary.json", "plot.png")


@dataclass(frozen=True)
class Variant:
    """One series of a run: domain keys that differ from the run's fixed keys.

    Attributes:
        name: the series name (legend label, ``variant`` column of results.csv).
        overrides: domain key -> value for this series.
        linked: domain key -> one value per sweep value, for this series only.
    """

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    linked: Mapping[str, Sequence[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Point:
    """One measurement of the run: a validated config, its seed, its place in the run.

    Attributes:
        variant: the series name, or ``None`` for a run without variants.
        index: position of the value in the sweep.
        value: the swept value.
        keywords: every keyword of the domain factory for this point (validated).
        seed: the point's seed (:func:`xvanish.core.point_seed`).
        columns: its config values as results.csv columns (what resume matches on), from
            the config built when the point was checked.
    """

    variant: str | None
    index: int
    value: Any
    keywords: Mapping[str, Any]
    seed: int
    columns: Mapping[str, Any]

    def label(self, param: str) -> str:
        """``tanh depth=8``: the variant (if any) and the swept value."""
        return (f"{self.variant} " if self.variant else "") + f"{param}={self.value}"


@dataclass(frozen=True)
class PointDone:
    """What :meth:`Plan.run` reports after each point (the ``on_point`` callback's argument).

    Attributes:
        point: the point.
        rows: its rows (with a ``variant`` column when the run has variants).
        reused: the rows came from an earlier run's results.csv (resume), nothing was measured.
        info: what the sampler resolved for this point (``sampler.info()``, e.g. the
            gradient method that ran), empty when reused or when the sampler has no ``info``.
        done: points finished so far, this one included.
        total: points in the run.
        recomputed: why an earlier run's rows of this point were not reused (the point is
            not whole: missing or duplicated groups, an edited number), or "".
    """

    point: Point
    rows: pd.DataFrame
    reused: bool
    info: Mapping[str, Any]
    done: int
    total: int
    recomputed: str = ""


def type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _typed(
    config_class: type, keywords: Mapping[str, Any], shown: Callable[[str], str], suffix: Callable[[str], str]
) -> dict[str, Any]:
    """Type-check and convert a point's keys as Hydra's structured configs do (``"4"`` -> 4)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ValidationError

    types = typing.get_type_hints(config_class)
    node = OmegaConf.structured(config_class)
    for key, value in keywords.items():
        try:
            node[key] = value
        except ValidationError:
            raise ConfigError(shown(key), value, f"must be of type {type_name(types[key])}" + suffix(key)) from None
    container = OmegaConf.to_container(node)
    return {key: container[key] for key in keywords}


def _validated(
    domain: Domain, keywords: Mapping[str, Any], origins: Mapping[str, str], key_prefix: str
) -> tuple[dict[str, Any], Any]:
    """One point's keywords after type conversion, and its config (whose dataclass checks the ranges).

    An unknown key is named where the user wrote it (``variants[1].domain.deptth``); a bad
    value as ``<key_prefix><key>`` with ``(from <where it was set>)``.
    """

    def shown(key: str) -> str:
        return f"{key_prefix}{key}"

    def suffix(key: str) -> str:
        return f" (from {origins[key]})" if key in origins else ""

    known = [f.name for f in dataclasses.fields(domain.config)]
    for key, value in keywords.items():
        require(key in known, origins.get(key, shown(key)), value, "unknown key; known keys: " + ", ".join(known))
    values = _typed(domain.config, keywords, shown, suffix)
    try:
        config = domain.config(**values)
    except ConfigError as error:
        bare = error.key.removeprefix("domain.")
        raise ConfigError(shown(bare), error.value, error.allowed + suffix(bare)) from None
    return values, config


def _require_draws_fit(config: Any, n_samples: int, where: str, key_prefix: str) -> None:
    """A config whose domain models its memory (``memory_need(n)`` bytes, against
    ``memory_limit_gb``) must fit all ``n_samples`` draws: refused here, before any work."""
    need = getattr(config, "memory_need", None)
    if callable(need):
        require_memory(
            need(n_samples),
            config.memory_limit_gb,
            f"{n_samples} draws at {where}",
            key="measure.n_samples",
            value=n_samples,
            lower="use fewer draws or smaller sizes",
            limit_key=f"{key_prefix}memory_limit_gb",
        )


def _numeric_axis(values: Sequence[Any]) -> bool:
    """True when every swept value is a number (bools are not), so a decay law can be fitted."""
    return all(is_number(value) for value in values)


@dataclass
class Plan:
    """A checked run (see :func:`plan`): what will be measured, in order; nothing built yet.

    Attributes:
        factory: builds one sampler from a point's keywords.
        param: the swept key.
        values: the swept values.
        points: every point, variant by variant, value by value.
        variants: the series names (``[None]`` without variants).
        n_samples: draws per point (the first round's, adaptively).
        seed: the run seed.
        numeric: the axis is numeric (a categorical axis gets rows per value, no decay fit).
        target_rel_ci: adaptive precision (:func:`xvanish.core.measure`), or None.
        max_samples: the most draws of an adaptive point (None without a target).
        target_groups: the groups that must reach the target; None: every group.
    """

    factory: Callable[..., Sampler]
    param: str
    values: list[Any]
    points: list[Point]
    variants: list[str | None]
    n_samples: int
    seed: int
    numeric: bool
    target_rel_ci: float | None = None
    max_samples: int | None = None
    target_groups: tuple[str, ...] | None = None
    _built: dict[tuple[str | None, int], Sampler] = field(default_factory=dict, repr=False)

    def groups(self, number: int = 0) -> list[Group]:
        """The groups the ``number``-th point declares. Builds that point's sampler, which
        :meth:`run` then uses (still built once)."""
        point = self.points[number]
        key = (point.variant, point.index)
        if key not in self._built:
            self._built[key] = self.factory(**point.keywords)
        return list(self._built[key].groups())

    def run(
        self,
        out_dir: str | os.PathLike[str] | None = None,
        *,
        resume: bool = False,
        on_point: Callable[[PointDone], None] | None = None,
        progress: Callable[[Iterable[Point]], Iterable[Point]] | None = None,
    ) -> pd.DataFrame:
        """Measure every point; build each sampler once, right before it is measured.

        Args:
            out_dir: if given, ``results.csv`` there is rewritten atomically after each point,
                so a killed run keeps its finished points.
            resume: reuse the rows of ``out_dir/results.csv`` whose point is identical (same
                variant, seed, n_samples and every config value) and whole (exactly its
                declared groups, content hash unchanged: :func:`xvanish.resume.whole_point_rows`);
                other points are measured. Without ``resume`` an existing results.csv is
                refused, never silently overwritten. Adaptively a point is reused when it
                settled at this target or a tighter one (or used the whole budget), else
                extended: its stored per-draw sums (``out_dir/draws/``) are joined by the
                draws that follow them.
            on_point: called with a :class:`PointDone` after each point.
            progress: optional wrapper around the iteration over points (a progress bar).

        Returns:
            All rows in plan order (a ``variant`` column first when the run has variants).

        Raises:
            ConfigError: ``out_dir`` already holds results and ``resume`` is false, cannot
                be written, holds an unreadable results.csv (:class:`~xvanish.resume.ResultsUnreadable`)
                or is in use by another run (:class:`~xvanish.folder.FolderBusy`).
        """
        if out_dir is None:
            return self._measure_all(None, None, on_point, progress)
        with hold_folder(out_dir):  # one run per folder: a second one is refused (FolderBusy)
            csv_path = Path(out_dir) / RESULTS_NAME
            earlier = prepare_out_dir(Path(out_dir), resume)
            return self._measure_all(csv_path, earlier, on_point, progress)

    def _measure_all(
        self,
        csv_path: Path | None,
        earlier: Earlier | None,
        on_point: Callable[[PointDone], None] | None,
        progress: Callable[[Iterable[Point]], Iterable[Point]] | None,
    ) -> pd.DataFrame:
        frames: list[pd.DataFrame] = []
        iterator: Iterable[Point] = self.points if progress is None else progress(self.points)
        for done, point in enumerate(iterator, start=1):
            key = (point.variant, point.index)
            rows, recomputed = None, ""
            if earlier is not None:
                if key not in self._built:
                    self._built[key] = self.factory(**point.keywords)
                rows, recomputed = whole_point_rows(
                    earlier,
                    variant=point.variant,
                    seed=point.seed,
                    n_samples=self.n_samples if self.target_rel_ci is None else None,  # adaptive: any
                    columns=point.columns,
                    groups=[g.name for g in self._built[key].groups()],
                )
                if rows is not None and not self._answers(rows):
                    rows = None  # whole, but not what this run asks for: measured (or extended)
            reused = rows is not None
            info: Mapping[str, Any] = {}
            # Built once, lazily (or taken from groups()); dropped after measuring.
            sampler = self._built.pop(key, None)
            if rows is None:
                sampler = sampler or self.factory(**point.keywords)
                out_dir = csv_path.parent if csv_path is not None else None
                prior = self._extendable(earlier.rows if earlier is not None else None, point, out_dir)
                rows, sums = measure_sums(
                    sampler,
                    self.n_samples,
                    point.seed,
                    scale_name=self.param,
                    scale=point.value,
                    target_rel_ci=self.target_rel_ci,
                    max_samples=self.max_samples,
                    target_groups=self.target_groups,
                    prior=prior,
                )
                info = dict(sampler.info()) if callable(getattr(sampler, "info", None)) else {}
                if prior is not None:
                    info = {**info, "extended_from": prior[0].n}
                if point.variant is not None:
                    rows.insert(0, "variant", point.variant)
                if out_dir is not None and self.target_rel_ci is not None:
                    save_sums(_sums_path(out_dir, point), list(rows["group"]), sums)
            del sampler
            frames.append(rows)
            if csv_path is not None:
                text = results_text(frames)
                replace_atomic(csv_path, lambda tmp: Path(tmp).write_text(text))
            if on_point is not None:
                on_point(PointDone(point, rows, reused, info, done, len(self.points), recomputed))
        return pd.concat(frames, ignore_index=True)

    def _answers(self, rows: pd.DataFrame) -> bool:
        """Whole earlier rows of this point answer this run: a fixed run's rows come from a
        fixed run; an adaptive run's reached this precision (:meth:`_precise_enough`)."""
        if self.target_rel_ci is None:
            return "settled" not in rows.columns or bool(rows["settled"].isna().all())
        return self._precise_enough(rows)

    def _precise_enough(self, rows: pd.DataFrame) -> bool:
        """An adaptive point's earlier rows answer this run: they settled at this target or a
        tighter one for the same target groups, or took every draw this budget allows."""
        if "settled" not in rows.columns or rows["target_rel_ci"].isna().any():
            return False
        settled = (
            bool(rows["settled"].astype(bool).all()) and float(rows["target_rel_ci"].iloc[0]) <= self.target_rel_ci
        )
        if settled and self.target_groups is not None:
            wanted = rows[rows["group"].isin(self.target_groups)]
            settled = len(wanted) == len(self.target_groups) and bool((wanted["rel_ci"] <= self.target_rel_ci).all())
        elif settled:
            settled = bool((rows["rel_ci"] <= self.target_rel_ci).all())
        return settled or int(rows["n_samples"].iloc[0]) >= int(self.max_samples)

    def _extendable(
        self, previous: pd.DataFrame | None, point: Point, out_dir: str | os.PathLike[str] | None
    ) -> list[DrawSums] | None:
        """An adaptive point's stored per-draw sums from an earlier run (to extend), if any."""
        if self.target_rel_ci is None or out_dir is None:
            return None
        rows = _point_rows(previous, point)
        path = _sums_path(out_dir, point)
        if rows is None or not path.exists():
            return None
        names, sums = load_sums(path)
        if (
            names != list(rows["group"])
            or sums[0].n != int(rows["n_samples"].iloc[0])
            or sums[0].n > int(self.max_samples)
        ):
            return None  # not the draws these rows came from, or more than this budget allows
        return sums


def _point_rows(previous: pd.DataFrame | None, point: Point) -> pd.DataFrame | None:
    """Rows of an earlier run of this point (variant, seed, every config value), any draws."""
    if previous is None or previous.empty:
        return None
    match = previous["seed"] == point.seed
    if point.variant is not None:
        if "variant" not in previous.columns:
            return None
        match &= previous["variant"].astype(str) == point.variant
    for key, value in point.columns.items():
        if key not in previous.columns:
            return None
        column = previous[key]  # a None config value is written as an empty cell, read back as NaN
        match &= column.isna() if value is None else column.astype(str) == str(value)
    rows = previous[match]
    return rows.reset_index(drop=True) if len(rows) else None


def _sums_path(out_dir: str | os.PathLike[str], point: Point) -> Path:
    """Where a point's per-draw sums live: ``draws/<variant>-<index>-<seed>.npz``."""
    return Path(out_dir) / SUMS_DIR / f"{point.variant or 'run'}-{point.index}-{point.seed}.npz"


def save_sums(path: str | os.PathLike[str], names: Sequence[str], sums: Sequence[DrawSums]) -> None:
    """Write every group's per-draw sums (``[G, n]`` per field, with shifts and sizes) atomically."""
    arrays = {field: np.stack([getattr(one, field) for one in sums]) for field in _SUM_FIELDS}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file handle: numpy would add .npz to the temporary name
            np.savez(
                handle,
                names=np.array(list(names)),
                shift=np.array([one.shift for one in sums]),
                size=np.array([one.size for one in sums]),
                **arrays,
            )

    replace_atomic(path, write)


def load_sums(path: str | os.PathLike[str]) -> tuple[list[str], list[DrawSums]]:
    """:func:`save_sums`'s groups and sums."""
    with np.load(path) as data:
        names = [str(name) for name in data["names"]]
        sums = [
            DrawSums(
                **{field: data[field][g] for field in _SUM_FIELDS},
                size=int(data["size"][g]),
                shift=float(data["shift"][g]),
            )
            for g in range(len(names))
        ]
    return names, sums


def prepare_out_dir(directory: Path, resume: bool) -> Earlier | None:
    """Check that results can be written to ``directory`` (held by this run: see
    :func:`xvanish.folder.hold_folder`) and remove the temporary files a killed run left;
    the earlier results.csv when resuming.

    Raises:
        ConfigError: the folder cannot be written, or holds results.csv and ``resume`` is false.
        ResultsUnreadable: resuming from a results.csv that cannot be read.
    """
    csv_path = directory / RESULTS_NAME
    try:
        probe = directory / f".xvanish-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError("output directory", str(directory), f"cannot be written: {error.strerror or error}") from None
    remove_temp_files(directory, TEMP_NAMES)
    if not csv_path.exists():
        return None
    require(
        resume,
        "output directory",
        str(directory),
        f"already holds {RESULTS_NAME}; set measure.resume=true (resume=True) to continue it, "
        "or choose another directory",
    )
    return read_results(csv_path)


def _resolve(domain: Domain | str | Callable[..., Sampler]) -> tuple[Domain | None, Callable[..., Sampler]]:
    if isinstance(domain, str):
        found = registry.get_domain(domain)
        return found, found.factory
    if isinstance(domain, Domain):
        return domain, domain.factory
    return registry.domain_of_factory(domain), domain


def plan(
    domain: Domain | str | Callable[..., Sampler],
    param: str,
    values: Sequence[Any],
    *,
    n_samples: int,
    seed: int,
    fixed: Mapping[str, Any] | None = None,
    linked: Mapping[str, Sequence[Any]] | None = None,
    variants: Sequence[Variant] | None = None,
    key_prefix: str = "",
    target_rel_ci: float | None = None,
    max_samples: int | None = None,
    target_groups: Sequence[str] | None = None,
) -> Plan:
    """Check a run completely and return its :class:`Plan`; no sampler is built.

    Args:
        domain: a :class:`~xvanish.core.Domain`, its registered name, or its factory
            (``xvanish.domains.mlp.sampler``). A factory that belongs to no installed domain
            is accepted, but its points can then only be checked when they are built.
        param: the swept key.
        values: the swept values; numbers give a numeric axis (decay fits), anything else a
            categorical one (rows per value, no fit).
        n_samples: draws per point (>= 2).
        seed: the run seed (>= 0).
        fixed: the other keys of the domain.
        linked: keys that change along with ``param``: key -> one value per sweep value.
        variants: series overlaid in one run; each point runs once per variant.
        key_prefix: put before a domain key in messages (the command line's ``domain.``).
        target_rel_ci: draw each point adaptively until its target groups' variance
            intervals have this relative half-width (:func:`xvanish.core.measure`).
        max_samples: the most draws of an adaptive point.
        target_groups: the groups that must reach the target; None: every group.

    Returns:
        The plan; :meth:`Plan.run` measures it.

    Raises:
        ConfigError: the first bad key or value, naming it, its value and what is allowed.
    """
    found, factory = _resolve(domain)
    values = list(values)
    fixed = dict(fixed or {})
    linked = {key: list(series) for key, series in (linked or {}).items()}
    require_int("measure.n_samples", n_samples, minimum=2)
    require_int("measure.seed", seed, minimum=0)
    budget = check_precision(target_rel_ci, max_samples, n_samples)
    require(len(values) > 0, "sweep.values", values, f"must list at least one value of {param}")
    if found is not None:
        known = [f.name for f in dataclasses.fields(found.config)]
        require(param in known, "sweep.param", param, f"must be a key of domain {found.name}: " + ", ".join(known))
    require(
        len({repr(v) for v in values}) == len(values),
        "sweep.values",
        values,
        "must not repeat a value (each point is one row per group)",
    )
    numeric = _numeric_axis(values)
    variant_list = list(variants or [])
    names = [variant.name for variant in variant_list]
    for index, variant in enumerate(variant_list):
        require(
            isinstance(variant.name, str)
            and _VARIANT_NAME.fullmatch(variant.name) is not None
            and names.count(variant.name) == 1,
            f"variants[{index}].name",
            variant.name,
            "must be letters, digits, _ . + - (not starting with .) and differ from the other variants",
        )
    points: list[Point] = []
    for index, variant in enumerate(variant_list or [None]):
        where = f"variants[{index}]" if variant is not None else ""
        overrides = dict(variant.overrides) if variant is not None else {}
        series_linked = {**linked, **(dict(variant.linked) if variant is not None else {})}
        point_origins = {key: f"{where}.domain.{key}" for key in overrides}
        for key, series in series_linked.items():
            origin = f"{where}.linked.{key}" if variant is not None and key in variant.linked else f"sweep.linked.{key}"
            point_origins[key] = origin
            require(key != param, origin, series, f"must not be the swept key {param}")
            require(
                isinstance(series, (list, tuple)) and len(series) == len(values),
                origin,
                series,
                f"must be a list with one value per sweep value ({len(values)})",
            )
        point_origins.setdefault(param, "sweep.values")
        for position, value in enumerate(values):
            keywords = {**fixed, **overrides, **{k: s[position] for k, s in series_linked.items()}, param: value}
            columns = {param: value}  # a factory of no known domain: only the swept value is known
            if found is not None:
                keywords, config = _validated(found, keywords, point_origins, key_prefix)
                columns = config_columns(config)
                where = (f"{variant.name} " if variant is not None else "") + f"{param}={value}"
                _require_draws_fit(config, int(n_samples), where, key_prefix)
            points.append(
                Point(
                    variant=None if variant is None else variant.name,
                    index=position,
                    value=keywords[param],
                    keywords=keywords,
                    seed=point_seed(seed, param, keywords[param]),
                    columns=columns,
                )
            )
    return Plan(
        factory=factory,
        param=param,
        values=[p.value for p in points[: len(values)]],
        points=points,
        variants=names or [None],
        n_samples=int(n_samples),
        seed=int(seed),
        numeric=numeric,
        target_rel_ci=None if target_rel_ci is None else float(target_rel_ci),
        max_samples=budget,
        target_groups=None if target_groups is None else tuple(target_groups),
    )


def sweep(
    factory: Domain | str | Callable[..., Sampler],
    param: str,
    values: Sequence[Any],
    n_samples: int,
    seed: int,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    linked: Mapping[str, Sequence[Any]] | None = None,
    variants: Sequence[Variant] | None = None,
    resume: bool = False,
    on_point: Callable[[PointDone], None] | None = None,
    progress: Callable[[Iterable[Point]], Iterable[Point]] | None = None,
    target_rel_ci: float | None = None,
    max_samples: int | None = None,
    target_groups: Sequence[str] | None = None,
    **fixed: Any,
) -> pd.DataFrame:
    """Plan and run a sweep in one call: ``plan(...).run(...)``.

    Every point is checked before any is measured; each sampler is built once, lazily.
    Each point's seed is :func:`~xvanish.core.point_seed` ``(seed, param, value)``.

    Args:
        factory: a domain factory (``xvanish.domains.mlp.sampler``), Domain or domain name.
        param: the swept keyword.
        values: the scale values (numbers; or categorical values such as activation names).
        n_samples: draws per point (>= 2).
        seed: the run seed.
        out_dir: if given, ``results.csv`` there is rewritten atomically after each point.
        linked: other keywords that change along with ``param``: key -> values aligned with
            ``values`` (e.g. ``n_layers`` growing with ``n_qubits``).
        variants: series overlaid in one run (:class:`Variant`).
        resume: reuse rows of ``out_dir/results.csv`` from identical earlier points.
        on_point: called after each point with a :class:`PointDone`.
        progress: optional wrapper around the iteration (a progress bar).
        target_rel_ci, max_samples, target_groups: adaptive precision (:func:`plan`).
        **fixed: the other keywords of the factory.

    Returns:
        The stacked rows of all points, in the order of ``values`` (variant by variant).

    Raises:
        ConfigError: for a bad key or value, before any point is measured.

    Example:
        >>> from xvanish.domains import mlp
        >>> df = sweep(mlp.sampler, "depth", [4, 8, 16], n_samples=64, seed=0)  # doctest: +SKIP
    """
    run = plan(
        factory,
        param,
        values,
        n_samples=n_samples,
        seed=seed,
        fixed=fixed,
        linked=linked,
        variants=variants,
        target_rel_ci=target_rel_ci,
        max_samples=max_samples,
        target_groups=target_groups,
    )
    return run.run(out_dir, resume=resume, on_point=on_point, progress=progress)


def describe_points(run: Plan) -> str:
    """``8 points (2 variants x 4 values of depth)``: one line for the log."""
    n_variants = len([v for v in run.variants if v is not None])
    shape = f"{n_variants} variants x {len(run.values)} values" if n_variants else f"{len(run.values)} values"
    return f"{len(run.points)} points ({shape} of {run.param}; {'numeric' if run.numeric else 'categorical'} axis)"
