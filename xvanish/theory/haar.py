"""Unitary 2-design (Haar) variances of quantum-circuit costs and gradients (numpy only).

The formulas behind the barren-plateau results of McClean et al. 2018 ("Barren plateaus in
quantum neural network training landscapes", Nat. Commun. 9, 4812) and Cerezo et al. 2021
("Cost function dependent barren plateaus in shallow parametrized quantum circuits",
Nat. Commun. 12, 1791), in the form of THEORY.md §5.

Conventions: ``n`` qubits, ``d = 2**n``; gates ``exp(−iθP/2)`` with ``P`` a Pauli string
(``P² = 1``); a pure input state; the gradient ``∂C`` of ``C(θ) = ⟨ψ|U(θ)† H U(θ)|ψ⟩`` with
respect to one angle, as the parameter shift gives it. Every formula depends on the cost
observable ``H`` only through ``w = Tr H² − (Tr H)²/d``, the squared Hilbert–Schmidt norm of
its traceless part (the identity part of ``H`` shifts ``C`` but has no variance):

* F1 (output state a 2-design): ``Var⟨H⟩ = w / (d(d+1))``.
* F2 (circuits before and after the angle both 2-designs): ``E[∂C] = 0`` and
  ``Var[∂C] = d·w / (2(d+1)(d²−1))``.
* F3 (only the circuit after the angle a 2-design, fixed pure state ``ψ`` before it):
  ``Var[∂C] = ½(1 − E⟨P⟩²_ψ)·w / (d²−1)``.

Derivation of F2/F3 (two lines; THEORY.md checks them against 40,000 Haar unitaries): with
``X = V†H₀V`` (``V`` the circuit after the angle, ``H₀`` the traceless part of ``H``),
``∂C = ⟨ψ|(i/2)[P, X]|ψ⟩``. The Haar twirl ``E[X⊗X] = w(SWAP − 1/d)/(d²−1)`` gives
``E[∂C²] = w·Tr(B²)/(d²−1)`` with ``B = (i/2)[ρ, P]`` and ``Tr B² = ½(1 − ⟨P⟩²)`` for a pure
``ρ`` (F3). Averaging a 2-design state ``ψ`` as well, ``E⟨P⟩² = 1/(d+1)`` (F1 with
``w = d``), which turns F3 into F2.

Cost observables of the vqc domain, with their ``w``:

* ``pauli`` — any non-identity Pauli string (``Z0 Z1``): ``Tr H² = d``, ``Tr H = 0``, ``w = d``.
* ``global`` — ``C = 1 − p(0…0)``, ``H = 1 − |0…0⟩⟨0…0|``: ``w = (d−1)/d``.
* ``local`` — ``C = 1 − (1/n)Σ_j p_j(0)``, ``H = 1 − (1/n)Σ_j (1 + Z_j)/2``:
  ``H₀ = −(1/(2n))Σ_j Z_j``, ``w = d/(4n)``.

These are the *deep-circuit limit*: a layered circuit reaches them only once it is deep
enough to be a 2-design (THEORY.md, "how deep is deep": McClean's circuit needs ~100 layers
at n = 10). Shallow circuits with local costs do better (Cerezo et al. 2021); global costs
do not.

Example:
    >>> round(gradient_variance_pauli(2), 4)
    0.1067
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "depth_one_global_shot_variance",
    "depth_one_global_variances",
    "layered_cost_variance",
    "layered_gradient_variance",
    "shot_terms",
    "depth_one_projector_moments",
    "COST_WEIGHTS",
    "cost_weight",
    "gradient_variance",
    "gradient_variance_fixed_start",
    "gradient_variance_global",
    "gradient_variance_local",
    "gradient_variance_pauli",
    "mcclean_first_layer_variance",
    "mean_pauli_square_random_axis",
    "output_variance",
    "output_variance_global",
    "output_variance_local",
    "output_variance_pauli",
    "shot_variance",
    "traceless_weight",
]


def _dimension(n_qubits: int) -> float:
    if int(n_qubits) != n_qubits or n_qubits < 1:
        raise ValueError(f"n_qubits={n_qubits!r}: must be an integer >= 1")
    return float(2 ** int(n_qubits))


def traceless_weight(tr_h2: float, tr_h: float, d: float) -> float:
    """``w = Tr H² − (Tr H)²/d``: the squared norm of the traceless part of ``H``.

    Args:
        tr_h2: ``Tr H²``.
        tr_h: ``Tr H``.
        d: the Hilbert-space dimension ``2**n``.

    Returns:
        ``w`` (>= 0 for Hermitian ``H``).
    """
    return float(tr_h2) - float(tr_h) ** 2 / float(d)


#: cost name -> ``w(n)`` (see the module docstring for each derivation).
COST_WEIGHTS: dict[str, Callable[[int], float]] = {
    "pauli": lambda n: _dimension(n),
    "global": lambda n: (_dimension(n) - 1.0) / _dimension(n),
    "local": lambda n: _dimension(n) / (4.0 * n),
}


def cost_weight(cost: str, n_qubits: int) -> float:
    """``w = Tr H² − (Tr H)²/d`` of a named cost observable (``pauli``, ``global``, ``local``).

    Raises:
        KeyError: for a name not in :data:`COST_WEIGHTS`.
    """
    return COST_WEIGHTS[cost](n_qubits)


def output_variance(tr_h2: float, tr_h: float, d: float) -> float:
    """F1: ``Var⟨H⟩`` over output states drawn from a state 2-design.

    ``E⟨ψ|H|ψ⟩² = (Tr H² + (Tr H)²)/(d(d+1))`` (second moment of a Haar-random state), so
    ``Var⟨H⟩ = (Tr H² − (Tr H)²/d) / (d(d+1))`` (McClean et al. 2018, supplementary).

    Args:
        tr_h2: ``Tr H²``.
        tr_h: ``Tr H``.
        d: dimension ``2**n``.

    Returns:
        The variance of the cost over the 2-design.
    """
    return traceless_weight(tr_h2, tr_h, d) / (d * (d + 1.0))


def output_variance_pauli(n_qubits: int) -> float:
    """F1 for a Pauli-string observable: ``1/(d+1)``."""
    d = _dimension(n_qubits)
    return output_variance(d, 0.0, d)


def output_variance_global(n_qubits: int) -> float:
    """F1 for the global projector ``|0…0⟩⟨0…0|`` (or ``1 −`` it): ``(d−1)/(d²(d+1))``."""
    d = _dimension(n_qubits)
    return output_variance(1.0, 1.0, d)


def output_variance_local(n_qubits: int) -> float:
    """F1 for the local cost ``1 − (1/n)Σ_j p_j(0)``: ``1/(4n(d+1))``."""
    return output_variance(cost_weight("local", n_qubits), 0.0, _dimension(n_qubits))


def gradient_variance(tr_h2: float, tr_h: float, d: float) -> float:
    """F2: ``Var[∂C]`` when the circuits before and after the angle are both 2-designs.

    ``Var[∂C] = [d/(2(d+1))]·(Tr H² − (Tr H)²/d)/(d² − 1)``; the mean is 0. McClean et al.
    2018 (both sides 2-designs); Cerezo et al. 2021, Supplementary Note on global costs.

    Args:
        tr_h2: ``Tr H²``.
        tr_h: ``Tr H``.
        d: dimension ``2**n``.

    Returns:
        The variance of the parameter-shift gradient of one angle.
    """
    return d / (2.0 * (d + 1.0)) * traceless_weight(tr_h2, tr_h, d) / (d * d - 1.0)


def gradient_variance_pauli(n_qubits: int) -> float:
    """F2 for a Pauli string: ``d²/(2(d−1)(d+1)²)`` ≈ ``2^−(n+1)``."""
    d = _dimension(n_qubits)
    return gradient_variance(d, 0.0, d)


def gradient_variance_global(n_qubits: int) -> float:
    """F2 for the global cost ``1 − p(0…0)``: ``1/(2(d+1)²)``."""
    d = _dimension(n_qubits)
    return gradient_variance(1.0, 1.0, d)


def gradient_variance_local(n_qubits: int) -> float:
    """F2 for the local cost ``1 − (1/n)Σ_j p_j(0)``: ``d²/(8n(d+1)(d²−1))``.

    Locality does not rescue a circuit deep enough to be a 2-design (Cerezo et al. 2021).
    """
    return gradient_variance(cost_weight("local", n_qubits), 0.0, _dimension(n_qubits))


def gradient_variance_fixed_start(weight: float, d: float, mean_p_squared: float) -> float:
    """F3: ``Var[∂C]`` when only the circuit after the angle is a 2-design.

    ``Var[∂C] = ½(1 − E⟨P⟩²)·w/(d² − 1)``, where ``⟨P⟩`` is the generator's expectation in
    the (pure) state just before the gate and the mean is over whatever is random in that
    state and in the choice of ``P``. McClean et al. 2018 (their θ₁,₁ in the first layer).

    Args:
        weight: ``w = Tr H² − (Tr H)²/d`` of the cost observable (:func:`cost_weight`).
        d: dimension ``2**n``.
        mean_p_squared: ``E⟨P⟩²`` in the state before the gate, in [0, 1].

    Returns:
        The variance of the parameter-shift gradient.

    Raises:
        ValueError: for ``mean_p_squared`` outside [0, 1].
    """
    if not 0.0 <= mean_p_squared <= 1.0:
        raise ValueError(f"mean_p_squared={mean_p_squared!r}: must be in [0, 1]")
    return 0.5 * (1.0 - mean_p_squared) * weight / (d * d - 1.0)


def mean_pauli_square_random_axis(bloch: np.ndarray | list[float]) -> float:
    """``E⟨P⟩²`` for ``P`` drawn uniformly from {X, Y, Z} on a qubit with Bloch vector ``r``.

    ``⟨X⟩, ⟨Y⟩, ⟨Z⟩ = r_x, r_y, r_z``, so ``E⟨P⟩² = (r_x² + r_y² + r_z²)/3 = |r|²/3``. In a
    product state every qubit is pure (``|r| = 1``) and the average is ``1/3`` whatever
    the state: McClean's RY(π/4) start layer, ``r = (1/√2, 0, 1/√2)``, gives
    ``(½ + 0 + ½)/3 = 1/3``, exactly as ``|0⟩`` would. The start layer matters for a *fixed*
    axis (RY on ``|0⟩``: ``⟨Y⟩ = 0``; RX or RZ after RY(π/4): ``⟨P⟩² = ½``), not for the
    random one.

    Args:
        bloch: the qubit's Bloch vector ``(r_x, r_y, r_z)`` (its reduced state).

    Returns:
        ``|r|²/3``.
    """
    r = np.asarray(bloch, dtype=float)
    return float(r @ r) / 3.0


def mcclean_first_layer_variance(n_qubits: int, weight: float | None = None) -> float:
    """F3 for McClean's θ₁,₁: a random-axis rotation on a product state, deep circuit after.

    With ``E⟨P⟩² = 1/3`` (:func:`mean_pauli_square_random_axis`),
    ``Var[∂C] = ⅓·w/(d² − 1)``; for a Pauli string (``w = d``, e.g. ``Z0 Z1``) this is
    ``d/(3(d² − 1))`` (McClean et al. 2018, Fig. 3 set-up; THEORY.md §5).

    Args:
        n_qubits: number of qubits.
        weight: ``w`` of the cost observable; default a Pauli string (``w = d``).

    Returns:
        The predicted variance of the gradient of the first-layer angle.
    """
    d = _dimension(n_qubits)
    w = d if weight is None else float(weight)
    return gradient_variance_fixed_start(w, d, 1.0 / 3.0)


def shot_variance(weight: float, d: float) -> float:
    """Mean single-shot variance ``E[⟨H²⟩ − ⟨H⟩²]`` over 2-design output states.

    With ``E⟨H²⟩ = Tr H²/d`` and ``E⟨H⟩² = (Tr H² + (Tr H)²)/(d(d+1))`` the mean single-shot
    variance is ``w/(d+1)``. A cost estimated from ``s`` shots then has variance
    ``Var[C] + w/((d+1)s)`` and a parameter-shift gradient
    ``(Ĉ₊ − Ĉ₋)/2`` has ``Var[∂C] + 2·w/((d+1)·4s)`` (law of total variance; the shot
    noise of the two shifted estimates is independent and has mean zero). For a ±1
    observable (a Pauli string) the single-shot variance is ``1 − ⟨H⟩²`` and the mean
    ``d/(d+1)``.

    Args:
        weight: ``w = Tr H² − (Tr H)²/d``.
        d: dimension ``2**n``.

    Returns:
        ``w/(d+1)``.
    """
    return float(weight) / (float(d) + 1.0)


def depth_one_projector_moments(bloch: np.ndarray | list[float]) -> tuple[float, float, float]:
    """E p, E p² and E (dp/dθ)² of p = P(qubit in |0⟩) after one random-axis rotation.

    The qubit starts at Bloch vector (x, y, z); then RX, RY or RZ (one third each) with
    θ ~ U[0, 2π). With z' the new z component, p = (1 + z')/2 and, averaging over θ:
    RX: z' = z cos θ ∓ y sin θ; RY: z' = z cos θ ∓ x sin θ; RZ: z' = z.
    So E z' = z/3, E z'² = [(z² + y²)/2 + (z² + x²)/2 + z²]/3 and
    E (dz'/dθ)² = [(z² + y²)/2 + (z² + x²)/2]/3.

    Args:
        bloch: the start state's Bloch vector (a pure state: unit length).

    Returns:
        ``(E p, E p², E p'²)``.
    """
    x, y, z = (float(v) for v in bloch)
    mean_z = z / 3.0
    mean_z2 = ((z * z + y * y) / 2 + (z * z + x * x) / 2 + z * z) / 3.0
    mean_dz2 = ((z * z + y * y) / 2 + (z * z + x * x) / 2) / 3.0
    return (1 + mean_z) / 2, (1 + 2 * mean_z + mean_z2) / 4, mean_dz2 / 4


def depth_one_global_variances(n_qubits: int, bloch: np.ndarray | list[float]) -> tuple[float, float]:
    """Exact Var C and Var ∂C/∂θ_j for one random-axis layer and the global projector cost.

    PennyLane's barren-plateau demo set-up (depth 1, C = ⟨0…0|ρ|0…0⟩ or 1 − that, any
    wire's angle): the entangler is a CZ ladder, diagonal like the projector, so
    p(0…0) = Π_j p_j factorises over independent qubits. Hence Var C = (E p²)ⁿ − (E p)²ⁿ
    and, since E p' = 0 for a periodic p, Var ∂C = E p'² (E p²)^(n−1): ln Var ∂C is exactly
    linear in n with slope ln E p² (−0.7507 for the RY(π/4) start; THEORY.md's −0.868 for
    this set-up could not be reproduced). This is a product-state plateau, not a 2-design one.

    Args:
        n_qubits: n.
        bloch: every qubit's start Bloch vector.

    Returns:
        ``(Var C, Var ∂C/∂θ_j)``.
    """
    mean_p, mean_p2, mean_dp2 = depth_one_projector_moments(bloch)
    return mean_p2**n_qubits - mean_p ** (2 * n_qubits), mean_dp2 * mean_p2 ** (n_qubits - 1)


def depth_one_global_shot_variance(n_qubits: int, bloch: np.ndarray | list[float]) -> float:
    """Mean single-shot variance E[p₀(1 − p₀)] of the global projector in the depth-one set-up.

    With p₀ = Π_j p_j over independent qubits (:func:`depth_one_global_variances`),
    E p₀ = (E p)ⁿ and E p₀² = (E p²)ⁿ, so E[p₀(1 − p₀)] = (E p)ⁿ − (E p²)ⁿ. A shifted angle
    θ ± π/2 of a uniform θ is uniform again, so the shifted circuits have the same mean:
    ``s`` shots add exactly this / s to Var C and 2·this/(4s) to Var ∂C.

    Args:
        n_qubits: n.
        bloch: every qubit's start Bloch vector.

    Returns:
        ``(E p)ⁿ − (E p²)ⁿ``.
    """
    mean_p, mean_p2, _ = depth_one_projector_moments(bloch)
    return mean_p**n_qubits - mean_p2**n_qubits


def layered_cost_variance(n_qubits: int, n_layers: int, weight: float) -> float | None:
    """F1 for a layered circuit with a nearest-neighbour entangler, where its premise can hold.

    A circuit can be a 2-design only once every wire can reach every other: at least
    ``n_qubits`` layers of a nearest-neighbour entangler (the light cone). Shallower
    circuits get no value (``None``): the formula's premise fails there. Convergence
    itself takes longer (about 10n layers for McClean's circuit at n = 10), so even where a
    value is given it is the deep-circuit *limit*.

    Args:
        n_qubits: n.
        n_layers: layers of the circuit.
        weight: ``w`` of the cost observable (:func:`cost_weight`).

    Returns:
        ``w/(d(d+1))`` if ``n_layers >= n_qubits``, else ``None``.
    """
    if n_layers < n_qubits:
        return None
    d = _dimension(n_qubits)
    return output_variance(weight, 0.0, d)


def layered_gradient_variance(
    n_qubits: int, n_layers: int, layer: int, weight: float, mean_p_squared: float
) -> float | None:
    """F3 or F2 for an angle of layer ``layer`` (0-based), where the premise can hold.

    * layer 0 with at least ``n_qubits`` layers after it: F3, the state before the angle a
      known product state with ``E⟨P⟩² = mean_p_squared``;
    * a layer with at least ``n_qubits`` layers before *and* after it: F2;
    * otherwise ``None``: a side the formula takes as a 2-design is shallower than the
      light cone (an angle outside the observable's cone has gradient exactly 0, where F2
      would claim a finite value).

    Args:
        n_qubits: n.
        n_layers: layers of the circuit.
        layer: the angle's layer, ``0 <= layer < n_layers``.
        weight: ``w`` of the cost observable.
        mean_p_squared: ``E⟨P⟩²`` of the generator in the start state (used for layer 0).

    Returns:
        The limit variance, or ``None``.
    """
    layers_after = n_layers - 1 - layer
    if layers_after < n_qubits or 0 < layer < n_qubits:
        return None
    d = _dimension(n_qubits)
    if layer == 0:
        return gradient_variance_fixed_start(weight, d, mean_p_squared)
    return gradient_variance(weight, 0.0, d)


def shot_terms(weight: float, n_qubits: int, shots: int) -> tuple[float, float]:
    """What ``shots`` measurement shots add to Var C and to Var ∂C (parameter shift), 2-design mean.

    Law of total variance with the mean single-shot variance :func:`shot_variance`:
    ``w/((d+1)s)`` for the cost and ``2·w/((d+1)·4s)`` for ``(Ĉ₊ − Ĉ₋)/2``.

    Returns:
        ``(cost term, gradient term)``.
    """
    single = shot_variance(weight, _dimension(n_qubits))
    return single / shots, 2.0 * single / (4.0 * shots)
