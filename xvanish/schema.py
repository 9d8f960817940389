"""Structured configs: the types Hydra checks while it composes a run's config.

The top-level schema (:class:`XvanishConfig`) is stored in Hydra's ConfigStore as
``xvanish_schema`` and listed first in ``conf/config.yaml``'s defaults; every registered
domain's config dataclass is stored as group ``domain``, name ``<name>_schema``, which
``conf/domain/<name>.yaml`` lists first in its own defaults. A wrong type
(``domain.depth=abc``) or an unknown key (``measure.n_sample=3``) then fails at
composition, before any work, with the key named.

No ``from __future__ import annotations`` here: OmegaConf reads the annotations.
"""

import importlib.resources
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Set

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from xvanish import registry
from xvanish.training.config import TrainConfig

__all__ = [
    "FitConfig",
    "MeasureConfig",
    "TrainConfig",
    "ReportConfig",
    "RunnerConfig",
    "SweepConfig",
    "VariantConfig",
    "XvanishConfig",
    "broken_domains",
    "domain_of",
    "domain_to_register",
    "packaged_options",
    "register_configs",
    "register_domain",
]

log = logging.getLogger(__name__)


@dataclass
class SweepConfig:
    """The scale axis of a run.

    Attributes:
        param: the swept domain key; ``None`` means the domain's natural axis.
        values: the scale values, in order.
        linked: other domain keys that change along with ``param``: key -> one value per
            entry of ``values`` (e.g. ``n_layers`` growing with ``n_qubits``).
    """

    param: Optional[str] = None
    values: List[Any] = field(default_factory=list)
    linked: Dict[str, Any] = field(default_factory=dict)


@dataclass
class MeasureConfig:
    """How many random draws per point, and the run seed (values live in config.yaml)."""

    n_samples: int = MISSING
    seed: int = MISSING
    resume: bool = False
    target_rel_ci: Optional[float] = None
    max_samples: Optional[int] = None
    target_groups: str = "reported"


@dataclass
class VariantConfig:
    """One series of a run: domain keys that differ from the run's ``domain`` config.

    ``domain`` and ``linked`` are free-form here; the CLI checks their keys against the
    domain's config dataclass (the domain is only known once the config is composed).
    """

    name: str = MISSING
    domain: Dict[str, Any] = field(default_factory=dict)
    linked: Dict[str, Any] = field(default_factory=dict)


@dataclass
class FitConfig:
    """Options of :func:`xvanish.fit.fit_decay`."""

    profile_skip: int = 0
    quantity: str = "var"


@dataclass
class ReportConfig:
    """What the table and plot show: ``group=None`` means the domain's headline group."""

    group: Optional[str] = None
    plot: bool = True


@dataclass
class RunnerConfig:
    """What a job does beyond the sweep (:mod:`xvanish.experiments`): ``name`` of a runner, or
    ``None`` for the sweep alone; ``options`` are the runner's own keys, checked by the runner."""

    name: Optional[str] = None
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class XvanishConfig:
    """The whole run config; ``domain`` is filled by the ``domain`` config group."""

    domain: Any = MISSING
    sweep: SweepConfig = field(default_factory=SweepConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    variants: List[VariantConfig] = field(default_factory=list)
    fit: FitConfig = field(default_factory=FitConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)


#: Domains whose module failed to import: name -> the error, reported if one is asked for.
_BROKEN: Dict[str, str] = {}
#: Domains whose schema is in the ConfigStore.
_REGISTERED: Set[str] = set()


def broken_domains() -> Dict[str, str]:
    """Registered domains that could not be imported (name -> error text)."""
    return dict(_BROKEN)


def packaged_options(group: str) -> List[str]:
    """Names of the YAML configs shipped in ``xvanish.conf/<group>/``, sorted."""
    folder = importlib.resources.files("xvanish.conf").joinpath(group)
    if not folder.is_dir():
        return []
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def register_domain(name: str) -> bool:
    """Store one domain's config dataclass in the ConfigStore as ``domain/<name>_schema``.

    A domain without a packaged ``conf/domain/<name>.yaml`` (a third-party plugin) is also
    stored as ``domain/<name>`` itself, so ``domain=<name>`` selects it with its defaults.
    Importing the domain's module is the cost (PennyLane for ``vqc``), which is why the CLI
    registers a domain only when a composition asks for it.

    Returns:
        False when the domain is unknown or its module fails to import (the error is kept
        in :func:`broken_domains`).
    """
    if name in _REGISTERED:
        return True
    try:
        domain = registry.get_domain(name)
    except Exception as error:  # a broken plugin must not take the other domains down
        _BROKEN[name] = f"{type(error).__name__}: {error}"
        log.debug("domain %s not importable: %s", name, error)
        return False
    store = ConfigStore.instance()
    store.store(group="domain", name=f"{name}_schema", node=domain.config)
    if name not in packaged_options("domain"):
        store.store(group="domain", name=name, node=domain.config)
    _REGISTERED.add(name)
    return True


def register_configs(domains: Optional[Iterable[str]] = None) -> None:
    """Store the top-level schema ``xvanish_schema`` and the schemas of ``domains`` (None: all installed)."""
    ConfigStore.instance().store(name="xvanish_schema", node=XvanishConfig)
    for name in registry.available_domains() if domains is None else domains:
        register_domain(name)


def domain_of(config_type: Optional[type]) -> Optional[str]:
    """The registered domain whose config dataclass is ``config_type`` (None if none is)."""
    for name in sorted(_REGISTERED):
        if registry.get_domain(name).config is config_type:
            return name
    return None


def domain_to_register(missing_config: Optional[str]) -> Optional[str]:
    """The installed, not yet registered domain a failed composition was looking for.

    Args:
        missing_config: ``MissingConfigException.missing_cfg_file``, e.g. ``"domain/vqc_schema"``
            (a domain YAML's defaults) or ``"domain/myplugin"`` (a plugin without YAML).
    """
    group, _, option = str(missing_config or "").rpartition("/")
    name = option[: -len("_schema")] if option.endswith("_schema") else option
    if group != "domain" or name in _REGISTERED or name in _BROKEN:
        return None
    return name if name in registry.available_domains() else None
