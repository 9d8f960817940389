"""Compiled blocks of a circuit: a layer of one-qubit gates (Kronecker chunks), a monomial
block (diagonal and permutation-like gates), a dense gate. Each runs forward on the state
and backward (the adjoint sweep) on the state and the adjoint vector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from .gates import compose
from .kernels import apply_dense, apply_range, dense_cotangent, kron, kron_cotangents, local_index, range_cotangent


def local_autograd(
    build: Callable[[Any], list[torch.Tensor]],
    tensors: list[torch.Tensor],
    slots: Iterable[int],
    cotangents: list[torch.Tensor | None],
) -> dict[int, torch.Tensor]:
    """Pull gate-matrix cotangents back to a block's input tensors (fused one-qubit
    matrices, gate diagonals) by autograd through the block's small build graph."""
    slots = list(slots)
    leaves = {s: tensors[s].detach().requires_grad_() for s in slots}
    with torch.enable_grad():
        built = build(Overlay(tensors, leaves))
        pairs = [(o, g) for o, g in zip(built, cotangents) if g is not None and o.requires_grad]
        grads = torch.autograd.grad(
            [o for o, _ in pairs], [leaves[s] for s in slots], [g for _, g in pairs], allow_unused=True
        )
    return {s: g for s, g in zip(slots, grads) if g is not None}


class Overlay:
    """Block inputs for a local autograd pass: fresh leaves where a gradient is wanted,
    detached tensors elsewhere."""

    def __init__(self, tensors: list[torch.Tensor], leaves: dict[int, torch.Tensor]) -> None:
        self.tensors, self.leaves = tensors, leaves

    def __getitem__(self, slot: int) -> torch.Tensor:
        leaf = self.leaves.get(slot)
        return self.tensors[slot].detach() if leaf is None else leaf


class Block:
    """One compiled piece of the circuit: ``build`` turns input tensors into the gate
    tensors, ``forward``/``backward`` run them on the state (and the adjoint vector)."""

    slots: list[int]

    def needs_grad(self, tensors: list[torch.Tensor]) -> bool:
        return any(tensors[s].requires_grad for s in self.slots)

    def n_grad_prims(self, tensors: list[torch.Tensor]) -> int:
        return 1

    def build(self, tensors: Any) -> Any:
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, mats: Any, keep: list | None = None, grad_of: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def backward(self, psi, lam, mats, tensors, kept):
        raise NotImplementedError


@dataclass
class Chunk:
    a: int  # first wire
    m: int  # number of wires
    slots: list[int | None]  # fused one-qubit matrix per wire (None = identity)


class Layer(Block):
    """One-qubit gates on distinct wires, applied chunk by chunk as Kronecker products."""

    def __init__(self, n: int, chunks: list[Chunk], eye: torch.Tensor) -> None:
        self.n, self.chunks, self.eye = n, chunks, eye
        self.slots = [s for c in chunks for s in c.slots if s is not None]

    def _chunk_grad(self, c: Chunk, tensors: list[torch.Tensor]) -> bool:
        return any(s is not None and tensors[s].requires_grad for s in c.slots)

    def n_grad_prims(self, tensors: list[torch.Tensor]) -> int:
        return sum(self._chunk_grad(c, tensors) for c in self.chunks)

    def build(self, tensors: Any) -> list[torch.Tensor]:
        return [kron([self.eye if s is None else tensors[s] for s in c.slots]) for c in self.chunks]

    def forward(self, x, mats, keep=None, grad_of=None):
        for c, k in zip(self.chunks, mats):
            if keep is not None and self._chunk_grad(c, grad_of):
                keep.append(x)
            x = apply_range(x, k, c.a, c.m, self.n, adjoint=False)
        return x

    def backward(self, psi, lam, mats, tensors, kept):
        local: dict[int, torch.Tensor] = {}
        for ci in range(len(self.chunks) - 1, -1, -1):
            c, k = self.chunks[ci], mats[ci]
            if psi is not None:
                psi = apply_range(psi, k, c.a, c.m, self.n, adjoint=True)
            if self._chunk_grad(c, tensors):
                before = psi if kept is None else kept.pop()
                g = range_cotangent(lam, before, c.a, c.m, self.n, shared=False)
                factors = [self.eye if s is None else tensors[s].detach() for s in c.slots]
                for s, gf in zip(c.slots, kron_cotangents(factors, g)):
                    if s is not None and tensors[s].requires_grad:
                        # a factor shared by all circuits gets the sum over the batch
                        local[s] = gf.sum(0, keepdim=True) if tensors[s].shape[0] == 1 else gf
            lam = apply_range(lam, k, c.a, c.m, self.n, adjoint=True)
        return psi, lam, local


@dataclass
class MonoItem:
    wires: tuple[int, ...]
    slot: int | None = None  # gate diagonal [B|1, 2^k] (parametrised)
    const: tuple | None = None  # full-space (perm, phase) (parameter-free run)


class Mono(Block):
    """Diagonal and permutation-like gates composed into x' = phase · x[perm]."""

    def __init__(self, n: int, items: list[MonoItem], device: torch.device) -> None:
        self.n, self.items, self.device = n, items, device
        self.slots = [it.slot for it in items if it.slot is not None]

    def build(self, tensors: Any) -> list:
        acc: tuple = (None, None)
        for it in self.items:
            if it.const is not None:
                acc = compose(acc, it.const)
            else:
                diag = tensors[it.slot][:, local_index(it.wires, self.n, self.device)]
                acc = compose(acc, (None, diag))
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
            local = local_autograd(lambda t: self.build(t)[:1], tensors, grad_slots, [cot])
        return psi, undo(lam), local


class Dense(Block):
    """A generic gate: its (batched) matrix on its wires."""

    def __init__(self, n: int, wires: tuple[int, ...], slot: int) -> None:
        self.n, self.wires, self.slots = n, wires, [slot]

    def build(self, tensors: Any) -> list[torch.Tensor]:
        return [tensors[self.slots[0]]]

    def forward(self, x, mats, keep=None, grad_of=None):
        if keep is not None:
            keep.append(x)
        return apply_dense(x, mats[0], self.wires, self.n, adjoint=False)

    def backward(self, psi, lam, mats, tensors, kept):
        mat = mats[0]
        if psi is not None:
            psi = apply_dense(psi, mat, self.wires, self.n, adjoint=True)
        local = {}
        slot = self.slots[0]
        if tensors[slot].requires_grad:
            before = psi if kept is None else kept.pop()
            local[slot] = dense_cotangent(lam, before, self.wires, self.n, mat.shape[0] == 1)
        return psi, apply_dense(lam, mat, self.wires, self.n, adjoint=True), local
