"""Hydra callbacks of ``python -m xvanish``: every job planned before a multirun starts, the runner's end."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.errors import MissingConfigException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from xvanish.cli import EXIT_BAD_INPUT, describe_error, domain_name, is_bad_input, plan_run
from xvanish.schema import domain_to_register, register_domain

from . import check_runner

__all__ = ["PlanEveryJob", "RunnerAfterMultirun"]

log = logging.getLogger("xvanish")

_BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class PlanEveryJob(Callback):
    """Before a multirun starts any job, plan every job's composed config (:func:`xvanish.cli.plan_run`):
    a bad value in the last job stops the sweep before the first one runs.

    This works where the job list is known in advance: Hydra's basic sweeper (used with
    every launcher: basic, joblib, submitit, ray). Sweepers that choose jobs as they go
    (optuna, nevergrad) are left alone; each of their jobs is still checked when it starts.
    """

    def check_job(self, job_cfg: DictConfig) -> None:
        """Raise :class:`ConfigError` for the first bad key of one job's config."""
        plan_run(job_cfg, domain_name(job_cfg))

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Before Hydra creates the output folder: a run refused for its input leaves none.
        try:
            self.check_job(config)
        except Exception as error:
            if not is_bad_input(error):
                raise
            print(f"error: {describe_error(error)}", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT) from None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.sweeper.get("_target_") != _BASIC_SWEEPER:
            log.info("sweeper %s: each job is checked when it starts", config.hydra.sweeper.get("_target_"))
            return
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.global_hydra import GlobalHydra
        from hydra.core.override_parser.overrides_parser import OverridesParser

        arguments = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
        arguments += list(config.hydra.overrides.task)
        parsed = OverridesParser.create().parse_overrides(arguments)
        jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
        loader = GlobalHydra.instance().config_loader()
        for number, job in enumerate(jobs):
            try:
                self.check_job(_load_job_config(loader, config, job))
            except Exception as error:  # a bad range (ConfigError) or a bad type (composition)
                if not is_bad_input(error):
                    raise
                # Hydra turns an exception raised in a callback into a warning and goes on;
                # SystemExit is not an Exception, so it stops the multirun here.
                print(
                    f"error: {describe_error(error)} (multirun job {number}: {' '.join(job)}; no job was started)",
                    file=sys.stderr,
                )
                raise SystemExit(EXIT_BAD_INPUT) from None
        log.info("multirun: all %d jobs checked before the first started", len(jobs))


def _load_job_config(loader: Any, config: DictConfig, job: Sequence[str]) -> DictConfig:
    """One job's composed config, registering a domain's schema on first use (as _run_hydra)."""
    while True:
        try:
            return loader.load_sweep_config(config, list(job))
        except MissingConfigException as error:
            name = domain_to_register(error.missing_cfg_file)
            if name is None:
                raise
            register_domain(name)


class RunnerAfterMultirun(Callback):
    """``hydra.callbacks.runner`` in conf/config.yaml: the runner's ``after_multirun`` (a phase
    diagram from its grid, the seeds of a training task combined), from the jobs' files on disk."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        found = check_runner(config.runner.name, OmegaConf.to_container(config.runner.options, resolve=True))
        if found is not None and found[0].after_multirun is not None:
            found[0].after_multirun(Path(str(config.hydra.sweep.dir)), found[1])
