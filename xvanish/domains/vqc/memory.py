"""The memory model of a VQC sampler: what one draw needs, and chunks that fit the limit.

A state vector of n qubits is 2^n complex128 amplitudes, 16·2^n bytes (DESIGN.md: state
the need before allocating). Each way of computing keeps a few of them alive per draw;
automatic differentiation keeps one per gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xvanish.core import draw_slices

from ._statevector import DEFAULT_CHECKPOINT_BYTES, state_bytes

__all__ = ["Memory", "estimate"]

#: (method, gradient rule) -> upper bounds of what one draw keeps alive at once:
#: (state vectors, state vectors per gate, bytes per gate, bytes per chunk).
#: batched shift: the cost and the two shifted circuits stacked (3 vectors) plus the gate
#: output buffer (x2); batched adjoint: ψ, λ, ∂ψ and a buffer, plus the engine's bounded
#: checkpoints per chunk; default.qubit broadcasting: 3 stacked vectors and ~3 einsum
#: temporaries; default.qubit backprop keeps every intermediate state (one per gate);
#: lightning runs one draw at a time (~4 vectors) but holds every draw's tape (an op object
#: with its parameters, ~2 kB per gate).
NEEDS: dict[tuple[str, str], tuple[int, int, int, int]] = {
    ("batched", "shift"): (6, 0, 0, 0),
    ("batched", "adjoint"): (4, 0, 0, DEFAULT_CHECKPOINT_BYTES),
    ("default.qubit", "shift"): (9, 0, 0, 0),
    ("default.qubit", "backprop"): (4, 1, 0, 0),
    ("lightning", "shift"): (4, 0, 2000, 0),
    ("lightning", "adjoint"): (4, 0, 2000, 0),
}


@dataclass(frozen=True)
class Memory:
    """Memory need of one sampler.

    Attributes:
        per_draw: bytes one draw needs (state vectors, stored intermediates, tapes).
        fixed: bytes a chunk needs whatever its size (the engine's adjoint checkpoints).
    """

    per_draw: float
    fixed: float

    def need(self, draws: int) -> float:
        """Bytes for a chunk of ``draws`` draws."""
        return self.fixed + self.per_draw * draws

    def chunks(self, n: int, limit_bytes: float) -> list[slice]:
        """Slices of a batch of ``n`` draws whose chunks fit ``limit_bytes`` (one when all fit)."""
        return draw_slices(n, (limit_bytes - self.fixed) // self.per_draw)


def estimate(
    n_qubits: int,
    gate_count: int,
    method: str,
    rule: str,
    dtype: torch.dtype = torch.complex128,
    one_gate: bool = False,
) -> Memory:
    """The memory model of ``method`` computing gradients by ``rule`` (:data:`NEEDS`).

    Args:
        n_qubits: wires.
        gate_count: gates of one circuit (:meth:`.circuits.Circuit.gate_count`).
        method: ``batched``, ``default.qubit`` or ``lightning``.
        rule: ``shift``, ``adjoint`` or ``backprop`` (:func:`.methods.gradient_rule`).
        dtype: complex dtype of the state vectors.
        one_gate: only one gate carries a gradient (one angle of a built-in ansatz): the
            engine's adjoint checkpoints one state per draw, not up to its checkpoint budget.

    Returns:
        The :class:`Memory` need.
    """
    vectors, vectors_per_gate, bytes_per_gate, fixed = NEEDS[method, rule]
    one = state_bytes(n_qubits, 1, dtype)
    if one_gate and fixed:
        vectors, fixed = vectors + 1, 0
    return Memory((vectors + vectors_per_gate * gate_count) * one + bytes_per_gate * gate_count, float(fixed))
