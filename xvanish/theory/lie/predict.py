"""Purities and the deep-circuit predictions: mean, Var[C] and Var[∂C] per gate (Ragone et al. 2024)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .algebra import (
    MAX_DIM,
    LieAlgebra,
    LieTooLarge,
    _ad_on_support,
    _check_memory,
    _invariant_span,
    _key_index,
    _orthonormal_rows,
)
from .circuits import sum_key
from .paulis import PauliSum, _arrays, _commutator, _commutators, _state_expectations, product_state


def _overlaps_operator(rows: np.ndarray, keys: np.ndarray, op: PauliSum, n: int) -> np.ndarray:
    """``Tr(B_a O)`` for basis rows over ``keys``: ``√d Σ_s c_s o_s``."""
    (x, z), v = _arrays(op)
    idx = _key_index(keys, x, z, n)
    vec = np.zeros(len(keys))
    vec[idx[idx >= 0]] = v[idx >= 0]
    return np.sqrt(2.0**n) * rows @ vec


def _overlaps_state(rows: np.ndarray, keys: np.ndarray, bloch: np.ndarray) -> np.ndarray:
    """``Tr(B_a ρ)`` for a product state: ``Σ_s c_s ⟨P_s⟩ / √d``."""
    n = len(bloch)
    return rows @ _state_expectations(bloch, keys[:, 0], keys[:, 1]) / np.sqrt(2.0**n)


def purity(
    rows: np.ndarray, keys: np.ndarray, n: int, *, op: PauliSum | None = None, bloch: np.ndarray | None = None
) -> float:
    """g-purity ``Σ_a Tr(B_a X)²`` of an operator (Pauli sum) or a product state over basis rows.

    Args:
        rows: orthonormal basis rows over ``keys`` (an ideal's ``basis``, the centre).
        keys: ``[S, 2]`` Pauli strings of the rows.
        n: qubits.
        op: ``X`` as a Pauli sum, or
        bloch: ``X = ρ`` a product state (Bloch vectors ``[n, 3]``).
    """
    if op is not None:
        return float(np.sum(_overlaps_operator(rows, keys, op, n) ** 2))
    return float(np.sum(_overlaps_state(rows, keys, np.asarray(bloch, float)) ** 2))


def adjoint_norm_squared(h: PauliSum, rows: np.ndarray, keys: np.ndarray, n: int) -> float:
    """``‖ad_H|_V‖²_F = Σ_a ‖[H, B_a]‖²_HS`` over orthonormal rows spanning an invariant ``V``.

    ``[H, B]`` = ``−i·(i[H, B])`` has HS norm² ``Σ_u c_u²`` over Pauli coefficients (the
    ``1/√d`` of ``B`` and the ``d`` of ``Tr P²`` cancel); computed on the full image, not
    only the support, so it is right for any ``V``.
    """
    (hx, hz), hv = _arrays(h)
    total = 0.0
    for row in rows:
        nz = np.flatnonzero(np.abs(row) > 1e-14)
        cx, cz, cv = _commutators(hx, hz, hv, keys[nz, 0], keys[nz, 1], row[nz])
        code = cx << n | cz
        uniq, inv = np.unique(code, return_inverse=True)
        total += float(np.sum(np.bincount(inv, weights=cv, minlength=len(uniq)) ** 2))
    return total


@dataclass
class Prediction:
    """The deep-circuit (2-design over ``e^g``) moments of ``C`` and of ``∂θC`` per gate.

    Attributes:
        mean_cost: ``E[C]``.
        var_cost: ``Var[C]``.
        var_grad: generator label -> ``Var[∂θC]`` for the gate ``exp(−iθH)``.
        parts: per ideal / invariant subspace: ``dim``, ``purity_state``, ``purity_observable``.
        outside: the part of ``O`` outside ``g`` was handled by its invariant subspace.
    """

    mean_cost: float
    var_cost: float
    var_grad: dict[str, float]
    parts: list[dict[str, float]]
    outside: bool


def predict(
    alg: LieAlgebra, state: Any, observable: PauliSum, gates: dict[str, PauliSum] | None = None, max_dim: int = MAX_DIM
) -> Prediction:
    """Predicted mean and variance of ``C`` and ``Var[∂θC]`` for each gate in ``gates``.

    Args:
        alg: from :func:`lie_algebra`.
        state: a product state (:func:`product_state` spec or Bloch vectors ``[n, 3]``).
        observable: ``O`` as a Pauli sum (:func:`pauli_sum`).
        gates: label -> ``H`` of the gate ``exp(−iθH)`` (``exp(−iθP/2)``: ``H = P/2``;
            THEORY §5b pitfall 4: the convention scales ``Var[∂C]`` by 4, not ``Var[C]``).
        max_dim: the largest invariant subspace built for an ``O`` outside ``g``.

    Returns:
        :class:`Prediction`.

    Raises:
        LieTooLarge: the invariant subspace of ``O`` outside ``g`` exceeds ``max_dim``.

    Example:
        >>> alg = lie_algebra(tfim_generators(6), 6)
        >>> round(predict(alg, "zeros", pauli_sum("Z0", 6)).var_cost, 5)  # outside g: 1/12
        0.08333
    """
    n = alg.n
    d = 2.0**n
    bloch = product_state(state, n) if isinstance(state, str) else np.asarray(state, float)
    gates = gates or {}
    identity = observable.get((0, 0), 0.0)
    traceless = {k: v for k, v in observable.items() if k != (0, 0)}
    if alg.universal:
        p_rho = _purity_product(bloch) - 1.0 / d
        p_obs = d * sum(v * v for v in traceless.values())
        dim = d * d - 1
        grads = {
            label: p_rho * p_obs * (2 * d * d * sum(v * v for k, v in h.items() if k != (0, 0))) / dim**2
            for label, h in gates.items()
        }
        return Prediction(
            identity,
            p_rho * p_obs / dim,
            grads,
            [{"dim": dim, "purity_state": p_rho, "purity_observable": p_obs}],
            False,
        )
    parts, rows_list = [], []
    mean = identity + float(
        _overlaps_state(alg.centre, alg.keys, bloch) @ _overlaps_operator(alg.centre, alg.keys, traceless, n)
    )
    for ideal in alg.ideals:
        rows_list.append((ideal.basis, alg.keys))
    # the part of O outside g: its own invariant subspace, not its projection (pitfall 1)
    in_g = _overlaps_operator(alg.basis, alg.keys, traceless, n) / np.sqrt(d)  # coefficients of O_g in basis rows
    o_g_coef = in_g @ alg.basis
    rest = dict(traceless)
    for (x, z), c in zip(alg.keys.tolist(), o_g_coef.tolist()):
        rest[(x, z)] = rest.get((x, z), 0.0) - c
    rest = {k: v for k, v in rest.items() if abs(v) > 1e-12}
    outside = bool(rest)
    if outside:
        # the split depends on O and g only: kept on the algebra for the next gate's prediction
        cache_key = ("outside", sum_key(rest))
        if cache_key not in alg.cache:
            keys, rows = _module(rest, alg.generators, n, max_dim)
            alg.cache[cache_key] = (keys, *_irreducible_parts(alg, rows, keys))
        keys, parts_out, fixed = alg.cache[cache_key]
        # a part g acts on trivially is a constant of the circuit: it moves the mean only
        mean += float(_overlaps_state(fixed, keys, bloch) @ _overlaps_operator(fixed, keys, rest, n))
        rows_list += [(part, keys) for part in parts_out]
    var_cost, grads = 0.0, {label: 0.0 for label in gates}
    for rows, keys in rows_list:
        dim = rows.shape[0]
        p_rho = float(np.sum(_overlaps_state(rows, keys, bloch) ** 2))
        p_obs = float(np.sum(_overlaps_operator(rows, keys, traceless, n) ** 2))
        parts.append({"dim": dim, "purity_state": p_rho, "purity_observable": p_obs})
        var_cost += p_rho * p_obs / dim
        for label, h in gates.items():
            grads[label] += p_rho * p_obs * adjoint_norm_squared(h, rows, keys, n) / dim**2
    return Prediction(mean, var_cost, grads, parts, outside)


def _purity_product(bloch: np.ndarray) -> float:
    """``Tr ρ²`` of a product state: ``Π (1 + |r_i|²)/2``."""
    return float(np.prod((1.0 + np.sum(bloch**2, axis=1)) / 2.0))


def _irreducible_parts(
    alg: LieAlgebra, rows: np.ndarray, keys: np.ndarray, seed: int = 1
) -> tuple[list[np.ndarray], np.ndarray]:
    """Split an invariant subspace (orthonormal ``rows`` over ``keys``) into irreducible parts.

    As for the ideals (:func:`_split`): a weight vector of a random ``x ∈ g`` (an eigenvector
    of ``ad_x`` with a nonzero, isolated eigenvalue) lies in one irreducible part, which is
    the invariant subspace it generates; the orthogonal complement is invariant too (the
    action is orthogonal), so the split recurses on it. A remainder on which ``g`` acts
    trivially is returned apart. Assumes the parts are pairwise inequivalent (each occurs
    once), as for every family tested here.

    Returns:
        The parts' rows over ``keys``, and the rows of the trivial remainder.
    """
    n = alg.n
    _check_memory(len(alg.generators), len(keys), "invariant subspace of the observable (support)")
    ads = [rows @ _ad_on_support(h, keys, n) @ rows.T for h in alg.generators]
    x = np.random.default_rng(seed).standard_normal(alg.dim) @ alg.basis
    x_sum = {tuple(k): v for k, v in zip(alg.keys.tolist(), x.tolist()) if abs(v) > 1e-14}
    ad_x = rows @ _ad_on_support(x_sum, keys, n) @ rows.T
    remaining = np.eye(len(rows))
    parts = []
    while len(remaining):
        values, vectors = np.linalg.eigh(1j * (remaining @ ad_x @ remaining.T))
        scale = max(1.0, float(np.abs(values).max()))
        gaps = np.array(
            [np.min(np.abs(np.delete(values, k) - values[k])) if len(values) > 1 else scale for k in range(len(values))]
        )
        candidates = np.flatnonzero(values > 1e-8 * scale)
        if len(candidates) == 0:
            break  # g acts as 0 on what is left (ad_x = 0 for a generic x)
        k = candidates[np.argmax(gaps[candidates])]
        v = np.stack([vectors[:, k].real, vectors[:, k].imag]) @ remaining
        part = _invariant_span(v, ads, len(rows))
        parts.append(part)
        rest = remaining - (remaining @ part.T) @ part
        remaining = _orthonormal_rows(rest) if np.abs(rest).max() > 1e-7 else rest[:0]
    return [p @ rows for p in parts], remaining @ rows


def _module(op: PauliSum, generators: list[PauliSum], n: int, max_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Support keys and orthonormal rows of the invariant subspace ``op`` generates under ``ad_{H_k}``
    (Krylov: ``op``, then the commutators of each new direction with every generator)."""
    span_keys: dict[tuple[int, int], int] = {k: i for i, k in enumerate(op)}
    basis = np.zeros((0, 0))
    frontier = [dict(op)]
    while frontier:
        for v in frontier:
            for k in v:
                span_keys.setdefault(k, len(span_keys))
        width = len(span_keys)
        mats = []
        for v in frontier:
            vec = np.zeros(width)
            for k, c in v.items():
                vec[span_keys[k]] = c
            mats.append(vec)
        if basis.size:
            basis = np.pad(basis, ((0, 0), (0, width - basis.shape[1])))
        cand = np.array(mats)
        if basis.size:
            cand = cand - cand @ basis.T @ basis
            cand = cand - cand @ basis.T @ basis
        new = _orthonormal_rows(cand, tol=1e-7) if np.abs(cand).max() > 1e-7 else cand[:0]
        basis = new if not basis.size else np.concatenate([basis, new])
        if len(basis) > max_dim:
            raise LieTooLarge(f"invariant subspace of the observable has dim > {max_dim} (limit max_dim); not built")
        keys_list = list(span_keys)
        frontier = []
        for row in new:
            sum_ = {keys_list[i]: c for i, c in enumerate(row) if abs(c) > 1e-14}
            frontier += [_commutator(h, sum_) for h in generators]
        frontier = [f for f in frontier if f]
    keys_list = list(span_keys)
    order = np.argsort([x << n | z for x, z in keys_list])
    keys = np.array(keys_list, dtype=np.int64)[order]
    return keys, basis[:, order]
