"""Mean-field signal propagation (xvanish.theory.meanfield) against independent numbers.

References: THEORY.md §1's table and critical line (computed there independently and
quoted to 4–5 digits: we require agreement to half a unit of the last quoted digit),
closed forms for linear and ReLU maps, and scipy.integrate.quad for every expectation.
"""

import math

import numpy as np
import pytest
from scipy import integrate

from xvanish.theory import meanfield as mf

# --- quadrature ---------------------------------------------------------------------------


def _quad_expectation(f, q):
    """E[f(x)], x ~ N(0, q), by adaptive quad on x-pieces split at 0 and at 1, 5 σ.

    The Gaussian beyond 12σ weighs < 1e−32 and f grows at most like x², so the pieces
    stop there. Independent of the module's panel rule (different variable, different
    nodes, adaptive).
    """
    s = math.sqrt(q)

    def integrand(x):
        return float(f(np.array([x]))[0]) * math.exp(-x * x / (2 * q)) / math.sqrt(2 * math.pi * q)

    cuts = sorted({0.0, min(1.0, s), s, 5 * s, 12 * s})
    total = 0.0
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        for a, b in ((lo, hi), (-hi, -lo)):
            total += integrate.quad(integrand, a, b, epsabs=0.0, epsrel=1e-12, limit=400)[0]
    return total


def _moments(name):
    act = mf.ACTIVATIONS[name]
    return {"phi^2": lambda x: act.phi(x) ** 2, "dphi^2": lambda x: act.dphi(x) ** 2}


@pytest.mark.parametrize("q", [1e-3, 0.3, 1.0, 4.0, 100.0, 1e6])
@pytest.mark.parametrize("name", sorted(mf.ACTIVATIONS))
def test_gaussian_expectation_matches_quad(name, q):
    # The panel rule is exact to rounding for these piecewise-smooth integrands; 1e-9
    # leaves room for quad's own tolerance (1e-12 per piece) and summation order.
    for label, f in _moments(name).items():
        expected = _quad_expectation(f, q)
        assert mf.gaussian_expectation(f, q) == pytest.approx(expected, rel=1e-9, abs=1e-300), label


@pytest.mark.parametrize("q", [0.05, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "gelu", "relu", "leaky_relu"])
def test_gauss_hermite_200_matches_quad_to_6_digits(name, q):
    # THEORY.md §1: 200-node Gauss–Hermite agrees with quad to 6 digits (smooth φ, or a
    # kink symmetric nodes resolve exactly: relu/leaky_relu's φ² and φ'² are homogeneous
    # on each half-line), at the moderate q of standardised inputs.
    for label, f in _moments(name).items():
        expected = _quad_expectation(f, q)
        assert mf.gauss_hermite_expectation(f, q) == pytest.approx(expected, rel=1e-6), label


def test_gauss_hermite_misses_saturated_tanh():
    # Why gaussian_expectation does not use plain Gauss–Hermite: at q = 10 (saturating
    # inputs) the nodes near z = 0 are too sparse for tanh'^2 (documented error ~1e-3).
    f = _moments("tanh")["dphi^2"]
    expected = _quad_expectation(f, 10.0)
    assert abs(mf.gauss_hermite_expectation(f, 10.0) / expected - 1) > 1e-4
    assert mf.gaussian_expectation(f, 10.0) == pytest.approx(expected, rel=1e-9)


# --- maps with closed forms -----------------------------------------------------------------


@pytest.mark.parametrize("q", [0.01, 1.0, 7.5])
def test_length_map_and_chi_closed_forms(q):
    # linear: E[x²] = q, φ' = 1; relu: E[relu(x)²] = q/2, E[1{x>0}] = 1/2;
    # leaky relu: (1 + s²) q/2 and (1 + s²)/2.
    s2 = mf.LEAKY_RELU_SLOPE**2
    assert mf.length_map(q, 1.7, 0.3, "linear") == pytest.approx(1.7 * q + 0.3, rel=1e-13)
    assert mf.length_map(q, 2.0, 0.1, "relu") == pytest.approx(q + 0.1, rel=1e-13)
    assert mf.length_map(q, 2.0, 0.0, "leaky_relu") == pytest.approx((1 + s2) * q, rel=1e-13)
    assert mf.meanfield_chi(q, 1.7, "linear") == pytest.approx(1.7, rel=1e-13)
    assert mf.meanfield_chi(q, 2.0, "relu") == pytest.approx(1.0, rel=1e-13)
    assert mf.meanfield_chi(q, 2.0, "leaky_relu") == pytest.approx(1 + s2, rel=1e-13)


# --- THEORY.md reference values ----------------------------------------------------------------

REFERENCE = [
    # activation, σw², σb², q* (THEORY digits), χ₁ (THEORY digits)
    ("tanh", 0.5, 0.0, "0", "0.5"),
    ("tanh", 1.5, 0.05, "0.4180", "0.93864"),
    ("tanh", 2.0, 0.0, "0.6180", "1.10553"),
    ("tanh", 4.0, 0.1, "2.2682", "1.32335"),
    ("sigmoid", 16.0, 0.0, "5.8554", "0.39888"),
]


def _half_unit(quoted: str) -> float:
    """Half a unit of the last quoted digit ("0.4180" -> 5e-5; "0" -> exact)."""
    decimals = len(quoted.partition(".")[2])
    return 0.5 * 10.0**-decimals if "." in quoted else 0.0


@pytest.mark.parametrize("activation, weight_var, bias_var, q_star, chi1", REFERENCE)
def test_theory_table(activation, weight_var, bias_var, q_star, chi1):
    q = mf.fixed_point(weight_var, bias_var, activation)
    chi = mf.meanfield_chi1(weight_var, bias_var, activation)
    assert abs(q - float(q_star)) <= _half_unit(q_star)
    assert abs(chi - float(chi1)) <= _half_unit(chi1) + 1e-15


@pytest.mark.parametrize("activation, weight_var", [("relu", 2.0), ("linear", 1.0)])
def test_marginal_maps_have_chi1_one(activation, weight_var):
    # ReLU with He init and the identity with σw² = 1 fix every q: χ₁ = 1 exactly (THEORY.md).
    assert mf.meanfield_chi1(weight_var, 0.0, activation, q0=3.7) == pytest.approx(1.0, abs=1e-14)
    assert mf.fixed_point(weight_var, 0.0, activation, q0=3.7) == pytest.approx(3.7, rel=1e-12)


@pytest.mark.parametrize(
    "activation, weight_var, bias_var",
    [
        ("tanh", 1.5, 0.05),
        ("tanh", 2.0, 0.0),
        ("sigmoid", 4.0, 0.0),
        ("gelu", 1.5, 0.1),
        ("elu", 1.2, 0.2),
        ("selu", 1.0, 0.0),
        ("relu", 1.5, 0.3),
    ],
)
def test_fixed_point_is_fixed_and_attracting(activation, weight_var, bias_var):
    # Independent of the search: q* is a root of the map, and 200 plain iterations from
    # two sides of it land on it (it is the attracting fixed point).
    q = mf.fixed_point(weight_var, bias_var, activation)
    assert mf.length_map(q, weight_var, bias_var, activation) == pytest.approx(q, rel=1e-11)
    for start in (0.05 * q, 20.0 * q):
        value = start
        for _ in range(200):
            value = mf.length_map(value, weight_var, bias_var, activation)
        assert value == pytest.approx(q, rel=1e-8)


def test_fixed_point_edge_cases():
    # ReLU with σw² > 2 and σb² > 0 grows without bound; tanh(1, 0) creeps to 0 as 1/(2l).
    assert mf.fixed_point(2.5, 0.1, "relu") == math.inf
    assert mf.fixed_point(1.0, 0.0, "tanh") == 0.0
    assert mf.meanfield_chi1(1.0, 0.0, "tanh") == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize(
    "bias_var, weight_var",
    [
        (0.01, "1.4242"),
        (0.05, "1.7610"),
        (0.1, "1.9861"),
        (0.3, "2.5051"),
    ],
)
def test_tanh_critical_line(bias_var, weight_var):
    critical = mf.critical_weight_var(bias_var)
    assert abs(critical - float(weight_var)) <= _half_unit(weight_var)
    assert mf.meanfield_chi1(critical, bias_var, "tanh") == pytest.approx(1.0, abs=1e-9)


def test_depth_scale_sign_convention():
    # ξ = −1/ln χ₁ (Schoenholz et al. 2017 eq. 10): positive when ordered, negative when chaotic.
    assert mf.depth_scale(1.5, 0.05, "tanh") == pytest.approx(-1 / math.log(0.9386362682), rel=1e-8)
    assert mf.depth_scale(4.0, 0.1, "tanh") < 0
    assert mf.depth_scale(2.0, 0.0, "relu") == math.inf


# --- trajectory ----------------------------------------------------------------------------------


def test_trajectory_linear_chain_closed_form():
    # Linear φ, σb² = 0: q^l = s^l v, E δ_l² = r s^{L−l}, E(∂W^l)² = r s^{L−l} · s^{l−1} v,
    # E(∂x)² = r s^L (exact, no mean-field assumption needed for a linear Gaussian chain).
    s, v, r, depth = 1.3, 2.0, 0.25, 7
    traj = mf.trajectory(depth, s, 0.0, "linear", input_var=v, readout_var=r)
    layers = np.arange(1, depth + 1)
    np.testing.assert_allclose(traj.q, s**layers * v, rtol=1e-13)
    np.testing.assert_allclose(traj.delta_ms, r * s ** (depth - layers), rtol=1e-13)
    np.testing.assert_allclose(traj.weight_ms, r * s ** (depth - layers) * s ** (layers - 1) * v, rtol=1e-13)
    assert traj.input_ms == pytest.approx(r * s**depth, rel=1e-13)


def test_trajectory_converges_to_fixed_point():
    # Along a long net the forward q^l reaches q* and the per-layer factor reaches χ₁,
    # so the trajectory's last ratios equal χ₁ (the fixed-point rate of THEORY's table).
    traj = mf.trajectory(200, 1.5, 0.05, "tanh")
    assert traj.q[-1] == pytest.approx(0.4180372005, rel=1e-9)
    ratios = traj.delta_ms[:-1] / traj.delta_ms[1:]
    assert ratios[-5:] == pytest.approx([0.93864] * 5, abs=5e-6)
