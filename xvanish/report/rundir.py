"""The command line's output folder: held before anything is written, Hydra's record after the checks."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xvanish.core import ConfigError
from xvanish.folder import hold_folder
from xvanish.plan import prepare_out_dir

__all__ = ["HYDRA_RECORD", "discard_folder", "run_folder", "write_hydra_record"]

#: Where Hydra's record of a run goes. conf/config.yaml sets ``hydra.output_subdir: null`` so
#: that Hydra does not write it before the folder is held; xvanish writes the same three files
#: once the folder is held and the run accepted.
HYDRA_RECORD = ".hydra"


def write_hydra_record(out_dir: Path, task_cfg: DictConfig, hydra_cfg: DictConfig, overrides: Any) -> None:
    """``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml``, as Hydra writes them."""
    record = out_dir / HYDRA_RECORD
    record.mkdir(parents=True, exist_ok=True)
    for name, node in (("config.yaml", task_cfg), ("hydra.yaml", hydra_cfg), ("overrides.yaml", overrides)):
        (record / name).write_text(OmegaConf.to_yaml(node), encoding="utf-8")


def discard_folder(out_dir: Path, stop: Path) -> None:
    """Remove a refused run's fresh folder, and the parents that are then empty up to ``stop``
    (Hydra's ``outputs/<date>/<time>``: the date folder goes too if this run made it)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    parent, stop = out_dir.resolve().parent, stop.resolve()
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()  # only if empty
        except OSError:
            break
        parent = parent.parent


@contextlib.contextmanager
def run_folder(
    out_dir: str | os.PathLike[str], *, resume: bool, task_cfg: DictConfig, hydra_cfg: DictConfig, overrides: Any
) -> Iterator[Path]:
    """Hold ``out_dir`` for one command-line run: refuse it before anything is written, and
    leave a fresh folder as if the run never started when the run is refused later.

    Order: the lock (:func:`xvanish.folder.hold_folder`; a second run is refused), then the
    folder's checks (writable; an existing results.csv needs ``resume`` and must be readable),
    then Hydra's record, then the run. A refusal before the record leaves the folder as it
    was; a refusal (bad input) at any point in a folder this run created removes it.

    Raises:
        ConfigError: the folder is in use, cannot be written, or holds results the run may not
            continue; or the run itself refused its input.
    """
    out_dir = Path(out_dir)
    with hold_folder(out_dir) as lock:
        try:
            prepare_out_dir(out_dir, resume)
            write_hydra_record(out_dir, task_cfg, hydra_cfg, overrides)
            yield out_dir
        except ConfigError:
            if lock.was_empty:
                discard_folder(out_dir, Path.cwd())
            raise
