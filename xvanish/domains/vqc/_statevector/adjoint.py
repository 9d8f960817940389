"""Adjoint differentiation (Jones & Gacon 2020, arXiv:2009.02823) of a batch of circuits."""

from __future__ import annotations

from collections.abc import Sequence

import pennylane as qml
import torch

from .compiler import compile_program
from .forward import state_bytes
from .kernels import require_positive_int
from .observables import compile_observable
from .schedule import plan, row_groups, select_rows

#: Default memory (bytes) :func:`expval_and_grad` may spend, per row group, on keeping the
#: state before each gradient-carrying gate instead of uncomputing it (saves one of the three state
#: sweeps when few gates carry a gradient, e.g. a single angle's derivative).
DEFAULT_CHECKPOINT_BYTES = 256 * 2**20


def expval_and_grad(
    ops: Sequence[qml.operation.Operator],
    n_wires: int,
    observable: qml.operation.Operator,
    params: Sequence[torch.Tensor],
    *,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.complex128,
    device: str | torch.device = "cpu",
    max_chunk_wires: int | None = None,
    rows: int | None = None,
    checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Values ``[B]`` and d(Σ_b value_b)/dp for each tensor p in ``params`` by the adjoint method.

    Each circuit's value depends only on its own slice of a broadcast parameter, so for a
    parameter of shape ``[B]`` entry b of the gradient is ∂value_b/∂p_b. One forward sweep,
    one backward sweep carrying the adjoint vector λ = O ψ back through the inverse gates
    and, unless the states before the gradient-carrying gates fit in ``checkpoint_bytes``,
    uncomputing ψ the same way (memory O(1) in depth). The backward sweep stops at the
    earliest gate that carries a gradient. Both sweeps run one row group of circuits at a
    time (:func:`.schedule.plan`), so a group's ψ and λ stay in cache. Gate-matrix
    derivatives are pulled back to ``params`` with one torch autograd call through the
    matrix-building graph, so any parameter expression (θ·mask, one angle shared by several
    gates) is exact.

    Example:
        >>> th = torch.rand(8, dtype=torch.float64, requires_grad=True)
        >>> val, (dth,) = expval_and_grad([qml.RX(th, 0)], 1, qml.Z(0), [th])
        >>> # val = cos(th), dth = -sin(th)

    Args:
        ops, n_wires, observable, batch_size, dtype, device, max_chunk_wires, rows: as
            :func:`expval`.
        params: tensors with ``requires_grad=True`` from which the operation parameters
            were computed.
        checkpoint_bytes: memory allowed for stored states of one row group (0 = always
            uncompute).

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
    batch = program.batch_size
    if rows is None:
        rows = plan(n_wires, batch, dtype).rows
    require_positive_int("rows", rows)
    grad_blocks = [i for i, b in enumerate(program.blocks) if b.needs_grad(program.tensors)]
    n_grad_prims = sum(program.blocks[i].n_grad_prims(program.tensors) for i in grad_blocks)
    checkpoint = n_grad_prims * state_bytes(n_wires, min(rows, batch), dtype) <= checkpoint_bytes
    first = grad_blocks[0] if grad_blocks else len(program.blocks)
    grad_set = set(grad_blocks)

    values: list[torch.Tensor] = []
    pieces: dict[int, list[torch.Tensor]] = {}
    with torch.no_grad():
        for part in row_groups(batch, rows):
            count = part.stop - part.start
            tensors = select_rows(program.tensors, batch, part)
            detached = [t.detach() for t in tensors]
            psi = program.initial_state()
            snapshots: dict[int, list[torch.Tensor]] = {}
            for i, block in enumerate(program.blocks):
                keep = snapshots.setdefault(i, []) if (checkpoint and i in grad_set) else None
                psi = block.forward(psi, block.build(detached), keep=keep, grad_of=tensors)
            lam = obs.apply(psi)
            values.append(torch.real(torch.sum(psi.conj() * lam, dim=-1)).expand(count))
            if psi.shape[0] == 1 and count > 1:
                # no broadcast gate: identical circuits, d(Σ_b value_b) = count · d(value)
                lam = lam * count
            for i in range(len(program.blocks) - 1, first - 1, -1):
                block = program.blocks[i]
                psi, lam, local = block.backward(
                    psi if not checkpoint else None,
                    lam,
                    block.build(detached),
                    tensors,
                    snapshots.get(i) if checkpoint else None,
                )
                for slot, g in local.items():
                    pieces.setdefault(slot, []).append(g)

    outputs: list[torch.Tensor] = []
    cotangents: list[torch.Tensor] = []
    for slot, parts in pieces.items():
        shared = program.tensors[slot].shape[0] != batch or batch == 1
        outputs.append(program.tensors[slot])
        # a tensor shared by all circuits collects every group's sum; a per-circuit one its rows
        cotangents.append(torch.stack(parts).sum(0) if shared else torch.cat(parts))
    if outputs:
        # retain_graph: the same operations may be evaluated again (another observable)
        grads = torch.autograd.grad(outputs, params, cotangents, allow_unused=True, retain_graph=True)
    else:
        grads = (None,) * len(params)
    return torch.cat(values).contiguous(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
