"""Find domains by name: the built-in ones and those third-party packages register.

A package adds a domain by declaring an entry point in the group ``xvanish.domains`` that
points at a :class:`xvanish.core.Domain` (as PennyLane finds its device plugins)::

    [project.entry-points."xvanish.domains"]
    mydomain = "mypackage.xvanish_domain:DOMAIN"

Domains are imported only when asked for, so ``mlp`` never pays for importing PennyLane.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from importlib.metadata import entry_points

from xvanish.core import ConfigError, Domain

__all__ = ["available_domains", "domain_of_factory", "get_domain"]

ENTRY_POINT_GROUP = "xvanish.domains"


def _targets() -> dict[str, str]:
    """name -> ``module:attribute`` of every domain registered through the entry points
    (the built-in ones too: pyproject.toml lists them, so the one list is there)."""
    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}


def available_domains() -> list[str]:
    """Names of every installed domain, sorted."""
    return sorted(_targets())


def get_domain(name: str) -> Domain:
    """The registered :class:`~xvanish.core.Domain` called ``name``.

    Raises:
        ConfigError: for an unknown name; the message lists the installed domains.
    """
    targets = _targets()
    if name not in targets:
        raise ConfigError("domain", name, "unknown domain; installed: " + ", ".join(sorted(targets)))
    module_name, _, attribute = targets[name].partition(":")
    domain = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(domain, Domain):
        raise TypeError(f"entry point {name!r} -> {targets[name]} is not an xvanish.core.Domain")
    return domain


def domain_of_factory(factory: Callable[..., object]) -> Domain | None:
    """The installed domain whose factory is ``factory``, among modules already imported.

    ``sweep(mlp.sampler, ...)`` is called after ``from xvanish.domains import mlp``, so the
    module is loaded; modules not yet imported are not imported here (no PennyLane import
    for an MLP sweep). ``None`` for a user's own factory.
    """
    for target in _targets().values():
        module_name, _, attribute = target.partition(":")
        module = sys.modules.get(module_name)
        domain = getattr(module, attribute, None) if module is not None else None
        if isinstance(domain, Domain) and domain.factory is factory:
            return domain
    return None
