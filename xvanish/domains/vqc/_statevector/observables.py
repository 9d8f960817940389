"""Observables compiled for a batch of states: a diagonal, Pauli flips (one gather per flip
mask) and dense local terms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pennylane as qml
import torch

from .compiler import wires_of
from .gates import to_tensor
from .kernels import apply_dense, local_index

#: Largest observable term (in wires) applied as a dense matrix.
MAX_DENSE_OBSERVABLE_WIRES = 12


@dataclass
class Observable:
    """O as (diagonal) + Σ_x (phase_x · gather by i^x) + Σ dense local terms."""

    n: int
    diag: torch.Tensor | None = None
    flips: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    dense: list[tuple[torch.Tensor, tuple[int, ...]]] = field(default_factory=list)

    def apply(self, psi: torch.Tensor) -> torch.Tensor:
        """O ψ for a batch ψ [B, 2^n]."""
        out = torch.zeros_like(psi) if self.diag is None else psi * self.diag
        for index, phase in self.flips:
            out = out + phase * psi.index_select(1, index)
        for mat, wires in self.dense:
            out = out + apply_dense(psi, mat, wires, self.n, adjoint=False)
        return out

    def expval(self, psi: torch.Tensor) -> torch.Tensor:
        if not self.flips and not self.dense:
            if self.diag is None:
                return torch.zeros(psi.shape[0], dtype=psi.real.dtype, device=psi.device)
            return torch.sum((psi.real**2 + psi.imag**2) * self.diag.real, dim=-1)
        return torch.real(torch.sum(psi.conj() * self.apply(psi), dim=-1))


class ObservableBuilder:
    def __init__(self, n: int, dtype: torch.dtype, device: torch.device) -> None:
        self.n, self.dtype, self.device = n, dtype, device
        self.index = torch.arange(1 << n, device=device)
        self.diag = torch.zeros(1 << n, dtype=dtype, device=device)
        self.has_diag = False
        self.flips: dict[int, torch.Tensor] = {}
        self.dense: list[tuple[torch.Tensor, tuple[int, ...]]] = []

    def bit(self, w: int) -> torch.Tensor:
        return (self.index >> (self.n - 1 - w)) & 1

    def add_pauli_sentence(self, sentence: Any, coeff: complex) -> None:
        """Each word P satisfies P|j⟩ = φ(j)|j⊕x⟩, so (Pψ)[i] = φ(i⊕x) ψ[i⊕x]; words
        sharing the flip mask x share one gather."""
        for word, c in sentence.items():
            c = coeff * complex(c)
            flip = 0
            phase = torch.ones(1 << self.n, dtype=self.dtype, device=self.device)
            for w, pauli in word.items():
                w = int(w)
                if not 0 <= w < self.n:
                    raise ValueError(f"observable wire {w}: must be in 0..{self.n - 1}")
                b = self.bit(w)
                sign = 1 - 2 * b  # (-1)^{bit}
                if pauli in ("X", "Y"):
                    flip |= 1 << (self.n - 1 - w)
                if pauli == "Z":
                    phase = phase * sign
                elif pauli == "Y":  # Y|0⟩ = i|1⟩, Y|1⟩ = -i|0⟩
                    phase = phase * (1j * sign)
            source_phase = phase[self.index ^ flip] * c
            if flip == 0:
                self.diag = self.diag + source_phase
                self.has_diag = True
            else:
                self.flips[flip] = self.flips.get(flip, 0) + source_phase

    def add_diagonal(self, local: torch.Tensor, wires: tuple[int, ...], coeff: complex) -> None:
        self.diag = self.diag + coeff * local.to(self.dtype)[local_index(wires, self.n, self.device)]
        self.has_diag = True

    def add(self, obs: qml.operation.Operator, coeff: complex) -> None:
        if obs.pauli_rep is not None:
            self.add_pauli_sentence(obs.pauli_rep, coeff)
            return
        handler = OBSERVABLE_HANDLERS.get(type(obs), add_dense_observable)
        handler(self, obs, coeff)

    def finish(self) -> Observable:
        return Observable(
            self.n,
            self.diag.unsqueeze(0) if self.has_diag else None,
            [(self.index ^ x, ph.unsqueeze(0)) for x, ph in self.flips.items()],
            self.dense,
        )


def add_sum(builder: ObservableBuilder, obs: Any, coeff: complex) -> None:
    for term in obs.operands:
        builder.add(term, coeff)


def add_sprod(builder: ObservableBuilder, obs: Any, coeff: complex) -> None:
    builder.add(obs.base, coeff * complex(qml.math.toarray(qml.math.detach(obs.scalar))))


def add_basis_projector(builder: ObservableBuilder, obs: Any, coeff: complex) -> None:
    wires = tuple(wires_of(obs, builder.n))
    bits = np.asarray(qml.math.toarray(obs.data[0])).astype(np.int64).ravel()
    target = int("".join(str(b) for b in bits), 2)
    local = torch.zeros(1 << len(wires), dtype=builder.dtype, device=builder.device)
    local[target] = 1
    builder.add_diagonal(local, wires, coeff)


def add_dense_observable(builder: ObservableBuilder, obs: Any, coeff: complex) -> None:
    wires = wires_of(obs, builder.n)
    if len(wires) > MAX_DENSE_OBSERVABLE_WIRES:
        raise ValueError(
            f"observable {obs} acts on {len(wires)} wires without a Pauli, "
            f"projector or sum structure; dense matrices are limited to "
            f"{MAX_DENSE_OBSERVABLE_WIRES} wires"
        )
    mat = to_tensor(qml.matrix(obs, wire_order=wires), builder.dtype, builder.device)
    off_diagonal = mat - torch.diag_embed(torch.diagonal(mat))
    if not torch.any(off_diagonal != 0):
        builder.add_diagonal(torch.diagonal(mat), wires, coeff)
    else:
        builder.dense.append((coeff * mat, wires))


OBSERVABLE_HANDLERS: dict[type, Callable[[ObservableBuilder, Any, complex], None]] = {
    qml.ops.Sum: add_sum,
    qml.ops.SProd: add_sprod,
    qml.ops.LinearCombination: add_sum,
    qml.ops.qubit.observables.BasisStateProjector: add_basis_projector,
}


def compile_observable(obs: qml.operation.Operator, n: int, dtype: torch.dtype, device: torch.device) -> Observable:
    builder = ObservableBuilder(n, dtype, device)
    builder.add(obs, 1.0)
    return builder.finish()
