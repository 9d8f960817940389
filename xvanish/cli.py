"""Command line: ``python -m xvanish experiment=<name> [key=value ...]`` (Hydra 1.3).

Compose the config → check every key and value of every point of every variant → sweep →
write results.csv, summary.json and plot.png into Hydra's output dir → print a short table.
The output contract is docs/output.md.

Bad input of any kind ends with one line on stderr, ``error: <key>=<value>: <what is
allowed>``, exit code 2, no traceback (``HYDRA_FULL_ERROR=1`` shows it) and no result files.
Hydra reports its own composition errors (a wrong type, an unknown key, an unknown
experiment) in several lines from inside ``hydra.main``; :func:`main` therefore asks Hydra
to re-raise them (Hydra's documented ``HYDRA_FULL_ERROR`` switch) and rewrites them as one
line itself (:func:`describe_error`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.errors import (ConfigCompositionException, HydraException, MissingConfigException,
                          OverrideParseException)
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from xvanish import registry
from xvanish.core import ConfigError, Domain, require, require_choice, sweep, write_csv_atomic
from xvanish.fit import fit_decay, group_family
from xvanish.report.headline import build_series
from xvanish.report.outputs import (PLOT_NAME, RESULTS_NAME, SUMMARY_NAME, replace_atomic, run_summary,
                                    write_json_atomic)
from xvanish.report.progress import ProgressBar
from xvanish.report.table import format_report
from xvanish.schema import (broken_domains, domain_of, domain_to_register, packaged_options, register_configs,
                            register_domain)

__all__ = ["describe_error", "main", "plan_run", "run"]

log = logging.getLogger("xvanish")

#: Exit status for bad input (as argparse); 1 is left for failures of the program itself.
EXIT_BAD_INPUT = 2
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Quantities fit_decay can fit on the log scale (results.csv columns).
FIT_QUANTITIES = ("var", "mean_sq")
#: Set once a job starts in this process: from then on a composition error is not retried.
_JOBS_STARTED = False
#: The user set HYDRA_FULL_ERROR=1 (main() sets it for Hydra in any case).
_USER_WANTS_TRACEBACK = False
#: A variant name: a plain directory name.
_VARIANT_NAME = re.compile(r"[A-Za-z0-9_+\-][A-Za-z0-9_.+\-]*")
#: Draws of the pre-flight sample that checks ``report.group`` before the sweep.
_PROBE_DRAWS = 2


# --------------------------------------------------------------------------- the plan

@dataclass
class SeriesPlan:
    """One series of the run (a variant, or the run itself when there are none).

    Attributes:
        name: the variant name; ``None`` for a run without variants.
        values: the swept values, type-checked against the domain config.
        fixed: every other domain key.
        linked: keys that change along with the swept one: key -> one value per point.
    """

    name: str | None
    values: list[Any]
    fixed: dict[str, Any]
    linked: dict[str, list[Any]]


@dataclass
class RunPlan:
    """Everything a run does, checked before any work."""

    domain: Domain
    param: str
    series: list[SeriesPlan]
    n_samples: int
    seed: int
    resume: bool
    group: str
    quantity: str
    profile_skip: int


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _check_point(domain: Domain, point: Mapping[str, Any], origins: Mapping[str, str]) -> dict[str, Any]:
    """Type-check one point's domain keys as Hydra would, then build its sampler (range checks).

    Args:
        domain: the domain.
        point: domain key -> value for this point.
        origins: domain key -> where the user set it (``sweep.values``), for the message.

    Returns:
        The point's values after OmegaConf's conversions (``"4"`` -> ``4`` for an int key).

    Raises:
        ConfigError: naming ``domain.<key>``, the value, what is allowed, and its origin.
    """
    def context(key: str) -> str:
        return f" (from {origins[key]})" if origins.get(key) else ""

    types = typing.get_type_hints(domain.config)
    node = OmegaConf.structured(domain.config)
    for key, value in point.items():
        try:
            node[key] = value
        except ValidationError:
            raise ConfigError(f"domain.{key}", value, f"must be of type {_type_name(types[key])}"
                              + context(key)) from None
    values = OmegaConf.to_container(node)
    try:
        domain.factory(**values)
    except ConfigError as error:
        bare = error.key.removeprefix("domain.")
        raise ConfigError(f"domain.{bare}", error.value, error.allowed + context(bare)) from None
    return values


def _known_keys(domain: Domain) -> list[str]:
    return [f.name for f in dataclasses.fields(domain.config)]


def _check_keys(keys: Sequence[str], known: Sequence[str], prefix: str, values: Mapping[str, Any]) -> None:
    for key in keys:
        require(key in known, f"{prefix}{key}", values[key],
                "unknown key; known keys: " + ", ".join(known))


def _series_plans(cfg: DictConfig, domain: Domain, param: str) -> list[SeriesPlan]:
    """Check the sweep and every variant point by point; build the series plans."""
    known = _known_keys(domain)
    base = OmegaConf.to_container(cfg.domain, resolve=True)
    _check_keys(list(base), known, "domain.", base)  # keys added with +domain.<key>=...
    _check_point(domain, base, {})  # the base config on its own, though the sweep replaces param
    values = list(OmegaConf.to_container(cfg.sweep["values"], resolve=True))
    require(len(values) > 0, "sweep.values", values,
            f"must list at least one value of domain.{param} (or pick an experiment=<name>: "
            + ", ".join(packaged_options("experiment")) + ")")
    for index, node in enumerate(cfg.variants):
        require(not OmegaConf.is_missing(node, "name"), f"variants[{index}].name", None, "must be given")
    variants = OmegaConf.to_container(cfg.variants, resolve=True) or [{"name": None, "domain": {}, "linked": {}}]
    names = [variant["name"] for variant in variants]
    plans = []
    for index, variant in enumerate(variants):
        where = f"variants[{index}]"
        if variant["name"] is not None:
            # The name is a directory (variants/<name>/) and a legend label.
            require(_VARIANT_NAME.fullmatch(variant["name"]) is not None and names.count(variant["name"]) == 1,
                    f"{where}.name", variant["name"],
                    "must be letters, digits, _ . + - (not starting with .) and differ from the other variants")
        overrides = variant["domain"] or {}
        _check_keys(list(overrides), known, f"{where}.domain.", overrides)
        linked = {**OmegaConf.to_container(cfg.sweep.linked, resolve=True), **(variant["linked"] or {})}
        origin_of_linked = {key: (f"{where}.linked.{key}" if key in (variant["linked"] or {})
                                  else f"sweep.linked.{key}") for key in linked}
        for key, series in linked.items():
            require(key in known, origin_of_linked[key], series, "unknown key; known keys: " + ", ".join(known))
            require(key != param, origin_of_linked[key], series, f"must not be the swept key {param}")
            require(isinstance(series, list) and len(series) == len(values), origin_of_linked[key], series,
                    f"must be a list with one value per sweep value ({len(values)})")
        origins = {key: f"{where}.domain" for key in overrides}
        origins.update(origin_of_linked)
        origins[param] = "sweep.values"
        points = [_check_point(domain, {**base, **overrides, **{k: s[i] for k, s in linked.items()}, param: v},
                               origins)
                  for i, v in enumerate(values)]
        fixed = {key: value for key, value in points[0].items() if key != param and key not in linked}
        plans.append(SeriesPlan(
            name=variant["name"],
            values=[point[param] for point in points],
            fixed=fixed,
            linked={key: [point[key] for point in points] for key in linked},
        ))
    return plans


def _describe_groups(groups: Sequence[str]) -> str:
    """``preact/1…8, weight/1…8, input, cost``: a group list short enough for one line."""
    families: dict[str, list[str]] = {}
    for group in groups:
        families.setdefault(group_family(group), []).append(group)
    parts = []
    for family, members in families.items():
        if len(members) > 2:
            parts.append(f"{family}/{members[0][len(family) + 1:]}…{members[-1][len(family) + 1:]}")
        else:
            parts.extend(members)
    return ", ".join(parts)


def _check_report_group(plan: RunPlan) -> None:
    """A user-chosen ``report.group`` must be a group the domain measures (a 2-draw probe)."""
    first = plan.series[0]
    point = {**first.fixed, **{k: s[0] for k, s in first.linked.items()}, plan.param: first.values[0]}
    batch = plan.domain.factory(**point).sample(_PROBE_DRAWS, 0)
    groups = list(batch.grads) + (["cost"] if batch.cost is not None else [])
    require(plan.group in groups, "report.group", plan.group,
            f"not a group of domain {plan.domain.name} at {plan.param}={first.values[0]}; "
            f"groups: {_describe_groups(groups)}")


def domain_name(cfg: DictConfig) -> str:
    """The domain this Hydra job composed: the one whose schema typed ``cfg.domain`` (so a
    user's own preset ``domain/wide_mlp.yaml`` works), else the ``domain=<name>`` choice."""
    name = domain_of(OmegaConf.get_type(cfg.domain)) or HydraConfig.get().runtime.choices.get("domain")
    return name


def plan_run(cfg: DictConfig, name: str) -> RunPlan:
    """Check the whole config (every point of every variant) and return what to do.

    Raises:
        ConfigError: for the first bad key or value found, before any work.
    """
    domain = registry.get_domain(name)
    known = _known_keys(domain)
    param = cfg.sweep.param or domain.natural_axis
    require(param in known, "sweep.param", param, f"must be a key of domain {name}: " + ", ".join(known))
    n_samples = cfg.measure.n_samples
    require(n_samples >= 2, "measure.n_samples", n_samples, "must be an integer >= 2")
    require(cfg.measure.seed >= 0, "measure.seed", cfg.measure.seed, "must be an integer >= 0")
    require_choice("fit.quantity", cfg.fit.quantity, FIT_QUANTITIES)
    require(cfg.fit.profile_skip >= 0, "fit.profile_skip", cfg.fit.profile_skip, "must be an integer >= 0")
    plan = RunPlan(domain=domain, param=param, series=_series_plans(cfg, domain, param),
                   n_samples=n_samples, seed=cfg.measure.seed, resume=cfg.measure.resume,
                   group=cfg.report.group or domain.headline_group, quantity=cfg.fit.quantity,
                   profile_skip=cfg.fit.profile_skip)
    if cfg.report.group is not None:
        _check_report_group(plan)
    return plan


# --------------------------------------------------------------------------- the run

def _sweep_series(plan: RunPlan, series: SeriesPlan, out_dir: Path, bar: ProgressBar,
                  after: Callable[[], None] | None) -> pd.DataFrame:
    prefix = f"{series.name} " if series.name else ""

    def progress(items):
        return bar.wrap(items, label=lambda item: f"{prefix}{plan.param}={item[0]}", after=after)

    return sweep(plan.domain.factory, plan.param, series.values, plan.n_samples, plan.seed,
                 out_dir=out_dir, linked=series.linked, resume=plan.resume, progress=progress,
                 **series.fixed)


def _with_variant(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    parts = [frame.assign(variant=name) for name, frame in frames.items() if len(frame)]
    union = pd.concat(parts, ignore_index=True)
    return union[["variant"] + [c for c in union.columns if c != "variant"]]


def measure_series(plan: RunPlan, out_dir: Path) -> pd.DataFrame:
    """Run every series; keep ``out_dir/results.csv`` up to date after each point.

    Without variants core.sweep writes results.csv itself. With variants each variant's
    sweep keeps its own table in ``variants/<name>/results.csv`` (what ``resume`` reads),
    and the union with a ``variant`` column is rewritten at the top after every point.
    """
    total = sum(len(series.values) for series in plan.series)
    with ProgressBar(total) as bar:
        if plan.series[0].name is None:
            return _sweep_series(plan, plan.series[0], out_dir, bar, after=None)
        frames: dict[str, pd.DataFrame] = {}
        for series in plan.series:
            part = out_dir / "variants" / series.name

            def after(name: str = series.name, part: Path = part) -> None:
                frames[name] = pd.read_csv(part / RESULTS_NAME)
                union = _with_variant(frames)
                write_csv_atomic(union, out_dir / RESULTS_NAME)

            # after() also runs once the last point is done, so the union on disk is complete.
            frames[series.name] = _sweep_series(plan, series, part, bar, after)
        return _with_variant(frames)


def run(cfg: DictConfig, out_dir: str | os.PathLike[str], name: str,
        overrides: Sequence[str] = ()) -> dict[str, Any]:
    """One run: check, measure, fit, write summary.json and the plot, print the table.

    Args:
        cfg: the composed config.
        out_dir: where the files go.
        name: the domain name.
        overrides: the command-line overrides, recorded in summary.json.

    Returns:
        The summary (as written to summary.json).

    Raises:
        ConfigError: bad input, found before any work.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    plan = plan_run(cfg, name)
    df = measure_series(plan, out_dir)
    fits = fit_decay(df, quantity=plan.quantity, profile_skip=plan.profile_skip)
    if plan.group not in set(df["group"]):
        log.warning("headline group %s was not measured; groups: %s", plan.group,
                    _describe_groups(list(dict.fromkeys(df["group"]))))
    series = build_series(df, fits, plan.group)
    if cfg.report.plot:
        from xvanish.report.plots import plot_series  # matplotlib only when a plot is wanted

        title = f"{name}: {plan.group} vs {plan.param}"
        replace_atomic(out_dir / PLOT_NAME, lambda tmp: plot_series(series, tmp, title=title))
    summary = run_summary(df=df, fits=fits, series=series, domain=name,
                          config=OmegaConf.to_container(cfg, resolve=True),
                          wall_seconds=time.perf_counter() - started)
    summary["overrides"] = list(overrides)
    write_json_atomic(summary, out_dir / SUMMARY_NAME)
    print(format_report(series))
    nonfinite = summary["nonfinite"]
    if nonfinite["count"]:
        log.warning("%d non-finite gradient entries in %d rows, left out of every statistic "
                    "(see summary.json: nonfinite)", nonfinite["count"], len(nonfinite["rows"]))
    print(f"outputs: {out_dir}")
    return summary


# --------------------------------------------------------------------------- errors

def _unknown_option(group: str, name: str) -> str:
    if group == "experiment":
        return f"experiment={name}: unknown experiment; available: " + ", ".join(packaged_options("experiment"))
    if group == "domain":
        broken = broken_domains()
        stem = name.removesuffix("_schema")
        if stem in broken:
            return f"domain={stem}: installed but cannot be imported: {broken[stem]}"
        return f"domain={name}: unknown domain; installed: " + ", ".join(registry.available_domains())
    return ""


def _command_line_values() -> dict[str, str]:
    """``key -> value`` of the overrides on the command line, as typed (for error messages)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    values = {}
    for argument in sys.argv[1:]:
        if argument.startswith("-") or "=" not in argument:
            continue
        try:
            override = OverridesParser.create().parse_override(argument)
        except HydraException:
            continue
        values[override.get_key_element().lstrip("+~")] = override.get_value_element_as_str()
    return values


def _omegaconf_line(cause: OmegaConfBaseException) -> str:
    """One line for a type or key error OmegaConf raised while Hydra merged the config."""
    key = cause.full_key or str(cause.key)
    typed = cause.object_type if dataclasses.is_dataclass(cause.object_type) else None
    given = _command_line_values()
    # The override that set this key: the key itself, or a parent given as a dict.
    source = key if key in given else next((k for k in given if key.startswith(k + ".")), None)
    shown = f"{source}={given[source]}" if source else f"{key}={cause.value}"
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        if typed is None:  # a free-form dict (sweep.linked): Hydra adds keys only with ++
            return f"{shown}: {key} is a new key; add it with ++{shown}"
        inner = f" {key}" if source != key else ""
        return (f"{shown}: unknown key{inner}; known keys: "
                + ", ".join(f.name for f in dataclasses.fields(typed)))
    if isinstance(cause, ValidationError) and typed is not None:
        expected = typing.get_type_hints(typed).get(str(cause.key))
        if expected is not None:
            return f"{shown}: must be of type {_type_name(expected)}"
    return f"{shown}: {str(cause).splitlines()[0]}"


def describe_error(error: BaseException) -> str:
    """The one line (without ``error: ``) that tells a user what was wrong with the input."""
    if isinstance(error, ConfigError):
        return str(error)
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, name = str(error.missing_cfg_file).rpartition("/")
        line = _unknown_option(group, name)
        if line:
            return line
    if isinstance(error, HydraException) and isinstance(error.__cause__, OmegaConfBaseException):
        return _omegaconf_line(error.__cause__)
    if isinstance(error, OmegaConfBaseException):
        return _omegaconf_line(error)
    if isinstance(error, OverrideParseException):
        return f"{error.override}: " + " ".join(error.message.split())
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def is_bad_input(error: BaseException) -> bool:
    """Errors caused by the user's config (exit 2), as opposed to failures of the program (exit 1)."""
    return isinstance(error, (ConfigError, ConfigCompositionException, OverrideParseException,
                              OmegaConfBaseException))


# --------------------------------------------------------------------------- entry points

def _domain_listing() -> str:
    """The ``== Domains ==`` section of ``--help``: name, natural axis, description."""
    lines = []
    for name in registry.available_domains():
        try:
            domain = registry.get_domain(name)
            lines.append(f"  {name:<8} sweeps {domain.natural_axis}; {domain.description}")
        except Exception as error:  # a broken plugin is listed, not fatal, in --help
            lines.append(f"  {name:<8} (cannot be imported: {type(error).__name__}: {error})")
    return "\n".join(lines)


def _register_resolvers() -> None:
    if not OmegaConf.has_resolver("xvanish_domains"):
        OmegaConf.register_new_resolver("xvanish_domains", _domain_listing)
    if not OmegaConf.has_resolver("xvanish_experiments"):
        OmegaConf.register_new_resolver(
            "xvanish_experiments", lambda: "  " + (", ".join(packaged_options("experiment")) or "(none installed)"))


@hydra.main(version_base="1.3", config_path="pkg://xvanish.conf", config_name="config")
def _hydra_task(cfg: DictConfig) -> None:
    """The Hydra task: one run in Hydra's output dir."""
    global _JOBS_STARTED
    _JOBS_STARTED = True
    try:
        hydra_cfg = HydraConfig.get()
        run(cfg, hydra_cfg.runtime.output_dir, domain_name(cfg), overrides=hydra_cfg.overrides.task)
    except ConfigError as error:
        if _USER_WANTS_TRACEBACK:
            raise
        # One line, then leave: raising an Exception here would make Hydra add its own
        # "Error executing job with overrides" line; a multirun stops at its first bad job.
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None


def _run_hydra() -> None:
    """One pass of Hydra; a composition that needs a domain's schema not yet registered
    registers it (importing only that domain) and composes again. Nothing has run then:
    Hydra composes every job's config before it starts the job (joblib: before any job)."""
    while True:
        try:
            _hydra_task()
            return
        except MissingConfigException as error:
            name = domain_to_register(error.missing_cfg_file)
            if name is None or _JOBS_STARTED:
                raise
            register_domain(name)


def main() -> None:
    """``python -m xvanish``: run Hydra, turning any bad input into one line on stderr."""
    global _JOBS_STARTED, _USER_WANTS_TRACEBACK
    register_configs(domains=())
    _register_resolvers()
    previous = os.environ.get("HYDRA_FULL_ERROR")
    _JOBS_STARTED, _USER_WANTS_TRACEBACK = False, previous == "1"
    # Hydra prints errors in its own multi-line format unless HYDRA_FULL_ERROR=1, in which
    # case it re-raises them: then we can print one line of our own.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        _run_hydra()
    except KeyboardInterrupt:
        # results.csv holds every finished point; measure.resume=true continues from there.
        print("error: interrupted (finished points are in results.csv; rerun with measure.resume=true)",
              file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:
        if _USER_WANTS_TRACEBACK:
            raise
        line = describe_error(error)
        if not is_bad_input(error):
            line = f"{type(error).__name__}: {line} (set HYDRA_FULL_ERROR=1 for the traceback)"
        print(f"error: {line}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT if is_bad_input(error) else 1)
    finally:
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous
