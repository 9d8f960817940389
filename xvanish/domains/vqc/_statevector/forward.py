"""Forward simulation: expectation values and probabilities of a batch of circuits."""

from __future__ import annotations

from collections.abc import Sequence

import pennylane as qml
import torch

from collections.abc import Iterator

from .compiler import Program, compile_program
from .kernels import require_positive_int
from .observables import compile_observable
from .schedule import plan, row_groups, select_rows


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


def expval(
    ops: Sequence[qml.operation.Operator],
    n_wires: int,
    observable: qml.operation.Operator,
    *,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.complex128,
    device: str | torch.device = "cpu",
    max_chunk_wires: int | None = None,
    rows: int | None = None,
) -> torch.Tensor:
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
        max_chunk_wires: widest Kronecker chunk used for one-qubit layers (``None``: the
            schedule's choice for n, :func:`.schedule.chunk_wires_for`).
        rows: circuits run together through the whole circuit (``None``: as many as fit
            the cache, :func:`.schedule.plan`); the values do not depend on it.

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
        return torch.cat([obs.expval(psi).expand(part.stop - part.start) for part, psi in final_states(program, rows)])


def probs(
    ops: Sequence[qml.operation.Operator],
    n_wires: int,
    *,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.complex128,
    device: str | torch.device = "cpu",
    max_chunk_wires: int | None = None,
    rows: int | None = None,
) -> torch.Tensor:
    """Computational-basis probabilities |⟨i|U|0…0⟩|² of a batch of circuits.

    Args:
        ops, n_wires, batch_size, dtype, device, max_chunk_wires, rows: as :func:`expval`.

    Returns:
        Real tensor ``[B, 2^n]``, basis index i with wire 0 as its most significant bit
        (default.qubit's ``qml.probs()`` order). Differentiable like :func:`expval`.
    """
    program = compile_program(ops, n_wires, batch_size, dtype, device, max_chunk_wires)
    with torch.set_grad_enabled(torch.is_grad_enabled() and program.requires_grad):
        return torch.cat(
            [
                (psi.real**2 + psi.imag**2).expand(part.stop - part.start, -1)
                for part, psi in final_states(program, rows)
            ]
        )


def final_states(program: Program, rows: int | None = None) -> Iterator[tuple[slice, torch.Tensor]]:
    """U|0…0⟩ of a compiled program, one row group at a time (autograd as the caller enables it).

    Each group of circuits runs through every block before the next group starts, so its
    states stay in cache (:func:`.schedule.plan`); a group's state is ``[1, 2^n]`` when no
    gate is broadcast (all its circuits are the same).
    """
    if rows is None:
        rows = plan(program.n, program.batch_size, program.dtype).rows
    require_positive_int("rows", rows)
    for part in row_groups(program.batch_size, rows):
        tensors = select_rows(program.tensors, program.batch_size, part)
        psi = program.initial_state()
        for block in program.blocks:
            psi = block.forward(psi, block.build(tensors))
        yield part, psi
