"""Batched state-vector execution of PennyLane operations in torch.

The VQC domain needs ⟨0…0|U† O U|0…0⟩ and its gradient for a *batch* of B random
circuits that share one gate layout but not their parameters (PennyLane's parameter
broadcasting convention: an operation whose parameter has a leading axis of length B acts
differently on each of the B circuits). PennyLane's own devices pay a per-operation Python
and dispatch cost that dominates at n ≲ 12 qubits (THEORY.md §5, "Speed facts"); this
module compiles the operation list once into a few large batched tensor operations:

* **layers of one-qubit gates** — consecutive one-wire gates are multiplied per wire into
  one ``[B, 2, 2]`` matrix (vectorised over all wires and layers at once), and a whole layer
  is applied as Kronecker products of contiguous wire chunks with one batched matmul per
  chunk (two matmuls, no copies, for n ≤ 2·``MAX_CHUNK_WIRES``);
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
to round-off (see tests/test_statevector.py for the tolerance argument).
All gates are assumed unitary (the adjoint sweep inverts them by conjugate transposition).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pennylane as qml
import torch
from pennylane.ops.qubit.attributes import diagonal_in_z_basis, supports_broadcasting

from xvanish.core import require

__all__ = ["expval", "expval_and_grad", "probs", "state_bytes", "MAX_CHUNK_WIRES"]

#: Widest Kronecker chunk of a one-qubit layer. A chunk of m wires costs 2^m complex
#: multiply-adds per amplitude in one batched matmul; narrower chunks cost fewer flops but
#: more passes over the state. Measured (experiments/bench_statevector.py, 2 cores,
#: complex128, B = 200): n = 10 as two 5-wire chunks is the fastest layer application.
MAX_CHUNK_WIRES = 5

#: Default memory (bytes) :func:`expval_and_grad` may spend on keeping the state before
#: each gradient-carrying gate instead of uncomputing it (saves one of the three state
#: sweeps when few gates carry a gradient, e.g. a single angle's derivative).
DEFAULT_CHECKPOINT_BYTES = 256 * 2**20

#: Largest observable term (in wires) applied as a dense matrix.
MAX_DENSE_OBSERVABLE_WIRES = 12

#: Operations that act as the identity on the state (no work to do).
_SKIPPED_OPS = frozenset({"Identity", "Barrier", "Snapshot", "WireCut"})

#: Diagonal gates whose ``compute_eigvals`` is the computational-basis diagonal and whose
#: matrix may be too large to build; for the other diagonal gates the diagonal is read off
#: PennyLane's matrix.
_DIAGONAL_FROM_EIGVALS = frozenset({"MultiRZ", "DiagonalQubitUnitary"})

_CACHE_SIZE = 256


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
        ConfigError: n_wires or batch_size not a positive integer.
    """
    _require_positive_int("n_wires", n_wires)
    _require_positive_int("batch_size", batch_size)
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
        ConfigError: wires outside 0..n_wires-1, inconsistent batch sizes, bad sizes.
        ValueError: an operation with neither matrix nor decomposition, or an observable
            this module cannot apply.
    """
    program = _compile(ops, n_wires, batch_size, dtype, device, max_chunk_wires)
    obs = _compile_observable(observable, n_wires, dtype, program.device)
    with torch.set_grad_enabled(torch.is_grad_enabled() and program.requires_grad):
        return obs.expval(_final_state(program)).expand(program.batch_size).contiguous()


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
    program = _compile(ops, n_wires, batch_size, dtype, device, max_chunk_wires)
    with torch.set_grad_enabled(torch.is_grad_enabled() and program.requires_grad):
        psi = _final_state(program)
        out = psi.real ** 2 + psi.imag ** 2
        return out.expand(program.batch_size, -1).contiguous()


def _final_state(program: "_Program") -> torch.Tensor:
    """U|0…0⟩ for every circuit of a compiled program (autograd as the caller enables it)."""
    psi = program.initial_state()
    for block in program.blocks:
        psi = block.forward(psi, block.build(program.tensors))
    return psi


def expval_and_grad(ops: Sequence[qml.operation.Operator], n_wires: int,
                    observable: qml.operation.Operator, params: Sequence[torch.Tensor], *,
                    batch_size: int | None = None, dtype: torch.dtype = torch.complex128,
                    device: str | torch.device = "cpu",
                    max_chunk_wires: int = MAX_CHUNK_WIRES,
                    checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES,
                    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Values ``[B]`` and d(Σ_b value_b)/dp for each tensor p in ``params`` by the adjoint method.

    Each circuit's value depends only on its own slice of a broadcast parameter, so for a
    parameter of shape ``[B]`` entry b of the gradient is ∂value_b/∂p_b. One forward sweep,
    one backward sweep carrying the adjoint vector λ = O ψ back through the inverse gates
    and, unless the states before the gradient-carrying gates fit in ``checkpoint_bytes``,
    uncomputing ψ the same way (memory O(1) in depth). The backward sweep stops at the
    earliest gate that carries a gradient. Gate-matrix derivatives are pulled back to
    ``params`` with one torch autograd call through the matrix-building graph, so any
    parameter expression (θ·mask, one angle shared by several gates) is exact.

    Example:
        >>> th = torch.rand(8, dtype=torch.float64, requires_grad=True)
        >>> val, (dth,) = expval_and_grad([qml.RX(th, 0)], 1, qml.Z(0), [th])
        >>> # val = cos(th), dth = -sin(th)

    Args:
        ops, n_wires, observable, batch_size, dtype, device, max_chunk_wires: as
            :func:`expval`.
        params: tensors with ``requires_grad=True`` from which the operation parameters
            were computed.
        checkpoint_bytes: memory allowed for stored states (0 = always uncompute).

    Returns:
        ``(values [B] real, [gradient shaped like p for p in params])``; a parameter the
        circuit does not depend on gets zeros.

    Raises:
        ValueError: a parameter that does not require grad.
        ConfigError / ValueError: as :func:`expval`.
    """
    params = list(params)
    for i, p in enumerate(params):
        if not (isinstance(p, torch.Tensor) and p.requires_grad):
            raise ValueError(f"params[{i}] must be a torch tensor with requires_grad=True")
    require(isinstance(checkpoint_bytes, int) and checkpoint_bytes >= 0, "checkpoint_bytes",
            checkpoint_bytes, "must be an integer >= 0")
    with torch.enable_grad():
        program = _compile(ops, n_wires, batch_size, dtype, device, max_chunk_wires)
    obs = _compile_observable(observable, n_wires, dtype, program.device)
    tensors = [t.detach() for t in program.tensors]
    grad_blocks = [i for i, b in enumerate(program.blocks) if b.needs_grad(program.tensors)]
    n_grad_prims = sum(program.blocks[i].n_grad_prims(program.tensors) for i in grad_blocks)
    checkpoint = n_grad_prims * state_bytes(n_wires, program.batch_size, dtype) \
        <= checkpoint_bytes
    first = grad_blocks[0] if grad_blocks else len(program.blocks)
    grad_set = set(grad_blocks)

    with torch.no_grad():
        psi = program.initial_state()
        snapshots: dict[int, list[torch.Tensor]] = {}
        for i, block in enumerate(program.blocks):
            keep = snapshots.setdefault(i, []) if (checkpoint and i in grad_set) else None
            psi = block.forward(psi, block.build(tensors), keep=keep, grad_of=program.tensors)
        lam = obs.apply(psi)
        values = torch.real(torch.sum(psi.conj() * lam, dim=-1))
        values = values.expand(program.batch_size).contiguous()
        if psi.shape[0] == 1 and program.batch_size > 1:
            # no broadcast gate: B identical circuits, d(Σ_b value_b) = B · d(value)
            lam = lam * program.batch_size

        outputs: list[torch.Tensor] = []
        cotangents: list[torch.Tensor] = []
        for i in range(len(program.blocks) - 1, first - 1, -1):
            block = program.blocks[i]
            mats = block.build(tensors)
            psi, lam, local = block.backward(
                psi if not checkpoint else None, lam, mats, program.tensors,
                snapshots.get(i) if checkpoint else None)
            for slot, g in local.items():
                outputs.append(program.tensors[slot])
                cotangents.append(g)

    if outputs:
        # retain_graph: the same operations may be evaluated again (another observable)
        grads = torch.autograd.grad(outputs, params, cotangents, allow_unused=True,
                                    retain_graph=True)
    else:
        grads = (None,) * len(params)
    return values, [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


# --------------------------------------------------------------------------- helpers ----

def _require_positive_int(key: str, value: Any) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
    require(ok, key, value, "must be an integer >= 1")


class _LRU(OrderedDict):
    """A small least-recently-used cache (index tables, composed monomials)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def get_or(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        if len(self) > self.maxsize:
            self.popitem(last=False)
        return value


_INDEX_CACHE = _LRU(_CACHE_SIZE)
_LOCAL_CACHE = _LRU(4 * _CACHE_SIZE)
_MONO_CACHE = _LRU(_CACHE_SIZE)


_REAL_DTYPES = {torch.complex128: torch.float64, torch.complex64: torch.float32}


def _real_dtype(dtype: torch.dtype) -> torch.dtype:
    return _REAL_DTYPES[dtype]


def _local_index(wires: tuple[int, ...], n: int, device: torch.device) -> torch.Tensor:
    """For each full basis index i, the index of its bits on ``wires`` (first wire = MSB)."""
    def make() -> torch.Tensor:
        i = torch.arange(1 << n, device=device)
        out = torch.zeros_like(i)
        for w in wires:
            out = (out << 1) | ((i >> (n - 1 - w)) & 1)
        return out
    return _INDEX_CACHE.get_or(("local", wires, n, str(device)), make)


def _placed_bits(wires: tuple[int, ...], n: int) -> np.ndarray:
    """For each local index s on ``wires``, its bits placed at the wires' full positions."""
    k = len(wires)
    s = np.arange(1 << k)
    out = np.zeros(1 << k, dtype=np.int64)
    for j, w in enumerate(wires):
        out |= ((s >> (k - 1 - j)) & 1) << (n - 1 - w)
    return out


def _rotation_matrices(entries: dict[tuple[int, int, int], Callable]) -> Callable:
    """A closed-form [N, 2, 2] builder from real angles; assembled in real arithmetic
    because torch's complex elementwise kernels with tiny inner axes are ~50× slower."""
    def build(theta: torch.Tensor) -> torch.Tensor:
        half = theta / 2
        values = {"c": torch.cos(half), "s": torch.sin(half), "-s": -torch.sin(half),
                  "C": torch.cos(theta), "S": torch.sin(theta), "1": torch.ones_like(theta)}
        out = theta.new_zeros(theta.shape[0], 2, 2, 2)
        for (i, j, part), name in entries.items():
            out[:, i, j, part] = values[name]
        return torch.view_as_complex(out)
    return build


#: Closed forms of the commonest one-qubit gates (PennyLane's definitions, checked against
#: default.qubit in the tests); other gates use PennyLane's ``compute_matrix``.
_FAST_MATRICES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    # RX = [[c, -i s], [-i s, c]]
    "RX": _rotation_matrices({(0, 0, 0): "c", (1, 1, 0): "c", (0, 1, 1): "-s", (1, 0, 1): "-s"}),
    # RY = [[c, -s], [s, c]]
    "RY": _rotation_matrices({(0, 0, 0): "c", (1, 1, 0): "c", (0, 1, 0): "-s", (1, 0, 0): "s"}),
    # RZ = diag(e^{-iθ/2}, e^{iθ/2})
    "RZ": _rotation_matrices({(0, 0, 0): "c", (0, 0, 1): "-s", (1, 1, 0): "c", (1, 1, 1): "s"}),
    # PhaseShift = diag(1, e^{iφ})
    "PhaseShift": _rotation_matrices({(0, 0, 0): "1", (1, 1, 0): "C", (1, 1, 1): "S"}),
}


def _as_param(p: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A gate parameter as a tensor: complex ones in ``dtype``, real ones in its real dtype."""
    t = p if isinstance(p, torch.Tensor) else torch.as_tensor(np.asarray(p))
    target = dtype if t.is_complex() else _real_dtype(dtype)
    return t.to(device=device, dtype=target)


def _to_tensor(m: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    t = m if isinstance(m, torch.Tensor) else torch.as_tensor(np.asarray(m))
    return t.to(device=device, dtype=dtype)


def _op_batch(op: qml.operation.Operator) -> int | None:
    """The broadcast size of an operation (PennyLane's rule: a parameter with one more
    axis than ``op.ndim_params`` says); read from shapes because ``op.batch_size`` costs
    ~0.1 ms per operation."""
    for p, nd in zip(op.data, op.ndim_params):
        shape = getattr(p, "shape", None)
        if shape is not None and len(shape) > nd:
            return int(shape[0])
    return None


def _has_grad(op: qml.operation.Operator) -> bool:
    return any(isinstance(p, torch.Tensor) and p.requires_grad for p in op.data)


def _simple_hyper_key(op: qml.operation.Operator) -> tuple | None:
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


# ------------------------------------------------------------ local gate analysis -------

@dataclass(frozen=True)
class _Local:
    """A parameter-free gate on k wires: a monomial (one nonzero per row: a permutation
    with phases, diagonal when ``perm`` is None) or a dense matrix."""
    kind: str                       # "mono" | "dense"
    perm: np.ndarray | None = None  # local gather index, (Mψ)[s] = phase[s] ψ[perm[s]]
    phase: np.ndarray | None = None
    matrix: np.ndarray | None = None


def _analyse_constant(op: qml.operation.Operator) -> _Local:
    """Classify a parameter-free gate from its matrix (cached per gate type and layout)."""
    def make() -> _Local:
        m = np.asarray(qml.matrix(op, wire_order=op.wires), dtype=np.complex128)
        nonzero = np.abs(m) > 0
        if np.all(nonzero.sum(axis=1) == 1):
            perm = np.argmax(nonzero, axis=1)
            if len(np.unique(perm)) == len(perm):
                phase = m[np.arange(len(perm)), perm]
                is_identity = np.array_equal(perm, np.arange(len(perm)))
                return _Local("mono", None if is_identity else perm, phase)
        return _Local("dense", matrix=m)
    key = (type(op).__name__, len(op.wires), repr(op.hyperparameters))
    return _LOCAL_CACHE.get_or(key, make)


def _embed_monomial(local: _Local, wires: tuple[int, ...], n: int, dtype: torch.dtype,
                    device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Full-space (perm [2^n], phase [1, 2^n]) of a local monomial on ``wires``."""
    s = _local_index(wires, n, device)
    phase = None
    if not np.all(local.phase == 1):
        phase = torch.as_tensor(local.phase, dtype=dtype, device=device)[s].unsqueeze(0)
    perm = None
    if local.perm is not None:
        placed = torch.as_tensor(_placed_bits(wires, n), device=device)
        lperm = torch.as_tensor(local.perm, device=device)
        perm = torch.arange(1 << n, device=device) - placed[s] + placed[lperm[s]]
    return perm, phase


def _compose(first: tuple, then: tuple) -> tuple:
    """Monomial ``then ∘ first``: s1 = ph1·x[π1], s2 = ph2·s1[π2] → (π1[π2], ph1[π2]·ph2)."""
    (p1, ph1), (p2, ph2) = first, then
    if p2 is not None:
        p1 = p2 if p1 is None else p1[p2]
        ph1 = None if ph1 is None else ph1[:, p2]
    if ph2 is not None:
        ph1 = ph2 if ph1 is None else ph1 * ph2
    return p1, ph1


# ------------------------------------------------------------------ state kernels -------

def _apply_range(x: torch.Tensor, k: torch.Tensor, a: int, m: int, n: int,
                 adjoint: bool) -> torch.Tensor:
    """Apply a [B|1, 2^m, 2^m] matrix on the contiguous wires a..a+m-1 of x [B|1, 2^n].

    Leading / trailing chunks are one batched matmul on a view (no copy); a middle chunk
    broadcasts the matrix over the leading index.
    """
    if adjoint:
        k = k.mH
    b, left, size, right = x.shape[0], 1 << a, 1 << m, 1 << (n - a - m)
    if left == 1:
        y = torch.matmul(k, x.view(b, size, right))
    elif right == 1:
        y = torch.matmul(x.view(b, left, size), k.transpose(-1, -2))
    else:
        y = torch.matmul(k.unsqueeze(1), x.view(b, left, size, right))
    return y.reshape(y.shape[0], -1)


def _range_cotangent(lam: torch.Tensor, psi: torch.Tensor, a: int, m: int, n: int,
                     shared: bool) -> torch.Tensor:
    """2·Σ_spectators λ ψ^† for a gate on wires a..a+m-1: the torch-convention cotangent
    (∂C/∂Re K + i ∂C/∂Im K) of C = ⟨λ|K|ψ⟩ + c.c. with respect to the gate matrix K."""
    left, size, right = 1 << a, 1 << m, 1 << (n - a - m)
    if left == 1:
        g = torch.matmul(lam.view(lam.shape[0], size, right),
                         psi.view(psi.shape[0], size, right).mH)
    elif right == 1:
        g = torch.matmul(lam.view(lam.shape[0], left, size).transpose(-1, -2),
                         psi.view(psi.shape[0], left, size).conj())
    else:
        g = torch.einsum("blir,bljr->bij", lam.view(lam.shape[0], left, size, right),
                         psi.view(psi.shape[0], left, size, right).conj())
    g = 2 * g
    return g.sum(0, keepdim=True) if shared else g


def _wire_permutation(wires: tuple[int, ...], n: int) -> tuple[list[int], list[int]]:
    rest = [w for w in range(n) if w not in wires]
    order = [0] + [1 + w for w in wires] + [1 + w for w in rest]
    inverse = [0] * (n + 1)
    for pos, axis in enumerate(order):
        inverse[axis] = pos
    return order, inverse


def _gather_wires(x: torch.Tensor, wires: tuple[int, ...], n: int) -> torch.Tensor:
    """x [B, 2^n] → [B, 2^k, 2^(n-k)] with ``wires`` (in that order) leading."""
    order, _ = _wire_permutation(wires, n)
    return x.view([x.shape[0]] + [2] * n).permute(order).reshape(x.shape[0], 1 << len(wires), -1)


def _scatter_wires(y: torch.Tensor, wires: tuple[int, ...], n: int) -> torch.Tensor:
    _, inverse = _wire_permutation(wires, n)
    return y.reshape([y.shape[0]] + [2] * n).permute(inverse).reshape(y.shape[0], -1)


def _contiguous_run(wires: tuple[int, ...]) -> bool:
    return all(b == a + 1 for a, b in zip(wires, wires[1:]))


def _apply_dense(x: torch.Tensor, mat: torch.Tensor, wires: tuple[int, ...], n: int,
                 adjoint: bool) -> torch.Tensor:
    if _contiguous_run(wires):
        return _apply_range(x, mat, wires[0], len(wires), n, adjoint)
    if adjoint:
        mat = mat.mH
    return _scatter_wires(torch.matmul(mat, _gather_wires(x, wires, n)), wires, n)


def _dense_cotangent(lam: torch.Tensor, psi: torch.Tensor, wires: tuple[int, ...], n: int,
                     shared: bool) -> torch.Tensor:
    if _contiguous_run(wires):
        return _range_cotangent(lam, psi, wires[0], len(wires), n, shared)
    g = 2 * torch.matmul(_gather_wires(lam, wires, n), _gather_wires(psi, wires, n).mH)
    return g.sum(0, keepdim=True) if shared else g


def _kron(mats: list[torch.Tensor]) -> torch.Tensor:
    """Batched Kronecker product, first factor on the most significant wire.

    Built as a balanced tree: the last products then have wide inner axes, which torch's
    elementwise kernels need (sequential 2×2 steps measured 1.4–1.6× slower for 5 wires).
    """
    if len(mats) == 1:
        return mats[0]
    half = len(mats) // 2
    a, c = _kron(mats[:half]), _kron(mats[half:])
    b = max(a.shape[0], c.shape[0])
    return (a[:, :, None, :, None] * c[:, None, :, None, :]).reshape(
        b, a.shape[1] * c.shape[1], a.shape[2] * c.shape[2])


def _kron_cotangents(mats: list[torch.Tensor], cot: torch.Tensor) -> list[torch.Tensor]:
    """Cotangents of the factors of ``_kron(mats)`` given the cotangent of the product.

    For K = A ⊗ C (holomorphic), torch's convention (∂/∂Re + i ∂/∂Im) gives
    Ḡ_A[i,j] = Σ_kl Ḡ_K[(i,k),(j,l)] conj(C[k,l]) and Ḡ_C[k,l] = Σ_ij Ḡ_K[(i,k),(j,l)] conj(A[i,j]):
    two batched matrix-vector products per tree node (autograd through the elementwise
    broadcasting products measured ~5× slower). Same tree as :func:`_kron`.
    """
    if len(mats) == 1:
        return [cot]
    half = len(mats) // 2
    a, c = _kron(mats[:half]), _kron(mats[half:])
    p, q = a.shape[-1], c.shape[-1]
    g = cot.reshape(cot.shape[0], p, q, p, q).permute(0, 1, 3, 2, 4).reshape(
        cot.shape[0], p * p, q * q)
    ga = torch.matmul(g, c.conj().reshape(c.shape[0], q * q, 1)).reshape(-1, p, p)
    gc = torch.matmul(a.conj().reshape(a.shape[0], 1, p * p), g).reshape(-1, q, q)
    return _kron_cotangents(mats[:half], ga) + _kron_cotangents(mats[half:], gc)


def _local_autograd(build: Callable[[Any], list[torch.Tensor]],
                    tensors: list[torch.Tensor], slots: Iterable[int],
                    cotangents: list[torch.Tensor | None]) -> dict[int, torch.Tensor]:
    """Pull gate-matrix cotangents back to a block's input tensors (fused one-qubit
    matrices, gate diagonals) by autograd through the block's small build graph."""
    slots = list(slots)
    leaves = {s: tensors[s].detach().requires_grad_() for s in slots}
    with torch.enable_grad():
        built = build(_Overlay(tensors, leaves))
        pairs = [(o, g) for o, g in zip(built, cotangents) if g is not None and o.requires_grad]
        grads = torch.autograd.grad([o for o, _ in pairs], [leaves[s] for s in slots],
                                    [g for _, g in pairs], allow_unused=True)
    return {s: g for s, g in zip(slots, grads) if g is not None}


class _Overlay:
    """Block inputs for a local autograd pass: fresh leaves where a gradient is wanted,
    detached tensors elsewhere."""

    def __init__(self, tensors: list[torch.Tensor], leaves: dict[int, torch.Tensor]) -> None:
        self.tensors, self.leaves = tensors, leaves

    def __getitem__(self, slot: int) -> torch.Tensor:
        leaf = self.leaves.get(slot)
        return self.tensors[slot].detach() if leaf is None else leaf


# ------------------------------------------------------------------------ blocks --------

class _Block:
    """One compiled piece of the circuit: ``build`` turns input tensors into the gate
    tensors, ``forward``/``backward`` run them on the state (and the adjoint vector)."""

    slots: list[int]

    def needs_grad(self, tensors: list[torch.Tensor]) -> bool:
        return any(tensors[s].requires_grad for s in self.slots)

    def n_grad_prims(self, tensors: list[torch.Tensor]) -> int:
        return 1

    def build(self, tensors: Any) -> Any:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mats: Any, keep: list | None = None,
                grad_of: list[torch.Tensor] | None = None) -> torch.Tensor:
        raise NotImplementedError

    def backward(self, psi, lam, mats, tensors, kept):
        raise NotImplementedError


@dataclass
class _Chunk:
    a: int                       # first wire
    m: int                       # number of wires
    slots: list[int | None]      # fused one-qubit matrix per wire (None = identity)


class _Layer(_Block):
    """One-qubit gates on distinct wires, applied chunk by chunk as Kronecker products."""

    def __init__(self, n: int, chunks: list[_Chunk], eye: torch.Tensor) -> None:
        self.n, self.chunks, self.eye = n, chunks, eye
        self.slots = [s for c in chunks for s in c.slots if s is not None]

    def _chunk_grad(self, c: _Chunk, tensors: list[torch.Tensor]) -> bool:
        return any(s is not None and tensors[s].requires_grad for s in c.slots)

    def n_grad_prims(self, tensors: list[torch.Tensor]) -> int:
        return sum(self._chunk_grad(c, tensors) for c in self.chunks)

    def build(self, tensors: Any) -> list[torch.Tensor]:
        return [_kron([self.eye if s is None else tensors[s] for s in c.slots])
                for c in self.chunks]

    def forward(self, x, mats, keep=None, grad_of=None):
        for c, k in zip(self.chunks, mats):
            if keep is not None and self._chunk_grad(c, grad_of):
                keep.append(x)
            x = _apply_range(x, k, c.a, c.m, self.n, adjoint=False)
        return x

    def backward(self, psi, lam, mats, tensors, kept):
        local: dict[int, torch.Tensor] = {}
        for ci in range(len(self.chunks) - 1, -1, -1):
            c, k = self.chunks[ci], mats[ci]
            if psi is not None:
                psi = _apply_range(psi, k, c.a, c.m, self.n, adjoint=True)
            if self._chunk_grad(c, tensors):
                before = psi if kept is None else kept.pop()
                g = _range_cotangent(lam, before, c.a, c.m, self.n, shared=False)
                factors = [self.eye if s is None else tensors[s].detach() for s in c.slots]
                for s, gf in zip(c.slots, _kron_cotangents(factors, g)):
                    if s is not None and tensors[s].requires_grad:
                        # a factor shared by all circuits gets the sum over the batch
                        local[s] = gf.sum(0, keepdim=True) if tensors[s].shape[0] == 1 else gf
            lam = _apply_range(lam, k, c.a, c.m, self.n, adjoint=True)
        return psi, lam, local


@dataclass
class _MonoItem:
    wires: tuple[int, ...]
    slot: int | None = None                 # gate diagonal [B|1, 2^k] (parametrised)
    const: tuple | None = None              # full-space (perm, phase) (parameter-free run)


class _Mono(_Block):
    """Diagonal and permutation-like gates composed into x' = phase · x[perm]."""

    def __init__(self, n: int, items: list[_MonoItem], device: torch.device) -> None:
        self.n, self.items, self.device = n, items, device
        self.slots = [it.slot for it in items if it.slot is not None]

    def build(self, tensors: Any) -> list:
        acc: tuple = (None, None)
        for it in self.items:
            if it.const is not None:
                acc = _compose(acc, it.const)
            else:
                diag = tensors[it.slot][:, _local_index(it.wires, self.n, self.device)]
                acc = _compose(acc, (None, diag))
        perm, phase = acc
        inverse = None if perm is None else torch.argsort(perm)
        return [phase, perm, inverse]

    def forward(self, x, mats, keep=None, grad_of=None):
        phase, perm, _ = mats
        if keep is not None:
            keep.append(x)
        if perm is not None:
            x = x.index_select(1, perm)
        return x if phase is None else x * phase

    def backward(self, psi, lam, mats, tensors, kept):
        phase, perm, inverse = mats

        def undo(v: torch.Tensor) -> torch.Tensor:
            v = v if phase is None else v * phase.conj()
            return v if inverse is None else v.index_select(1, inverse)

        if psi is not None:
            psi = undo(psi)
        local: dict[int, torch.Tensor] = {}
        grad_slots = [s for s in self.slots if tensors[s].requires_grad]
        if grad_slots:
            before = psi if kept is None else kept.pop()
            gathered = before if perm is None else before.index_select(1, perm)
            cot = 2 * lam * gathered.conj()
            if phase.shape[0] == 1:
                cot = cot.sum(0, keepdim=True)
            local = _local_autograd(lambda t: self.build(t)[:1], tensors, grad_slots, [cot])
        return psi, undo(lam), local


class _Dense(_Block):
    """A generic gate: its (batched) matrix on its wires."""

    def __init__(self, n: int, wires: tuple[int, ...], slot: int) -> None:
        self.n, self.wires, self.slots = n, wires, [slot]

    def build(self, tensors: Any) -> list[torch.Tensor]:
        return [tensors[self.slots[0]]]

    def forward(self, x, mats, keep=None, grad_of=None):
        if keep is not None:
            keep.append(x)
        return _apply_dense(x, mats[0], self.wires, self.n, adjoint=False)

    def backward(self, psi, lam, mats, tensors, kept):
        mat = mats[0]
        if psi is not None:
            psi = _apply_dense(psi, mat, self.wires, self.n, adjoint=True)
        local = {}
        slot = self.slots[0]
        if tensors[slot].requires_grad:
            before = psi if kept is None else kept.pop()
            local[slot] = _dense_cotangent(lam, before, self.wires, self.n, mat.shape[0] == 1)
        return psi, _apply_dense(lam, mat, self.wires, self.n, adjoint=True), local


# ---------------------------------------------------------------------- compiler --------

@dataclass
class _Program:
    n: int
    batch_size: int
    dtype: torch.dtype
    device: torch.device
    tensors: list[torch.Tensor]
    blocks: list[_Block]

    @property
    def requires_grad(self) -> bool:
        return any(t.requires_grad for t in self.tensors)

    def initial_state(self) -> torch.Tensor:
        """|0…0⟩ with batch axis 1: it broadcasts to B at the first broadcast gate."""
        psi = torch.zeros(1, 1 << self.n, dtype=self.dtype, device=self.device)
        psi[0, 0] = 1
        return psi


@dataclass
class _LayerSpec:
    seqs: dict[int, list[int]] = field(default_factory=dict)   # wire -> raw slots in order


@dataclass
class _MonoSpec:
    # ("const", key, _Local, wires) for parameter-free gates, ("diag", slot, wires) else
    items: list[tuple] = field(default_factory=list)


@dataclass
class _DenseSpec:
    wires: tuple[int, ...]
    slot: int


def _flatten(ops: Iterable[qml.operation.Operator]) -> Iterable[qml.operation.Operator]:
    """Operations with a matrix, in order; others are decomposed (templates)."""
    for op in ops:
        if op.name in _SKIPPED_OPS:
            continue
        if op.has_matrix:
            yield op
            continue
        try:
            decomposition = op.decomposition()
        except qml.operation.DecompositionUndefinedError as err:
            raise ValueError(f"operation {op.name} has neither a matrix nor a "
                             "decomposition") from err
        yield from _flatten(decomposition)


class _Compiler:
    """Turns an operation list into blocks and the tensors they are built from."""

    def __init__(self, n: int, batch: int, dtype: torch.dtype, device: torch.device,
                 max_chunk_wires: int) -> None:
        self.n, self.batch, self.dtype, self.device = n, batch, dtype, device
        self.max_chunk = max_chunk_wires
        self.requests: list[tuple[qml.operation.Operator, str]] = []   # (op, "matrix"|"diag")
        self.specs: list[Any] = []

    # -- classification ---------------------------------------------------------------
    def _request(self, op: qml.operation.Operator, what: str) -> int:
        self.requests.append((op, what))
        return len(self.requests) - 1

    def add(self, op: qml.operation.Operator, wires: tuple[int, ...]) -> None:
        last = self.specs[-1] if self.specs else None
        diagonal = op.name in diagonal_in_z_basis
        if len(wires) == 1 and not (diagonal and isinstance(last, _MonoSpec)):
            slot = self._request(op, "matrix")
            if not isinstance(last, _LayerSpec):
                last = _LayerSpec()
                self.specs.append(last)
            last.seqs.setdefault(wires[0], []).append(slot)
            return
        if op.data:
            if diagonal:
                self._mono(last).items.append(("diag", self._request(op, "diag"), wires))
            else:
                self.specs.append(_DenseSpec(wires, self._request(op, "matrix")))
            return
        local = _analyse_constant(op)
        if local.kind == "mono":
            key = (type(op).__name__, repr(op.hyperparameters))
            self._mono(last).items.append(("const", key, local, wires))
        else:
            self.requests.append((op, "constant"))
            self.specs.append(_DenseSpec(wires, len(self.requests) - 1))

    def _mono(self, last: Any) -> _MonoSpec:
        if isinstance(last, _MonoSpec):
            return last
        spec = _MonoSpec()
        self.specs.append(spec)
        return spec

    # -- gate tensors ---------------------------------------------------------------
    def _gate_tensors(self) -> list[torch.Tensor]:
        """Matrices / diagonals of all requested gates, one PennyLane call per gate type
        (parameters stacked to [K·B]) where the type supports broadcasting."""
        out: list[torch.Tensor | None] = [None] * len(self.requests)
        groups: dict[tuple, list[int]] = {}
        for i, (op, what) in enumerate(self.requests):
            hyper = _simple_hyper_key(op) if what != "constant" else None
            if hyper is not None and op.name in supports_broadcasting and op.data:
                # shared and broadcast gates apart: a shared gate stays [1, …] (no copies)
                key = (type(op), what, hyper, _has_grad(op), _op_batch(op) is not None)
                groups.setdefault(key, []).append(i)
            else:
                out[i] = self._single(op, what)
        for (cls, what, hyper, grad, _), idx in groups.items():
            with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
                stacked = self._stacked(cls, what, dict(hyper), [self.requests[i][0] for i in idx])
            # unbind, not indexing: one backward node for the group instead of one
            # full-size zero tensor per gate (SelectBackward), which dominated the sweep
            for i, t in zip(idx, stacked.unbind(0)):
                out[i] = t
        return out

    def _stacked(self, cls: type, what: str, hyper: dict, ops: list) -> torch.Tensor:
        batched = any(_op_batch(op) is not None for op in ops)
        b = self.batch if batched else 1
        columns = []
        for j, nd in enumerate(ops[0].ndim_params):
            raw = [op.data[j] for op in ops]
            if nd == 0 and all(isinstance(v, (int, float)) for v in raw):
                col = torch.tensor(raw, dtype=_real_dtype(self.dtype), device=self.device)
                columns.append(col.repeat_interleave(b) if b > 1 else col)
                continue
            vals = []
            for v in raw:
                p = _as_param(v, self.dtype, self.device)
                vals.append(p.expand(b, *p.shape) if p.ndim == nd else p)
            col = torch.stack(vals)
            columns.append(col.reshape(len(ops) * b, *col.shape[2:]))
        fast = _FAST_MATRICES.get(cls.__name__)
        if fast is not None and len(columns) == 1 and columns[0].ndim == 1 \
                and not columns[0].is_complex():
            res = fast(columns[0])
            if what == "diag":
                res = torch.diagonal(res, dim1=-2, dim2=-1)
        elif what == "diag" and cls.__name__ in _DIAGONAL_FROM_EIGVALS:
            res = cls.compute_eigvals(*columns, **hyper)
        else:
            res = cls.compute_matrix(*columns, **hyper)
            if what == "diag":
                res = torch.diagonal(res, dim1=-2, dim2=-1)
        res = _to_tensor(res, self.dtype, self.device)
        return res.reshape(len(ops), b, *res.shape[-(2 if what == "matrix" else 1):])

    def _single(self, op: qml.operation.Operator, what: str) -> torch.Tensor:
        if not op.data:  # parameter-free gates recur (Hadamard layers, CNOTs): cache them
            key = ("single", type(op).__name__, what, repr(op.hyperparameters), self.dtype,
                   str(self.device))
            return _LOCAL_CACHE.get_or(key, lambda: self._single_uncached(op, what))
        return self._single_uncached(op, what)

    def _single_uncached(self, op: qml.operation.Operator, what: str) -> torch.Tensor:
        with torch.set_grad_enabled(_has_grad(op) and torch.is_grad_enabled()):
            if what == "diag" and op.name in _DIAGONAL_FROM_EIGVALS:
                res = _to_tensor(op.eigvals(), self.dtype, self.device)
            else:
                res = _to_tensor(qml.matrix(op, wire_order=op.wires), self.dtype, self.device)
                if what == "diag":
                    res = torch.diagonal(res, dim1=-2, dim2=-1)
        return res if _op_batch(op) is not None else res.unsqueeze(0)

    # -- fusion -----------------------------------------------------------------------
    def _fuse(self, raw: list[torch.Tensor], seqs: list[list[int]]) -> list[torch.Tensor]:
        """Product of each wire's consecutive one-qubit matrices (later gate on the left),
        vectorised over all sequences; grad-carrying sequences are fused separately so that
        the gradient sweep touches only their blocks."""
        fused: list[torch.Tensor | None] = [None] * len(seqs)
        groups: dict[tuple[bool, bool], list[int]] = {}
        for i, seq in enumerate(seqs):
            if len(seq) == 1:
                fused[i] = raw[seq[0]]
            else:
                grad = any(raw[s].requires_grad for s in seq)
                batched = any(raw[s].shape[0] > 1 for s in seq)
                groups.setdefault((grad, batched), []).append(i)
        eye = torch.eye(2, dtype=self.dtype, device=self.device)
        for (grad, batched), idx in groups.items():
            b = self.batch if batched else 1
            length = max(len(seqs[i]) for i in idx)
            with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
                acc = None
                for pos in range(length):
                    step = torch.stack([
                        raw[seqs[i][pos]].expand(b, 2, 2) if pos < len(seqs[i])
                        else eye.expand(b, 2, 2) for i in idx])
                    acc = step if acc is None else torch.matmul(step, acc)
            for i, t in zip(idx, acc.unbind(0)):
                fused[i] = t
        return fused

    def _chunks(self, wires: Iterable[int]) -> list[tuple[int, int]]:
        """Balanced contiguous chunks of ≤ max_chunk wires, trimmed to the active wires."""
        n = self.n
        count = math.ceil(n / self.max_chunk)
        bounds = [round(i * n / count) for i in range(count + 1)]
        active = sorted(set(wires))
        out = []
        for lo, hi in zip(bounds, bounds[1:]):
            inside = [w for w in active if lo <= w < hi]
            if inside:
                out.append((inside[0], inside[-1] - inside[0] + 1))
        return out

    # -- assembly ---------------------------------------------------------------------
    def finish(self) -> _Program:
        raw = self._gate_tensors()
        tensors = list(raw)
        layer_specs = [s for s in self.specs if isinstance(s, _LayerSpec)]
        seqs = [seq for spec in layer_specs for seq in spec.seqs.values()]
        fused = self._fuse(raw, seqs)
        fused_slot: dict[tuple[int, int], int] = {}
        it = iter(fused)
        for li, spec in enumerate(layer_specs):
            for w in spec.seqs:
                tensors.append(next(it))
                fused_slot[(li, w)] = len(tensors) - 1
        eye = torch.eye(2, dtype=self.dtype, device=self.device).unsqueeze(0)
        blocks: list[_Block] = []
        li = 0
        for spec in self.specs:
            if isinstance(spec, _LayerSpec):
                chunks = [_Chunk(a, m, [fused_slot.get((li, w)) for w in range(a, a + m)])
                          for a, m in self._chunks(spec.seqs)]
                blocks.append(_Layer(self.n, chunks, eye))
                li += 1
            elif isinstance(spec, _DenseSpec):
                blocks.append(_Dense(self.n, spec.wires, spec.slot))
            else:
                blocks.append(_Mono(self.n, self._mono_items(spec), self.device))
        return _Program(self.n, self.batch, self.dtype, self.device, tensors, blocks)

    def _mono_items(self, spec: _MonoSpec) -> list[_MonoItem]:
        """Parametrised diagonals stay separate; each run of parameter-free gates is
        composed once into a full-space monomial (cached: layered circuits repeat it)."""
        items: list[_MonoItem] = []
        run: list[tuple] = []

        def close_run() -> None:
            if not run:
                return
            key = (tuple((k, w) for _, k, _, w in run), self.n, self.dtype, str(self.device))

            def make() -> tuple:
                acc: tuple = (None, None)
                for _, _, local, w in run:
                    acc = _compose(acc, _embed_monomial(local, w, self.n, self.dtype,
                                                        self.device))
                return acc
            items.append(_MonoItem(run[-1][3], const=_MONO_CACHE.get_or(key, make)))
            run.clear()

        for item in spec.items:
            if item[0] == "const":
                run.append(item)
            else:
                close_run()
                items.append(_MonoItem(item[2], slot=item[1]))
        close_run()
        return items


def _infer_batch(ops: list[qml.operation.Operator], batch_size: int | None) -> int:
    sizes = sorted({b for b in map(_op_batch, ops) if b is not None})
    require(len(sizes) <= 1, "batch_size", sizes,
            "all broadcast operations must share one batch size")
    if batch_size is None:
        return sizes[0] if sizes else 1
    _require_positive_int("batch_size", batch_size)
    require(not sizes or sizes[0] == batch_size, "batch_size", batch_size,
            f"must equal the operations' broadcast size {sizes[0] if sizes else ''}")
    return int(batch_size)


def _wires_of(op: qml.operation.Operator, n: int) -> tuple[int, ...]:
    wires = tuple(op.wires.tolist())
    ok = all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and 0 <= w < n
             for w in wires)
    require(ok, "wires", list(wires), f"must be integers in 0..{n - 1} (operation {op.name})")
    return tuple(int(w) for w in wires)


def _compile(ops: Sequence[qml.operation.Operator], n: int, batch_size: int | None,
             dtype: torch.dtype, device: str | torch.device, max_chunk_wires: int) -> _Program:
    _require_positive_int("n_wires", n)
    _require_positive_int("max_chunk_wires", max_chunk_wires)
    require(dtype in (torch.complex64, torch.complex128), "dtype", dtype,
            "must be torch.complex64 or torch.complex128")
    device = torch.device(device)
    flat = list(_flatten(ops))
    compiler = _Compiler(n, _infer_batch(flat, batch_size), dtype, device, max_chunk_wires)
    for op in flat:
        wires = _wires_of(op, n)
        if wires:  # a gate on no wire is a global phase: it cancels in ⟨ψ|O|ψ⟩
            compiler.add(op, wires)
    return compiler.finish()


# -------------------------------------------------------------------- observables -------

@dataclass
class _Observable:
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
            out = out + _apply_dense(psi, mat, wires, self.n, adjoint=False)
        return out

    def expval(self, psi: torch.Tensor) -> torch.Tensor:
        if not self.flips and not self.dense:
            if self.diag is None:
                return torch.zeros(psi.shape[0], dtype=psi.real.dtype, device=psi.device)
            return torch.sum((psi.real ** 2 + psi.imag ** 2) * self.diag.real, dim=-1)
        return torch.real(torch.sum(psi.conj() * self.apply(psi), dim=-1))


class _ObservableBuilder:
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
                require(0 <= w < self.n, "observable wires", w, f"must be in 0..{self.n - 1}")
                b = self.bit(w)
                sign = 1 - 2 * b          # (-1)^{bit}
                if pauli in ("X", "Y"):
                    flip |= 1 << (self.n - 1 - w)
                if pauli == "Z":
                    phase = phase * sign
                elif pauli == "Y":        # Y|0⟩ = i|1⟩, Y|1⟩ = -i|0⟩
                    phase = phase * (1j * sign)
            source_phase = phase[self.index ^ flip] * c
            if flip == 0:
                self.diag = self.diag + source_phase
                self.has_diag = True
            else:
                self.flips[flip] = self.flips.get(flip, 0) + source_phase

    def add_diagonal(self, local: torch.Tensor, wires: tuple[int, ...], coeff: complex) -> None:
        self.diag = self.diag + coeff * local.to(self.dtype)[_local_index(wires, self.n,
                                                                          self.device)]
        self.has_diag = True

    def add(self, obs: qml.operation.Operator, coeff: complex) -> None:
        if obs.pauli_rep is not None:
            self.add_pauli_sentence(obs.pauli_rep, coeff)
            return
        handler = _OBSERVABLE_HANDLERS.get(type(obs), _add_dense_observable)
        handler(self, obs, coeff)

    def finish(self) -> _Observable:
        return _Observable(
            self.n, self.diag.unsqueeze(0) if self.has_diag else None,
            [(self.index ^ x, ph.unsqueeze(0)) for x, ph in self.flips.items()], self.dense)


def _add_sum(builder: _ObservableBuilder, obs: Any, coeff: complex) -> None:
    for term in obs.operands:
        builder.add(term, coeff)


def _add_sprod(builder: _ObservableBuilder, obs: Any, coeff: complex) -> None:
    builder.add(obs.base, coeff * complex(qml.math.toarray(qml.math.detach(obs.scalar))))


def _add_basis_projector(builder: _ObservableBuilder, obs: Any, coeff: complex) -> None:
    wires = tuple(_wires_of(obs, builder.n))
    bits = np.asarray(qml.math.toarray(obs.data[0])).astype(np.int64).ravel()
    target = int("".join(str(b) for b in bits), 2)
    local = torch.zeros(1 << len(wires), dtype=builder.dtype, device=builder.device)
    local[target] = 1
    builder.add_diagonal(local, wires, coeff)


def _add_dense_observable(builder: _ObservableBuilder, obs: Any, coeff: complex) -> None:
    wires = _wires_of(obs, builder.n)
    if len(wires) > MAX_DENSE_OBSERVABLE_WIRES:
        raise ValueError(f"observable {obs} acts on {len(wires)} wires without a Pauli, "
                         f"projector or sum structure; dense matrices are limited to "
                         f"{MAX_DENSE_OBSERVABLE_WIRES} wires")
    mat = _to_tensor(qml.matrix(obs, wire_order=wires), builder.dtype, builder.device)
    off_diagonal = mat - torch.diag_embed(torch.diagonal(mat))
    if not torch.any(off_diagonal != 0):
        builder.add_diagonal(torch.diagonal(mat), wires, coeff)
    else:
        builder.dense.append((coeff * mat, wires))


_OBSERVABLE_HANDLERS: dict[type, Callable[[_ObservableBuilder, Any, complex], None]] = {
    qml.ops.Sum: _add_sum,
    qml.ops.SProd: _add_sprod,
    qml.ops.LinearCombination: _add_sum,
    qml.ops.qubit.observables.BasisStateProjector: _add_basis_projector,
}


def _compile_observable(obs: qml.operation.Operator, n: int, dtype: torch.dtype,
                        device: torch.device) -> _Observable:
    builder = _ObservableBuilder(n, dtype, device)
    builder.add(obs, 1.0)
    return builder.finish()
