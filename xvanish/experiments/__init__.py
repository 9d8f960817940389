"""Experiments that do more than a sweep: runners named by ``runner.name``, found in one registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xvanish.core import ConfigError, make_config, require

from . import contact_reach, gan_figure, long_range_task, phase_diagram
from .runner import Job, Runner

__all__ = ["RUNNERS", "Job", "Runner", "check_runner"]

#: ``runner.name`` -> what the job (and a multirun's end) does beyond the sweep.
RUNNERS: dict[str, Runner] = {
    "contact_reach": contact_reach.RUNNER,
    "gan_figure": gan_figure.RUNNER,
    "long_range_task": long_range_task.RUNNER,
    "phase_diagram": phase_diagram.RUNNER,
}


def check_runner(
    name: str | None, options: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> tuple[Runner, Any] | None:
    """The runner ``runner.name`` names and its checked options, or None for the sweep alone.

    ``config`` (the composed config as plain containers) is given to the runner's own check.

    Raises:
        ConfigError: an unknown runner, an unknown option or a bad value (named ``runner.options.<key>``).
    """
    if name is None:
        require(not options, "runner.options", dict(options), "options need a runner.name")
        return None
    require(name in RUNNERS, "runner.name", name, "unknown runner; known: " + ", ".join(RUNNERS))
    runner = RUNNERS[name]
    try:
        checked = make_config(runner.options, **dict(options))
    except ConfigError as error:
        raise ConfigError(f"runner.options.{error.key}", error.value, error.allowed) from None
    if runner.check is not None and config is not None:
        runner.check(checked, dict(config))
    return runner, checked
