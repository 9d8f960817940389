"""The cache-aware schedule: how many circuits run together and how wide a fused layer's chunks are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

#: Cache assumed when neither sysfs nor sysconf reports one (bytes).
FALLBACK_CACHE_BYTES = 1 << 20

#: State-sized tensors a row group keeps hot at once: the state, the matmul's output buffer
#: and (adjoint sweep) the adjoint vector.
WORKING_STATES = 3


def _parse_size(text: str) -> int:
    """'2048K' / '48K' / '1M' (sysfs cache sizes) -> bytes."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


@lru_cache(maxsize=1)
def cache_bytes() -> int:
    """The per-core cache a group of circuits should stay in: the largest unified cache that
    is private to one core (L2 on current x86), read from sysfs, else ``os.sysconf``, else
    :data:`FALLBACK_CACHE_BYTES`.

    A cache shared by every core (L3) is not used: under a hypervisor it is often reported
    as the host's (480 MiB on this project's 2-core VM), which no guest working set enjoys.
    """
    best = 0
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
            size = _parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        private = shared == "0" or "," not in shared and "-" not in shared
        if kind in ("Unified", "Data") and private:
            best = max(best, size)
    if best == 0:
        try:
            best = int(os.sysconf("SC_LEVEL2_CACHE_SIZE"))
        except (ValueError, OSError, AttributeError):
            best = 0
    return best if best > 0 else FALLBACK_CACHE_BYTES


@dataclass(frozen=True)
class Schedule:
    """How a batch is run: ``rows`` circuits at a time through every block, fused one-qubit
    layers cut into chunks of at most ``chunk_wires`` wires (each chunk one pass over the state)."""

    rows: int
    chunk_wires: int


#: Kronecker chunk width of fused one-qubit layers (see :func:`chunk_wires_for`).
CHUNK_WIRES = 5

#: Per-core cache multiples a row group may fill: the group's Python cost per block is fixed,
#: so groups smaller than the cache lose more in overhead than they gain in locality.
#: Measured (1 thread, McClean, 100 draws, ms per draw): n = 10: 5.45 with every row together,
#: 6.6 with 25 rows; n = 14: 32 with 8 rows, 51 with 24, 53 with 1; n = 17: 161 with 1, 268 with 4.
CACHE_MULTIPLE = 4


def chunk_wires_for(n: int) -> int:
    """Widest Kronecker chunk for ``n`` wires.

    A chunk of m wires is one pass over the state and 8·2^m real flops per amplitude, so a
    layer of one-qubit gates costs ⌈n/m⌉ passes and ⌈n/m⌉·8·2^m flops per amplitude: narrow
    chunks trade flops for passes. Measured on this project's machine (1 thread, adjoint
    sweep, ms per draw, widths 3/4/5): n = 10: 7.6/5.5/4.9; n = 14: 37/35/32; n = 17 (one
    circuit per group): 218/172/161 (6 wires: 218). Five wires won at every size, so the
    width does not depend on n today; the function is where a machine with another balance
    of flops and bandwidth would say otherwise.
    """
    return CHUNK_WIRES if n >= CHUNK_WIRES else n


def plan(
    n: int, batch: int, dtype: torch.dtype, cache: int | None = None, working_states: int = WORKING_STATES
) -> Schedule:
    """The schedule for ``batch`` circuits of ``n`` wires in ``dtype``.

    Rows: as many circuits as keep ``working_states`` state vectors within
    :data:`CACHE_MULTIPLE` × the per-core cache × the torch threads (each thread works on its
    share of the rows); at least one, at most ``batch``.

    Example:
        >>> plan(20, 600, torch.complex128).rows
        1
    """
    cache = cache_bytes() if cache is None else cache
    one = torch.empty((), dtype=dtype).element_size() << n
    rows = max(1, min(batch, CACHE_MULTIPLE * cache * torch.get_num_threads() // (working_states * one)))
    return Schedule(int(rows), chunk_wires_for(n))


def row_groups(batch: int, rows: int) -> list[slice]:
    """Contiguous slices of ``batch`` circuits, ``rows`` at a time (balanced, last not smaller by much)."""
    count = -(-batch // rows)
    bounds = [round(i * batch / count) for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def select_rows(tensors: list[torch.Tensor], batch: int, rows: slice) -> list[torch.Tensor]:
    """The block inputs of the circuits ``rows``: per-circuit tensors sliced (views), shared ones kept."""
    if rows == slice(0, batch):
        return tensors
    return [t[rows] if t.shape[0] == batch else t for t in tensors]
