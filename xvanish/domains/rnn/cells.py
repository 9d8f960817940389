"""Hand-unrolled recurrent cells with torch.nn's equations, and their backward pass by hand.

torch's fused ``nn.RNN``/``nn.LSTM``/``nn.GRU`` expose only the gradient of what they
return; here the forward pass keeps every state and gate, and one backward pass through
time (BPTT, written out) yields ∂L/∂h_t and ∂L/∂c_t at every t, ∂L/∂x_t, ∂L/∂h_0 and the
weight gradients — the quantities a per-step retain_grad run of ``nn.LSTMCell`` gives, in
one pass over time for all draws. tests/domains/test_rnn.py holds cost and gradients equal
to torch.nn's (given the same weights) to 1e-12 in float64.

Weights follow torch's layout: ``weight_ih`` [G·H, I], ``weight_hh`` [G·H, H], gate
blocks in torch's order (LSTM: i, f, g, o; GRU: r, z, n), two bias vectors. With
p_t = W_ih x_t + b_ih (all steps in one product) and r_t = W_hh h_{t−1} + b_hh:

* rnn:  h_t = φ(p_t + r_t)
* lstm: i, f, g, o = σ, σ, tanh, σ of (p_t + r_t); c_t = f c_{t−1} + i g; h_t = o tanh(c_t)
* gru:  r = σ(p^r + r^r), z = σ(p^z + r^z), n = tanh(p^n + r ⊙ r^n); h_t = (1 − z) n + z h_{t−1}

Only what is truly sequential runs step by step. A backward step is linear in the gradient
arriving at it, with coefficients that depend on the forward pass alone (σ′ of each gate,
1 − tanh², …); those are computed for all steps at once between the two passes, so a
backward step is two to four elementwise products and the product δr_t W_hh. With one
model per draw the recurrent products are matrix–vector products per draw; at these sizes
each step's cost is mostly the number of torch calls, which is why it is kept small (and
results are written in place into step-major buffers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

import torch

__all__ = ["ACTIVATIONS", "BPTT", "CELLS", "Workspace", "bptt"]

Tensor = torch.Tensor


@dataclass(frozen=True)
class Activation:
    """φ written into a buffer, and φ′ expressed through (a, φ(a)): tanh′ = 1 − φ², relu′ = [a > 0]."""

    forward: Callable[[Tensor, Tensor], Tensor]
    derivative: Callable[[Tensor, Tensor], Tensor]


ACTIVATIONS: Dict[str, Activation] = {
    "tanh": Activation(lambda a, out: torch.tanh(a, out=out), lambda a, h: 1 - h * h),
    "relu": Activation(lambda a, out: torch.clamp_min(a, 0, out=out), lambda a, h: (a > 0).to(a.dtype)),
    "linear": Activation(lambda a, out: out.copy_(a), lambda a, h: torch.ones_like(a)),
}


class _PerDraw:
    """x ↦ base + x·M for each draw: M [m, k, l] with m = n (a matrix per draw: one batched
    product) or m = 1 (one model shared by all draws: one plain matrix product)."""

    def __init__(self, matrix: Tensor) -> None:
        # The layout is the caller's: BLAS reads a transposed view as it is (measured: a
        # [1, 512] × [512, 128] product per draw runs 114 µs from a row-major matrix and
        # 89 µs from the transpose of a row-major [128, 512] one, for 16 draws).
        self.shared = matrix.shape[0] == 1
        self.matrix = matrix[0] if self.shared else matrix

    def __call__(self, x: Tensor, base: Optional[Tensor] = None, out: Optional[Tensor] = None) -> Tensor:
        if not self.shared:
            return torch.bmm(x, self.matrix, out=out) if base is None else torch.baddbmm(base, x, self.matrix, out=out)
        rows = x.reshape(-1, x.shape[-1])
        flat_out = None if out is None else out.view(-1, out.shape[-1])
        if base is None:
            result = torch.mm(rows, self.matrix, out=flat_out)
        else:
            result = torch.addmm(
                base.expand(*x.shape[:-1], -1).reshape(rows.shape[0], -1), rows, self.matrix, out=flat_out
            )
        return result.view(*x.shape[:-1], -1) if out is None else out


class Workspace:
    """Intermediate buffers of :func:`bptt`, reused by the blocks one thread runs in a call.

    The kernel maps a fresh tensor of a few MB page by page at first touch. One LSTM block
    (16 draws, 200 steps) needs about 45 MB of intermediates; allocated per block they cost
    100–160 thousand page faults per ``measure()`` of the benchmark (0.2–0.3 s of system
    time on 2 cores, threads contending for the process's memory map). A buffer is a view of
    the first elements of a flat tensor that only grows, so each step's slice is contiguous
    whatever the block's size.
    """

    def __init__(self) -> None:
        self._flat: Dict[str, Tensor] = {}

    def take(self, name: str, shape: Sequence[int], like: Tensor) -> Tensor:
        """An uninitialised contiguous tensor ``shape`` (``like``'s dtype and device), valid
        until ``name`` is taken again."""
        size = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.numel() < size or flat.dtype != like.dtype or flat.device != like.device:
            flat = self._flat[name] = torch.empty(size, dtype=like.dtype, device=like.device)
        return flat[:size].view(tuple(shape))


# --- the three cells ---------------------------------------------------------------------------
# A cell gets the step-major input projections p [T, n, B, G·H] (W_ih x_t + b_ih, plus b_hh
# where the cell folds it in; a view whose step slices need not be contiguous), the states
# buffer h [T + 1, n, B, H] (h[0] = 0) and a Workspace. forward() fills h and computes, for
# all steps at once, what the backward needs; backward_step(t, δh_t, δc, W_hh, out_dh, out_dc)
# writes ∂L/∂h_{t−1} into out_dh (and LSTM's total ∂L/∂c_t into out_dc), the
# recurrent-projection gradient δr_t into d_rec[t − 1], and returns the cell-state gradient
# carried to t − 1 (LSTM; else None); input_grads() gives δp [T, n, B, G·H] after the loop.


class _SummedCell:
    """A cell whose gates see p_t + r_t only as a sum (rnn, lstm): δp_t = δr_t."""

    #: b_hh enters only through p_t + r_t: bptt adds it to b_ih once, for all steps.
    folds_recurrent_bias = True

    def __init__(self, p: Tensor, states: Tensor, bias_hh: Tensor, activation: str, work: Workspace) -> None:
        self.p, self.h, self.work = p, states, work
        self.d_rec = work.take("d_rec", p.shape, p)

    def input_grads(self, state_grads: Tensor) -> Tensor:
        return self.d_rec


class _RNNCell(_SummedCell):
    def __init__(self, p: Tensor, states: Tensor, bias_hh: Tensor, activation: str, work: Workspace) -> None:
        super().__init__(p, states, bias_hh, activation, work)
        self.phi = ACTIVATIONS[activation]

    def forward(self, recurrent_t: _PerDraw) -> None:
        pre = self.work.take("pre", self.p.shape, self.p)
        for t in range(self.p.shape[0]):
            self.phi.forward(recurrent_t(self.h[t], base=self.p[t], out=pre[t]), self.h[t + 1])
        self.slope = self.phi.derivative(pre, self.h[1:])  # φ′(a_t), all t

    def backward_step(self, t, dh, dc, recurrent: _PerDraw, out_dh, out_dc) -> None:
        recurrent(torch.mul(dh, self.slope[t - 1], out=self.d_rec[t - 1]), out=out_dh)


class _LSTMCell(_SummedCell):
    def forward(self, recurrent_t: _PerDraw) -> None:
        hidden, work = self.h.shape[-1], self.work
        act = work.take("act", self.p.shape, self.p)  # σ(i), σ(f), tanh(g), σ(o) per step
        c = work.take("c", self.h.shape, self.h)
        c[0] = 0
        tanh_c = work.take("tanh_c", self.h[1:].shape, self.h)
        i, f, g, o = act.split(hidden, dim=-1)
        # every step's views made at once by unbind, not by slicing inside the loop
        per_step = zip(
            act.unbind(0),
            act[..., : 2 * hidden].unbind(0),
            g.unbind(0),
            o.unbind(0),
            i.unbind(0),
            f.unbind(0),
            self.p.unbind(0),
            self.h.unbind(0),
            self.h[1:].unbind(0),
            c.unbind(0),
            c[1:].unbind(0),
            tanh_c.unbind(0),
        )
        for gates, i_f, g_t, o_t, i_t, f_t, p, h, h_next, c_prev, c_next, tanh_next in per_step:
            recurrent_t(h, base=p, out=gates)  # pre-activations, then activated in place
            torch.sigmoid(i_f, out=i_f)
            torch.tanh(g_t, out=g_t)
            torch.sigmoid(o_t, out=o_t)
            torch.mul(f_t, c_prev, out=c_next).addcmul_(i_t, g_t)
            torch.mul(o_t, torch.tanh(c_next, out=tanh_next), out=h_next)
        # δc_t = δh_t ⊙ o(1 − tanh²c_t) + f_{t+1} ⊙ δc_{t+1};  δ(i, f, g, o) = (δc, δc, δc, δh) ⊙ coef,
        # coef = (g σ′(i), c_{t−1} σ′(f), i (1 − g²), tanh c_t σ′(o)) with σ′ = a(1 − a): written
        # in place, never as a − a² (which cancels for a saturated gate)
        coef = work.take("coef", act.shape, act)
        torch.neg(act, out=coef).add_(1).mul_(act)
        coef_i, coef_f, coef_g, coef_o = coef.split(hidden, dim=-1)
        coef_i.mul_(g)
        coef_f.mul_(c[:-1])
        torch.mul(g, g, out=coef_g).neg_().add_(1).mul_(i)
        coef_o.mul_(tanh_c)
        h_to_c = work.take("h_to_c", tanh_c.shape, tanh_c)
        torch.mul(tanh_c, tanh_c, out=h_to_c).neg_().add_(1).mul_(o)
        blocks = (*self.p.shape[:-1], 4, hidden)
        self._backward_views = list(
            zip(
                h_to_c.unbind(0),
                f.unbind(0),
                coef.view(blocks)[..., :3, :].unbind(0),
                coef_o.unbind(0),
                self.d_rec.unbind(0),
                self.d_rec.view(blocks)[..., :3, :].unbind(0),
                self.d_rec[..., 3 * hidden :].unbind(0),
            )
        )

    def backward_step(self, t, dh, dc, recurrent: _PerDraw, out_dh, out_dc) -> Tensor:
        h_to_c, forget, c_coef, o_coef, d_rec, d_c_gates, d_o = self._backward_views[t - 1]
        if dc is None:
            dc_total = torch.mul(dh, h_to_c, out=out_dc)
        else:
            dc_total = torch.addcmul(dc, dh, h_to_c, out=out_dc)
        torch.mul(c_coef, dc_total.unsqueeze(-2), out=d_c_gates)
        torch.mul(o_coef, dh, out=d_o)
        recurrent(d_rec, out=out_dh)
        return dc_total * forget


class _GRUCell:
    #: b_hn is multiplied by the reset gate: it stays with the recurrent product.
    folds_recurrent_bias = False

    def __init__(self, p: Tensor, states: Tensor, bias_hh: Tensor, activation: str, work: Workspace) -> None:
        self.p, self.h, self.bias_hh, self.work = p, states, bias_hh.unsqueeze(1), work
        self.d_rec = work.take("d_rec", p.shape, p)

    def forward(self, recurrent_t: _PerDraw) -> None:
        steps, hidden, work = self.p.shape[0], self.h.shape[-1], self.work
        rec = work.take("rec", self.p.shape, self.p)  # W_hh h_{t−1} + b_hh
        gates = work.take("gates", self.p[..., : 2 * hidden].shape, self.p)  # reset, keep
        n = work.take("n", self.h[1:].shape, self.h)
        base = self.bias_hh.expand(self.p.shape[1:])
        for t in range(steps):
            r = recurrent_t(self.h[t], base=base, out=rec[t])
            torch.sigmoid(torch.add(self.p[t][..., : 2 * hidden], r[..., : 2 * hidden], out=gates[t]), out=gates[t])
            reset, keep = gates[t][..., :hidden], gates[t][..., hidden:]
            torch.tanh(torch.addcmul(self.p[t][..., 2 * hidden :], reset, r[..., 2 * hidden :], out=n[t]), out=n[t])
            torch.addcmul(n[t], keep, self.h[t] - n[t], out=self.h[t + 1])
        reset, keep = gates.split(hidden, dim=-1)
        # per unit of δh_t: δ(pre-n) = (1 − z)(1 − n²), δ(pre-r) = δ(pre-n) r_n r(1 − r),
        # δ(pre-z) = (h_{t−1} − n) z(1 − z); δr_t = (δpre-r, δpre-z, δpre-n ⊙ r), δp_t =
        # (δpre-r, δpre-z, δpre-n); and δh_{t−1} also gets δh_t ⊙ z directly. Written in
        # place, the free blocks holding 1 − z and 1 − r meanwhile.
        coef = work.take("rec_coef", self.p.shape, self.p)
        to_reset, to_keep, to_rec_n = coef.split(hidden, dim=-1)
        to_n = work.take("to_n", n.shape, n)
        torch.neg(keep, out=to_rec_n).add_(1)  # 1 − z
        torch.mul(n, n, out=to_n).neg_().add_(1).mul_(to_rec_n)
        torch.neg(reset, out=to_keep).add_(1)  # 1 − r
        torch.mul(to_n, rec[..., 2 * hidden :], out=to_reset).mul_(reset).mul_(to_keep)
        torch.sub(self.h[:-1], n, out=to_keep).mul_(keep).mul_(to_rec_n)
        torch.mul(to_n, reset, out=to_rec_n)
        self.rec_coef, self.to_n, self.keep = coef, to_n, keep

    def backward_step(self, t, dh, dc, recurrent: _PerDraw, out_dh, out_dc) -> None:
        blocks = (*dh.shape[:-1], 3, dh.shape[-1])
        d_rec = self.d_rec[t - 1]
        torch.mul(self.rec_coef[t - 1].view(blocks), dh.unsqueeze(-2), out=d_rec.view(blocks))
        recurrent(d_rec, base=dh * self.keep[t - 1], out=out_dh)

    def input_grads(self, state_grads: Tensor) -> Tensor:
        # δp = δr but for the last block: δpre-n, not δpre-n ⊙ r
        hidden = self.h.shape[-1]
        d_proj = self.work.take("d_proj", self.d_rec.shape, self.d_rec)
        d_proj[..., : 2 * hidden].copy_(self.d_rec[..., : 2 * hidden])
        torch.mul(self.to_n, state_grads[1:], out=d_proj[..., 2 * hidden :])  # δh_t for t = 1 … T
        return d_proj


CELLS = {"rnn": _RNNCell, "lstm": _LSTMCell, "gru": _GRUCell}


@dataclass
class BPTT:
    """Forward values and backward gradients of a block of draws (step-major).

    Attributes:
        cost: L per draw [n].
        states: ∂L/∂h_t [T + 1, n, B, H] for t = 0 … T (0: the initial state).
        cells: ∂L/∂c_t [T + 1, n, B, H] (LSTM), else None.
        inputs: ∂L/∂x_t [len(kept), n, B, I] at the kept steps t ≥ 1 (in increasing t; a
            view of draw-major memory).
        weight_hh: ∂L/∂W_hh [n, G·H, H]; weight_ih: ∂L/∂W_ih [n, G·H, I].
    """

    cost: Tensor
    states: Tensor
    cells: Optional[Tensor]
    inputs: Tensor
    weight_hh: Tensor
    weight_ih: Tensor

    @staticmethod
    def empty(cell: str, inputs: Tensor, weight_hh: Tensor, kept: int) -> "BPTT":
        """Uninitialised outputs for the draws of ``inputs`` [n, B, T, I] (sliced per block
        with :meth:`draws`, so blocks write their results in place, never concatenated)."""
        n, windows, steps, size = inputs.shape
        rows, hidden = weight_hh.shape[-2:]

        def new(*shape: int) -> Tensor:
            return inputs.new_empty(shape)

        return BPTT(
            cost=new(n),
            states=new(steps + 1, n, windows, hidden),
            cells=new(steps + 1, n, windows, hidden) if cell == "lstm" else None,
            inputs=new(n, kept, windows, size).transpose(0, 1),
            weight_hh=new(n, rows, hidden),
            weight_ih=new(n, rows, size),
        )

    def draws(self, part: slice) -> "BPTT":
        """The views of draws ``part``."""
        return BPTT(
            cost=self.cost[part],
            states=self.states[:, part],
            cells=None if self.cells is None else self.cells[:, part],
            inputs=self.inputs[:, part],
            weight_hh=self.weight_hh[part],
            weight_ih=self.weight_ih[part],
        )


def bptt(
    cell: str,
    inputs: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
    readout: Tensor,
    input_steps: Sequence[int],
    activation: str = "tanh",
    out: Optional[BPTT] = None,
    workspace: Optional[Workspace] = None,
) -> BPTT:
    """Run ``cell`` over all steps from zero states, then backpropagate L = Σ_b readout·h_T.

    Args:
        cell: ``rnn``, ``lstm`` or ``gru``.
        inputs: x [n, B, T, I] (n draws, B windows each, T steps).
        weight_ih, weight_hh, bias_ih, bias_hh: [m, G·H, I], [m, G·H, H], [m, G·H], [m, G·H]
            with m = n (one model per draw) or 1 (one model shared by all draws).
        readout: a [n, H]; each draw's loss is Σ_b a·h_T^b.
        input_steps: the steps t (1 … T, increasing) whose ∂L/∂x_t are returned.
        activation: φ of ``cell=rnn``.
        out: where to write the results (say, :meth:`BPTT.draws` of a caller's buffers for
            more draws); new tensors when None.
        workspace: the intermediates' buffers, to reuse across calls of one thread; a fresh
            one when None.

    Returns:
        The :class:`BPTT` gradients (``out`` when given).
    """
    n, windows, steps, size = inputs.shape
    hidden = weight_hh.shape[-1]
    model_class = CELLS[cell]
    work = Workspace() if workspace is None else workspace
    out = BPTT.empty(cell, inputs, weight_hh, len(input_steps)) if out is None else out
    with torch.no_grad():
        # rows ordered (t, b) per draw: a view of the step-major buffers when B = 1
        def draw_rows(step_major: Tensor) -> Tensor:  # [T, n, B, k] -> [n, T·B, k]
            return step_major.permute(1, 0, 2, 3).reshape(n, -1, step_major.shape[-1])

        x_rows = inputs.transpose(1, 2).reshape(n, steps * windows, size)
        # p_t = W_ih x_t + b_ih (+ b_hh) for all t in one product; its step-major view
        # [T, n, B, G·H] is what the cells read (each step is read once: no reordering copy)
        input_bias = bias_ih + bias_hh if model_class.folds_recurrent_bias else bias_ih
        p_rows = work.take("p", (n, steps * windows, weight_ih.shape[1]), inputs)
        _PerDraw(weight_ih.transpose(1, 2))(x_rows, base=input_bias.unsqueeze(1), out=p_rows)
        p = p_rows.view(n, steps, windows, -1).permute(1, 0, 2, 3)
        states = work.take("states", (steps + 1, n, windows, hidden), inputs)
        states[0] = 0
        model = model_class(p, states, bias_hh, activation, work)
        # one copy of W_hh, laid out for the forward product h W_hhᵀ; the backward's
        # δr W_hh reads the same memory transposed
        forward_weights = work.take("forward_weights", weight_hh.transpose(1, 2).shape, weight_hh)
        forward_weights.copy_(weight_hh.transpose(1, 2))
        model.forward(_PerDraw(forward_weights))
        torch.sum(states[-1] * readout.unsqueeze(1), dim=(1, 2), out=out.cost)

        recurrent = _PerDraw(forward_weights.transpose(1, 2))  # δr W_hh
        state_grads, cell_grads = out.states, out.cells
        state_grads[steps] = readout.unsqueeze(1)
        dc: Optional[Tensor] = None
        for t in range(steps, 0, -1):
            dc = model.backward_step(
                t, state_grads[t], dc, recurrent, state_grads[t - 1], None if cell_grads is None else cell_grads[t]
            )
        if cell_grads is not None:
            cell_grads[0] = dc

        # ∂L/∂x_t = δp_t W_ih (at the asked steps), ∂L/∂W_ih = Σ_t δp_tᵀ x_t and
        # ∂L/∂W_hh = Σ_t δr_tᵀ h_{t−1}: one batched product each, over draw-major rows
        d_proj = model.input_grads(state_grads)
        every_step = list(input_steps) == list(range(1, steps + 1))
        chosen = d_proj if every_step else d_proj[[t - 1 for t in input_steps]]  # [k, n, B, G·H]
        d_inputs = out.inputs.transpose(0, 1)  # [n, k, B, I], draw-major
        _PerDraw(weight_ih)(draw_rows(chosen), out=d_inputs.view(n, -1, size))

        d_proj_rows = draw_rows(d_proj)
        d_rec_rows = d_proj_rows if model.d_rec is d_proj else draw_rows(model.d_rec)
        torch.bmm(d_proj_rows.transpose(1, 2), x_rows, out=out.weight_ih)
        torch.bmm(d_rec_rows.transpose(1, 2), draw_rows(states[:-1]), out=out.weight_hh)
    return out
