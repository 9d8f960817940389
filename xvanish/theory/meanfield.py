"""Mean-field signal propagation in deep random MLPs (numpy/scipy only).

The network (width N, all layers N×N) is ``h^1 = W^1 x + b^1``,
``h^l = W^l φ(h^{l−1}) + b^l`` with ``W_ij ~ N(0, σw²/N)`` and ``b_i ~ N(0, σb²)``.
In the infinite-width limit every pre-activation is Gaussian with second moment q^l:

* length map (Poole et al. 2016, "Exponential expressivity in deep neural networks
  through transient chaos", eq. 3):  ``q^l = σw² E_z[φ(√q^{l−1} z)²] + σb²``, z ~ N(0, 1).
  It uses the RAW second moment E[φ²], not the variance: for sigmoid the mean² matters
  (THEORY.md §1: a variance-only map puts sigmoid(16, 0) at q* ≈ 4e−4, truth 5.855).
* gradient map (Schoenholz et al. 2017, "Deep Information Propagation", eq. 9):
  ``E[(δ^{l−1}_i)²] = χ(q^{l−1}) E[(δ^l_i)²]`` with ``χ(q) = σw² E_z[φ′(√q z)²]`` and
  δ^l = ∂L/∂h^l. At the fixed point q* of the length map, χ₁ = χ(q*) and the gradient
  depth scale is ξ = −1/ln χ₁.

The best prediction of a measured per-layer profile is the *trajectory*: the product of
χ(q^l) along the actual forward q^l (THEORY.md §1), which needs no skipping of early
layers while q^l converges to q*.

Gaussian expectations use a split, geometric-panel Gauss–Legendre rule (see
:func:`gaussian_expectation`) that agrees with adaptive ``scipy.integrate.quad`` to ~1e−15
for every activation here and every q from 1e−4 to 1e8. Plain 200-node Gauss–Hermite
(:func:`gauss_hermite_expectation`, the rule THEORY.md quotes) is kept for reference: it
matches quad to 6 digits for smooth activations at q ≲ 3, but loses digits at larger q
(tanh′² off by 1e−3 at q = 10, i.e. saturating inputs) and at the kink of elu/selu
(1e−3 at q = 1), because its nodes are ~0.1 apart near z = 0 and straddle the kink.

Example:
    >>> round(meanfield_chi1(1.5, 0.05, "tanh"), 5)
    0.93864
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, special

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "LEAKY_RELU_SLOPE",
    "SELU_ALPHA",
    "SELU_SCALE",
    "Trajectory",
    "critical_weight_var",
    "depth_scale",
    "fixed_point",
    "gauss_hermite_expectation",
    "gaussian_expectation",
    "length_map",
    "meanfield_chi",
    "meanfield_chi1",
    "trajectory",
]

#: Negative slope of leaky ReLU (PyTorch's default).
LEAKY_RELU_SLOPE = 0.01
#: SELU constants (Klambauer et al. 2017), as in torch.nn.functional.selu.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """A nonlinearity and its derivative as numpy functions.

    Attributes:
        name: registry key.
        phi: φ(x), elementwise.
        dphi: φ′(x), elementwise (the one-sided value where φ has a kink at 0 is
            irrelevant: a single point has zero Gaussian measure).
    """

    name: str
    phi: Callable[[Array], Array]
    dphi: Callable[[Array], Array]


def _sigmoid_prime(x: Array) -> Array:
    s = special.expit(x)
    return s * (1.0 - s)


def _tanh_prime(x: Array) -> Array:
    # 1/cosh² is accurate where 1 − tanh² cancels to 0 (|x| > ~19), keeping E[φ′²] > 0
    # for saturated inputs.
    return 1.0 / np.cosh(np.minimum(np.abs(x), 350.0)) ** 2


def _elu(x: Array) -> Array:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _selu(x: Array) -> Array:
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def _gelu(x: Array) -> Array:
    # Exact (erf) GELU, torch.nn.functional.gelu's default.
    return x * special.ndtr(x)


def _gelu_prime(x: Array) -> Array:
    return special.ndtr(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


#: Registry of activations: name -> :class:`Activation`.
ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("linear", lambda x: x, np.ones_like),
        Activation("sigmoid", special.expit, _sigmoid_prime),
        Activation("tanh", np.tanh, _tanh_prime),
        Activation("relu", lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
        Activation(
            "leaky_relu",
            lambda x: np.where(x > 0, x, LEAKY_RELU_SLOPE * x),
            lambda x: np.where(x > 0, 1.0, LEAKY_RELU_SLOPE),
        ),
        Activation("elu", _elu, lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0)))),
        Activation("selu", _selu, lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0)))),
        Activation("gelu", _gelu, _gelu_prime),
    )
}


def _activation(activation: str | Activation) -> Activation:
    if isinstance(activation, Activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r}: must be one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[activation]


# --- Gaussian expectations ------------------------------------------------------------------

#: Nodes of THEORY.md's reference rule.
GH_NODES = 200
# Panel rule: Gauss–Legendre points per panel, geometric ratio of panel ends, the x-scale
# resolved at the origin and the z cut-off (the N(0,1) tail beyond 10 weighs < 1e−23, and
# every φ here grows at most linearly).
_GL_POINTS = 16
_PANEL_RATIO = 1.5
_X_RESOLUTION = 1e-3
_Z_MAX = 10.0


@lru_cache(maxsize=8)
def _hermite_rule(n_nodes: int) -> tuple[Array, Array]:
    """Probabilists' Gauss–Hermite nodes and weights normalised to E over N(0, 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    return nodes, weights / math.sqrt(2.0 * math.pi)


@lru_cache(maxsize=1)
def _legendre_rule() -> tuple[Array, Array]:
    return np.polynomial.legendre.leggauss(_GL_POINTS)


def gauss_hermite_expectation(f: Callable[[Array], Array], q: float, n_nodes: int = GH_NODES) -> float:
    """E_z[f(√q z)], z ~ N(0, 1), by ``n_nodes``-point Gauss–Hermite quadrature.

    THEORY.md's reference rule; accurate for smooth f at moderate q only (module docstring).
    """
    nodes, weights = _hermite_rule(n_nodes)
    return float(np.sum(weights * f(math.sqrt(q) * nodes)))


def gaussian_expectation(f: Callable[[Array], Array], q: float) -> float:
    """E_z[f(√q z)], z ~ N(0, 1), accurate for kinked f and any q ≥ 0.

    The integral is split at z = 0 (where relu/elu/selu have their kink) and each half is
    integrated over z ∈ [0, 10] by 16-point Gauss–Legendre on geometric panels whose first
    end is at x = √q·z = 1e−3: features of φ at x-scales from 1e−3 up to 10√q are resolved
    whatever q is (saturating inputs with q ~ 1e8 included).

    Args:
        f: elementwise numpy function.
        q: variance of the Gaussian argument, ≥ 0.

    Returns:
        The expectation.
    """
    if q < 0 or not math.isfinite(q):
        raise ValueError(f"q={q!r}: must be a finite number >= 0")
    if q == 0:
        return float(np.asarray(f(np.zeros(1)))[0])
    scale = math.sqrt(q)
    z_first = min(_X_RESOLUTION / scale, _X_RESOLUTION)
    n_panels = int(math.ceil(math.log(_Z_MAX / z_first) / math.log(_PANEL_RATIO)))
    ends = np.concatenate([[0.0], np.geomspace(z_first, _Z_MAX, n_panels + 1)])
    lo, hi = ends[:-1, None], ends[1:, None]
    points, weights = _legendre_rule()
    z = 0.5 * (lo + hi) + 0.5 * (hi - lo) * points
    w = 0.5 * (hi - lo) * weights * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return float(np.sum(w * (f(scale * z) + f(-scale * z))))


# --- maps -------------------------------------------------------------------------------------


def length_map(q: float, weight_var: float, bias_var: float, activation: str | Activation) -> float:
    """One step of the length map, q ↦ σw² E_z[φ(√q z)²] + σb² (Poole et al. 2016, eq. 3).

    Args:
        q: second moment of the previous layer's pre-activations.
        weight_var: σw² (W_ij ~ N(0, σw²/N)).
        bias_var: σb².
        activation: a name in :data:`ACTIVATIONS` or an :class:`Activation`.

    Returns:
        The next layer's second moment q (raw, not centred: see the module docstring).
    """
    phi = _activation(activation).phi
    return weight_var * gaussian_expectation(lambda x: phi(x) ** 2, q) + bias_var


def meanfield_chi(q: float, weight_var: float, activation: str | Activation) -> float:
    """χ(q) = σw² E_z[φ′(√q z)²]: the per-layer factor of E[δ²] (Schoenholz et al. 2017, eq. 9)."""
    dphi = _activation(activation).dphi
    return weight_var * gaussian_expectation(lambda x: dphi(x) ** 2, q)


# Fixed-point search: relative tolerance for "already fixed" (marginal maps such as ReLU at
# σw² = 2 fix every q) and the range searched before declaring 0 or divergence.
_FIXED_RTOL = 1e-12
_Q_FLOOR = 1e-8
_Q_CEILING = 1e12


def fixed_point(weight_var: float, bias_var: float, activation: str | Activation, q0: float = 1.0) -> float:
    """The fixed point q* of the length map reached by iterating from ``q0``.

    The length map is increasing in q for every activation here, so its iterates move
    monotonically from q0 to the nearest fixed point in the direction of motion. That
    root is bracketed by doubling (or halving) from q0 and polished with Brent's method.

    Args:
        weight_var: σw².
        bias_var: σb².
        activation: name or :class:`Activation`.
        q0: the starting second moment.

    Returns:
        q*; ``0.0`` when the iterates shrink to zero (σb² = 0, φ(0) = 0, ordered phase:
        tanh with σw² ≤ 1 — at σw² = 1 only as q^l ≈ 1/(2l)); ``q0`` itself when the map
        fixes it (ReLU with σw² = 2, σb² = 0; linear with σw² = 1); ``inf`` when the
        iterates grow past 1e12 (e.g. ReLU with σw² > 2).
    """
    act = _activation(activation)

    def gap(q: float) -> float:
        return length_map(q, weight_var, bias_var, act) - q

    start = gap(q0)
    if abs(start) <= _FIXED_RTOL * max(q0, 1.0):
        return float(q0)
    if start > 0:
        lo, hi = q0, 2.0 * q0
        while gap(hi) > 0:
            lo, hi = hi, 2.0 * hi
            if hi > _Q_CEILING:
                return math.inf
    else:
        hi, lo = q0, q0 / 2.0
        while gap(lo) < 0:
            hi, lo = lo, lo / 2.0
            if lo < _Q_FLOOR:
                if length_map(0.0, weight_var, bias_var, act) <= 0.0:
                    return 0.0
                lo = 0.0  # the map lifts 0, so a root lies in [0, hi]
                break
    return float(optimize.brentq(gap, lo, hi, xtol=1e-15, rtol=1e-14, maxiter=200))


def meanfield_chi1(weight_var: float, bias_var: float, activation: str | Activation, q0: float = 1.0) -> float:
    """χ₁ = χ(q*), the per-layer gradient factor at the length map's fixed point.

    Schoenholz et al. 2017, eq. 5 / 9: χ₁ < 1 ordered (gradients vanish), > 1 chaotic
    (gradients explode), = 1 critical. ReLU with He init (σw² = 2): χ₁ = 1 at any q.
    """
    return meanfield_chi(fixed_point(weight_var, bias_var, activation, q0), weight_var, activation)


def depth_scale(weight_var: float, bias_var: float, activation: str | Activation) -> float:
    """ξ = −1/ln χ₁, the e-folding depth of E[δ²] (Schoenholz et al. 2017, eq. 10).

    Positive: gradients vanish as exp(−l/ξ); negative: they grow as exp(l/|ξ|);
    ``inf`` at criticality.
    """
    log_chi = math.log(meanfield_chi1(weight_var, bias_var, activation))
    return math.inf if log_chi == 0 else -1.0 / log_chi


def critical_weight_var(
    bias_var: float, activation: str | Activation = "tanh", bracket: tuple[float, float] = (1.0, 50.0)
) -> float:
    """σw² on the order-to-chaos line χ₁(σw², σb²) = 1 (Schoenholz et al. 2017, Fig. 1).

    Args:
        bias_var: σb².
        activation: an activation with an order/chaos transition (tanh by default).
        bracket: σw² interval searched by Brent's method.

    Returns:
        The critical σw². For tanh: σb² = 0.01 → 1.4242, 0.05 → 1.7610, 0.1 → 1.9861,
        0.3 → 2.5051 (THEORY.md §1); σb² = 0 → 1.

    Raises:
        ValueError: when χ₁ − 1 does not change sign over the bracket.
    """

    def excess(weight_var: float) -> float:
        return meanfield_chi1(weight_var, bias_var, activation) - 1.0

    lo, hi = bracket
    if excess(lo) * excess(hi) > 0:
        raise ValueError(
            f"chi1 - 1 keeps its sign for weight_var in {bracket} (bias_var={bias_var}, activation={activation!r})"
        )
    return float(optimize.brentq(excess, lo, hi, xtol=1e-13, rtol=1e-13))


# --- trajectory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trajectory:
    """Mean-field second moments of one network, layer by layer (index 0 is layer 1).

    Attributes:
        q: E[(h^l_i)²] for l = 1..L.
        chi: χ(q^l) for l = 1..L.
        layer_input_ms: E[(u^l_j)²] of each layer's input u^1 = x, u^l = φ(h^{l−1}).
        delta_ms: E[(δ^l_i)²], δ^l = ∂L/∂h^l.
        weight_ms: E[(∂L/∂W^l_ij)²] = delta_ms · layer_input_ms (one input per draw).
        input_ms: E[(∂L/∂x_j)²] = σw² delta_ms[0].
    """

    q: Array
    chi: Array
    layer_input_ms: Array
    delta_ms: Array
    weight_ms: Array
    input_ms: float


def trajectory(
    depth: int,
    weight_var: float,
    bias_var: float,
    activation: str | Activation,
    input_var: float = 1.0,
    readout_var: float = 1.0,
) -> Trajectory:
    """Mean-field prediction of every layer's forward and backward second moments.

    Network: h^1 = W^1 x + b^1, h^l = W^l φ(h^{l−1}) + b^l (l = 2..L), loss
    L = Σ_i a_i φ(h^L_i) with E[x_j²] = ``input_var`` and E[a_i²] = ``readout_var``.
    Forward: q^1 = σw²·input_var + σb², then the length map. Backward
    (Schoenholz et al. 2017, eq. 9, along the actual q^l rather than q*):
    E[(δ^L)²] = readout_var·E[φ′(h^L)²] and E[(δ^{l−1})²] = χ(q^{l−1}) E[(δ^l)²].
    Weight gradients ∂L/∂W^l_ij = δ^l_i u^l_j with δ and u independent in the mean-field
    limit. Every quantity is zero-mean (a and W are symmetric), so these second moments
    are the variances.

    Args:
        depth: number of layers L ≥ 1.
        weight_var: σw² (effective value of the initialisation).
        bias_var: σb².
        activation: name or :class:`Activation`.
        input_var: E[x_j²].
        readout_var: E[a_i²] (1/N for a ~ N(0, 1/N)).

    Returns:
        A :class:`Trajectory`.
    """
    act = _activation(activation)
    q = np.empty(depth)
    layer_input_ms = np.empty(depth)
    layer_input_ms[0] = input_var
    q[0] = weight_var * input_var + bias_var
    for layer in range(1, depth):
        # The length map, written out to keep E[φ(h^{l−1})²] (the layer input's moment).
        layer_input_ms[layer] = gaussian_expectation(lambda x: act.phi(x) ** 2, q[layer - 1])
        q[layer] = weight_var * layer_input_ms[layer] + bias_var
    chi = np.array([meanfield_chi(value, weight_var, act) for value in q])
    delta_ms = np.empty(depth)
    delta_ms[-1] = readout_var * chi[-1] / weight_var  # readout_var·E[φ′(h^L)²]
    for layer in range(depth - 1, 0, -1):
        delta_ms[layer - 1] = chi[layer - 1] * delta_ms[layer]
    return Trajectory(
        q=q,
        chi=chi,
        layer_input_ms=layer_input_ms,
        delta_ms=delta_ms,
        weight_ms=delta_ms * layer_input_ms,
        input_ms=float(weight_var * delta_ms[0]),
    )
