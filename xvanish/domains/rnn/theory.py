"""Closed forms for the backpropagated signal of a vanilla RNN (numpy/scipy via meanfield).

Model: h_t = φ(a_t), a_t = W h_{t−1} + U x_t + b, loss L = aᵀh_T with a ~ N(0, I/H), so
g_t = ∂L/∂h_t obeys g_{t−1} = Wᵀ(φ′(a_t) ⊙ g_t) (Bengio, Simard & Frasconi 1994; Pascanu,
Mikolov & Bengio 2013). With σw² = H·Var(W_ij), σu² = H·Var(U_ij) = 1/3 (torch's U(±1/√H)):

* **exact** — linear φ, W = ρQ (Q orthogonal, or I): g_{T−j} = (ρQᵀ)^j a, so
  ‖g_{T−j}‖ = ρ^j ‖a‖ for every draw and every entry has variance ρ^{2j}/H; the input
  gradient Uᵀg has variance σu²·ρ^{2j}/H (U independent of g).
* **asymptotic** — mean field (Chen, Pennington & Schoenholz 2018, "Dynamical isometry and
  a mean field theory of RNNs"; the MLP's Schoenholz et al. 2017 with the input as an
  extra bias): the pre-activation variance follows the input-driven length map
  q_t = σw² E[φ(√q_{t−1} z)²] + s_x + σb² from q_0 = 0, with s_x = σu²·E‖x‖²/H
  (E‖x‖² = input_scale²·embed for N(0, 1) embeddings, input_scale² one-hot) and σb² =
  2/(3H) for torch's two bias vectors (0 for the other inits), and the
  mean square shrinks by χ_t = σw² E[φ′(√q_t z)²] per step:
  Var(g_{T−j}) = (1/H)·Π_{t=T−j+1}^{T} χ_t, Var(∂L/∂x_t) = σu²·(χ_t/σw²)·Var(g_t).
  Exact as H → ∞ with independent weights per step; tied weights make the log of the mean
  over draws lean toward the draws with the largest spectral radius (THEORY.md §3).
* **bound** — W = ρI with tanh or relu (|φ′| ≤ 1): ‖g_{T−j}‖ ≤ ρ^j ‖a‖, so the mean square
  of an entry is at most ρ^{2j}/H.

LSTM/GRU get no per-group theory: the gate-path estimate (a product of mean forget gates,
Gilboa et al. 2019) misses the paths through the hidden state and the gates, which set
the measured rate at torch's init (docs/rnn.md compares it); :func:`gate_path_rate` gives
it for reference.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np

from xvanish.core import Theory, asymptotic, bound, exact
from xvanish.theory import meanfield

__all__ = ["INPUT_WEIGHT_VAR", "chi_trajectory", "gate_path_rate", "input_drive", "rnn_theory", "weight_var"]

#: σu² = H·Var(U_ij) of torch's U(±1/√H) input weights (every init here).
INPUT_WEIGHT_VAR = 1.0 / 3.0


def weight_var(init: str, rho: float) -> float:
    """σw² = H·Var(W_ij) of the recurrent matrix."""
    return {"pytorch": 1.0 / 3.0, "chrono": 1.0 / 3.0, "normal": rho, "orthogonal": rho**2, "identity": rho**2}[init]


def input_drive(config) -> float:
    """s_x + σb²: the variance per unit that the input and biases add to a_t."""
    norm_sq = float(config.input_scale) ** 2 * (config.embed if config.embed > 0 else 1)
    bias_var = 2.0 / (3.0 * config.hidden) if config.init in ("pytorch", "chrono") else 0.0
    return INPUT_WEIGHT_VAR * norm_sq / config.hidden + bias_var


def chi_trajectory(steps: int, sigma_w2: float, drive: float, activation: str) -> np.ndarray:
    """χ_t for t = 1..steps along the length map from q_0 = 0 (see module docstring)."""
    chis, q = [], 0.0
    for _ in range(steps):
        q = meanfield.length_map(q, sigma_w2, drive, activation)
        chis.append(meanfield.meanfield_chi(q, sigma_w2, activation))
    return np.array(chis)


def rnn_theory(config, steps_back: List[int]) -> Dict[str, Theory]:
    """Theory of ``state/<d>`` and ``input/<d>`` for ``cell=rnn`` (kinds in the module docstring).

    Args:
        config: an :class:`~xvanish.domains.rnn.config.RNNConfig` with ``cell=rnn``.
        steps_back: recorded token steps j (residues back d = kmer·j).
    """
    hidden, rho, kmer = config.hidden, config.rho_value, config.kmer
    linear_orthogonal = config.activation == "linear" and config.init in ("orthogonal", "identity")
    out: Dict[str, Theory] = {}
    if linear_orthogonal:
        for j in steps_back:
            state = rho ** (2 * j) / hidden
            out[f"state/{kmer * j}"] = exact(state)
            # U is drawn per draw only with vary=init; one fixed U makes it an approximation.
            make = exact if config.vary == "init" else asymptotic
            out[f"input/{kmer * j}"] = make(INPUT_WEIGHT_VAR * state)
        out["initial"] = exact(rho ** (2 * config.tokens) / hidden)
        return _finite(out)
    if config.init == "identity":
        out = {f"state/{kmer * j}": bound(rho ** (2 * j) / hidden) for j in steps_back}
        out["initial"] = bound(rho ** (2 * config.tokens) / hidden)
        return _finite(out)
    sigma_w2 = weight_var(config.init, rho)
    chis = chi_trajectory(config.tokens, sigma_w2, input_drive(config), config.activation)
    # Var(g_{T−j}) = (1/H) Π_{t=T−j+1}^{T} χ_t; cumulative products from the end, in logs.
    log_state = np.concatenate([[0.0], np.cumsum(np.log(chis[::-1]))]) - math.log(hidden)
    for j in steps_back:
        t = config.tokens - j  # the step whose input is x_t and whose state is h_t
        out[f"state/{kmer * j}"] = asymptotic(math.exp(log_state[j]))
        out[f"input/{kmer * j}"] = asymptotic(INPUT_WEIGHT_VAR * chis[t - 1] / sigma_w2 * math.exp(log_state[j]))
    out["initial"] = asymptotic(math.exp(log_state[config.tokens]))
    return _finite(out)


def _finite(theory: Dict[str, Theory]) -> Dict[str, Theory]:
    """Drop values that under/overflow float64 (a prediction of 0 or ∞ is no prediction)."""
    return {k: v for k, v in theory.items() if math.isfinite(v.value) and v.value > 0}


def gate_path_rate(mean_gate: float) -> Optional[float]:
    """Per-step rate of ln ‖∂L/∂c‖ along the cell path alone: ln(mean keep gate), or None."""
    return math.log(mean_gate) if mean_gate > 0 else None
