"""Forward simulation: expectation values and probabilities of a batch of circuits."""

from __future__ import annotations

from collections.abc import Sequence

import pennylane as qml
import torch

from .compiler import MAX_CHUNK_WIRES, Program, compile_program
from .kernels import require_positive_int
from .observables import compile_observable

def state_bytes(n_wires: int, batch_size: int, dtype: torch.dtype = torch.complex128) -> int:
    """Memory of a batch of state vectors: bytes per amplitude × 2^n × B.

    Callers use it to refuse a configuration before allocating (16 B per complex128
    amplitude). The engine holds two or three such batches at a time (state, adjoint
    vector, one temporary), plus checkpoints within ``checkpoint_bytes``.

    Args:
        n_wires: number of qubits n ≥ 1.
        batch_size: number of circuits B ≥ 1.
        dtype: complex dtype of the amplitudes.

    Returns:
        ``element_size(dtype) * 2**n_wires * batch_size``.

    Raises:
        ValueError: n_wires or batch_size not a positive integer.
    """
    require_positive_int("n_wires", n_wires)
    require_positive_int("batch_size", batch_size)
    return torch.empty((), dtype=dtype).element_size() * (1 << n_wires) * batch_size


def expval(ops: Sequence[qml.operation.Operator], n_wires: int,
           observable: qml.operation.Operator, *, batch_size: int | None = None,
           dtype: torch.dtype = torch.complex128, device: str | torch.device = "cpu",
           max_chunk_wires: int = MAX_CHUNK_WIRES) -> torch.Tensor:
    """⟨0…0|U† O U|0…0⟩ for a batch of B circuits, U = ``ops`` applied in order.

    Operation parameters may be python floats / 0-d tensors (shared by all circuits) or
    tensors with a leading batch axis of length B (PennyLane's broadcasting convention,
    ``op.batch_size == B``). Differentiable by torch autograd with respect to any torch
    tensor the parameters were computed from (autograd keeps every intermediate state:
    memory grows with depth; :func:`expval_and_grad` does not).

    Example:
        >>> th = torch.rand(4, dtype=torch.float64)
        >>> expval([qml.RY(th, 0), qml.CNOT([0, 1])], 2, qml.Z(0) @ qml.Z(1))  # [4]

    Args:
        ops: PennyLane operations on integer wires 0..n_wires-1 (wire 0 = most significant
            bit, as default.qubit).
        n_wires: number of qubits n.
        observable: Hermitian observable: Pauli words/sentences (``qml.Z(0) @ qml.Z(1)``,
            Hamiltonians), computational-basis ``qml.Projector``s and sums of them, any
            diagonal observable, or any observable with a matrix on ≤
            ``MAX_DENSE_OBSERVABLE_WIRES`` wires. Its coefficients are not differentiated.
        batch_size: B. Inferred from the operations when omitted (1 if none is broadcast);
            when given with no broadcast operation, the B identical values are returned.
        dtype: complex dtype of the simulation (complex128 or complex64).
        device: torch device.
        max_chunk_wires: widest Kronecker chunk used for one-qubit layers.

    Returns:
        Real tensor ``[B]`` (float64 for complex128).

    Raises:
        ValueError: wires outside 0..n_wires-1, inconsistent batch sizes, bad sizes, an
            operation with neither matrix nor decomposition, or an observable the engine
            cannot apply (plain errors: the engine's caller, not a user, chose them).
        TypeError: a dtype other than complex64/complex128.
    """
    program = compile_program(ops, n_wires, batch_size, dtype, device, max_chunk_wires)
    obs = compile_observable(observable, n_wires, dtype, program.device)
    with torch.set_grad_enabled(torch.is_grad_enabled() and program.requires_grad):
        return obs.expval(final_state(program)).expand(program.batch_size).contiguous()


def probs(ops: Sequence[qml.operation.Operator], n_wires: int, *,
          batch_size: int | None = None, dtype: torch.dtype = torch.complex128,
          device: str | torch.device = "cpu",
          max_chunk_wires: int = MAX_CHUNK_WIRES) -> torch.Tensor:
    """Computational-basis probabilities |⟨i|U|0…0⟩|² of a batch of circuits.

    Args:
        ops, n_wires, batch_size, dtype, device, max_chunk_wires: as :func:`expval`.

    Returns:
        Real tensor ``[B, 2^n]``, basis index i with wire 0 as its most significant bit
        (default.qubit's ``qml.probs()`` order). Differentiable like :func:`expval`.
    """
    program = compile_program(ops, n_wires, batch_size, dtype, device, max_chunk_wires)
    with torch.set_grad_enabled(torch.is_grad_enabled() and program.requires_grad):
        psi = final_state(program)
        out = psi.real ** 2 + psi.imag ** 2
        return out.expand(program.batch_size, -1).contiguous()


def final_state(program: "Program") -> torch.Tensor:
    """U|0…0⟩ for every circuit of a compiled program (autograd as the caller enables it)."""
    psi = program.initial_state()
    for block in program.blocks:
        psi = block.forward(psi, block.build(program.tensors))
    return psi
