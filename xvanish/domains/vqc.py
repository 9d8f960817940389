"""Variational quantum circuits: barren plateaus (McClean et al. 2018; Cerezo et al. 2021).

One sampler draws ``n`` random parameter vectors of a layered circuit on ``n_qubits`` wires
and returns, in one batch, the gradient of the cost with respect to one angle (McClean's
θ₁,₁ by default) or to every angle, and the cost itself. Its variance over the draws is the
barren-plateau signal: it falls like ``2^−n`` once the circuit is deep enough to be a
unitary 2-design (:mod:`xvanish.theory.haar`).

What is drawn (all from the ``seed`` of :meth:`VQCSampler.sample`, via numpy Generators):

* angles — ``uniform`` U[0, 2π), ``normal`` N(0, init_scale²), or ``identity`` (Grant et al.
  2019, "An initialization strategy for addressing barren plateaus", Quantum 3, 214): every
  layer is followed by its inverse whose angles are *separate* trainable entries *set* equal
  to the layer's, so the circuit starts at the identity. The gradient reported is that of
  the forward layer's angle θ. It is not zero: the block is W = U(θ')†U(θ) and
  ∂W/∂θ = U†∂U ≠ 0 at θ' = θ, because moving θ alone breaks the cancellation (the inverse's
  angle θ' has exactly the opposite gradient there). A "mirror" that reuses θ in the
  inverse has ∂W/∂θ = U†∂U − U†∂U = 0: that is not Grant et al.'s method;
* McClean's rotation axes — for ``ansatz=mcclean`` the choice of RX/RY/RZ per wire and layer
  is part of each draw;
* measurement outcomes — with finite ``shots``, each shifted expectation is estimated from
  ``shots`` binomial/multinomial outcomes drawn from the exact probabilities.

Ansätze (registry :data:`ANSATZE`; or a user template, see :class:`VQCConfig`):

* ``mcclean`` — RY(π/4) on every wire, then per layer a random Pauli rotation per wire and a
  CZ ladder (McClean et al. 2018, Fig. 2);
* ``hea`` — hardware-efficient: RY then RZ per wire, then a CNOT ring;
* ``alternating`` — Cerezo et al.'s alternating layered ansatz of two-qubit blocks: RY on
  every wire, then CZ on the pairs (w, w+1) that start at w ≡ layer (mod 2) (bricks offset
  every other layer; an edge wire without a partner keeps its RY).

Costs: ``observable`` ⟨P⟩ of a Pauli string (``"Z0 Z1"``); ``global`` 1 − p(0…0); ``local``
1 − (1/n)Σ_j p_j(0) (Cerezo et al. 2021).

Methods (``diff_method``, registry :data:`METHODS`): ``batched`` (the torch state-vector
engine :mod:`xvanish.statevector`: the parameter shift as broadcast evaluations for one
angle, its adjoint for all), ``default.qubit`` (PennyLane with parameter broadcasting, the
reference), ``lightning`` (lightning.qubit adjoint over one batch of per-draw tapes), ``auto``
(chosen by size, see :func:`choose_method`).

Example:
    >>> from xvanish import measure
    >>> from xvanish.domains import vqc
    >>> rows = measure(vqc.sampler(n_qubits=4, n_layers=50), n_samples=200, seed=0)  # doctest: +SKIP
"""

import importlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pennylane as qml
import torch

from xvanish import statevector
from xvanish.core import ConfigError, Domain, GradientBatch, make_config, require, require_choice
from xvanish.theory import haar

__all__ = [
    "ANSATZE", "COSTS", "DOMAIN", "Draws", "INITS", "METHODS", "VQCConfig", "VQCSampler",
    "choose_method", "parse_pauli_string", "sampler",
]

DOMAIN_NAME = "vqc"
TWO_PI = 2.0 * math.pi
SHIFT = math.pi / 2  # two-term parameter shift of exp(−iθP/2): ∂C = [C(θ+π/2) − C(θ−π/2)]/2


# --------------------------------------------------------------------------- observables


_PAULI_OPS: Dict[str, Callable[..., qml.operation.Operator]] = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
_PAULI_TERM = re.compile(r"^([A-Za-z]+)(-?\d+)$")


def parse_pauli_string(text: str, n_qubits: int, key: str = "observable") -> List[Tuple[str, int]]:
    """Parse a Pauli string such as ``"Z0 Z1"`` or ``"X0 Y2 Z3"`` into ``[(letter, wire), ...]``.

    Terms are separated by spaces (``@`` and ``*`` are accepted as separators too); each is a
    letter X, Y or Z followed by a wire index in ``0 … n_qubits−1``; a wire appears once.

    Args:
        text: the Pauli string.
        n_qubits: number of wires of the circuit.
        key: the config key named in errors.

    Returns:
        The terms in the order given.

    Raises:
        ConfigError: naming ``key`` for a bad letter, a wire that does not exist, a repeated
            wire, or an empty string.
    """
    require(isinstance(text, str), key, text, "must be a Pauli string such as 'Z0 Z1'")
    tokens = text.replace("@", " ").replace("*", " ").split()
    require(len(tokens) > 0, key, text, "must name at least one Pauli, e.g. 'Z0 Z1'")
    terms: List[Tuple[str, int]] = []
    for token in tokens:
        match = _PAULI_TERM.match(token)
        require(match is not None and match.group(1).upper() in _PAULI_OPS, key, text,
                f"bad term {token!r}: each term is X, Y or Z followed by a wire index, e.g. 'X0 Y2 Z3'")
        letter, wire = match.group(1).upper(), int(match.group(2))
        require(0 <= wire < n_qubits, key, text,
                f"wire {wire} does not exist with n_qubits={n_qubits} (wires are 0..{n_qubits - 1})")
        require(wire not in {w for _, w in terms}, key, text, f"wire {wire} appears twice")
        terms.append((letter, wire))
    return terms


@dataclass(frozen=True)
class CostSpec:
    """A cost ``C = offset + scale·⟨O⟩`` and what the theory and the shot sampler need.

    Attributes:
        observable: ``config -> O`` (a PennyLane observable).
        offset, scale: ``config -> float`` of the affine map from ⟨O⟩ to C.
        haar_kind: the name of the cost in :data:`xvanish.theory.haar.COST_WEIGHTS`.
        outcomes: how one shot is drawn (key of :data:`_SHOT_DRAWS`).
    """

    observable: Callable[["VQCConfig"], qml.operation.Operator]
    offset: Callable[["VQCConfig"], float]
    scale: Callable[["VQCConfig"], float]
    haar_kind: str
    outcomes: str


def _pauli_observable(config: "VQCConfig") -> qml.operation.Operator:
    ops = [_PAULI_OPS[letter](wire) for letter, wire in parse_pauli_string(config.observable, config.n_qubits)]
    return ops[0] if len(ops) == 1 else qml.prod(*ops)


#: cost name -> spec. global: 1 − ⟨|0…0⟩⟨0…0|⟩; local: 1 − (1/n)Σ_j ⟨(1+Z_j)/2⟩ = ½ − ⟨ΣZ_j⟩/(2n).
COSTS: Dict[str, CostSpec] = {
    "observable": CostSpec(_pauli_observable, lambda c: 0.0, lambda c: 1.0, "pauli", "pm1"),
    "global": CostSpec(lambda c: qml.Projector([0] * c.n_qubits, wires=range(c.n_qubits)),
                       lambda c: 1.0, lambda c: -1.0, "global", "projector"),
    "local": CostSpec(lambda c: qml.sum(*[qml.PauliZ(w) for w in range(c.n_qubits)]),
                      lambda c: 0.5, lambda c: -0.5 / c.n_qubits, "local", "zeros_count"),
}


# --------------------------------------------------------------------------- ansätze


@dataclass(frozen=True)
class AnsatzSpec:
    """A built-in layered ansatz.

    A layer applies ``rotation`` to every (wire, slot) in wire-major order, then
    ``entangler``. Every angle enters exactly one Pauli rotation exp(−iθP/2), so the
    two-term parameter shift is exact.

    Attributes:
        slots: angles per wire per layer.
        start: ``n -> ops`` of a fixed (untrained) start layer.
        rotation: ``(slot, angle, axis, wire) -> op``. ``angle`` is a float or a broadcast
            tensor [B]; ``axis`` the drawn axis (int, tensor [B], or None).
        entangler: ``(layer, n) -> ops``.
        draws_axes: whether each draw carries a random rotation axis per (layer, wire).
        layer0_mean_p_squared: E⟨P⟩² of each slot's generator in the state just before it
            in layer 0, for uniform angles (F3; see :func:`haar.mean_pauli_square_random_axis`).
        unitary_design: whether deep circuits approach a unitary 2-design (RY+CZ circuits are
            real and approach an orthogonal design instead: no closed form offered).
    """

    slots: int
    start: Callable[[int], List[qml.operation.Operation]]
    rotation: Callable[[int, Any, Any, int], qml.operation.Operation]
    entangler: Callable[[int, int], List[qml.operation.Operation]]
    draws_axes: bool
    layer0_mean_p_squared: Tuple[float, ...]
    unitary_design: bool


_AXIS_GATES = (qml.RX, qml.RY, qml.RZ)  # McClean's axes, coded 0, 1, 2


def _random_pauli_rotation(slot: int, angle: Any, axis: Any, wire: int) -> qml.operation.Operation:
    """exp(−iθP/2) with P = X, Y, Z for axis 0, 1, 2.

    One draw: the native gate. A broadcast batch (axis a tensor [B]): one ``Rot`` with
    per-draw angles, RX(θ) = Rot(π/2, θ, −π/2), RY(θ) = Rot(0, θ, 0), RZ(θ) = Rot(θ, 0, 0)
    (exact identities), so the whole batch is one gate per position.
    """
    if not isinstance(axis, torch.Tensor):
        return _AXIS_GATES[int(axis)](angle, wires=wire)
    is_x, is_z = axis == 0, axis == 2
    zero = torch.zeros_like(angle)
    phi = torch.where(is_z, angle, torch.where(is_x, zero + math.pi / 2, zero))
    theta = torch.where(is_z, zero, angle)
    omega = torch.where(is_x, zero - math.pi / 2, zero)
    return qml.Rot(phi, theta, omega, wires=wire)


def _cz_ladder(layer: int, n: int) -> List[qml.operation.Operation]:
    return [qml.CZ(wires=[w, w + 1]) for w in range(n - 1)]


def _cnot_ring(layer: int, n: int) -> List[qml.operation.Operation]:
    if n == 1:
        return []
    if n == 2:
        return [qml.CNOT(wires=[0, 1])]
    return [qml.CNOT(wires=[w, (w + 1) % n]) for w in range(n)]


def _cz_bricks(layer: int, n: int) -> List[qml.operation.Operation]:
    return [qml.CZ(wires=[w, w + 1]) for w in range(layer % 2, n - 1, 2)]


_HEA_GATES = (qml.RY, qml.RZ)

#: McClean's start state RY(π/4)|0⟩ on every wire, as a Bloch vector.
MCCLEAN_START_BLOCH = (math.sqrt(0.5), 0.0, math.sqrt(0.5))

#: ansatz name -> spec.
ANSATZE: Dict[str, AnsatzSpec] = {
    "mcclean": AnsatzSpec(
        slots=1,
        start=lambda n: [qml.RY(math.pi / 4, wires=w) for w in range(n)],
        rotation=_random_pauli_rotation,
        entangler=_cz_ladder,
        draws_axes=True,
        layer0_mean_p_squared=(haar.mean_pauli_square_random_axis(list(MCCLEAN_START_BLOCH)),),
        unitary_design=True,
    ),
    # RY on |0⟩: ⟨Y⟩ = 0; RZ after RY(a)|0⟩ with a ~ U[0, 2π): E⟨Z⟩² = E cos²a = ½.
    "hea": AnsatzSpec(
        slots=2,
        start=lambda n: [],
        rotation=lambda slot, angle, axis, wire: _HEA_GATES[slot](angle, wires=wire),
        entangler=_cnot_ring,
        draws_axes=False,
        layer0_mean_p_squared=(0.0, 0.5),
        unitary_design=True,
    ),
    "alternating": AnsatzSpec(
        slots=1,
        start=lambda n: [],
        rotation=lambda slot, angle, axis, wire: qml.RY(angle, wires=wire),
        entangler=_cz_bricks,
        draws_axes=False,
        layer0_mean_p_squared=(0.0,),
        unitary_design=False,
    ),
}


def _resolve_template(ansatz: Any) -> Optional[Callable[..., Any]]:
    """The user's template for ``ansatz`` (a callable, or ``"package.module:callable"``), or None.

    Raises:
        ConfigError: naming ``ansatz`` when the path cannot be imported or the object is
            not a template (callable with a ``param_shape`` attribute).
    """
    if isinstance(ansatz, str) and ansatz in ANSATZE:
        return None
    if isinstance(ansatz, str):
        require(":" in ansatz, "ansatz", ansatz,
                "must be one of " + ", ".join(ANSATZE) + " or an import path 'package.module:callable'")
        module_name, _, attribute = ansatz.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError, ValueError) as error:
            raise ConfigError("ansatz", ansatz, f"cannot import it: {type(error).__name__}: {error}") from None
        ansatz = target
    require(callable(ansatz) and callable(getattr(ansatz, "param_shape", None)), "ansatz", ansatz,
            "a template must be callable as f(params, wires) and declare f.param_shape(n_layers, n_wires)")
    return ansatz


# --------------------------------------------------------------------------- init strategies


@dataclass(frozen=True)
class InitSpec:
    """How the trainable angles of a draw are set.

    Attributes:
        draw: ``(rng, shape, init_scale) -> angles``.
        identity_blocks: every layer is followed by its inverse with separate angles set
            equal to the layer's (Grant et al. 2019).
    """

    draw: Callable[[np.random.Generator, Tuple[int, ...], float], np.ndarray]
    identity_blocks: bool


INITS: Dict[str, InitSpec] = {
    "uniform": InitSpec(lambda rng, shape, scale: rng.uniform(0.0, TWO_PI, size=shape), False),
    "normal": InitSpec(lambda rng, shape, scale: rng.normal(0.0, scale, size=shape), False),
    "identity": InitSpec(lambda rng, shape, scale: rng.uniform(0.0, TWO_PI, size=shape), True),
}

GRADIENTS = ("target", "all")


# --------------------------------------------------------------------------- config


@dataclass
class VQCConfig:
    """Keys of ``conf/domain/vqc.yaml`` (= the keyword arguments of :func:`sampler`).

    Attributes:
        n_qubits: number of wires (the natural scale axis).
        n_layers: number of layers of the ansatz (with ``init=identity``, each layer is
            followed by its inverse: 2·n_layers layers are applied).
        ansatz: ``mcclean``, ``hea``, ``alternating``, an import path
            ``"package.module:callable"``, or (from Python) the callable itself. A template
            ``f(params, wires)`` declares ``f.param_shape(n_layers, n_wires) -> tuple``
            whose first entry is ``n_layers``; it receives ``params`` of that shape, plus a
            trailing batch axis when draws are broadcast, so ``params[l, w]`` is a float
            or a tensor [B] that PennyLane broadcasts: write it for one draw and it works
            for a batch. Its gradients come from automatic differentiation (no assumption
            about how an angle enters the gates); ``shots`` is not offered for templates.
        cost: ``observable`` (⟨observable⟩), ``global`` (1 − p(0…0)), ``local``
            (1 − (1/n)Σ_j p_j(0)).
        observable: a Pauli string such as ``"Z0 Z1"`` or ``"X0 Y2 Z3"`` (``cost=observable``).
        init: ``uniform`` (U[0, 2π)), ``normal`` (N(0, init_scale²)), ``identity`` (Grant et al.).
        init_scale: σ of the ``normal`` init.
        gradient: ``target`` (one angle) or ``all`` (every angle, grouped by layer).
        target: ``[layer, wire]`` of the angle (first slot of that wire in that layer;
            negative indices count from the end; default McClean's θ₁,₁). For a template:
            ``params[layer, wire, 0, …]``.
        shots: ``None`` for exact expectations, else the measurement shots per shifted
            expectation (``gradient=target`` with a built-in ansatz).
        device: torch device of the ``batched`` engine (``cpu``, ``cuda``).
        diff_method: ``auto``, ``batched``, ``default.qubit``, ``lightning``.
        memory_limit_gb: working memory allowed for state vectors; a batch is computed in
            chunks that fit, and a circuit that cannot fit one draw is refused.
    """

    n_qubits: int = 4
    n_layers: int = 10
    ansatz: str = "mcclean"
    cost: str = "observable"
    observable: str = "Z0 Z1"
    init: str = "uniform"
    init_scale: float = 0.1
    gradient: str = "target"
    target: List[int] = field(default_factory=lambda: [0, 0])
    shots: Optional[int] = None
    device: str = "cpu"
    diff_method: str = "auto"
    memory_limit_gb: float = 4.0

    def __post_init__(self) -> None:
        _require_int(self.n_qubits, "n_qubits", 1)
        _require_int(self.n_layers, "n_layers", 1)
        template = _resolve_template(self.ansatz)
        require_choice("cost", self.cost, COSTS)
        if self.cost == "observable":
            parse_pauli_string(self.observable, self.n_qubits)
        require_choice("init", self.init, INITS)
        require(isinstance(self.init_scale, (int, float)) and not isinstance(self.init_scale, bool)
                and math.isfinite(self.init_scale) and self.init_scale > 0,
                "init_scale", self.init_scale, "must be a number > 0")
        require_choice("gradient", self.gradient, GRADIENTS)
        shape = _param_shape(self, template)
        require(isinstance(self.target, Sequence) and not isinstance(self.target, str) and len(self.target) == 2
                and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in self.target),
                "target", self.target, "must be [layer, wire], two integers")
        layer, wire = (int(i) for i in self.target)
        require(-shape[0] <= layer < shape[0], "target", list(self.target),
                f"layer {layer} does not exist with n_layers={shape[0]} (0..{shape[0] - 1}, or negative from the end)")
        require(-shape[1] <= wire < shape[1], "target", list(self.target),
                f"wire {wire} does not exist: {shape[1]} wires (0..{shape[1] - 1}, or negative from the end)")
        if self.shots is not None:
            _require_int(self.shots, "shots", 1)
            require(self.gradient == "target", "shots", self.shots,
                    "finite shots need gradient=target (a shot-based gradient of every angle needs two "
                    "shifted circuits per angle); use shots=null with gradient=all")
            require(template is None, "shots", self.shots,
                    "finite shots need a built-in ansatz (the two-term shift needs the angle in one Pauli rotation)")
        require(isinstance(self.device, str), "device", self.device, "must be a torch device name such as 'cpu'")
        try:
            torch.empty(0, device=self.device)
        except (RuntimeError, ValueError) as error:
            raise ConfigError("device", self.device, f"not a usable torch device: {error}") from None
        require_choice("diff_method", self.diff_method, ["auto", *METHODS])
        require(isinstance(self.memory_limit_gb, (int, float)) and not isinstance(self.memory_limit_gb, bool)
                and self.memory_limit_gb > 0, "memory_limit_gb", self.memory_limit_gb, "must be a number > 0")
        method = choose_method(self)
        require(method == "batched" or self.device == "cpu", "device", self.device,
                f"only the batched engine runs on {self.device!r}; diff_method={method} runs on cpu")
        need = _bytes_per_draw(self, method, template) + _fixed_bytes(self, method, template)
        limit = self.memory_limit_gb * 1e9
        require(need <= limit, "n_qubits", self.n_qubits,
                f"needs {need / 1e9:.3g} GB for one draw ({method}: state vectors of 2^{self.n_qubits} complex128 "
                f"amplitudes), limit memory_limit_gb={self.memory_limit_gb}; lower n_qubits or raise memory_limit_gb")


def _require_int(value: Any, key: str, low: int) -> None:
    require(isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low,
            key, value, f"must be an integer >= {low}")


def _param_shape(config: VQCConfig, template: Optional[Callable[..., Any]]) -> Tuple[int, ...]:
    """Shape of one draw's forward angles: ``(n_layers, n_qubits, slots)`` or the template's."""
    if template is None:
        return (config.n_layers, config.n_qubits, ANSATZE[config.ansatz].slots)
    try:
        shape = tuple(int(s) for s in template.param_shape(config.n_layers, config.n_qubits))
    except Exception as error:  # the user's code: report whatever it raised, on one line
        raise ConfigError("ansatz", config.ansatz, f"param_shape(n_layers, n_wires) failed: {error}") from None
    require(len(shape) >= 2 and shape[0] == config.n_layers and all(s >= 1 for s in shape), "ansatz",
            config.ansatz, f"param_shape({config.n_layers}, {config.n_qubits}) = {shape}: must start with "
            f"n_layers={config.n_layers}, then the per-wire axis, all entries >= 1")
    return shape


# --------------------------------------------------------------------------- methods and memory


#: Upper bounds, in state vectors per draw, of what each way of computing keeps alive at once.
#: shift: the cost and the two shifted circuits stacked (3 vectors) plus the gate output
#: buffer (x2); adjoint: ψ, λ, ∂ψ and a buffer; default.qubit broadcasting: 3 stacked
#: vectors and ~3 einsum temporaries; lightning runs one draw at a time (~4 vectors).
_WORKING_VECTORS = {"shift": 6, "adjoint": 4, "default.qubit": 9, "lightning": 4}
#: automatic differentiation through the gates (templates; default.qubit gradient=all)
#: keeps every intermediate state: one vector per gate plus the working set above.
_OP_BYTES = 2000  # a PennyLane op object with its parameters, per gate and draw (lightning tapes)

#: auto: the batched engine below this many qubits, lightning.qubit's adjoint from here on
#: (measured, 2 cores, 50 layers: at n = 12 lightning was 1.2x faster for one angle and 4x
#: for every angle; at n = 10 the engine was 2x faster for every angle and far faster for
#: one; docs/vqc.md, "How auto chooses").
AUTO_LIGHTNING_MIN_QUBITS = 12


def _gate_count(config: VQCConfig) -> int:
    """Gates of one circuit (an upper bound for templates: 4 per angle)."""
    n, layers = config.n_qubits, config.n_layers
    per_layer = 2 * n + n * ANSATZE[config.ansatz].slots if isinstance(config.ansatz, str) and \
        config.ansatz in ANSATZE else 4 * n
    return (n + per_layer * layers) * (2 if INITS[config.init].identity_blocks else 1)


def _bytes_per_draw(config: VQCConfig, method: str, template: Optional[Callable[..., Any]]) -> float:
    """Working memory of one draw with ``method`` (state vectors, stored intermediates, tapes)."""
    one = statevector.state_bytes(config.n_qubits, 1)
    if method == "lightning":
        return _WORKING_VECTORS["lightning"] * one + _OP_BYTES * _gate_count(config)
    if method == "default.qubit":
        if config.gradient == "all" or template is not None:  # backprop keeps every intermediate state
            return (_gate_count(config) + _WORKING_VECTORS["adjoint"]) * one
        return _WORKING_VECTORS["default.qubit"] * one
    return _WORKING_VECTORS["shift" if _uses_shift(config, template, method) else "adjoint"] * one


def _fixed_bytes(config: VQCConfig, method: str, template: Optional[Callable[..., Any]]) -> float:
    """Memory a chunk needs whatever its size: the engine's adjoint may keep checkpoints."""
    if method != "batched" or _uses_shift(config, template, method):
        return 0.0
    return float(statevector.DEFAULT_CHECKPOINT_BYTES)


def _uses_shift(config: VQCConfig, template: Optional[Callable[..., Any]], method: str) -> bool:
    """Whether the gradient comes from the parameter shift (one angle of a built-in ansatz,
    not on lightning; or any shot-based gradient) rather than an adjoint/autodiff sweep."""
    if config.shots is not None:
        return True
    return config.gradient == "target" and template is None and method != "lightning"


def choose_method(config: VQCConfig) -> str:
    """The way ``diff_method=auto`` computes (an explicit choice is returned unchanged).

    The batched engine below :data:`AUTO_LIGHTNING_MIN_QUBITS` qubits (and on any non-CPU
    device), lightning.qubit's adjoint from there on, where it measured faster (the
    engine's fused layers pay off when many small state vectors share each kernel call).
    """
    if config.diff_method != "auto":
        return config.diff_method
    if config.n_qubits >= AUTO_LIGHTNING_MIN_QUBITS and config.device == "cpu":
        return "lightning"
    return "batched"


# --------------------------------------------------------------------------- draws and circuits


@dataclass
class Draws:
    """The random parameters of ``n`` draws (numpy, float64 angles).

    Attributes:
        angles: ``[n, *param_shape]`` forward angles.
        inverse: ``[n, *param_shape]`` angles of the inverse layers (``init=identity``), else None.
        axes: ``[n, n_layers, n_qubits]`` McClean's rotation axes (0, 1, 2 = X, Y, Z), else None.
    """

    angles: np.ndarray
    inverse: Optional[np.ndarray]
    axes: Optional[np.ndarray]

    def rows(self, index: slice) -> "Draws":
        """The draws selected by ``index``."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return Draws(self.angles[index], pick(self.inverse), pick(self.axes))

    def repeat(self, times: int) -> "Draws":
        """The draws stacked ``times`` over (for shifted copies)."""
        tile = lambda a: None if a is None else np.concatenate([a] * times)  # noqa: E731
        return Draws(tile(self.angles), tile(self.inverse), tile(self.axes))


def _inverse_ops(ops: List[qml.operation.Operation]) -> List[qml.operation.Operation]:
    return [qml.adjoint(op, lazy=False) for op in reversed(ops)]


class _Circuit:
    """Builds the gate lists of a config, broadcast over a batch or for one draw."""

    def __init__(self, config: VQCConfig, template: Optional[Callable[..., Any]]) -> None:
        self.config = config
        self.template = template
        self.spec = None if template is not None else ANSATZE[config.ansatz]
        self.identity = INITS[config.init].identity_blocks
        self.n = config.n_qubits
        self.shape = _param_shape(config, template)
        self.wires = list(range(self.n))

    def _template_layer(self, params: Any, layer: int) -> List[qml.operation.Operation]:
        with qml.queuing.AnnotatedQueue() as queue:
            self.template(params[layer:layer + 1], self.wires)
        return list(qml.tape.QuantumScript.from_queue(queue).operations)

    def _builtin_layer(self, angles: Any, axes: Any, layer: int) -> list:
        """One layer: a rotation per (wire, slot) in wire-major order, then the entangler."""
        ops = []
        for wire in range(self.n):
            for slot in range(self.spec.slots):
                axis = None if axes is None else axes[layer][wire]
                ops.append(self.spec.rotation(slot, angles[layer][wire][slot], axis, wire))
        return ops + self.spec.entangler(layer, self.n)

    def ops(self, angles: Any, inverse: Any, axes: Any) -> List[qml.operation.Operation]:
        """The gates, with ``angles[l][w][s]`` (built-ins) or ``angles[l, w, …]`` (templates) a
        float for one draw or a tensor [B] for a broadcast batch; ``inverse`` likewise
        (``init=identity``), ``axes[l][w]`` McClean's axis codes."""
        ops = [] if self.spec is None else list(self.spec.start(self.n))
        for layer in range(self.config.n_layers):
            if self.spec is None:
                block = self._template_layer(angles, layer)
                inverse_block = self._template_layer(inverse, layer) if self.identity else []
            else:
                block = self._builtin_layer(angles, axes, layer)
                inverse_block = self._builtin_layer(inverse, axes, layer) if self.identity else []
            ops += block + _inverse_ops(inverse_block)
        return ops

    def broadcast_ops(self, draws: Draws, device: str, requires_grad: bool = False
                      ) -> Tuple[List[qml.operation.Operation], List[torch.Tensor]]:
        """Gates with per-draw parameters as tensors [B]; returns (ops, leaf tensors)."""
        leaves = [torch.as_tensor(draws.angles, device=device)]
        if draws.inverse is not None:
            leaves.append(torch.as_tensor(draws.inverse, device=device))
        if requires_grad:
            leaves = [leaf.requires_grad_(True) for leaf in leaves]
        if self.spec is None:  # templates index params[l, w, ...]: batch axis last
            views = [torch.movedim(leaf, 0, -1) for leaf in leaves]
            axes = None
        else:  # nested per-layer/wire/slot views so that angles[l][w][s] is a tensor [B]
            views = [leaf.permute(1, 2, 3, 0) for leaf in leaves]
            axes = None if draws.axes is None else torch.as_tensor(draws.axes, device=device).permute(1, 2, 0)
        ops = self.ops(views[0], views[1] if len(views) > 1 else None, axes)
        return ops, leaves

    def draw_ops(self, draws: Draws, index: int) -> Tuple[List[qml.operation.Operation], List[int]]:
        """Gates of one built-in draw with native float parameters, and the tape parameter
        index of each forward angle (in ``angles[index]`` order, flattened)."""
        angles = draws.angles[index]
        inverse = None if draws.inverse is None else draws.inverse[index]
        axes = None if draws.axes is None else draws.axes[index]
        ops = self.ops(angles, inverse, axes)
        forward = self.forward_indices()
        per_layer = self.n * self.spec.slots * (2 if self.identity else 1)
        # the index arithmetic assumes one parameter per rotation and none per entangler
        assert sum(op.num_params for op in ops) == forward[0] + self.config.n_layers * per_layer
        return ops, forward

    def forward_indices(self) -> List[int]:
        """Tape parameter index of every forward angle of a built-in draw (one per gate)."""
        start = len(self.spec.start(self.n))
        per_layer = self.n * self.spec.slots
        stride = per_layer * (2 if self.identity else 1)
        return [start + layer * stride + k for layer in range(self.config.n_layers) for k in range(per_layer)]


# --------------------------------------------------------------------------- methods


class _Method:
    """How exact expectations and gradients of a batch of draws are computed."""

    def values(self, sampler: "VQCSampler", draws: Draws) -> np.ndarray:
        """⟨O⟩ per draw, [B]."""
        raise NotImplementedError

    def probs(self, sampler: "VQCSampler", draws: Draws) -> np.ndarray:
        """Computational-basis probabilities per draw, [B, 2^n] (wire 0 most significant)."""
        raise NotImplementedError

    def values_and_grads(self, sampler: "VQCSampler", draws: Draws, only_target: bool
                         ) -> Tuple[np.ndarray, np.ndarray]:
        """⟨O⟩ [B] and ∂⟨O⟩ with respect to every forward angle, [B, *param_shape]."""
        raise NotImplementedError


class _BatchedMethod(_Method):
    """The torch state-vector engine (:mod:`xvanish.statevector`), all draws as one broadcast batch."""

    def values(self, sampler, draws):
        with torch.no_grad():
            ops, _ = sampler.circuit.broadcast_ops(draws, sampler.config.device)
            out = statevector.expval(ops, sampler.circuit.n, sampler.observable, batch_size=len(draws.angles),
                                device=sampler.config.device)
        return _numpy(out)

    def probs(self, sampler, draws):
        with torch.no_grad():
            ops, _ = sampler.circuit.broadcast_ops(draws, sampler.config.device)
            out = statevector.probs(ops, sampler.circuit.n, batch_size=len(draws.angles), device=sampler.config.device)
        return _numpy(out)

    def values_and_grads(self, sampler, draws, only_target):
        ops, leaves = sampler.circuit.broadcast_ops(draws, sampler.config.device, requires_grad=True)
        # The adjoint sweep pulls the gate derivatives back to the drawn angles itself
        # (McClean's Rot mapping, the inverse layers' negation, a template's expressions).
        values, (grad,) = statevector.expval_and_grad(ops, sampler.circuit.n, sampler.observable, [leaves[0]],
                                                 batch_size=len(draws.angles), device=sampler.config.device)
        return _numpy(values), _numpy(grad)


class _DefaultQubitMethod(_Method):
    """PennyLane's default.qubit with parameter broadcasting (the reference)."""

    def __init__(self) -> None:
        self._device = None

    def _run(self, sampler, draws, measurement, requires_grad=False):
        if self._device is None:
            self._device = qml.device("default.qubit")
        ops, leaves = sampler.circuit.broadcast_ops(draws, sampler.config.device, requires_grad)
        tape = qml.tape.QuantumScript(ops, [measurement])
        (out,) = qml.execute([tape], self._device, diff_method="backprop" if requires_grad else None)
        return out, leaves

    def values(self, sampler, draws):
        with torch.no_grad():
            out, _ = self._run(sampler, draws, qml.expval(sampler.observable))
        return _numpy(out).reshape(len(draws.angles))

    def probs(self, sampler, draws):
        with torch.no_grad():
            out, _ = self._run(sampler, draws, qml.probs(wires=sampler.circuit.wires))
        return _numpy(out).reshape(len(draws.angles), -1)

    def values_and_grads(self, sampler, draws, only_target):
        out, leaves = self._run(sampler, draws, qml.expval(sampler.observable), requires_grad=True)
        out = out.reshape(len(draws.angles))
        (grad,) = torch.autograd.grad(out.sum(), leaves[0])  # draws are independent: Σ gives each gradient
        return _numpy(out), _numpy(grad)


def _numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


class _LightningMethod(_Method):
    """lightning.qubit: one batch of per-draw tapes, adjoint derivatives in one device call."""

    def __init__(self) -> None:
        self._devices: Dict[int, Any] = {}

    def _device(self, n: int) -> Any:
        if n not in self._devices:
            self._devices[n] = qml.device("lightning.qubit", wires=n)
        return self._devices[n]

    def _config(self, device: Any, adjoint: bool) -> Any:
        config = qml.devices.ExecutionConfig(gradient_method="adjoint" if adjoint else None)
        return device.setup_execution_config(config)

    def _execute(self, sampler, draws, measurement, trainable=None):
        device = self._device(sampler.circuit.n)
        config = self._config(device, adjoint=trainable is not None)
        tapes = []
        for index in range(len(draws.angles)):
            ops, forward = sampler.circuit.draw_ops(draws, index)
            tapes.append(qml.tape.QuantumScript(ops, [measurement], trainable_params=trainable(forward)
                                                if trainable else []))
        program = device.preprocess_transforms(config)
        count = len(tapes)
        tapes, post = program(tapes)
        # one derivative row per draw: the device program must not split or decompose the tapes
        assert len(tapes) == count, "lightning.qubit's preprocessing split the tapes"
        if trainable is None:
            return post(device.execute(tapes, config)), None
        results, jacobians = device.execute_and_compute_derivatives(tapes, config)
        return post(results), jacobians

    def values(self, sampler, draws):
        if sampler.circuit.template is not None:
            return self._template(sampler, draws, grad=False)[0]
        out, _ = self._execute(sampler, draws, qml.expval(sampler.observable))
        return np.asarray(out, dtype=np.float64).reshape(len(draws.angles))

    def probs(self, sampler, draws):
        out, _ = self._execute(sampler, draws, qml.probs(wires=sampler.circuit.wires))
        return np.asarray(out, dtype=np.float64).reshape(len(draws.angles), -1)

    def values_and_grads(self, sampler, draws, only_target):
        if sampler.circuit.template is not None:
            return self._template(sampler, draws, grad=True)
        batch = len(draws.angles)
        shape = sampler.circuit.shape
        if only_target:
            flat = int(np.ravel_multi_index(sampler.target_index, shape))
            out, jac = self._execute(sampler, draws, qml.expval(sampler.observable),
                                     trainable=lambda forward: [forward[flat]])
            grads = np.zeros((batch, int(np.prod(shape))))
            grads[:, flat] = np.asarray(jac, dtype=np.float64).reshape(batch)
        else:
            out, jac = self._execute(sampler, draws, qml.expval(sampler.observable), trainable=lambda f: f)
            grads = np.asarray(jac, dtype=np.float64).reshape(batch, -1)
        return np.asarray(out, dtype=np.float64).reshape(batch), grads.reshape(batch, *shape)

    def _template(self, sampler, draws, grad):
        """Templates: decompose to lightning's native gates with torch parameters, run the
        numeric tapes in one adjoint call, and pull the gate derivatives back to the drawn
        angles with torch autograd (a template's angle may enter several gates)."""
        device = self._device(sampler.circuit.n)
        leaves = [torch.as_tensor(draws.angles).requires_grad_(grad)]
        if draws.inverse is not None:
            leaves.append(torch.as_tensor(draws.inverse).requires_grad_(grad))
        tapes, gate_params = [], []
        with torch.set_grad_enabled(grad):
            for index in range(len(draws.angles)):
                inverse = leaves[1][index] if len(leaves) > 1 else None
                ops = sampler.circuit.ops(leaves[0][index], inverse, None)
                tape = qml.tape.QuantumScript(ops, [qml.expval(sampler.observable)])
                (tape,), _ = qml.transforms.decompose(tape, gate_set=_LIGHTNING_NATIVE)
                params = tape.get_parameters(trainable_only=False)
                trainable = [i for i, p in enumerate(params) if isinstance(p, torch.Tensor) and p.requires_grad]
                values = [float(p.detach()) if isinstance(p, torch.Tensor) else float(p) for p in params]
                numeric = tape.bind_new_parameters(values, list(range(len(params))))
                numeric.trainable_params = trainable
                tapes.append(numeric)
                gate_params.append([params[i] for i in trainable])
        config = self._config(device, adjoint=grad)
        if not grad:
            return np.asarray(device.execute(tapes, config), dtype=np.float64).reshape(len(tapes)), None
        values, jacobians = device.execute_and_compute_derivatives(tapes, config)
        outputs, cotangents = [], []
        for tensors, jacobian in zip(gate_params, jacobians):
            jacobian = np.atleast_1d(np.asarray(jacobian, dtype=np.float64))
            outputs += tensors
            cotangents += [torch.tensor(float(j), dtype=torch.float64) for j in jacobian]
        (gradient,) = torch.autograd.grad(outputs, leaves[0], cotangents, allow_unused=True)
        gradient = torch.zeros_like(leaves[0]) if gradient is None else gradient
        return np.asarray(values, dtype=np.float64).reshape(len(tapes)), _numpy(gradient)


#: Gates lightning.qubit applies and differentiates natively (templates are decomposed to these).
_LIGHTNING_NATIVE = frozenset({
    "RX", "RY", "RZ", "Rot", "PhaseShift", "Hadamard", "PauliX", "PauliY", "PauliZ", "S", "T", "SX",
    "CNOT", "CZ", "CY", "SWAP", "Toffoli", "CRX", "CRY", "CRZ", "CRot", "IsingXX", "IsingYY", "IsingZZ",
    "MultiRZ", "ControlledPhaseShift",
})


#: diff_method -> implementation.
METHODS: Dict[str, _Method] = {
    "batched": _BatchedMethod(),
    "default.qubit": _DefaultQubitMethod(),
    "lightning": _LightningMethod(),
}


# --------------------------------------------------------------------------- shots


def _zeros_per_basis_state(n: int) -> np.ndarray:
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
    zeros = _zeros_per_basis_state(n)
    weights = np.zeros((probs.shape[0], n + 1))
    np.add.at(weights.T, zeros, probs.T)
    weights = np.clip(weights, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    counts = rng.multinomial(shots, weights)
    return (counts @ (2.0 * np.arange(n + 1) - n)) / shots


_SHOT_DRAWS = {"pm1": _shots_pm1, "projector": _shots_projector, "zeros_count": _shots_zeros_count}


# --------------------------------------------------------------------------- sampler


class VQCSampler:
    """Gradients of a variational circuit over random parameter draws (see the module doc).

    Groups: ``grad/target`` [n, 1] (the angle ``target``); with ``shots`` also
    ``grad/target_exact`` (the exact gradient of the same draws: the shot-noise floor
    beside the true variance); with ``gradient=all``, ``grad/layer/<l>`` [n, angles of layer
    l] at position l. ``cost`` carries C (shot-estimated with ``shots``).
    """

    domain = DOMAIN_NAME

    def __init__(self, config: VQCConfig) -> None:
        self.config = config
        self.template = _resolve_template(config.ansatz)
        self.circuit = _Circuit(config, self.template)
        self.cost_spec = COSTS[config.cost]
        self.observable = self.cost_spec.observable(config)
        self.offset = self.cost_spec.offset(config)
        self.scale = self.cost_spec.scale(config)
        self.method_name = choose_method(config)
        self.method = METHODS[self.method_name]
        shape = self.circuit.shape
        layer, wire = (int(i) for i in config.target)
        self.target_index: Tuple[int, ...] = (layer % shape[0], wire % shape[1]) + (0,) * (len(shape) - 2)
        self._bytes_per_draw = _bytes_per_draw(config, self.method_name, self.template)
        self._fixed_bytes = _fixed_bytes(config, self.method_name, self.template)

    def draw(self, n: int, seed: int) -> Draws:
        """The random parameters of ``n`` draws (draw i does not depend on ``n``).

        Angles, axes and shots use separate streams spawned from ``seed``.
        """
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)]
        shape = (int(n), *self.circuit.shape)
        init = INITS[self.config.init]
        angles = init.draw(streams[0], shape, float(self.config.init_scale))
        inverse = angles.copy() if init.identity_blocks else None
        axes = None
        if self.circuit.spec is not None and self.circuit.spec.draws_axes:
            axes = streams[1].integers(0, 3, size=(int(n), self.config.n_layers, self.config.n_qubits))
        return Draws(angles, inverse, axes)

    def _chunks(self, n: int) -> List[slice]:
        """Slices of the batch that fit ``memory_limit_gb`` (one slice when all fit)."""
        budget = self.config.memory_limit_gb * 1e9 - self._fixed_bytes
        per_chunk = max(1, int(budget // self._bytes_per_draw))
        return [slice(start, min(start + per_chunk, n)) for start in range(0, n, per_chunk)]

    def _shift_values(self, draws: Draws) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """⟨O⟩ at θ, θ+π/2, θ−π/2 of the target angle, as one stacked batch: [3, B] (and probs)."""
        batch = len(draws.angles)
        stacked = draws.repeat(3)
        stacked.angles[(slice(batch, 2 * batch),) + self.target_index] += SHIFT
        stacked.angles[(slice(2 * batch, 3 * batch),) + self.target_index] -= SHIFT
        if self.config.shots is not None and self.cost_spec.outcomes == "zeros_count":
            probs = self.method.probs(self, stacked)
            zeros = _zeros_per_basis_state(self.config.n_qubits)
            values = probs @ (2.0 * zeros - self.config.n_qubits)
            return values.reshape(3, batch), probs.reshape(3, batch, -1)
        return self.method.values(self, stacked).reshape(3, batch), None

    def sample(self, n: int, seed: int) -> GradientBatch:
        """Gradients and costs of ``n`` draws, computed as one batch (chunked only to fit memory).

        Args:
            n: number of draws.
            seed: seed of every random choice (angles, axes, shots).

        Returns:
            The :class:`~xvanish.core.GradientBatch` (float64 numpy arrays).
        """
        draws = self.draw(n, seed)
        config = self.config
        all_grads = config.gradient == "all"
        use_shift = _uses_shift(config, self.template, self.method_name)
        values, grads, shifted, probs = [], [], [], []
        for part in self._chunks(n):
            chunk = draws.rows(part)
            if use_shift:
                triple, chunk_probs = self._shift_values(chunk)
                shifted.append(triple)
                probs.append(chunk_probs)
            else:
                value, grad = self.method.values_and_grads(self, chunk, only_target=not all_grads)
                values.append(value)
                grads.append(grad)
        out: Dict[str, np.ndarray] = {}
        positions: Dict[str, Optional[float]] = {}
        if use_shift:
            triple = np.concatenate(shifted, axis=1)
            exact_grad = self.scale * (triple[1] - triple[2]) / 2.0
            cost = self.offset + self.scale * triple[0]
            if config.shots is not None:
                rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(3)[2])
                chunk_probs = None if probs[0] is None else np.concatenate(probs, axis=1)
                estimate = self._shot_estimates(rng, triple, chunk_probs)
                out["grad/target"] = (self.scale * (estimate[1] - estimate[2]) / 2.0).reshape(n, 1)
                out["grad/target_exact"] = exact_grad.reshape(n, 1)
                positions["grad/target_exact"] = None
                cost = self.offset + self.scale * estimate[0]
            else:
                out["grad/target"] = exact_grad.reshape(n, 1)
        else:
            grad = self.scale * np.concatenate(grads, axis=0)
            cost = self.offset + self.scale * np.concatenate(values)
            out["grad/target"] = grad[(slice(None),) + self.target_index].reshape(n, 1)
            if all_grads:
                for layer in range(config.n_layers):
                    out[f"grad/layer/{layer}"] = grad[:, layer].reshape(n, -1)
                    positions[f"grad/layer/{layer}"] = float(layer)
        positions["grad/target"] = None
        return GradientBatch(grads=out, positions=positions, cost=np.asarray(cost, dtype=np.float64))

    def _shot_estimates(self, rng: np.random.Generator, exact: np.ndarray, probs: Optional[np.ndarray]) -> np.ndarray:
        """Shot estimates of ⟨O⟩ for the [3, B] exact values (draw-major order for the rng)."""
        draw = _SHOT_DRAWS[self.cost_spec.outcomes]
        flat_probs = None if probs is None else np.swapaxes(probs, 0, 1).reshape(-1, probs.shape[-1])
        estimate = draw(rng, int(self.config.shots), exact.T.reshape(-1), flat_probs, self.config.n_qubits)
        return estimate.reshape(-1, 3).T

    def theory_var(self) -> Dict[str, float]:
        """The 2-design (deep-circuit limit) variance of each group, where it applies.

        * ``cost``: F1, ``w/(d(d+1))``;
        * ``grad/target`` and ``grad/layer/<l>``: F3 for layer 0 (only the circuit after the
          angle deep; E⟨P⟩² from the known product state before it), F2 for later layers
          (both sides deep);
        * with ``shots``: plus the mean shot-noise term ``w/((d+1)s)`` for the cost and
          ``w/(2(d+1)s)`` for the gradient (:func:`haar.shot_variance`), exact in the same limit.

        One exact exception: ``mcclean`` with one layer and the global cost (PennyLane's
        demo set-up), where the cost factorises over qubits
        (:func:`xvanish.theory.haar.depth_one_global_variances`).

        These are limits: a shallow circuit is not a 2-design (docs/vqc.md, "how deep is
        deep"). A value is given only where its premise can hold: every side that the
        formula takes to be a 2-design has at least ``n_qubits`` layers, the least depth at
        which a nearest-neighbour entangler lets every wire reach every other (the light
        cone; an angle outside the observable's cone has gradient exactly 0). So F1 needs
        ``n_layers >= n``; F3 (layer 0) needs ``n`` layers after the angle; F2 needs ``n``
        layers before and after it; layers 1..n−1 fit neither formula and get none.
        Convergence itself takes longer (about 10n layers for McClean's circuit at n = 10).
        Omitted (no closed form): user templates, ``alternating`` (RY+CZ circuits are
        real: an orthogonal, not unitary, design), ``normal`` and ``identity`` inits.

        Returns:
            group -> predicted variance.
        """
        config = self.config
        spec = self.circuit.spec
        if spec is None or not spec.unitary_design or config.init != "uniform":
            return {}
        n = config.n_qubits
        if (config.ansatz == "mcclean" and config.n_layers == 1 and self.cost_spec.haar_kind == "global"
                and config.shots is None):
            # Exact, not a limit: the cost factorises over qubits (haar.depth_one_global_variances).
            cost_var, grad_var = haar.depth_one_global_variances(n, MCCLEAN_START_BLOCH)
            out = {"cost": cost_var, "grad/target": grad_var}
            if config.gradient == "all":
                out["grad/layer/0"] = grad_var
            return out
        d = 2.0**n
        w = haar.cost_weight(self.cost_spec.haar_kind, n)

        def gradient(layer: int, mean_p_squared: float) -> Optional[float]:
            layers_after = config.n_layers - 1 - layer
            if layers_after < n or 0 < layer < n:
                return None
            if layer == 0:
                return haar.gradient_variance_fixed_start(w, d, mean_p_squared)
            return haar.gradient_variance(w, 0.0, d)

        shot_cost = shot_grad = 0.0
        if config.shots is not None:
            shot_cost = haar.shot_variance(w, d) / config.shots
            shot_grad = 2.0 * haar.shot_variance(w, d) / (4.0 * config.shots)
        out: Dict[str, float] = {}
        if config.n_layers >= n:
            out["cost"] = haar.output_variance(w, 0.0, d) + shot_cost
        layer, _ = self.target_index[:2]
        exact = gradient(layer, spec.layer0_mean_p_squared[0])
        if exact is not None:
            out["grad/target"] = exact + shot_grad
            if config.shots is not None:
                out["grad/target_exact"] = exact
        if config.gradient == "all":
            mean_p0 = float(np.mean(spec.layer0_mean_p_squared))
            for index in range(config.n_layers):
                value = gradient(index, mean_p0)
                if value is not None:
                    out[f"grad/layer/{index}"] = value
        return out


def sampler(**kwargs: Any) -> VQCSampler:
    """Build a :class:`VQCSampler`; keywords are the keys of ``conf/domain/vqc.yaml`` (:class:`VQCConfig`).

    ``ansatz`` may also be a template callable (research code); YAML gives its import path.

    Raises:
        ConfigError: for an unknown key, a bad value, or a circuit that cannot fit one draw
            in ``memory_limit_gb``, before any work.

    Example:
        >>> s = sampler(n_qubits=6, n_layers=100, observable="Z0 Z1")  # doctest: +SKIP
        >>> s.theory_var()["grad/target"]  # d/(3(d²−1)), McClean's θ₁,₁  # doctest: +SKIP
    """
    return VQCSampler(make_config(VQCConfig, **kwargs))


DOMAIN = Domain(
    name=DOMAIN_NAME,
    config=VQCConfig,
    factory=sampler,
    natural_axis="n_qubits",
    headline_group="grad/target",
    description="variational quantum circuits: barren plateaus vs qubits and layers (McClean 2018, Cerezo 2021)",
)
