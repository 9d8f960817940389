"""Cost functions of a VQC: observables, their affine map to C, and how one shot is drawn.

Costs (Cerezo et al. 2021): ``observable`` ⟨P⟩ of a Pauli string (``"Z0 Z1"``); ``global``
1 − p(0…0); ``local`` 1 − (1/n)Σ_j p_j(0).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pennylane as qml

from xvanish.core import require

__all__ = ["COSTS", "CostSpec", "SHOT_DRAWS", "parse_pauli_string", "parse_pauli_sum", "pauli_masks",
           "zeros_per_basis_state"]

_PAULI_OPS: dict[str, Callable[..., qml.operation.Operator]] = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
_PAULI_TERM = re.compile(r"^([A-Za-z]+)(-?\d+)$")


def parse_pauli_string(text: str, n_qubits: int | None = None, key: str = "observable") -> list[tuple[str, int]]:
    """Parse a Pauli string such as ``"Z0 Z1"`` or ``"X0 Y2 Z3"`` into ``[(letter, wire), ...]``.

    Terms are separated by spaces (``@`` and ``*`` are accepted as separators too); each is a
    letter X, Y or Z followed by a wire index in ``0 … n_qubits−1``; a wire appears once.

    Args:
        text: the Pauli string.
        n_qubits: number of wires of the circuit; ``None`` checks the syntax only (a config
            key on its own, before the point's ``n_qubits`` is known).
        key: the config key named in errors.

    Returns:
        The terms in the order given.

    Raises:
        ConfigError: naming ``key`` for a bad letter, a wire that does not exist, a repeated
            wire, or an empty string.

    Example:
        >>> parse_pauli_string("Z0 X2", 3)
        [('Z', 0), ('X', 2)]
    """
    require(isinstance(text, str), key, text, "must be a Pauli string such as 'Z0 Z1'")
    tokens = text.replace("@", " ").replace("*", " ").split()
    require(len(tokens) > 0, key, text, "must name at least one Pauli, e.g. 'Z0 Z1'")
    terms: list[tuple[str, int]] = []
    for token in tokens:
        match = _PAULI_TERM.match(token)
        require(match is not None and match.group(1).upper() in _PAULI_OPS, key, text,
                f"bad term {token!r}: each term is X, Y or Z followed by a wire index, e.g. 'X0 Y2 Z3'")
        letter, wire = match.group(1).upper(), int(match.group(2))
        require(wire >= 0, key, text, f"wire {wire} does not exist (wires are 0, 1, ...)")
        if n_qubits is not None:
            require(wire < n_qubits, key, text,
                    f"wire {wire} does not exist with n_qubits={n_qubits} (wires are 0..{n_qubits - 1})")
        require(wire not in {w for _, w in terms}, key, text, f"wire {wire} appears twice")
        terms.append((letter, wire))
    return terms


_SUM_TERM = re.compile(r"\s*([+-]?)\s*([^+-]+)")


def parse_pauli_sum(text: str, n_qubits: int | None = None, key: str = "observable"
                    ) -> list[tuple[float, list[tuple[str, int]]]]:
    """Parse a sum of Pauli strings such as ``"X0 X1 + Y0 Y1"`` or ``"0.5 Z0 - Z1"``.

    Terms are separated by ``+`` or ``-``; each is an optional real factor followed by a
    Pauli string (:func:`parse_pauli_string`). A single string is a sum of one term.

    Returns:
        ``[(coefficient, [(letter, wire), ...]), ...]``.

    Raises:
        ConfigError: naming ``key`` for a bad term, factor or wire.

    Example:
        >>> parse_pauli_sum("X0 X1 - 0.5 Y0 Y1", 2)
        [(1.0, [('X', 0), ('X', 1)]), (-0.5, [('Y', 0), ('Y', 1)])]
    """
    require(isinstance(text, str) and text.strip() != "", key, text,
            "must be a Pauli string or a sum of them, e.g. 'Z0 Z1' or 'X0 X1 + Y0 Y1'")
    terms = []
    matches = list(_SUM_TERM.finditer(text))
    require("".join(m.group(0) for m in matches).strip() == text.strip(), key, text, "cannot parse this Pauli sum")
    for match in matches:
        sign, body = match.group(1), match.group(2).strip()
        require(body != "", key, text, "a '+' or '-' must be followed by a term")
        coefficient, _, rest = body.partition(" ")
        try:
            factor = float(coefficient)
            body = rest
        except ValueError:
            factor = 1.0
        require(math.isfinite(factor), key, text, f"bad factor {coefficient!r}")
        terms.append(((-factor if sign == "-" else factor), parse_pauli_string(body, n_qubits, key)))
    return terms


def pauli_masks(terms: list[tuple[float, list[tuple[str, int]]]]) -> dict[tuple[int, int], float]:
    """The sum as ``{(x, z): coefficient}`` bit masks (the coding of :mod:`xvanish.theory.lie`)."""
    out: dict[tuple[int, int], float] = {}
    for factor, letters in terms:
        x = sum(1 << w for letter, w in letters if letter in "XY")
        z = sum(1 << w for letter, w in letters if letter in "YZ")
        out[(x, z)] = out.get((x, z), 0.0) + factor
    return out


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
    "global": CostSpec(lambda n, text: qml.Projector([0] * n, wires=range(n)),
                       lambda n: 1.0, lambda n: -1.0, "global", "projector"),
    "local": CostSpec(lambda n, text: qml.sum(*[qml.PauliZ(w) for w in range(n)]),
                      lambda n: 0.5, lambda n: -0.5 / n, "local", "zeros_count"),
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
