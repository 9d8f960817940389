"""Gate tensors: closed-form rotation matrices, parameters as tensors, and the analysis of
parameter-free gates into monomials (a permutation with phases) or dense matrices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml
import torch

from .kernels import CACHE_SIZE, LRU, local_index, placed_bits, real_dtype

#: Diagonal gates whose ``compute_eigvals`` is the computational-basis diagonal and whose
#: matrix may be too large to build; for the other diagonal gates the diagonal is read off
#: PennyLane's matrix.
DIAGONAL_FROM_EIGVALS = frozenset({"MultiRZ", "DiagonalQubitUnitary"})


def rotation_matrices(entries: dict[tuple[int, int, int], Callable]) -> Callable:
    """A closed-form [N, 2, 2] builder from real angles; assembled in real arithmetic
    because torch's complex elementwise kernels with tiny inner axes are ~50× slower."""

    def build(theta: torch.Tensor) -> torch.Tensor:
        half = theta / 2
        values = {
            "c": torch.cos(half),
            "s": torch.sin(half),
            "-s": -torch.sin(half),
            "C": torch.cos(theta),
            "S": torch.sin(theta),
            "1": torch.ones_like(theta),
        }
        out = theta.new_zeros(theta.shape[0], 2, 2, 2)
        for (i, j, part), name in entries.items():
            out[:, i, j, part] = values[name]
        return torch.view_as_complex(out)

    return build


def _ising_xy(theta: torch.Tensor) -> torch.Tensor:
    """IsingXY(φ) = exp(iφ(XX+YY)/4): [[1,0,0,0],[0,c,is,0],[0,is,c,0],[0,0,0,1]], c, s of φ/2.

    Closed form because PennyLane's ``compute_matrix`` mixes numpy into a stacked torch
    batch that requires grad (the ``xy`` ansatz's pair gate)."""
    half = theta / 2
    out = theta.new_zeros(theta.shape[0], 4, 4, 2)
    out[:, 0, 0, 0] = 1.0
    out[:, 3, 3, 0] = 1.0
    out[:, 1, 1, 0] = torch.cos(half)
    out[:, 2, 2, 0] = torch.cos(half)
    out[:, 1, 2, 1] = torch.sin(half)
    out[:, 2, 1, 1] = torch.sin(half)
    return torch.view_as_complex(out)


#: Closed forms of the commonest gates (PennyLane's definitions, checked against
#: default.qubit in the tests); other gates use PennyLane's ``compute_matrix``.
FAST_MATRICES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    # RX = [[c, -i s], [-i s, c]]
    "RX": rotation_matrices({(0, 0, 0): "c", (1, 1, 0): "c", (0, 1, 1): "-s", (1, 0, 1): "-s"}),
    # RY = [[c, -s], [s, c]]
    "RY": rotation_matrices({(0, 0, 0): "c", (1, 1, 0): "c", (0, 1, 0): "-s", (1, 0, 0): "s"}),
    # RZ = diag(e^{-iθ/2}, e^{iθ/2})
    "RZ": rotation_matrices({(0, 0, 0): "c", (0, 0, 1): "-s", (1, 1, 0): "c", (1, 1, 1): "s"}),
    # PhaseShift = diag(1, e^{iφ})
    "PhaseShift": rotation_matrices({(0, 0, 0): "1", (1, 1, 0): "C", (1, 1, 1): "S"}),
    "IsingXY": _ising_xy,
    "IsingXYTorch": _ising_xy,  # the vqc xy ansatz's torch-safe IsingXY
}


def as_param(p: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A gate parameter as a tensor: complex ones in ``dtype``, real ones in its real dtype."""
    t = p if isinstance(p, torch.Tensor) else torch.as_tensor(np.asarray(p))
    target = dtype if t.is_complex() else real_dtype(dtype)
    return t.to(device=device, dtype=target)


def to_tensor(m: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    t = m if isinstance(m, torch.Tensor) else torch.as_tensor(np.asarray(m))
    return t.to(device=device, dtype=dtype)


def op_batch(op: qml.operation.Operator) -> int | None:
    """The broadcast size of an operation (PennyLane's rule: a parameter with one more
    axis than ``op.ndim_params`` says); read from shapes because ``op.batch_size`` costs
    ~0.1 ms per operation."""
    for p, nd in zip(op.data, op.ndim_params):
        shape = getattr(p, "shape", None)
        if shape is not None and len(shape) > nd:
            return int(shape[0])
    return None


def has_grad(op: qml.operation.Operator) -> bool:
    return any(isinstance(p, torch.Tensor) and p.requires_grad for p in op.data)


def simple_hyper_key(op: qml.operation.Operator) -> tuple | None:
    """Hashable hyperparameters when they are plain values (then ``compute_matrix`` can be
    called once with stacked parameters); None when they hold wires or operators."""
    items = []
    for k, v in sorted(op.hyperparameters.items()):
        if isinstance(v, (str, int, float, bool)):
            items.append((k, v))
        elif isinstance(v, tuple) and all(isinstance(x, (str, int, float, bool)) for x in v):
            items.append((k, v))
        else:
            return None
    return tuple(items)


@dataclass(frozen=True)
class Local:
    """A parameter-free gate on k wires: a monomial (one nonzero per row: a permutation
    with phases, diagonal when ``perm`` is None) or a dense matrix."""

    kind: str  # "mono" | "dense"
    perm: np.ndarray | None = None  # local gather index, (Mψ)[s] = phase[s] ψ[perm[s]]
    phase: np.ndarray | None = None
    matrix: np.ndarray | None = None


def analyse_constant(op: qml.operation.Operator) -> Local:
    """Classify a parameter-free gate from its matrix (cached per gate type and layout)."""

    def make() -> Local:
        m = np.asarray(qml.matrix(op, wire_order=op.wires), dtype=np.complex128)
        nonzero = np.abs(m) > 0
        if np.all(nonzero.sum(axis=1) == 1):
            perm = np.argmax(nonzero, axis=1)
            if len(np.unique(perm)) == len(perm):
                phase = m[np.arange(len(perm)), perm]
                is_identity = np.array_equal(perm, np.arange(len(perm)))
                return Local("mono", None if is_identity else perm, phase)
        return Local("dense", matrix=m)

    key = (type(op).__name__, len(op.wires), repr(op.hyperparameters))
    return LOCAL_CACHE.get_or(key, make)


def embed_monomial(
    local: Local, wires: tuple[int, ...], n: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Full-space (perm [2^n], phase [1, 2^n]) of a local monomial on ``wires``."""
    s = local_index(wires, n, device)
    phase = None
    if not np.all(local.phase == 1):
        phase = torch.as_tensor(local.phase, dtype=dtype, device=device)[s].unsqueeze(0)
    perm = None
    if local.perm is not None:
        placed = torch.as_tensor(placed_bits(wires, n), device=device)
        lperm = torch.as_tensor(local.perm, device=device)
        perm = torch.arange(1 << n, device=device) - placed[s] + placed[lperm[s]]
    return perm, phase


def compose(first: tuple, then: tuple) -> tuple:
    """Monomial ``then ∘ first``: s1 = ph1·x[π1], s2 = ph2·s1[π2] → (π1[π2], ph1[π2]·ph2)."""
    (p1, ph1), (p2, ph2) = first, then
    if p2 is not None:
        p1 = p2 if p1 is None else p1[p2]
        ph1 = None if ph1 is None else ph1[:, p2]
    if ph2 is not None:
        ph1 = ph2 if ph1 is None else ph1 * ph2
    return p1, ph1


LOCAL_CACHE = LRU(4 * CACHE_SIZE)
