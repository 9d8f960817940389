"""The circuit side: fixed Clifford gates folded into the generators, and the generator families."""

from __future__ import annotations

from .paulis import PauliSum


def _conjugate_gate(x: int, z: int, gate: tuple[str, int, int]) -> tuple[int, int, int]:
    """``G P G†`` for ``G`` = CZ(a, b) or CNOT(a → b): the new (x, z) and a sign exponent (0/1).

    Aaronson & Gottesman 2004 update rules in the ``Y = iXZ`` convention: CNOT
    ``x_b ^= x_a, z_a ^= z_b``, sign ``x_a z_b (x_b ⊕ z_a ⊕ 1)``; CZ ``z_a ^= x_b, z_b ^= x_a``,
    sign ``x_a x_b (z_a ⊕ z_b)``.
    """
    name, a, b = gate
    xa, xb, za, zb = x >> a & 1, x >> b & 1, z >> a & 1, z >> b & 1
    if name == "CNOT":
        return x ^ (xa << b), z ^ (zb << a), xa & zb & (xb ^ za ^ 1)
    if name == "CZ":
        return x, z ^ (xb << a) ^ (xa << b), xa & xb & (za ^ zb)
    raise ValueError(f"cannot fold fixed gate {name}: only CZ and CNOT (Clifford, Pauli-preserving)")


def conjugate(p: PauliSum, gates: list[tuple[str, int, int]]) -> PauliSum:
    """``U P U†`` for ``U = G_m ⋯ G_1`` (``gates`` in the order applied to the state)."""
    out = {}
    for (x, z), v in p.items():
        sign = 0
        for gate in gates:
            x, z, s = _conjugate_gate(x, z, gate)
            sign ^= s
        out[(x, z)] = out.get((x, z), 0.0) + (-v if sign else v)
    return out


def fold_layers(
    layers: list[tuple[list[PauliSum], list[tuple[str, int, int]]]],
) -> tuple[list[list[PauliSum]], list[tuple[str, int, int]]]:
    """Fold the fixed gates of a layered circuit into its generators.

    ``U = E_{L−1}R_{L−1} ⋯ E_0R_0`` with rotations ``R_l`` (generators ``H``) and fixed Clifford
    layers ``E_l`` equals ``K_L · Π_l exp(−iθ K_l†HK_l)`` with ``K_l = E_{l−1}⋯E_0``: the state
    is untouched, each generator is conjugated by the fixed gates before it, and the
    observable becomes ``K_L† O K_L``.

    Args:
        layers: per layer, ``(generators, fixed gates applied after them)``.

    Returns:
        Each layer's folded generators (same order), and the gates of ``K_L†`` in the order
        to pass to :func:`conjugate` for the observable.

    Example:
        >>> folded, _ = fold_layers([([{(1, 0): 1.0}], [("CZ", 0, 1)])] * 2)  # X0, then CZ
        >>> folded[1]  # CZ X0 CZ = X0 Z1
        [{(1, 2): 1.0}]
    """
    out = []
    before: list[tuple[str, int, int]] = []  # K_l† = E_0† ⋯ E_{l−1}†: conjugate by E_{l−1} first
    for generators, fixed in layers:
        out.append([conjugate(h, list(reversed(before))) for h in generators])
        before = before + list(fixed)
    return out, list(reversed(before))


def sum_key(h: PauliSum) -> tuple:
    """A hashable canonical key of a Pauli sum: its terms sorted, coefficients rounded to 12 digits."""
    return tuple(sorted((k, round(v, 12)) for k, v in h.items()))


def distinct(sums: list[PauliSum]) -> list[PauliSum]:
    """The distinct Pauli sums of a list (order kept), e.g. the folded generators of all layers."""
    seen, out = set(), []
    for h in sums:
        key = sum_key(h)
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def tfim_generators(n: int, boundary: str = "open") -> list[PauliSum]:
    """Generators of the transverse-field Ising ansatz: ``Z_iZ_{i+1}`` (ring if periodic) and ``X_i``.

    The open chain's DLA is so(2n), dim n(2n − 1); the periodic ring's two copies of it
    (THEORY §5b; Wiersema et al. 2023).
    """
    edges = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if boundary == "periodic" and n > 2 else [])
    return [{(0, (1 << i) | (1 << j)): 1.0} for i, j in edges] + [{(1 << i, 0): 1.0} for i in range(n)]


def xy_generators(n: int, boundary: str = "open") -> list[PauliSum]:
    """Generators of the XY ansatz: ``X_iX_{i+1} + Y_iY_{i+1}`` and ``Z_i``; DLA u(n) on the open chain."""
    edges = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if boundary == "periodic" and n > 2 else [])
    gens = []
    for i, j in edges:
        m = (1 << i) | (1 << j)
        gens.append({(m, 0): 1.0, (m, m): 1.0})
    return gens + [{(0, 1 << i): 1.0} for i in range(n)]
