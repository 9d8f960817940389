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
import sys
import time
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from xvanish import registry
from xvanish.experiments import Job, check_runner
from xvanish.core import ConfigError, Group, require, require_choice, require_int
from xvanish.fit import fit_decay
from xvanish.plan import Plan, PointDone, Variant, type_name, describe_points, plan
from xvanish.report.headline import build_series
from xvanish.resume import describe_recomputed
from xvanish.report.outputs import PLOT_NAME, RESULTS_NAME, SUMMARY_NAME, replace_atomic, run_summary, write_json_atomic
from xvanish.report.progress import ProgressBar
from xvanish.report.rundir import run_folder
from xvanish.report.table import format_report
from xvanish.training.config import TrainConfig
from xvanish.schema import (
    broken_domains,
    domain_of,
    domain_to_register,
    packaged_options,
    register_configs,
    register_domain,
)

__all__ = ["describe_error", "main", "plan_run", "run"]

log = logging.getLogger("xvanish")

#: Exit status for bad input (as argparse); 1 is left for failures of the program itself.
EXIT_BAD_INPUT = 2
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Quantities fit_decay can fit on the log scale (results.csv columns).
FIT_QUANTITIES = ("var", "mean_sq")
#: ``measure.target_groups``: the reported (headline) group reaches target_rel_ci, or every group.
TARGET_GROUPS = ("reported", "all")
#: Set once a job starts in this process: from then on a composition error is not retried.
_JOBS_STARTED = False
#: The user set HYDRA_FULL_ERROR=1 (main() sets it for Hydra in any case).
_USER_WANTS_TRACEBACK = False


# --------------------------------------------------------------------------- the plan


@dataclass
class RunPlan:
    """Everything a run does, checked before any work: the core plan and the report options."""

    plan: Plan
    resume: bool
    group: str
    quantity: str
    profile_skip: int
    training: bool = False
    runner: Any = None  # (Runner, its options) of xvanish.experiments, or None for the sweep alone


def domain_name(cfg: DictConfig) -> str:
    """The domain this Hydra job composed: the one whose schema typed ``cfg.domain`` (so a
    user's own preset ``domain/wide_mlp.yaml`` works), else the ``domain=<name>`` choice."""
    choices = cfg.hydra.runtime.choices if "hydra" in cfg else HydraConfig.get().runtime.choices
    return domain_of(OmegaConf.get_type(cfg.domain)) or choices.get("domain")


def _variants(cfg: DictConfig) -> list[Variant]:
    for index, node in enumerate(cfg.variants):
        require(not OmegaConf.is_missing(node, "name"), f"variants[{index}].name", None, "must be given")
    return [
        Variant(name=v["name"], overrides=v["domain"] or {}, linked=v["linked"] or {})
        for v in OmegaConf.to_container(cfg.variants, resolve=True)
    ]


def plan_run(cfg: DictConfig, name: str) -> RunPlan:
    """Check the whole config (every point of every variant) with :func:`xvanish.plan`.

    Only the points that will run are checked: the domain's default for the swept key (and
    for linked keys) is replaced, never validated on its own.

    Raises:
        ConfigError: for the first bad key or value found, before any work.
    """
    domain = registry.get_domain(name)
    param = cfg.sweep.param or domain.natural_axis
    require_choice("fit.quantity", cfg.fit.quantity, FIT_QUANTITIES)
    require_int("fit.profile_skip", cfg.fit.profile_skip, minimum=0)
    values = list(OmegaConf.to_container(cfg.sweep["values"], resolve=True))
    training = cfg.train.optimizer is not None
    train_config = TrainConfig(**OmegaConf.to_container(cfg.train, resolve=True))  # checked first, used or not
    if training:
        from xvanish.training.tasks import task_name

        task_name(name, train_config)
    step_axis = training and param == "step"
    if step_axis:  # training over steps: one point at the domain's own value of its axis
        param, values = domain.natural_axis, [cfg.domain[domain.natural_axis]]
    require(
        len(values) > 0,
        "sweep.values",
        values,
        f"must list at least one value of domain.{param} (or pick an experiment=<name>: "
        + ", ".join(packaged_options("experiment"))
        + ")",
    )
    require_choice("measure.target_groups", cfg.measure.target_groups, TARGET_GROUPS)
    group = cfg.report.group or domain.headline_group
    # plan() names keys as the user wrote them: domain.<key>, sweep.values, sweep.linked.<key>.
    core_plan = plan(
        domain,
        param,
        values,
        n_samples=cfg.measure.n_samples,
        seed=cfg.measure.seed,
        fixed=OmegaConf.to_container(cfg.domain, resolve=True),
        linked=OmegaConf.to_container(cfg.sweep.linked, resolve=True),
        variants=_variants(cfg),
        key_prefix="domain.",
        target_rel_ci=cfg.measure.target_rel_ci,
        max_samples=cfg.measure.max_samples,
        target_groups=[group] if cfg.measure.target_groups == "reported" else None,
    )
    headline = domain.headline_group
    if training:  # the same points, trained (xvanish/training/plan.py)
        from xvanish.training.plan import plan_training

        require(
            cfg.measure.target_rel_ci is None,
            "measure.target_rel_ci",
            cfg.measure.target_rel_ci,
            "must be null with train.optimizer set: a training run trains measure.n_samples runs, not rounds of draws",
        )
        core_plan = plan_training(
            OmegaConf.to_container(cfg.train, resolve=True), name, core_plan, step_axis, cfg.measure.resume
        )
        headline = core_plan.headline()
    runner = check_runner(
        cfg.runner.name,
        OmegaConf.to_container(cfg.runner.options, resolve=True),
        {
            "domain": OmegaConf.to_container(cfg.domain, resolve=True),
            "variants": OmegaConf.to_container(cfg.variants, resolve=True),
        },
    )
    run_plan = RunPlan(
        plan=core_plan,
        resume=cfg.measure.resume and not training,
        group=cfg.report.group or headline,
        quantity=cfg.fit.quantity,
        profile_skip=cfg.fit.profile_skip,
        training=training,
        runner=runner,
    )
    if cfg.report.group is not None:
        groups = core_plan.groups(0)
        require(
            cfg.report.group in [g.name for g in groups],
            "report.group",
            cfg.report.group,
            f"not a group of domain {name} at {param}={core_plan.points[0].value}; groups: {describe_groups(groups)}",
        )
    return run_plan


def describe_draws(core_plan: Plan) -> str:
    """``128 draws each`` or ``draws until target_rel_ci=0.1 (100 first, at most 10000)``."""
    if core_plan.target_rel_ci is None:
        return f"{core_plan.n_samples} draws each"
    return (
        f"draws until target_rel_ci={core_plan.target_rel_ci:g} ({core_plan.n_samples} first, "
        f"at most {core_plan.max_samples})"
    )


def adaptive_report(df: Any, core_plan: Plan, target_groups: str) -> dict[str, Any]:
    """summary.json's ``adaptive``: the target, the draws each point took, the points that
    reached max_samples before the target (``unsettled``)."""
    points = df.drop_duplicates(subset=[c for c in ("variant", "scale", "seed") if c in df.columns])
    keys = [c for c in ("variant", "scale") if c in points.columns]
    unsettled = points[~points["settled"].astype(bool)]
    return {
        "target_rel_ci": core_plan.target_rel_ci,
        "max_samples": core_plan.max_samples,
        "target_groups": target_groups,
        "first_round": core_plan.n_samples,
        "draws": {
            "total": int(points["n_samples"].sum()),
            "min": int(points["n_samples"].min()),
            "max": int(points["n_samples"].max()),
        },
        "unsettled": [
            {**{k: row[k] for k in keys}, "n_samples": int(row["n_samples"])} for _, row in unsettled.iterrows()
        ],
    }


def adaptive_line(report: dict[str, Any]) -> str:
    """One console line: how many draws the points took, and which hit max_samples unsettled."""
    draws = report["draws"]
    line = (
        f"adaptive: target_rel_ci={report['target_rel_ci']:g} ({report['target_groups']} groups): "
        f"{draws['min']}–{draws['max']} draws per point, {draws['total']} in all"
    )
    if report["unsettled"]:
        line += (
            f"; {len(report['unsettled'])} point(s) reached measure.max_samples={report['max_samples']} "
            "before the target (summary.json: adaptive.unsettled; results.csv: settled=False)"
        )
    return line


def describe_groups(groups: Sequence[Group]) -> str:
    """``preact/1…8, weight/1…8, input, cost``: declared groups, short enough for one line."""
    families: dict[str, list[Group]] = {}
    for one in groups:
        families.setdefault(one.family, []).append(one)
    parts = []
    for family, members in families.items():
        if len(members) > 2:
            parts.append(f"{family}/{members[0].name[len(family) + 1 :]}…{members[-1].name[len(family) + 1 :]}")
        else:
            parts.extend(member.name for member in members)
    return ", ".join(parts)


def _recorded_config(cfg: DictConfig, run_plan: RunPlan) -> dict[str, Any]:
    """The config for summary.json: swept and linked keys as the values that ran, not their
    unused defaults (a 2–10 qubit sweep must not record ``n_qubits: 4``)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config.pop("hydra", None)
    core_plan = run_plan.plan
    if core_plan.param in config["domain"]:  # not for the training axis "step"
        config["domain"][core_plan.param] = list(core_plan.values)
    for key in config["sweep"]["linked"]:
        config["domain"][key] = config["sweep"]["linked"][key]
    return config


# --------------------------------------------------------------------------- the run


def run(cfg: DictConfig, out_dir: str | os.PathLike[str], name: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """One run: plan, measure, fit, write summary.json and the plot, print the table.

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
    run_plan = plan_run(cfg, name)
    core_plan = run_plan.plan
    log.info("plan: %s, %s, seed %d", describe_points(core_plan), describe_draws(core_plan), core_plan.seed)
    points: list[dict[str, Any]] = []
    recomputed: dict[str, str] = {}

    def on_point(done: PointDone) -> None:
        seconds = float(done.rows["seconds"].iloc[0])
        points.append(
            {
                "variant": done.point.variant,
                "value": done.point.value,
                "seed": done.point.seed,
                "reused": done.reused,
                "seconds": seconds,
                "n_samples": int(done.rows["n_samples"].iloc[0]),
                "info": dict(done.info),
            }
        )
        if done.recomputed:
            recomputed[done.point.label(core_plan.param)] = done.recomputed
            points[-1]["recomputed"] = done.recomputed
        what = "reused from results.csv" if done.reused else f"measured in {seconds:.2f} s"
        log.info("%d/%d %s: %s", done.done, done.total, done.point.label(core_plan.param), what)

    with ProgressBar(len(core_plan.points)) as bar:
        df = core_plan.run(
            out_dir,
            resume=run_plan.resume,
            on_point=on_point,
            progress=lambda items: bar.wrap(items, label=lambda p: p.label(core_plan.param)),
        )
    reused = sum(point["reused"] for point in points)
    if run_plan.resume:
        line = f"resume: reused {reused} of {len(points)} points from {RESULTS_NAME}, measured {len(points) - reused}"
        if recomputed:
            line += "; " + describe_recomputed(recomputed)
        print(line)
        log.info(line)
    if run_plan.training:  # a sweep over a domain key fits and plots the last logged step
        from xvanish.training.plan import last_step_rows

        df = last_step_rows(df)
    fits = fit_decay(df, quantity=run_plan.quantity, profile_skip=run_plan.profile_skip)
    if run_plan.group not in set(df["group"]):
        log.warning(
            "headline group %s was not measured; groups: %s", run_plan.group, ", ".join(dict.fromkeys(df["group"]))
        )
    series = build_series(df, fits, run_plan.group)
    if cfg.report.plot:
        from xvanish.report.plots import plot_series  # matplotlib only when a plot is wanted

        title = (
            f"{name}: {run_plan.group} vs {core_plan.param}"
            if len(core_plan.values) > 1
            else f"{name} at {core_plan.param}={core_plan.values[0]}"
        )  # one value: the profile alone
        replace_atomic(out_dir / PLOT_NAME, lambda tmp: plot_series(series, tmp, title=title))
    summary = run_summary(
        df=df,
        fits=fits,
        series=series,
        domain=name,
        config=_recorded_config(cfg, run_plan),
        wall_seconds=time.perf_counter() - started,
    )
    summary["overrides"] = list(overrides)
    summary["axis"] = "numeric" if core_plan.numeric else "categorical"
    summary["points"] = points
    if core_plan.target_rel_ci is not None:
        summary["adaptive"] = adaptive_report(df, core_plan, cfg.measure.target_groups)
    table = format_report(series)
    print(table)
    log.info("table:\n%s", table)
    if core_plan.target_rel_ci is not None:
        line = adaptive_line(summary["adaptive"])
        print(line)
        (log.warning if summary["adaptive"]["unsettled"] else log.info)(line)
    if run_plan.runner is not None and run_plan.runner[0].after_run is not None:
        config = OmegaConf.to_container(cfg, resolve=True)
        config.pop("hydra", None)
        job = Job(out_dir=out_dir, results=df, options=run_plan.runner[1], config=config, resume=run_plan.resume)
        summary["runner"] = {"name": cfg.runner.name, **run_plan.runner[0].after_run(job)}
    write_json_atomic(summary, out_dir / SUMMARY_NAME)
    nonfinite = summary["nonfinite"]
    if nonfinite["count"]:
        log.warning(
            "%d non-finite gradient entries in %d rows, left out of every statistic (see summary.json: nonfinite)",
            nonfinite["count"],
            len(nonfinite["rows"]),
        )
    print(f"outputs: {out_dir}")
    log.info("outputs: %s", out_dir)
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
        try:
            value = override.get_value_element_as_str()
        except HydraException:  # a sweep (0,abc) has no single value: show it as typed
            value = argument.split("=", 1)[1]
        values[override.get_key_element().lstrip("+~")] = value
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
        return f"{shown}: unknown key{inner}; known keys: " + ", ".join(f.name for f in dataclasses.fields(typed))
    if isinstance(cause, ValidationError) and typed is not None:
        expected = typing.get_type_hints(typed).get(str(cause.key))
        if expected is not None:
            return f"{shown}: must be of type {type_name(expected)}"
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


def _file_system_error(error: BaseException) -> OSError | None:
    """The OSError with a file name behind an error, if any (Hydra wraps the one its log
    file handler raises as ``ValueError: Unable to configure handler 'file'``)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.filename:
            return error
        error = error.__cause__ or error.__context__
    return None


def _output_error_line(error: OSError) -> str:
    """``output directory '/x/y': Permission denied (writing xvanish.log)``."""
    path = Path(error.filename)
    cause = error.strerror or str(error)
    if path.suffix:  # a file inside the directory (the log, a result)
        return f"output directory '{path.parent}': {cause} (writing {path.name})"
    return f"output directory '{path}': {cause}"


def is_bad_input(error: BaseException) -> bool:
    """Errors caused by the user's config (exit 2), as opposed to failures of the program (exit 1)."""
    return isinstance(error, (ConfigError, ConfigCompositionException, OverrideParseException, OmegaConfBaseException))


# --------------------------------------------------------------------------- entry points


def _domain_listing() -> str:
    """The ``== Domains ==`` section of ``--help``: each domain's axis, description and keys
    with their defaults (the ``== Config ==`` section shows only the composed domain)."""
    import textwrap

    lines = []
    for name in registry.available_domains():
        try:
            domain = registry.get_domain(name)
        except Exception as error:  # a broken plugin is listed, not fatal, in --help
            lines.append(f"  {name:<8} (cannot be imported: {type(error).__name__}: {error})")
            continue
        lines.append(f"  {name:<8} sweeps {domain.natural_axis}; {domain.description}")
        keys = ", ".join(
            f"{f.name}={f.default if f.default is not dataclasses.MISSING else f.default_factory()}"
            for f in dataclasses.fields(domain.config)
        )
        lines.extend(textwrap.wrap("keys: " + keys, width=100, initial_indent=" " * 11, subsequent_indent=" " * 17))
    lines.append("  (python -m xvanish domain=<name> --help shows that domain's composed config)")
    return "\n".join(lines)


def _register_resolvers() -> None:
    if not OmegaConf.has_resolver("xvanish_domains"):
        OmegaConf.register_new_resolver("xvanish_domains", _domain_listing)
    if not OmegaConf.has_resolver("xvanish_experiments"):
        OmegaConf.register_new_resolver(
            "xvanish_experiments", lambda: "  " + (", ".join(packaged_options("experiment")) or "(none installed)")
        )


@hydra.main(version_base="1.3", config_path="pkg://xvanish.conf", config_name="config")
def _hydra_task(cfg: DictConfig) -> None:
    """The Hydra task: one run in Hydra's output dir."""
    global _JOBS_STARTED
    _JOBS_STARTED = True
    try:
        hydra_cfg = HydraConfig.get()
        out_dir = hydra_cfg.runtime.output_dir
        # The folder is held before anything is written into it, Hydra's record included.
        with run_folder(
            out_dir,
            resume=cfg.measure.resume,
            task_cfg=cfg,
            hydra_cfg=HydraConfig.instance().cfg,
            overrides=hydra_cfg.overrides.task,
        ):
            run(cfg, out_dir, domain_name(cfg), overrides=hydra_cfg.overrides.task)
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
        print(
            "error: interrupted (finished points are in results.csv; rerun with measure.resume=true)", file=sys.stderr
        )
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:
        if _USER_WANTS_TRACEBACK:
            raise
        os_error = _file_system_error(error)
        if os_error is not None:  # an output directory that is read-only, full, or a file
            print(f"error: {_output_error_line(os_error)}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
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
