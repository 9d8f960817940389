"""The compiler: a list of PennyLane operations -> a :class:`Program` of blocks and the gate
tensors they are built from (one PennyLane matrix call per gate type, parameters stacked).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pennylane as qml
import torch
from pennylane.ops.qubit.attributes import diagonal_in_z_basis, supports_broadcasting

from .blocks import Block, Chunk, Dense, Layer, Mono, MonoItem
from .gates import (
    DIAGONAL_FROM_EIGVALS,
    FAST_MATRICES,
    LOCAL_CACHE,
    analyse_constant,
    as_param,
    compose,
    embed_monomial,
    has_grad,
    op_batch,
    simple_hyper_key,
    to_tensor,
)
from .kernels import CACHE_SIZE, LRU, real_dtype, require_positive_int
from .schedule import chunk_wires_for

#: Operations that act as the identity on the state (no work to do).
SKIPPED_OPS = frozenset({"Identity", "Barrier", "Snapshot", "WireCut"})


@dataclass
class Program:
    n: int
    batch_size: int
    dtype: torch.dtype
    device: torch.device
    tensors: list[torch.Tensor]
    blocks: list[Block]

    @property
    def requires_grad(self) -> bool:
        return any(t.requires_grad for t in self.tensors)

    def initial_state(self) -> torch.Tensor:
        """|0…0⟩ with batch axis 1: it broadcasts to B at the first broadcast gate."""
        psi = torch.zeros(1, 1 << self.n, dtype=self.dtype, device=self.device)
        psi[0, 0] = 1
        return psi


@dataclass
class LayerSpec:
    seqs: dict[int, list[int]] = field(default_factory=dict)  # wire -> raw slots in order


@dataclass
class MonoSpec:
    # ("const", key, Local, wires) for parameter-free gates, ("diag", slot, wires) else
    items: list[tuple] = field(default_factory=list)


@dataclass
class DenseSpec:
    wires: tuple[int, ...]
    slot: int


def flatten(ops: Iterable[qml.operation.Operator]) -> Iterable[qml.operation.Operator]:
    """Operations with a matrix, in order; others are decomposed (templates)."""
    for op in ops:
        if op.name in SKIPPED_OPS:
            continue
        if op.has_matrix:
            yield op
            continue
        try:
            decomposition = op.decomposition()
        except qml.operation.DecompositionUndefinedError as err:
            raise ValueError(f"operation {op.name} has neither a matrix nor a decomposition") from err
        yield from flatten(decomposition)


class Compiler:
    """Turns an operation list into blocks and the tensors they are built from."""

    def __init__(self, n: int, batch: int, dtype: torch.dtype, device: torch.device, max_chunk_wires: int) -> None:
        self.n, self.batch, self.dtype, self.device = n, batch, dtype, device
        self.max_chunk = max_chunk_wires
        self.requests: list[tuple[qml.operation.Operator, str]] = []  # (op, "matrix"|"diag")
        self.specs: list[Any] = []

    # -- classification ---------------------------------------------------------------
    def _request(self, op: qml.operation.Operator, what: str) -> int:
        self.requests.append((op, what))
        return len(self.requests) - 1

    def add(self, op: qml.operation.Operator, wires: tuple[int, ...]) -> None:
        last = self.specs[-1] if self.specs else None
        diagonal = op.name in diagonal_in_z_basis
        if len(wires) == 1 and not (diagonal and isinstance(last, MonoSpec)):
            slot = self._request(op, "matrix")
            if not isinstance(last, LayerSpec):
                last = LayerSpec()
                self.specs.append(last)
            last.seqs.setdefault(wires[0], []).append(slot)
            return
        if op.data:
            if diagonal:
                self._mono(last).items.append(("diag", self._request(op, "diag"), wires))
            else:
                self.specs.append(DenseSpec(wires, self._request(op, "matrix")))
            return
        local = analyse_constant(op)
        if local.kind == "mono":
            key = (type(op).__name__, repr(op.hyperparameters))
            self._mono(last).items.append(("const", key, local, wires))
        else:
            self.requests.append((op, "constant"))
            self.specs.append(DenseSpec(wires, len(self.requests) - 1))

    def _mono(self, last: Any) -> MonoSpec:
        if isinstance(last, MonoSpec):
            return last
        spec = MonoSpec()
        self.specs.append(spec)
        return spec

    # -- gate tensors ---------------------------------------------------------------
    def _gate_tensors(self) -> list[torch.Tensor]:
        """Matrices / diagonals of all requested gates, one PennyLane call per gate type
        (parameters stacked to [K·B]) where the type supports broadcasting."""
        out: list[torch.Tensor | None] = [None] * len(self.requests)
        groups: dict[tuple, list[int]] = {}
        for i, (op, what) in enumerate(self.requests):
            hyper = simple_hyper_key(op) if what != "constant" else None
            if hyper is not None and op.name in supports_broadcasting and op.data:
                # shared and broadcast gates apart: a shared gate stays [1, …] (no copies)
                key = (type(op), what, hyper, has_grad(op), op_batch(op) is not None)
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
        batched = any(op_batch(op) is not None for op in ops)
        b = self.batch if batched else 1
        columns = []
        for j, nd in enumerate(ops[0].ndim_params):
            raw = [op.data[j] for op in ops]
            if nd == 0 and all(isinstance(v, (int, float)) for v in raw):
                col = torch.tensor(raw, dtype=real_dtype(self.dtype), device=self.device)
                columns.append(col.repeat_interleave(b) if b > 1 else col)
                continue
            vals = []
            for v in raw:
                p = as_param(v, self.dtype, self.device)
                vals.append(p.expand(b, *p.shape) if p.ndim == nd else p)
            col = torch.stack(vals)
            columns.append(col.reshape(len(ops) * b, *col.shape[2:]))
        fast = FAST_MATRICES.get(cls.__name__)
        if fast is not None and len(columns) == 1 and columns[0].ndim == 1 and not columns[0].is_complex():
            res = fast(columns[0])
            if what == "diag":
                res = torch.diagonal(res, dim1=-2, dim2=-1)
        elif what == "diag" and cls.__name__ in DIAGONAL_FROM_EIGVALS:
            res = cls.compute_eigvals(*columns, **hyper)
        else:
            res = cls.compute_matrix(*columns, **hyper)
            if what == "diag":
                res = torch.diagonal(res, dim1=-2, dim2=-1)
        res = to_tensor(res, self.dtype, self.device)
        return res.reshape(len(ops), b, *res.shape[-(2 if what == "matrix" else 1) :])

    def _single(self, op: qml.operation.Operator, what: str) -> torch.Tensor:
        if not op.data:  # parameter-free gates recur (Hadamard layers, CNOTs): cache them
            key = ("single", type(op).__name__, what, repr(op.hyperparameters), self.dtype, str(self.device))
            return LOCAL_CACHE.get_or(key, lambda: self._single_uncached(op, what))
        return self._single_uncached(op, what)

    def _single_uncached(self, op: qml.operation.Operator, what: str) -> torch.Tensor:
        with torch.set_grad_enabled(has_grad(op) and torch.is_grad_enabled()):
            if what == "diag" and op.name in DIAGONAL_FROM_EIGVALS:
                res = to_tensor(op.eigvals(), self.dtype, self.device)
            else:
                res = to_tensor(qml.matrix(op, wire_order=op.wires), self.dtype, self.device)
                if what == "diag":
                    res = torch.diagonal(res, dim1=-2, dim2=-1)
        return res if op_batch(op) is not None else res.unsqueeze(0)

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
                    step = torch.stack(
                        [raw[seqs[i][pos]].expand(b, 2, 2) if pos < len(seqs[i]) else eye.expand(b, 2, 2) for i in idx]
                    )
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
    def finish(self) -> Program:
        raw = self._gate_tensors()
        tensors = list(raw)
        layer_specs = [s for s in self.specs if isinstance(s, LayerSpec)]
        seqs = [seq for spec in layer_specs for seq in spec.seqs.values()]
        fused = self._fuse(raw, seqs)
        fused_slot: dict[tuple[int, int], int] = {}
        it = iter(fused)
        for li, spec in enumerate(layer_specs):
            for w in spec.seqs:
                tensors.append(next(it))
                fused_slot[(li, w)] = len(tensors) - 1
        eye = torch.eye(2, dtype=self.dtype, device=self.device).unsqueeze(0)
        blocks: list[Block] = []
        li = 0
        for spec in self.specs:
            if isinstance(spec, LayerSpec):
                chunks = [
                    Chunk(a, m, [fused_slot.get((li, w)) for w in range(a, a + m)]) for a, m in self._chunks(spec.seqs)
                ]
                blocks.append(Layer(self.n, chunks, eye))
                li += 1
            elif isinstance(spec, DenseSpec):
                blocks.append(Dense(self.n, spec.wires, spec.slot))
            else:
                blocks.append(Mono(self.n, self._mono_items(spec), self.device))
        return Program(self.n, self.batch, self.dtype, self.device, tensors, blocks)

    def _mono_items(self, spec: MonoSpec) -> list[MonoItem]:
        """Parametrised diagonals stay separate; each run of parameter-free gates is
        composed once into a full-space monomial (cached: layered circuits repeat it)."""
        items: list[MonoItem] = []
        run: list[tuple] = []

        def close_run() -> None:
            if not run:
                return
            key = (tuple((k, w) for _, k, _, w in run), self.n, self.dtype, str(self.device))

            def make() -> tuple:
                acc: tuple = (None, None)
                for _, _, local, w in run:
                    acc = compose(acc, embed_monomial(local, w, self.n, self.dtype, self.device))
                return acc

            items.append(MonoItem(run[-1][3], const=MONO_CACHE.get_or(key, make)))
            run.clear()

        for item in spec.items:
            if item[0] == "const":
                run.append(item)
            else:
                close_run()
                items.append(MonoItem(item[2], slot=item[1]))
        close_run()
        return items


def infer_batch(ops: list[qml.operation.Operator], batch_size: int | None) -> int:
    """The batch size B: the operations' common broadcast size, or ``batch_size``.

    Raises:
        ValueError: broadcast sizes that differ, or a ``batch_size`` that contradicts them.
    """
    sizes = sorted({b for b in map(op_batch, ops) if b is not None})
    if len(sizes) > 1:
        raise ValueError(f"batch_size: broadcast operations have sizes {sizes}; they must share one")
    if batch_size is None:
        return sizes[0] if sizes else 1
    require_positive_int("batch_size", batch_size)
    if sizes and sizes[0] != batch_size:
        raise ValueError(f"batch_size={batch_size!r}: must equal the operations' broadcast size {sizes[0]}")
    return int(batch_size)


def wires_of(op: qml.operation.Operator, n: int) -> tuple[int, ...]:
    wires = tuple(op.wires.tolist())
    ok = all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and 0 <= w < n for w in wires)
    if not ok:
        raise ValueError(f"wires={list(wires)!r}: must be integers in 0..{n - 1} (operation {op.name})")
    return tuple(int(w) for w in wires)


def compile_program(
    ops: Sequence[qml.operation.Operator],
    n: int,
    batch_size: int | None,
    dtype: torch.dtype,
    device: str | torch.device,
    max_chunk_wires: int | None,
) -> Program:
    """Compile ``ops`` on ``n`` wires into blocks (see the package docstring); one-qubit
    layers in chunks of ≤ ``max_chunk_wires`` wires (``None``: :func:`.schedule.chunk_wires_for`).

    Raises:
        ValueError: bad sizes, wires outside 0..n-1, inconsistent batch sizes, or an
            operation with neither matrix nor decomposition.
        TypeError: a dtype other than complex64/complex128.
    """
    require_positive_int("n_wires", n)
    max_chunk_wires = chunk_wires_for(n) if max_chunk_wires is None else max_chunk_wires
    require_positive_int("max_chunk_wires", max_chunk_wires)
    if dtype not in (torch.complex64, torch.complex128):
        raise TypeError(f"dtype={dtype!r}: must be torch.complex64 or torch.complex128")
    device = torch.device(device)
    flat = list(flatten(ops))
    compiler = Compiler(n, infer_batch(flat, batch_size), dtype, device, max_chunk_wires)
    for op in flat:
        wires = wires_of(op, n)
        if wires:  # a gate on no wire is a global phase: it cancels in ⟨ψ|O|ψ⟩
            compiler.add(op, wires)
    return compiler.finish()


MONO_CACHE = LRU(CACHE_SIZE)
