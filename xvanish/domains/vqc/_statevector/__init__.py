"""Batched state-vector execution of PennyLane operations in torch (VQC's private engine).

The VQC domain needs ⟨0…0|U† O U|0…0⟩ and its gradient for a *batch* of B random
circuits that share one gate layout but not their parameters (PennyLane's parameter
broadcasting convention: an operation whose parameter has a leading axis of length B acts
differently on each of the B circuits). PennyLane's own devices pay a per-operation Python
and dispatch cost that dominates at n ≲ 12 qubits (THEORY.md §5, "Speed facts"); this
module compiles the operation list once into a few large batched tensor operations:

* **layers of one-qubit gates** — consecutive one-wire gates are multiplied per wire into
  one ``[B, 2, 2]`` matrix (vectorised over all wires and layers at once), and a whole layer
  is applied as Kronecker products of contiguous wire chunks with one batched matmul per
  chunk (chunk width and how many circuits run together are chosen from the sizes and
  the cache by :mod:`.schedule`);
* **monomial blocks** — runs of diagonal gates (CZ, CRZ, IsingZZ, MultiRZ, …) and of
  parameter-free permutation-like gates (CNOT, SWAP, Toffoli, CY, iSWAP, …) are composed
  into one index gather plus one elementwise phase multiply;
* **generic gates** — anything else is applied as its (batched) matrix on its wires,
  obtained from PennyLane (``compute_matrix`` with stacked parameters, or ``op.matrix()``);
  operations without a matrix are decomposed.

Gradients: :func:`expval` is differentiable by torch autograd (memory grows with depth);
:func:`expval_and_grad` runs the adjoint method (Jones & Gacon 2020, arXiv:2009.02823):
one forward sweep, then a backward sweep that carries ⟨λ| = ⟨ψ|O U_N…U_{k+1} and uncomputes
ψ with the inverse gates, so the memory is O(1) in depth. Derivatives with respect to the
gate matrices, 2·λ ψ^† contracted over the spectator wires, are pulled back to the user's
parameters by one call of torch autograd through the (small) matrix-building graph, so
any parameter expression (θ·mask, shared angles) is differentiated exactly.

Conventions are PennyLane's default.qubit: wire 0 is the most significant bit of the
basis-state index; matrices come from PennyLane itself (RX, RY, RZ and PhaseShift from
closed forms of PennyLane's definitions, for speed), so results agree with default.qubit
to round-off (see tests/domains/vqc/test_statevector.py for the tolerance argument).
All gates are assumed unitary (the adjoint sweep inverts them by conjugate transposition).

Modules, along the engine's seams: :mod:`.kernels` (state kernels and their cotangents),
:mod:`.gates` (gate tensors, monomial analysis), :mod:`.blocks` (compiled blocks: forward and
backward), :mod:`.compiler` (operations -> program), :mod:`.observables`, :mod:`.schedule`
(row groups and chunk width from the sizes and the cache), :mod:`.forward` (:func:`expval`,
:func:`probs`) and :mod:`.adjoint` (:func:`expval_and_grad`).

Errors are plain ``ValueError``/``TypeError``: the engine is called by the VQC domain after
the user's config was validated, so a bad argument here is a bug, not bad input.
"""

from .adjoint import DEFAULT_CHECKPOINT_BYTES, expval_and_grad
from .forward import expval, probs, state_bytes
from .observables import MAX_DENSE_OBSERVABLE_WIRES
from .schedule import Schedule, cache_bytes, chunk_wires_for, plan

__all__ = [
    "DEFAULT_CHECKPOINT_BYTES",
    "MAX_DENSE_OBSERVABLE_WIRES",
    "expval",
    "expval_and_grad",
    "Schedule",
    "cache_bytes",
    "chunk_wires_for",
    "plan",
    "probs",
    "state_bytes",
]
