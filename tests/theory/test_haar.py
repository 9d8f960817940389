"""Tests of the 2-design formulas in xvanish.theory.haar.

Two independent references:
* THEORY.md §5's check values (computed there from the formula and checked against 40,000
  Haar unitaries), to the four significant digits printed there;
* our own Haar Monte Carlo at n = 2, 3 with scipy.stats.unitary_group: dense d×d matrices,
  no circuit code from xvanish. The tolerance is 4 standard errors of the sample variance,
  SE = sqrt((m₄ − s⁴)/N) from the sample's own fourth central moment (the relative SE is
  sqrt((κ − 1)/N), κ the kurtosis): a correct formula fails with probability ~6e−5, and
  the seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import unitary_group

from xvanish.theory import haar

pytestmark = pytest.mark.vqc

N_MC = 10000  # Haar draws per Monte Carlo check: relative SE ~ sqrt(2/10000) ≈ 1.4%
Z = np.diag([1.0, -1.0]).astype(complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
ZERO = np.diag([1.0, 0.0]).astype(complex)


def _on_wire(single: np.ndarray, wire: int, n: int) -> np.ndarray:
    """``single`` acting on ``wire`` (wire 0 the most significant qubit), identity elsewhere."""
    out = np.eye(1, dtype=complex)
    for w in range(n):
        out = np.kron(out, single if w == wire else np.eye(2))
    return out


def _observable(cost: str, n: int) -> np.ndarray:
    """Dense cost observables: Z0 Z1, 1 − |0…0⟩⟨0…0|, 1 − (1/n)Σ_j |0⟩⟨0|_j."""
    d = 2**n
    builders = {
        "pauli": lambda: _on_wire(Z, 0, n) @ _on_wire(Z, 1, n),
        "global": lambda: np.eye(d) - np.diag(np.eye(d)[0]).astype(complex),
        "local": lambda: np.eye(d) - sum(_on_wire(ZERO, j, n) for j in range(n)) / n,
    }
    return builders[cost]()


def _expectations(states: np.ndarray, h: np.ndarray) -> np.ndarray:
    """⟨ψ|H|ψ⟩ for a batch of states [N, d]."""
    return np.einsum("ni,ij,nj->n", states.conj(), h, states).real


def _variance_and_se(values: np.ndarray) -> tuple[float, float]:
    centred = values - values.mean()
    var = float(np.mean(centred**2)) * values.size / (values.size - 1)
    m4 = float(np.mean(centred**4))
    return var, math.sqrt(max(m4 - var**2, 0.0) / values.size)


def _haar(d: int, seed: int) -> np.ndarray:
    return unitary_group.rvs(d, size=N_MC, random_state=np.random.default_rng(seed))


def _shift_gradient(start: np.ndarray, generators: np.ndarray, after: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Parameter-shift gradient at θ = 0 of ⟨ψ|R†V†HVR|ψ⟩, R = exp(−iθP/2), per draw.

    Args:
        start: states before the gate [N, d]; generators: P per draw [N, d, d];
        after: the circuit after the gate [N, d, d]; h: observable [d, d].
    """
    identity = np.eye(h.shape[0])
    values = []
    for shift in (math.pi / 2, -math.pi / 2):
        gate = math.cos(shift / 2) * identity - 1j * math.sin(shift / 2) * generators
        out = np.einsum("nij,njk,nk->ni", after, gate, start)
        values.append(_expectations(out, h))
    return (values[0] - values[1]) / 2


COST_TRACES = {"pauli": lambda d: (d, 0.0), "global": lambda d: (1.0, 1.0)}


@pytest.mark.parametrize("n, expected", [(2, 0.1067), (3, 0.05644), (4, 0.02953), (5, 0.01517), (6, 0.007694)])
def test_f2_pauli_check_values(n: int, expected: float) -> None:
    # THEORY.md prints four significant digits: agree to half a unit in the last one.
    assert haar.gradient_variance_pauli(n) == pytest.approx(expected, rel=5e-4)


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_named_costs_match_general_traces(n: int) -> None:
    """The named closed forms of THEORY.md equal the general trace formulas (exact algebra)."""
    d = 2.0**n
    assert haar.output_variance_pauli(n) == pytest.approx(1 / (d + 1), rel=1e-12)
    assert haar.output_variance_global(n) == pytest.approx((d - 1) / (d**2 * (d + 1)), rel=1e-12)
    assert haar.gradient_variance_global(n) == pytest.approx(1 / (2 * (d + 1) ** 2), rel=1e-12)
    assert haar.gradient_variance_pauli(n) == pytest.approx(d**2 / (2 * (d - 1) * (d + 1) ** 2), rel=1e-12)
    assert haar.gradient_variance_local(n) == pytest.approx(d**2 / (8 * n * (d + 1) * (d**2 - 1)), rel=1e-12)
    assert haar.output_variance_local(n) == pytest.approx(1 / (4 * n * (d + 1)), rel=1e-12)


@pytest.mark.parametrize("cost", ["pauli", "global", "local"])
@pytest.mark.parametrize("n", [2, 3])
def test_weights_match_dense_observables(cost: str, n: int) -> None:
    """w = Tr H² − (Tr H)²/d of each named cost from its dense matrix (exact up to rounding)."""
    h = _observable(cost, n)
    d = 2**n
    dense = np.trace(h @ h).real - np.trace(h).real ** 2 / d
    assert haar.cost_weight(cost, n) == pytest.approx(dense, rel=1e-12)


@pytest.mark.parametrize("n", [2, 6, 10])
def test_f3_with_a_two_design_start_is_f2(n: int) -> None:
    """F3 with E⟨P⟩² = 1/(d+1) (a 2-design start, F1 for a Pauli) is F2, for every cost."""
    d = 2.0**n
    for cost in ("pauli", "global", "local"):
        w = haar.cost_weight(cost, n)
        f3 = haar.gradient_variance_fixed_start(w, d, haar.output_variance_pauli(n))
        assert f3 == pytest.approx(haar.gradient_variance(w, 0.0, d), rel=1e-12)


def test_random_axis_average_is_one_third_for_pure_qubits() -> None:
    """E⟨P⟩² over X, Y, Z of a pure qubit = 1/3: RY(π/4)|0⟩ and |0⟩ alike; 0 for a mixed one."""
    ry_quarter = [math.sin(math.pi / 4), 0.0, math.cos(math.pi / 4)]
    assert haar.mean_pauli_square_random_axis(ry_quarter) == pytest.approx(1 / 3, rel=1e-12)
    assert haar.mean_pauli_square_random_axis([0, 0, 1]) == pytest.approx(1 / 3, rel=1e-12)
    assert haar.mean_pauli_square_random_axis([0, 0, 0]) == 0.0
    d = 2.0**4
    assert haar.mcclean_first_layer_variance(4) == pytest.approx(d / (3 * (d**2 - 1)), rel=1e-12)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="n_qubits"):
        haar.gradient_variance_pauli(0)
    with pytest.raises(ValueError, match="mean_p_squared"):
        haar.gradient_variance_fixed_start(1.0, 4.0, 1.5)


@pytest.mark.parametrize("cost", ["pauli", "global", "local"])
@pytest.mark.parametrize("n", [2, 3])
def test_f1_and_shot_variance_monte_carlo(cost: str, n: int) -> None:
    """F1 and the mean single-shot variance against Haar-random output states."""
    d, h = 2**n, _observable(cost, n)
    states = _haar(d, seed=10 + n)[:, :, 0]
    values = _expectations(states, h)
    var, se = _variance_and_se(values)
    w = haar.cost_weight(cost, n)
    assert abs(var - haar.output_variance(w + 0.0, 0.0, d)) < 4 * se
    # E[⟨H²⟩ − ⟨H⟩²]: per-draw single-shot variance, its mean has SE = sd/√N.
    single_shot = _expectations(states, h @ h) - values**2
    expected = haar.shot_variance(w, d)
    assert abs(single_shot.mean() - expected) < 4 * single_shot.std(ddof=1) / math.sqrt(N_MC)


@pytest.mark.parametrize("cost", ["pauli", "global", "local"])
@pytest.mark.parametrize("n", [2, 3])
def test_f2_monte_carlo(cost: str, n: int) -> None:
    """Both sides Haar: Var of the parameter-shift gradient of a Z rotation on wire 0."""
    d, h = 2**n, _observable(cost, n)
    before, after = _haar(d, seed=20 + n), _haar(d, seed=30 + n)
    generators = np.broadcast_to(_on_wire(Z, 0, n), (N_MC, d, d))
    grads = _shift_gradient(before[:, :, 0], generators, after, h)
    var, se = _variance_and_se(grads)
    expected = haar.gradient_variance(haar.cost_weight(cost, n), 0.0, d)
    assert abs(grads.mean()) < 4 * math.sqrt(var / N_MC)  # E[∂C] = 0
    assert abs(var - expected) < 4 * se


@pytest.mark.parametrize("cost", ["pauli", "global"])
@pytest.mark.parametrize("n", [2, 3])
def test_f3_monte_carlo_mcclean_first_layer(cost: str, n: int) -> None:
    """RY(π/4) product start, random axis on wire 0, Haar after: ⅓·w/(d²−1)."""
    d, h = 2**n, _observable(cost, n)
    ry = np.array([[math.cos(math.pi / 8), -math.sin(math.pi / 8)], [math.sin(math.pi / 8), math.cos(math.pi / 8)]])
    qubit = ry @ np.array([1.0, 0.0])
    start = np.array([1.0 + 0j])
    for _ in range(n):
        start = np.kron(start, qubit)
    axes = np.random.default_rng(40 + n).integers(0, 3, size=N_MC)
    paulis = np.stack([_on_wire(p, 0, n) for p in (X, Y, Z)])
    grads = _shift_gradient(np.broadcast_to(start, (N_MC, d)), paulis[axes], _haar(d, seed=50 + n), h)
    var, se = _variance_and_se(grads)
    assert abs(var - haar.mcclean_first_layer_variance(n, haar.cost_weight(cost, n))) < 4 * se


def test_layered_values_only_where_the_premise_can_hold() -> None:
    """n = 3, 8 layers: F3 at layer 0 (7 after), F2 where >= 3 layers lie on each side (3, 4),
    none for layers 1, 2 (shallow before) and 5..7 (shallow after); F1 needs n_layers >= n."""
    n, layers, w, d = 3, 8, 8.0, 8.0
    values = {layer: haar.layered_gradient_variance(n, layers, layer, w, 1 / 3) for layer in range(layers)}
    assert values[0] == pytest.approx(haar.gradient_variance_fixed_start(w, d, 1 / 3), rel=1e-12)
    assert values[3] == values[4] == pytest.approx(haar.gradient_variance(w, 0.0, d), rel=1e-12)
    assert [layer for layer, value in values.items() if value is None] == [1, 2, 5, 6, 7]
    assert haar.layered_cost_variance(3, 2, w) is None
    assert haar.layered_cost_variance(3, 3, w) == pytest.approx(1 / 9, rel=1e-12)  # w/(d(d+1)) = 8/72
    cost_term, grad_term = haar.shot_terms(w, n, 50)
    assert cost_term == pytest.approx(8 / 9 / 50, rel=1e-12) and grad_term == pytest.approx(cost_term / 2, rel=1e-12)


def test_depth_one_shot_variance_by_quadrature() -> None:
    """E[p₀(1 − p₀)] of p₀ = Π_j p_j, each p_j = |⟨0|R_P(θ)RY(π/4)|0⟩|² with P uniform over X, Y, Z
    and θ over a 64-point grid (exact for these trigonometric polynomials): 2×2 matrices here,
    against the Bloch-vector moments of haar.depth_one_global_shot_variance."""
    start = np.array([math.cos(math.pi / 8), math.sin(math.pi / 8)], dtype=complex)
    thetas = np.linspace(0, 2 * math.pi, 64, endpoint=False)
    p = np.array(
        [
            abs(((math.cos(t / 2) * np.eye(2) - 1j * math.sin(t / 2) * pauli) @ start)[0]) ** 2
            for pauli in (X, Y, Z)
            for t in thetas
        ]
    )
    bloch = (math.sqrt(0.5), 0.0, math.sqrt(0.5))
    for n in (1, 2, 4):
        exact = p.mean() ** n - (p**2).mean() ** n
        assert haar.depth_one_global_shot_variance(n, bloch) == pytest.approx(exact, rel=1e-12)
