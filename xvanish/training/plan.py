"""A checked training run for the CLI: one training of R runs per point, rows at the logged steps."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xvanish.core import require, write_csv_atomic
from xvanish.folder import hold_folder
from xvanish.plan import RESULTS_NAME, Plan, Point, PointDone, prepare_out_dir
from xvanish.training.config import TrainConfig
from xvanish.training.loop import groups_of, train
from xvanish.training.tasks import build_problem, task_name

__all__ = ["STEP", "TrainingPlan", "last_step_rows", "plan_training"]

#: The sweep axis that means "over training": rows' scale is their step.
STEP = "step"


@dataclass
class TrainingPlan:
    """The points of a core :class:`~xvanish.plan.Plan`, each trained instead of measured.

    It answers what the CLI asks of a plan (``param``, ``values``, ``points``, ``numeric``,
    ``groups``, ``run``). With ``param == "step"`` the core plan has one point and the
    logged steps are the axis.
    """

    core: Plan
    domain: str
    config: TrainConfig
    param: str
    values: list[Any]

    @property
    def points(self) -> list[Point]:
        return self.core.points

    @property
    def variants(self) -> list[str | None]:
        return self.core.variants

    @property
    def n_samples(self) -> int:
        return self.core.n_samples

    #: Training trains a fixed number of runs: no adaptive rounds (the CLI refuses target_rel_ci).
    target_rel_ci = None

    @property
    def seed(self) -> int:
        return self.core.seed

    @property
    def numeric(self) -> bool:
        return True if self.param == STEP else self.core.numeric

    def headline(self) -> str:
        """The task's headline group (the first layer's relative update for the MLP)."""
        return self._problem(self.points[0], runs=2).headline

    def groups(self, number: int = 0) -> list:
        return groups_of(self._problem(self.points[number], runs=2).measured)

    def _problem(self, point: Point, runs: int):
        return build_problem(self.domain, point.keywords, self.config, runs, point.seed)

    def run(
        self,
        out_dir: str | os.PathLike[str] | None = None,
        *,
        resume: bool = False,
        on_point: Callable[[PointDone], None] | None = None,
        progress: Callable[[Iterable[Point]], Iterable[Point]] | None = None,
    ) -> pd.DataFrame:
        """Train every point's R = n_samples runs; results.csv rewritten after each point."""
        if out_dir is None:
            return self._train_all(None, on_point, progress)
        with hold_folder(out_dir):  # one run per folder, as a measuring run
            prepare_out_dir(Path(out_dir), resume=False)
            return self._train_all(Path(out_dir) / RESULTS_NAME, on_point, progress)

    def _train_all(
        self,
        csv_path: Path | None,
        on_point: Callable[[PointDone], None] | None,
        progress: Callable[[Iterable[Point]], Iterable[Point]] | None,
    ) -> pd.DataFrame:
        frames = []
        columns = {
            f"train_{key}": (repr(value) if isinstance(value, list) else value)
            for key, value in dataclasses.asdict(self.config).items()
        }
        iterator: Iterable[Point] = self.points if progress is None else progress(self.points)
        for done, point in enumerate(iterator, start=1):
            rows = train(
                self._problem(point, self.n_samples),
                self.config,
                seed=point.seed,
                scale_name=self.param,
                scale=point.value,
            )
            for key, value in columns.items():
                rows[key] = value
            if point.variant is not None:
                rows.insert(0, "variant", point.variant)
            frames.append(rows)
            if csv_path is not None:
                write_csv_atomic(pd.concat(frames, ignore_index=True), csv_path)
            if on_point is not None:
                on_point(
                    PointDone(point, rows, False, {"task": task_name(self.domain, self.config)}, done, len(self.points))
                )
        return pd.concat(frames, ignore_index=True)


def last_step_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of the last logged step: what a sweep over a domain key fits and plots (the
    steps are all in results.csv); over ``step`` itself, every row."""
    if df.empty or (df["scale_name"] == STEP).all():
        return df
    return df[df["step"] == df["step"].max()].reset_index(drop=True)


def plan_training(
    train_keys: Mapping[str, Any], domain: str, core: Plan, step_axis: bool, resume: bool
) -> TrainingPlan:
    """Check the ``train.*`` keys and the task, and wrap the core plan.

    Raises:
        ConfigError: a bad training key, a domain without a task, or ``measure.resume``.
    """
    config = TrainConfig(**train_keys)
    task_name(domain, config)
    require(not resume, "measure.resume", resume, "is not supported for training runs (train.optimizer set)")
    values = config.steps_logged if step_axis else list(core.values)
    return TrainingPlan(core, domain, config, STEP if step_axis else core.param, values)
