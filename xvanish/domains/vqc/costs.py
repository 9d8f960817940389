"""Cost functions of a VQC: observables, their affine map to C, and how one shot is drawn.

Costs (Cerezo et al. 2021): ``observable`` ⟨P⟩ of a Pauli string (``"Z0 Z1"``); ``global``
1 − p(0…0); ``local`` 1 − (1/n)Σ_j p_j(0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pennylane as qml

from xvanish.theory.pauli import PAULI_LETTERS, parse_pauli_string, parse_pauli_sum, pauli_masks

__all__ = [
    "COSTS",
    "CostSpec",
    "SHOT_DRAWS",
    "parse_pauli_string",
    "parse_pauli_sum",
    "pauli_masks",
    "zeros_per_basis_state",
]

_PAULI_OPS: dict[str, Callable[..., qml.operation.Operator]] = {
    letter: getattr(qml, f"Pauli{letter}") for letter in PAULI_LETTERS
}


def _pauli_observable(n_qubits: int, text: str) -> qml.operation.Operator:
    terms = []
    for factor, letters in parse_pauli_sum(text, n_qubits):
        ops = [_PAULI_OPS[letter](wire) for letter, wire in letters]
        string = ops[0] if len(ops) == 1 else qml.prod(*ops)
        terms.append(string if factor == 1.0 else qml.s_prod(factor, string))
    return terms[0] if len(terms) == 1 else qml.sum(*terms)


@dataclass(frozen=True)
class CostSpec:
    """A cost ``C = offset + scale·⟨O⟩`` and what the theory and the shot sampler need.

    Attributes:
        observable: ``(n_qubits, pauli_text) -> O`` (a PennyLane observable).
        offset, scale: ``n_qubits -> float`` of the affine map from ⟨O⟩ to C.
        haar_kind: the name of the cost in :data:`xvanish.theory.haar.COST_WEIGHTS`.
        outcomes: how one shot is drawn (key of :data:`SHOT_DRAWS`).
    """

    observable: Callable[[int, str], qml.operation.Operator]
    offset: Callable[[int], float]
    scale: Callable[[int], float]
    haar_kind: str
    outcomes: str


#: cost name -> spec. global: 1 − ⟨|0…0⟩⟨0…0|⟩; local: 1 − (1/n)Σ_j ⟨(1+Z_j)/2⟩ = ½ − ⟨ΣZ_j⟩/(2n).
COSTS: dict[str, CostSpec] = {
    "observable": CostSpec(_pauli_observable, lambda n: 0.0, lambda n: 1.0, "pauli", "pm1"),
    "global": CostSpec(
        lambda n, text: qml.Projector([0] * n, wires=range(n)), lambda n: 1.0, lambda n: -1.0, "global", "projector"
    ),
    "local": CostSpec(
        lambda n, text: qml.sum(*[qml.PauliZ(w) for w in range(n)]),
        lambda n: 0.5,
        lambda n: -0.5 / n,
        "local",
        "zeros_count",
    ),
}


def zeros_per_basis_state(n: int) -> np.ndarray:
    """Number of wires in |0⟩ for each computational basis index (wire 0 most significant)."""
    index = np.arange(2**n)
    ones = sum((index >> bit) & 1 for bit in range(n))
    return n - ones


def _shots_pm1(rng, shots, expectations, probs, n):
    """±1 outcomes (a Pauli string measured in its eigenbasis): p(+1) = (1 + ⟨P⟩)/2."""
    plus = rng.binomial(shots, np.clip((1.0 + expectations) / 2.0, 0.0, 1.0))
    return 2.0 * plus / shots - 1.0


def _shots_projector(rng, shots, expectations, probs, n):
    """0/1 outcomes of |0…0⟩⟨0…0|: p(1) = ⟨Π⟩."""
    return rng.binomial(shots, np.clip(expectations, 0.0, 1.0)) / shots


def _shots_zeros_count(rng, shots, expectations, probs, n):
    """ΣZ_j from bitstrings: multinomial counts over the number k of zeros, ⟨ΣZ_j⟩ = 2k − n."""
    zeros = zeros_per_basis_state(n)
    weights = np.zeros((probs.shape[0], n + 1))
    np.add.at(weights.T, zeros, probs.T)
    weights = np.clip(weights, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    counts = rng.multinomial(shots, weights)
    return (counts @ (2.0 * np.arange(n + 1) - n)) / shots


#: ``outcomes`` -> ``(rng, shots, exact ⟨O⟩ [m], probabilities [m, 2^n] or None, n) -> estimates [m]``.
SHOT_DRAWS = {"pm1": _shots_pm1, "projector": _shots_projector, "zeros_count": _shots_zeros_count}
