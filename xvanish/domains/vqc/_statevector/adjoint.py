"""Adjoint differentiation (Jones & Gacon 2020, arXiv:2009.02823) of a batch of circuits."""

from __future__ import annotations

from collections.abc import Sequence

import pennylane as qml
import torch

from .compiler import MAX_CHUNK_WIRES, compile_program
from .forward import state_bytes
from .observables import compile_observable

#: Default memory (bytes) :func:`expval_and_grad` may spend on keeping the state before
#: each gradient-carrying gate instead of uncomputing it (saves one of the three state
#: sweeps when few gates carry a gradient, e.g. a single angle's derivative).
DEFAULT_CHECKPOINT_BYTES = 256 * 2**20

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
        ValueError, TypeError: as :func:`expval`.
    """
    params = list(params)
    for i, p in enumerate(params):
        if not (isinstance(p, torch.Tensor) and p.requires_grad):
            raise ValueError(f"params[{i}] must be a torch tensor with requires_grad=True")
    if not (isinstance(checkpoint_bytes, int) and checkpoint_bytes >= 0):
        raise ValueError(f"checkpoint_bytes={checkpoint_bytes!r}: must be an integer >= 0")
    with torch.enable_grad():
        program = compile_program(ops, n_wires, batch_size, dtype, device, max_chunk_wires)
    obs = compile_observable(observable, n_wires, dtype, program.device)
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

