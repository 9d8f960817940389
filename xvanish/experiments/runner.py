"""What a runner is: its options, what it adds to one job, and what it does once a multirun ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Job:
    """One finished sweep, handed to a runner before summary.json is written.

    Attributes:
        out_dir: the job's output dir (results.csv is there already).
        results: the rows of results.csv.
        options: the runner's checked options (its dataclass).
        config: the composed config as plain containers (``domain``, ``variants``, ``measure``, ...).
        resume: ``measure.resume``: reuse what an earlier run of this dir left, where it matches.
    """

    out_dir: Path
    results: pd.DataFrame
    options: Any
    config: dict[str, Any]
    resume: bool


@dataclass(frozen=True)
class Runner:
    """An experiment's work beyond the sweep.

    Attributes:
        options: dataclass of ``runner.options`` (its fields are the keys; ``__post_init__``
            checks ranges, raising ConfigError).
        after_run: ``after_run(job) -> dict`` runs after the sweep of every job and may write
            files into ``job.out_dir`` (``plot.png`` included); what it returns goes into
            summary.json under ``runner``.
        after_multirun: ``after_multirun(sweep_dir, options)`` runs once at the end of a
            multirun, after the jobs (which may have run in other processes): it reads their
            files and writes at the sweep root.
        check: ``check(options, config)`` raises ConfigError for options that do not fit the
            rest of the composed config (``config`` as plain containers); run before any work.
    """

    options: type
    check: Callable[[Any, dict[str, Any]], None] | None = None
    after_run: Callable[[Job], dict[str, Any]] | None = None
    after_multirun: Callable[[Path, Any], None] | None = None
