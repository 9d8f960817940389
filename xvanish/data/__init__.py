"""Small real protein data shipped with xvanish (derived by ``scripts/derive_protein_data.py``).

* :func:`proteome_path` — 2,086 real protein sequences of one bacterial proteome (FASTA,
  gzip), the sequences behind ``domain.data=proteome``.
* :func:`structures` — 44 protein chains of 20 PDB entries, each with its sequence and its
  long-range contacts (Cβ–Cβ < 8 Å, Cα for glycine, |i − j| ≥ 24).

Provenance, licences and the contact-separation distribution: docs/data.md.

Example:
    >>> from xvanish.data import contact_separations
    >>> int(contact_separations().min())
    24
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["contact_separations", "proteome_path", "structures", "structures_path"]


def _path(name: str) -> Path:
    return Path(str(importlib.resources.files(__name__).joinpath(name)))


def proteome_path() -> Path:
    """Path of the shipped proteome FASTA (gzip)."""
    return _path("proteome.fasta.gz")


def structures_path() -> Path:
    """Path of the shipped structure-derived chains and contacts (JSON, gzip)."""
    return _path("structures.json.gz")


@lru_cache(maxsize=1)
def _structures() -> tuple[dict[str, Any], ...]:
    with gzip.open(structures_path(), "rt") as handle:
        return tuple(json.load(handle))


def structures() -> list[dict[str, Any]]:
    """The protein chains: dicts with ``entry``, ``chain``, ``entity``, ``sequence``,
    ``observed`` (residues with coordinates) and ``contacts`` (1-based ``[i, j]``, i < j)."""
    return [dict(chain) for chain in _structures()]


def contact_separations() -> np.ndarray:
    """Sequence separations j − i (residues) of every long-range contact, all chains pooled."""
    return np.array([j - i for chain in _structures() for i, j in chain["contacts"]], dtype=np.int64)
