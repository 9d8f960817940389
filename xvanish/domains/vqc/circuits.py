"""Circuits of the VQC domain: built-in ansätze, user templates, init strategies, draws.

Ansätze (registry :data:`ANSATZE`; or a user template, see :class:`~.config.VQCConfig`):

* ``mcclean`` — RY(π/4) on every wire, then per layer a random Pauli rotation per wire and a
  CZ ladder (McClean et al. 2018, Fig. 2);
* ``hea`` — hardware-efficient: RY then RZ per wire, then a CNOT ring;
* ``alternating`` — Cerezo et al.'s alternating layered ansatz of two-qubit blocks: RY on
  every wire, then CZ on the pairs (w, w+1) that start at w ≡ layer (mod 2) (bricks offset
  every other layer; an edge wire without a partner keeps its RY).

Inits (registry :data:`INITS`): ``uniform`` U[0, 2π), ``normal`` N(0, init_scale²), and
``identity`` (Grant et al. 2019, "An initialization strategy for addressing barren
plateaus", Quantum 3, 214): every layer is followed by its inverse whose angles are
*separate* trainable entries *set* equal to the layer's, so the circuit starts at the
identity. The gradient reported is that of the forward layer's angle θ. It is not zero: the
block is W = U(θ')†U(θ) and ∂W/∂θ = U†∂U ≠ 0 at θ' = θ, because moving θ alone breaks the
cancellation. A "mirror" that reuses θ in the inverse has ∂W/∂θ = 0: that is not Grant et
al.'s method.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml
import torch

from xvanish.core import ConfigError, require
from xvanish.theory import haar

__all__ = [
    "ANSATZE", "AnsatzSpec", "Circuit", "Draws", "INITS", "InitSpec", "MCCLEAN_START_BLOCH", "TWO_PI",
    "resolve_template",
]

TWO_PI = 2.0 * math.pi


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
    start: Callable[[int], list[qml.operation.Operation]]
    rotation: Callable[[int, Any, Any, int], qml.operation.Operation]
    entangler: Callable[[int, int], list[qml.operation.Operation]]
    draws_axes: bool
    layer0_mean_p_squared: tuple[float, ...]
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


def _cz_ladder(layer: int, n: int) -> list[qml.operation.Operation]:
    return [qml.CZ(wires=[w, w + 1]) for w in range(n - 1)]


def _cnot_ring(layer: int, n: int) -> list[qml.operation.Operation]:
    if n == 1:
        return []
    if n == 2:
        return [qml.CNOT(wires=[0, 1])]
    return [qml.CNOT(wires=[w, (w + 1) % n]) for w in range(n)]


def _cz_bricks(layer: int, n: int) -> list[qml.operation.Operation]:
    return [qml.CZ(wires=[w, w + 1]) for w in range(layer % 2, n - 1, 2)]


_HEA_GATES = (qml.RY, qml.RZ)

#: McClean's start state RY(π/4)|0⟩ on every wire, as a Bloch vector.
MCCLEAN_START_BLOCH = (math.sqrt(0.5), 0.0, math.sqrt(0.5))

#: ansatz name -> spec.
ANSATZE: dict[str, AnsatzSpec] = {
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


def resolve_template(ansatz: Any) -> Callable[..., Any] | None:
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


@dataclass(frozen=True)
class InitSpec:
    """How the trainable angles of a draw are set.

    Attributes:
        draw: ``(rng, shape, init_scale) -> angles``.
        identity_blocks: every layer is followed by its inverse with separate angles set
            equal to the layer's (Grant et al. 2019).
    """

    draw: Callable[[np.random.Generator, tuple[int, ...], float], np.ndarray]
    identity_blocks: bool


INITS: dict[str, InitSpec] = {
    "uniform": InitSpec(lambda rng, shape, scale: rng.uniform(0.0, TWO_PI, size=shape), False),
    "normal": InitSpec(lambda rng, shape, scale: rng.normal(0.0, scale, size=shape), False),
    "identity": InitSpec(lambda rng, shape, scale: rng.uniform(0.0, TWO_PI, size=shape), True),
}



def param_shape(n_qubits: int, n_layers: int, ansatz: Any, template: Callable[..., Any] | None) -> tuple[int, ...]:
    """Shape of one draw's forward angles: ``(n_layers, n_qubits, slots)`` or the template's.

    Raises:
        ConfigError: naming ``ansatz`` when a template's ``param_shape`` fails or does not
            start with ``n_layers``.
    """
    if template is None:
        return (n_layers, n_qubits, ANSATZE[ansatz].slots)
    try:
        shape = tuple(int(s) for s in template.param_shape(n_layers, n_qubits))
    except Exception as error:  # the user's code: report whatever it raised, on one line
        raise ConfigError("ansatz", ansatz, f"param_shape(n_layers, n_wires) failed: {error}") from None
    require(len(shape) >= 2 and shape[0] == n_layers and all(s >= 1 for s in shape), "ansatz", ansatz,
            f"param_shape({n_layers}, {n_qubits}) = {shape}: must start with n_layers={n_layers}, then the "
            "per-wire axis, all entries >= 1")
    return shape


@dataclass
class Draws:
    """The random parameters of ``n`` draws (numpy, float64 angles).

    Attributes:
        angles: ``[n, *param_shape]`` forward angles.
        inverse: ``[n, *param_shape]`` angles of the inverse layers (``init=identity``), else None.
        axes: ``[n, n_layers, n_qubits]`` McClean's rotation axes (0, 1, 2 = X, Y, Z), else None.
    """

    angles: np.ndarray
    inverse: np.ndarray | None
    axes: np.ndarray | None

    def rows(self, index: slice) -> "Draws":
        """The draws selected by ``index``."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return Draws(self.angles[index], pick(self.inverse), pick(self.axes))

    def repeat(self, times: int) -> "Draws":
        """The draws stacked ``times`` over (for shifted copies)."""
        tile = lambda a: None if a is None else np.concatenate([a] * times)  # noqa: E731
        return Draws(tile(self.angles), tile(self.inverse), tile(self.axes))


def _inverse_ops(ops: list[qml.operation.Operation]) -> list[qml.operation.Operation]:
    return [qml.adjoint(op, lazy=False) for op in reversed(ops)]


class Circuit:
    """The gate lists of one circuit family, broadcast over a batch or for one draw.

    Built once per sampler (:func:`xvanish.domains.vqc.sampling.resolve`); the back-ends in
    :mod:`.methods` act on it, an observable and :class:`Draws`.

    Attributes:
        n: number of wires.
        n_layers: layers of the ansatz (forward layers; ``identity`` adds their inverses).
        spec: the built-in ansatz, or ``None`` for a template.
        template: the user's template, or ``None``.
        identity: each layer is followed by its inverse (Grant et al. 2019).
        shape: shape of one draw's forward angles.
    """

    def __init__(self, n_qubits: int, n_layers: int, spec: AnsatzSpec | None, template: Callable[..., Any] | None,
                 identity: bool, shape: tuple[int, ...]) -> None:
        self.n, self.n_layers = int(n_qubits), int(n_layers)
        self.spec, self.template = spec, template
        self.identity = identity
        self.shape = shape
        self.wires = list(range(self.n))

    @property
    def draws_axes(self) -> bool:
        """Whether each draw carries McClean's random rotation axes."""
        return self.spec is not None and self.spec.draws_axes

    def gate_count(self) -> int:
        """Gates of one circuit (an upper bound for templates: 4 per angle)."""
        n = self.n
        per_layer = 2 * n + n * self.spec.slots if self.spec is not None else 4 * int(np.prod(self.shape[1:]))
        return (n + per_layer * self.n_layers) * (2 if self.identity else 1)

    def _template_layer(self, params: Any, layer: int) -> list[qml.operation.Operation]:
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

    def ops(self, angles: Any, inverse: Any, axes: Any) -> list[qml.operation.Operation]:
        """The gates, with ``angles[l][w][s]`` (built-ins) or ``angles[l, w, …]`` (templates) a
        float for one draw or a tensor [B] for a broadcast batch; ``inverse`` likewise
        (``init=identity``), ``axes[l][w]`` McClean's axis codes."""
        ops = [] if self.spec is None else list(self.spec.start(self.n))
        for layer in range(self.n_layers):
            if self.spec is None:
                block = self._template_layer(angles, layer)
                inverse_block = self._template_layer(inverse, layer) if self.identity else []
            else:
                block = self._builtin_layer(angles, axes, layer)
                inverse_block = self._builtin_layer(inverse, axes, layer) if self.identity else []
            ops += block + _inverse_ops(inverse_block)
        return ops

    def broadcast_ops(self, draws: Draws, device: str, requires_grad: bool = False
                      ) -> tuple[list[qml.operation.Operation], list[torch.Tensor]]:
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

    def draw_ops(self, draws: Draws, index: int) -> tuple[list[qml.operation.Operation], list[int]]:
        """Gates of one built-in draw with native float parameters, and the tape parameter
        index of each forward angle (in ``angles[index]`` order, flattened)."""
        angles = draws.angles[index]
        inverse = None if draws.inverse is None else draws.inverse[index]
        axes = None if draws.axes is None else draws.axes[index]
        ops = self.ops(angles, inverse, axes)
        forward = self.forward_indices()
        per_layer = self.n * self.spec.slots * (2 if self.identity else 1)
        # the index arithmetic assumes one parameter per rotation and none per entangler
        assert sum(op.num_params for op in ops) == forward[0] + self.n_layers * per_layer
        return ops, forward

    def forward_indices(self) -> list[int]:
        """Tape parameter index of every forward angle of a built-in draw (one per gate)."""
        start = len(self.spec.start(self.n))
        per_layer = self.n * self.spec.slots
        stride = per_layer * (2 if self.identity else 1)
        return [start + layer * stride + k for layer in range(self.n_layers) for k in range(per_layer)]


