"""Hydra callback that aggregates a multirun at the sweep root, from the jobs' files on disk.

Launchers may run jobs in other processes or on other machines (joblib, submitit), so
nothing is passed in memory: ``on_multirun_end`` finds every job directory under
``hydra.sweep.dir`` (a ``.hydra/`` folder), reads its results.csv and summary.json, and
writes at the sweep root:

* ``results.csv``: every job's rows, preceded by ``job`` (Hydra's job number),
  ``overrides`` (the job's override string) and one column per key that differs between
  jobs (e.g. ``domain.activation``);
* ``summary.json``: per job its directory, overrides, headline fits, wall time and
  non-finite count; jobs without results are listed under ``missing``;
* ``pooled.csv`` when a seed key (``measure.seed``, ``seed``) is swept: the jobs that
  differ only in their seed pooled into one row per point and group (all their draws;
  :mod:`xvanish.report.pooling`), fitted and printed like a single run, its headline in
  summary.json's ``pooled``; the plot then shows the pooled series;
* ``plot.png`` (unless ``report.plot=false``): the jobs' headline series overlaid, drawn as a single run's plot is
  (:mod:`xvanish.report.plots`: theory by kind, legend outside, zoom and zero-fraction
  panels where they inform). Each series carries its swept values and variant as
  ``facets``, so a grid of many jobs (7 × 5) is drawn as colour by one key and marker by
  the other.

``theory_kind`` and ``family`` travel with the rows: the combined table is the jobs' rows
unchanged, and the plot reads the kinds from them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from xvanish.core import write_csv_atomic
from xvanish.report.outputs import PLOT_NAME, RESULTS_NAME, SUMMARY_NAME, replace_atomic, write_json_atomic
from xvanish.report.pooling import SEED_KEYS, pool_seeds

__all__ = ["POOLED_NAME", "AggregateCallback", "aggregate", "find_jobs", "job_info"]

#: The multirun's rows pooled over its seeds (written when a seed key is swept).
POOLED_NAME = "pooled.csv"

log = logging.getLogger(__name__)


def find_jobs(sweep_dir: Path) -> list[Path]:
    """Job directories under ``sweep_dir`` (those holding Hydra's ``.hydra/`` folder), by job number."""
    jobs = [hydra_dir.parent for hydra_dir in sweep_dir.rglob(".hydra") if hydra_dir.parent != sweep_dir]

    def number(job: Path) -> tuple[int, str]:
        meta = job / ".hydra" / "hydra.yaml"
        num = OmegaConf.load(meta).hydra.job.get("num") if meta.exists() else None
        return (int(num) if num is not None else 1 << 30, str(job))

    return sorted(jobs, key=number)


def job_info(job: Path) -> dict[str, Any]:
    overrides_file = job / ".hydra" / "overrides.yaml"
    overrides = list(OmegaConf.load(overrides_file)) if overrides_file.exists() else []
    meta = job / ".hydra" / "hydra.yaml"
    num = OmegaConf.load(meta).hydra.job.get("num") if meta.exists() else None
    return {"job": num, "dir": job, "overrides": [str(o) for o in overrides]}


def _override_values(overrides: list[str]) -> dict[str, str]:
    """``["domain.width=8", "+x=1"]`` -> ``{"domain.width": "8", "x": "1"}`` (Hydra's parser)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return {item.get_key_element().lstrip("+~"): item.get_value_element_as_str() for item in parsed}


def aggregate(sweep_dir: str | Path, plot: bool = True) -> dict[str, Any] | None:
    """Combine the jobs under ``sweep_dir``; write results.csv, summary.json and (``plot``) plot.png there.

    Returns:
        The combined summary, or None when no job left results.
    """
    from xvanish.report.headline import build_series, headline_record  # pandas-heavy, lazily

    sweep_dir = Path(sweep_dir)
    jobs = [job_info(job) for job in find_jobs(sweep_dir)]
    for job in jobs:
        job["values"] = _override_values(job["overrides"])
    keys = list(dict.fromkeys(key for job in jobs for key in job["values"]))
    swept = [key for key in keys if len({job["values"].get(key) for job in jobs}) > 1]
    frames, records, missing, series, headlines = [], [], [], [], []
    for job in jobs:
        results, summary_file = job["dir"] / RESULTS_NAME, job["dir"] / SUMMARY_NAME
        if not (results.exists() and summary_file.exists()):
            missing.append(str(job["dir"].relative_to(sweep_dir)))
            continue
        df = pd.read_csv(results)
        if "theory_kind" in df.columns:  # an empty cell (no theory) reads back as NaN
            df["theory_kind"] = df["theory_kind"].fillna("").astype(str)
        summary = json.loads(summary_file.read_text())
        label = " ".join(f"{key}={job['values'].get(key)}" for key in swept) or f"job {job['job']}"
        front = {"job": job["job"], "overrides": ",".join(job["overrides"])}
        # A swept key named like a results column (a top-level override "seed=…") is prefixed.
        front.update({(f"override.{key}" if key in df.columns else key): job["values"].get(key) for key in swept})
        frames.append(pd.concat([pd.DataFrame([front] * len(df)), df], axis=1))
        fits = pd.DataFrame.from_records(summary.get("fits") or [])
        if not fits.empty:
            fits["better"] = fits["better"].astype(bool)
            for column in ("rate", "rate_lo", "rate_hi", "intercept", "r2", "theory_rate", "scale", "x_min", "x_max"):
                fits[column] = pd.to_numeric(fits[column])
        group = summary.get("headline_group")
        if group is not None:
            for one in build_series(df, fits, group):
                headlines.append(
                    dict(
                        headline_record(one),
                        job=job["job"],
                        series=label if one.label is None else f"{label} {one.label}",
                    )
                )
                one.label = headlines[-1]["series"]  # the legend of the overlay plot
                one.facets = {key: str(job["values"].get(key)) for key in swept}
                if one.label != label:  # the variant is a facet too
                    one.facets["variant"] = headlines[-1]["variant"]
                series.append(one)
        records.append(
            {
                "job": job["job"],
                "dir": str(job["dir"].relative_to(sweep_dir)),
                "overrides": job["overrides"],
                "domain": summary.get("domain"),
                "headline": summary.get("headline"),
                "nonfinite": (summary.get("nonfinite") or {}).get("count"),
                "wall_seconds": summary.get("wall_seconds"),
            }
        )
    if not frames:
        log.warning("multirun under %s: no job left results; nothing to aggregate", sweep_dir)
        return None
    combined = pd.concat(frames, ignore_index=True)
    write_csv_atomic(combined, sweep_dir / RESULTS_NAME)
    result = {
        "sweep_dir": str(sweep_dir),
        "swept_keys": swept,
        "n_jobs": len(jobs),
        "jobs": records,
        "missing": missing,
        "headline": headlines,
    }
    seed_keys = [key for key in swept if key in SEED_KEYS]
    if seed_keys:
        pooled_series, result["pooled"] = _pool_over_seeds(combined, swept, seed_keys, sweep_dir)
        series = pooled_series or series  # the plot shows the pooled result; per-seed rows stay in results.csv
    write_json_atomic(result, sweep_dir / SUMMARY_NAME)
    if series and plot:
        from xvanish.report.plots import plot_series

        replace_atomic(sweep_dir / PLOT_NAME, lambda tmp: plot_series(series, tmp, title=f"multirun: {sweep_dir.name}"))
    return result


def _pool_over_seeds(
    combined: pd.DataFrame, swept: list[str], seed_keys: list[str], sweep_dir: Path
) -> tuple[list, dict[str, Any]]:
    """Pool the jobs that differ only in their seed; write pooled.csv; return its series and record.

    Each configuration of the other swept keys is one pooled series, fitted as a single
    run is (the first job's ``fit`` settings and headline group) and printed as a table.
    """
    from xvanish.fit import fit_decay
    from xvanish.report.headline import build_series, headline_record
    from xvanish.report.table import format_series

    def column(key: str) -> str:
        return f"override.{key}" if f"override.{key}" in combined.columns else key

    others = [column(key) for key in swept if key not in seed_keys]
    pooled = pool_seeds(combined, [column(key) for key in seed_keys], others)
    write_csv_atomic(pooled, sweep_dir / POOLED_NAME)
    settings = _first_job_summary(sweep_dir)
    fit_cfg = (settings.get("config") or {}).get("fit") or {}
    group = settings.get("headline_group")
    series, headlines = [], []
    parts = pooled.groupby(others, sort=False, dropna=False) if others else [((), pooled)]
    for values, part in parts:
        values = values if isinstance(values, tuple) else (values,)
        label = " ".join(f"{key}={value}" for key, value in zip(others, values))
        fits = fit_decay(part, quantity=fit_cfg.get("quantity", "var"), profile_skip=fit_cfg.get("profile_skip", 0))
        for one in build_series(part, fits, group) if group is not None else []:
            one.label = " ".join(x for x in (label, one.label or "", f"pooled over {', '.join(seed_keys)}") if x)
            one.facets = {key: str(value) for key, value in zip(others, values)}
            headlines.append(dict(headline_record(one), series=one.label))
            series.append(one)
            log.info("multirun: pooled over %s\n%s", ", ".join(seed_keys), format_series(one))
    seeds = sorted({str(v) for key in seed_keys for v in combined[column(key)].dropna()})
    return series, {"over": seed_keys, "seeds": seeds, "file": POOLED_NAME, "headline": headlines}


def _first_job_summary(sweep_dir: Path) -> dict[str, Any]:
    """The summary.json of the first job that left one (its fit settings and headline group)."""
    for job in find_jobs(sweep_dir):
        if (job / SUMMARY_NAME).exists():
            return json.loads((job / SUMMARY_NAME).read_text())
    return {}


class AggregateCallback(Callback):
    """``hydra.callbacks.aggregate`` in conf/config.yaml: aggregates a multirun at its end."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        plot = bool(OmegaConf.select(config, "report.plot", default=True))  # report.plot=false: no overlay either
        result = aggregate(sweep_dir, plot=plot)
        if result is not None:
            log.info(
                "multirun: %d jobs combined in %s (%s, %s%s)",
                len(result["jobs"]),
                sweep_dir,
                RESULTS_NAME,
                SUMMARY_NAME,
                f", {PLOT_NAME}" if plot else "",
            )
            if result["missing"]:
                log.warning("multirun: jobs without results: %s", ", ".join(result["missing"]))
