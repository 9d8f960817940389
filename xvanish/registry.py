"""Find domains by name: the built-in ones and those third-party packages register.

A package adds a domain by declaring an entry point in the group ``xvanish.domains`` that
points at a :class:`xvanish.core.Domain` (as PennyLane finds its device plugins)::

    [project.entry-points."xvanish.domains"]
    mydomain = "mypackage.xvanish_domain:DOMAIN"

Domains are imported only when asked for, so ``mlp`` never pays for importing PennyLane.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from xvanish.core import ConfigError, Domain

__all__ = ["available_domains", "get_domain"]

ENTRY_POINT_GROUP = "xvanish.domains"

# Also listed in pyproject.toml; kept here so a source checkout that is not installed works.
_BUILTIN = {
    "mlp": "xvanish.domains.mlp:DOMAIN",
    "vqc": "xvanish.domains.vqc:DOMAIN",
}


def _targets() -> dict[str, str]:
    targets = dict(_BUILTIN)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        targets.setdefault(point.name, point.value)
    return targets


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
