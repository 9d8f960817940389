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

Backward, with δh_t = ∂L/∂h_t (total) and δc_t = ∂L/∂c_t (total): each cell's step maps
(δh_t, the carried δc) to δp_t, δr_t and what flows to h_{t−1} and c_{t−1} directly;
δh_{t−1} = (direct part) + δr_t W_hh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

__all__ = ["ACTIVATIONS", "BPTT", "CELLS", "bptt", "project"]

Tensor = torch.Tensor


@dataclass(frozen=True)
class Activation:
    """φ and φ′ expressed through (a, φ(a)) — tanh′ = 1 − φ², relu′ = [a > 0]."""

    forward: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor, Tensor], Tensor]


ACTIVATIONS: Dict[str, Activation] = {
    "tanh": Activation(torch.tanh, lambda a, h: 1 - h * h),
    "relu": Activation(torch.relu, lambda a, h: (a > 0).to(a.dtype)),
    "linear": Activation(lambda a: a, lambda a, h: torch.ones_like(a)),
}


def project(u: Tensor, weight_t: Tensor, bias: Optional[Tensor]) -> Tensor:
    """u Wᵀ + b per draw: u [n, k, in], weight_t = Wᵀ [m, in, out] (contiguous: a batched
    matrix-vector product reads it row by row), bias [m, out] or None, with m = n or 1 (one
    shared model: a single matrix product, no per-draw copies)."""
    if weight_t.shape[0] == 1:
        out = torch.matmul(u, weight_t[0])
        return out if bias is None else out + bias[0]
    if bias is None:
        return torch.bmm(u, weight_t)
    return torch.baddbmm(bias.unsqueeze(1), u, weight_t)


# --- one step of each cell: forward (keeping what its backward needs) and backward -------------
# forward(p, r, h_prev, c_prev, φ) -> (h, c or None, saved)
# backward(saved, h_prev, c_prev, δh, δc_carry, φ, δp_out, δr_out) writes δp_t and δr_t into
# the preallocated step slices (δr_out is δp_out when they are equal) and returns
# (δh_prev direct or None, δc_prev carried or None, δc_t total or None).

def _rnn_forward(p, r, h_prev, c_prev, phi):
    a = p + r
    h = phi.forward(a)
    return h, None, (a, h)


def _rnn_backward(saved, h_prev, c_prev, dh, dc, phi, dp, dr):
    a, h = saved
    torch.mul(dh, phi.derivative(a, h), out=dp)
    return None, None, None


def _lstm_forward(p, r, h_prev, c_prev, phi):
    gates = p + r
    hidden = h_prev.shape[-1]
    act = torch.sigmoid(gates)  # i, f, o; the g block is replaced by its tanh
    act[..., 2 * hidden:3 * hidden] = torch.tanh(gates[..., 2 * hidden:3 * hidden])
    i, f, g, o = act.split(hidden, dim=-1)
    c = torch.addcmul(f * c_prev, i, g)
    tanh_c = torch.tanh(c)
    return o * tanh_c, c, (act, tanh_c)


def _lstm_backward(saved, h_prev, c_prev, dh, dc, phi, dp, dr):
    act, tanh_c = saved
    i, f, g, o = act.split(dh.shape[-1], dim=-1)
    d_i, d_f, d_g, d_o = dp.split(dh.shape[-1], dim=-1)
    dc_total = dh * o * (1 - tanh_c * tanh_c)
    if dc is not None:
        dc_total += dc
    torch.mul(dc_total * g, i * (1 - i), out=d_i)
    torch.mul(dc_total * c_prev, f * (1 - f), out=d_f)
    torch.mul(dc_total * i, 1 - g * g, out=d_g)
    torch.mul(dh * tanh_c, o * (1 - o), out=d_o)
    return None, dc_total * f, dc_total


def _gru_forward(p, r, h_prev, c_prev, phi):
    hidden = h_prev.shape[-1]
    p_r, p_z, p_n = p.split(hidden, dim=-1)
    r_r, r_z, r_n = r.split(hidden, dim=-1)
    reset = torch.sigmoid(p_r + r_r)
    keep = torch.sigmoid(p_z + r_z)
    n = torch.tanh(torch.addcmul(p_n, reset, r_n))
    return n + keep * (h_prev - n), None, (reset, keep, n, r_n)


def _gru_backward(saved, h_prev, c_prev, dh, dc, phi, dp, dr):
    reset, keep, n, r_n = saved
    hidden = dh.shape[-1]
    d_r, d_z, d_n = dp.split(hidden, dim=-1)
    torch.mul(dh * (1 - keep), 1 - n * n, out=d_n)
    torch.mul(d_n * r_n, reset * (1 - reset), out=d_r)
    torch.mul(dh * (h_prev - n), keep * (1 - keep), out=d_z)
    dr[..., :2 * hidden] = dp[..., :2 * hidden]
    torch.mul(d_n, reset, out=dr[..., 2 * hidden:])
    return dh * keep, None, None


@dataclass(frozen=True)
class Cell:
    """A cell's step functions, its number of H-sized gate blocks, and whether ∂L/∂r_t
    equals ∂L/∂p_t (true unless a gate multiplies the recurrent projection, as GRU's reset)."""

    gates: int
    forward: Callable
    backward: Callable
    has_cell_state: bool = False
    same_projection_grads: bool = True


CELLS: Dict[str, Cell] = {
    "rnn": Cell(1, _rnn_forward, _rnn_backward),
    "lstm": Cell(4, _lstm_forward, _lstm_backward, has_cell_state=True),
    "gru": Cell(3, _gru_forward, _gru_backward, same_projection_grads=False),
}


@dataclass
class BPTT:
    """Forward values and backward gradients of one block of draws.

    Attributes:
        cost: L per draw [n].
        states: t -> ∂L/∂h_t [n, B, H] for the kept t (0 = the initial state).
        cells: t -> ∂L/∂c_t for the kept t (LSTM).
        inputs: ∂L/∂x [n, B, T, I].
        weight_hh: ∂L/∂W_hh [n, G·H, H]; weight_ih: ∂L/∂W_ih [n, G·H, I].
    """

    cost: Tensor
    states: Dict[int, Tensor] = field(default_factory=dict)
    cells: Dict[int, Tensor] = field(default_factory=dict)
    inputs: Optional[Tensor] = None
    weight_hh: Optional[Tensor] = None
    weight_ih: Optional[Tensor] = None


def bptt(cell: str, inputs: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor,
         readout: Tensor, keep: Sequence[int], activation: str = "tanh") -> BPTT:
    """Run ``cell`` over all steps from zero states, then backpropagate L = Σ_b readout·h_T.

    Args:
        cell: ``rnn``, ``lstm`` or ``gru``.
        inputs: x [n, B, T, I] (n draws, B windows each, T steps).
        weight_ih, weight_hh, bias_ih, bias_hh: [m, G·H, I], [m, G·H, H], [m, G·H], [m, G·H]
            with m = n (one model per draw) or 1 (one model shared by all draws).
        readout: a [n, H]; each draw's loss is Σ_b a·h_T^b.
        keep: the steps t (0..T) whose ∂L/∂h_t (and ∂L/∂c_t) are returned.
        activation: φ of ``cell=rnn``.

    Returns:
        The :class:`BPTT` gradients.
    """
    spec, phi = CELLS[cell], ACTIVATIONS[activation]
    n, windows, steps, size = inputs.shape
    hidden = weight_hh.shape[-1]
    with torch.no_grad():
        weight_hh_t = weight_hh.transpose(1, 2).contiguous()  # [m, H, G·H] for h W_hhᵀ
        weight_hh_c = weight_hh.contiguous()  # [m, G·H, H] for δr W_hh
        flat_x = inputs.reshape(n, windows * steps, size)
        projected = project(flat_x, weight_ih.transpose(1, 2), bias_ih).reshape(n, windows, steps, -1)
        h = inputs.new_zeros((n, windows, hidden))
        c = inputs.new_zeros((n, windows, hidden)) if spec.has_cell_state else None
        states: List[Tensor] = [h]
        cell_states: List[Optional[Tensor]] = [c]
        saved: List[Tuple[Tensor, ...]] = []
        for p in projected.unbind(2):
            h, c, keep_t = spec.forward(p, project(h, weight_hh_t, bias_hh), h, c, phi)
            states.append(h)
            cell_states.append(c)
            saved.append(keep_t)
        cost = (h * readout.unsqueeze(1)).sum(dim=(1, 2))

        wanted = set(keep)
        out = BPTT(cost=cost)
        # step-major buffers: each step's slice is contiguous, written in place
        d_proj = inputs.new_empty((steps, n, windows, spec.gates * hidden))
        d_rec = d_proj if spec.same_projection_grads else torch.empty_like(d_proj)
        dh = readout.unsqueeze(1).expand(n, windows, hidden).clone()
        dc: Optional[Tensor] = None
        for t in range(steps, 0, -1):
            if t in wanted:
                out.states[t] = dh
            direct, dc_prev, dc_total = spec.backward(saved[t - 1], states[t - 1], cell_states[t - 1], dh, dc, phi,
                                                      d_proj[t - 1], d_rec[t - 1])
            if t in wanted and dc_total is not None:
                out.cells[t] = dc_total
            dh = project(d_rec[t - 1], weight_hh_c, None)  # δr W_hh
            if direct is not None:
                dh = dh + direct
            dc = dc_prev
            saved[t - 1] = ()  # free this step's gates as soon as they are used
        if 0 in wanted:
            out.states[0] = dh
            if spec.has_cell_state:
                out.cells[0] = dc
        # ∂L/∂x_t = δp_t W_ih, ∂L/∂W_ih = Σ_t δp_tᵀ x_t, ∂L/∂W_hh = Σ_t δr_tᵀ h_{t−1}:
        # one batched product each.
        d_proj_flat = d_proj.permute(1, 2, 0, 3).reshape(n, windows * steps, -1)
        d_rec_flat = d_rec.permute(1, 2, 0, 3).reshape(n, windows * steps, -1)
        out.inputs = project(d_proj_flat, weight_ih.contiguous(), None).reshape(n, windows, steps, size)
        previous = torch.stack(states[:-1], dim=2).reshape(n, windows * steps, hidden)
        out.weight_hh = torch.bmm(d_rec_flat.transpose(1, 2), previous)
        out.weight_ih = torch.bmm(d_proj_flat.transpose(1, 2), flat_x)
    return out
