"""Pauli sums as integer bit masks: parsing, commutators and product-state expectations."""

from __future__ import annotations

import numpy as np

from xvanish.theory.pauli import parse_pauli_sum, pauli_masks

_TOL = 1e-9

PauliSum = dict[tuple[int, int], float]


def pauli_sum(text: str, n: int) -> PauliSum:
    """Parse ``"X0 X1 + Y0 Y1"``, ``"0.5 Z0 - Z1"`` into a Pauli sum on ``n`` qubits.

    Args:
        text: terms separated by ``+``/``-``; each an optional real factor first, then Pauli
            letters with wire indices (``0.5 X0 Y2``; ``@``/``*`` allowed as separators), as the
            circuit domain's ``observable`` (:func:`xvanish.theory.pauli.parse_pauli_sum`).
        n: number of qubits.

    Returns:
        ``{(x, z): coefficient}``.

    Raises:
        ConfigError (a ValueError): a bad term or a wire outside ``0 … n−1``.
    """
    return pauli_masks(parse_pauli_sum(text, n))


def _pc(a: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a).astype(np.int64)


def _commutators(ax, az, av, bx, bz, bv):
    """All nonzero ``i[A_t, B_s]`` for Pauli terms: (x, z, value) arrays.

    ``i[P_a, P_b] = 2i·P_a P_b`` when they anticommute (else 0); ``P_a P_b = i^e P_c`` with
    ``c = a ⊕ b`` and ``e = |a_x∧a_z| + |b_x∧b_z| + 2|a_z∧b_x| − |c_x∧c_z|`` (odd when they
    anticommute, so ``i^{e+1}`` is ±1 and real coefficients stay real).
    """
    ax, az, av = (np.asarray(v)[:, None] for v in (ax, az, av))
    bx, bz, bv = (np.asarray(v)[None, :] for v in (bx, bz, bv))
    anti = ((_pc(ax & bz) + _pc(az & bx)) & 1).astype(bool)
    ax, az, av = (np.broadcast_to(v, anti.shape)[anti] for v in (ax, az, av))
    bx, bz, bv = (np.broadcast_to(v, anti.shape)[anti] for v in (bx, bz, bv))
    cx, cz = ax ^ bx, az ^ bz
    e = (_pc(ax & az) + _pc(bx & bz) + 2 * _pc(az & bx) - _pc(cx & cz) + 1) % 4
    return cx, cz, 2.0 * av * bv * np.where(e == 0, 1.0, -1.0)


def _commutator(a: PauliSum, b: PauliSum) -> PauliSum:
    """``i[A, B]`` of two Pauli sums (Hermitian in, Hermitian out)."""
    (ax, az), av = _arrays(a)
    (bx, bz), bv = _arrays(b)
    cx, cz, cv = _commutators(ax, az, av, bx, bz, bv)
    out: PauliSum = {}
    for key, value in zip(zip(cx.tolist(), cz.tolist()), cv.tolist()):
        out[key] = out.get(key, 0.0) + value
    return {k: v for k, v in out.items() if abs(v) > _TOL}


def _arrays(s: PauliSum) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    keys = list(s)
    return (
        (np.array([k[0] for k in keys], dtype=np.int64), np.array([k[1] for k in keys], dtype=np.int64)),
        np.array([s[k] for k in keys], dtype=float),
    )


def product_state(spec: str | list[tuple[float, float, float]], n: int) -> np.ndarray:
    """Bloch vectors ``[n, 3]`` of a product input state.

    Args:
        spec: ``zeros``, ``plus``, ``neel`` (``0101…``), a bitstring such as ``"1000"``, or a
            list of ``n`` Bloch vectors.
        n: number of qubits.
    """
    if isinstance(spec, str):
        if spec == "zeros":
            spec = "0" * n
        elif spec == "neel":
            spec = ("01" * n)[:n]
        if spec == "plus":
            return np.tile([1.0, 0.0, 0.0], (n, 1))
        if len(spec) != n or set(spec) - {"0", "1"}:
            raise ValueError(f"input state {spec!r}: zeros, plus, neel or a bitstring of length {n}")
        return np.array([[0.0, 0.0, 1.0 - 2.0 * int(bit)] for bit in spec])
    bloch = np.asarray(spec, dtype=float)
    if bloch.shape != (n, 3):
        raise ValueError(f"Bloch vectors must have shape ({n}, 3)")
    return bloch


def _state_expectations(bloch: np.ndarray, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``⟨P⟩`` of a product state for each Pauli string: ``Π_i r_i[P_i]``."""
    out = np.ones(len(x))
    for wire, r in enumerate(bloch):
        bx, bz = (x >> wire) & 1, (z >> wire) & 1
        factor = np.where(bx & bz, r[1], np.where(bx, r[0], np.where(bz, r[2], 1.0)))
        out = out * factor
    return out
