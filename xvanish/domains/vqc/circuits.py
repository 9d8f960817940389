"""Circuits of the VQC domain: built-in ansätze, user templates, init strategies, draws.

Ansätze (registry :data:`ANSATZE`; or a user template, see :class:`~.config.VQCConfig`):

* ``mcclean`` — RY(π/4) on every wire, then per layer a random Pauli rotation per wire and a
  CZ ladder (McClean et al. 2018, Fig. 2);
* ``hea`` — hardware-efficient: RY then RZ per wire, then a CNOT ring;
* ``alternating`` — Cerezo et al.'s alternating layered ansatz of two-qubit blocks: RY on
  every wire, then CZ on the pairs (w, w+1) that start at w ≡ layer (mod 2) (bricks offset
  every other layer; an edge wire without a partner keeps its RY);
* ``tfim`` — transverse-field Ising: per wire RX(θ) = exp(−iθX/2), then IsingZZ(θ') =
  exp(−iθ'ZZ/2) on the edge (w, w+1) (ring with ``boundary=periodic``; the open chain has
  no edge after the last wire); independent angles per gate. DLA so(2n), or two copies of
  it on the ring (Ragone et al. 2024; THEORY §5b);
* ``xy`` — per wire RZ(θ), then IsingXY(θ') = exp(iθ'(XX+YY)/4) on the edge (w, w+1): the
  generator (XX+YY)/4 has three eigenvalues, so its gradient needs the exact derivative
  (adjoint), not the two-term shift. DLA u(n) on the open chain.

Input states (registry-free: :func:`input_ops`): ``zeros``, ``plus``, ``neel`` (|0101…⟩) or
a bitstring such as ``"100000"`` (wire 0 first), prepared by fixed X/H gates before the ansatz.

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

import functools
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
from xvanish.theory.pauli import pauli_masks

__all__ = [
    "ANSATZE",
    "AnsatzSpec",
    "BOUNDARIES",
    "Circuit",
    "Draws",
    "INITS",
    "INPUT_STATES",
    "InitSpec",
    "MCCLEAN_START_BLOCH",
    "TWO_PI",
    "input_ops",
    "input_state_error",
    "resolve_template",
]

TWO_PI = 2.0 * math.pi

#: ``boundary`` of the chain ansätze (``tfim``, ``xy``).
BOUNDARIES = ("open", "periodic")

#: named ``input_state`` values (or a bitstring of length ``n_qubits``).
INPUT_STATES = ("zeros", "plus", "neel")


def input_state_error(state: Any, n: int | None) -> str | None:
    """Why ``state`` is not an input state on ``n`` qubits (``None`` checks the syntax only), or None."""
    if not isinstance(state, str):
        return (
            "must be zeros, plus, neel or a bitstring such as '100000' (quote a bitstring in YAML "
            "or on the command line, or its leading zeros are lost)"
        )
    if state in INPUT_STATES:
        return None
    if not state or set(state) - {"0", "1"}:
        return "must be zeros, plus, neel or a bitstring of 0s and 1s such as '100000'"
    if n is not None and len(state) != n:
        return (
            f"a bitstring needs one bit per wire: {len(state)} bits for n_qubits={n} (quote it to keep leading zeros)"
        )
    return None


def input_bits(state: str, n: int) -> str | None:
    """The computational basis state's bits (wire 0 first), or None for ``plus``."""
    if state == "plus":
        return None
    return {"zeros": "0" * n, "neel": ("01" * n)[:n]}.get(state, state)


def input_ops(state: str, n: int) -> list[qml.operation.Operation]:
    """Fixed gates preparing the input state from |0…0⟩ (no parameters)."""
    bits = input_bits(state, n)
    if bits is None:
        return [qml.Hadamard(wires=w) for w in range(n)]
    return [qml.PauliX(wires=w) for w, bit in enumerate(bits) if bit == "1"]


@dataclass(frozen=True)
class AnsatzSpec:
    """A built-in layered ansatz.

    A layer applies ``rotation`` to every (wire, slot) in wire-major order, then
    ``entangler``. Every angle enters exactly one Pauli rotation exp(−iθP/2), so the
    two-term parameter shift is exact.

    Attributes:
        slots: angles per wire per layer.
        start: ``n -> ops`` of a fixed (untrained) start layer.
        rotation: ``(slot, angle, axis, wire, n, periodic) -> op``, or ``None`` where the slot
            has no gate (the open chain's missing last edge). ``angle`` is a float or a
            broadcast tensor [B]; ``axis`` the drawn axis (int, tensor [B], or None).
        entangler: ``(layer, n) -> ops``.
        draws_axes: whether each draw carries a random rotation axis per (layer, wire).
        layer0_mean_p_squared: E⟨P⟩² of each slot's generator in the state just before it
            in layer 0, for uniform angles (F3; see :func:`haar.mean_pauli_square_random_axis`).
        unitary_design: whether deep circuits approach a unitary 2-design (RY+CZ circuits are
            real and approach an orthogonal design instead: no closed form offered); such a
            gate set generates su(2ⁿ) for n ≥ 2, so the Lie theory uses the 2-design closed
            forms without building the algebra.
        lie_layer: ``(layer, n, periodic) -> (generators, fixed)``: the Pauli generators H of
            the layer's gates exp(−iθH) as ``[(slot, wire, {(x, z): coefficient})]`` (bit
            masks as in :mod:`xvanish.theory.lie`) and the fixed Clifford gates after them
            ``[("CZ" | "CNOT", a, b)]``, for the Lie-algebraic theory; ``None``: not offered.
        two_term_shift: every angle enters a gate whose generator has two eigenvalues ±½,
            so the two-term parameter shift is exact; otherwise the gradient is computed
            exactly by the back-end's adjoint/backprop.
    """

    slots: int
    start: Callable[[int], list[qml.operation.Operation]]
    rotation: Callable[[int, Any, Any, int], qml.operation.Operation]
    entangler: Callable[[int, int], list[qml.operation.Operation]]
    draws_axes: bool
    layer0_mean_p_squared: tuple[float, ...]
    unitary_design: bool
    lie_layer: Callable[[int, int, bool], tuple[list, list]] | None = None
    two_term_shift: bool = True


_AXIS_GATES = (qml.RX, qml.RY, qml.RZ)  # McClean's axes, coded 0, 1, 2


def _random_pauli_rotation(
    slot: int, angle: Any, axis: Any, wire: int, n: int = 0, periodic: bool = False
) -> qml.operation.Operation:
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


def _half(*letters_wires: tuple[str, int]) -> dict[tuple[int, int], float]:
    """{P: ½} for the string P (bit masks of :mod:`xvanish.theory.lie`): the generator of exp(−iθP/2)."""
    return pauli_masks([(0.5, list(letters_wires))])


def _edge(wire: int, n: int, periodic: bool) -> int | None:
    """The chain's partner of ``wire`` (w + 1, or 0 after the last wire on a ring), or None."""
    if wire + 1 < n:
        return wire + 1
    return 0 if periodic and n > 2 else None


def _chain_rotation(single: Callable, pair: Callable) -> Callable:
    def rotation(slot: int, angle: Any, axis: Any, wire: int, n: int, periodic: bool):
        if slot == 0:
            return single(angle, wires=wire)
        partner = _edge(wire, n, periodic)
        return None if partner is None else pair(angle, wires=[wire, partner])

    return rotation


def _chain_lie(single: str, pair: Callable[[int, int], dict]) -> Callable:
    def layer(index: int, n: int, periodic: bool) -> tuple[list, list]:
        gens = []
        for wire in range(n):
            gens.append((0, wire, _half((single, wire))))
            partner = _edge(wire, n, periodic)
            if partner is not None:
                gens.append((1, wire, pair(wire, partner)))
        return gens, []

    return layer


class IsingXYTorch(qml.IsingXY):
    """PennyLane's IsingXY(φ) = exp(iφ(XX+YY)/4), with a matrix that stays in torch.

    PennyLane 0.45's ``IsingXY.compute_matrix`` multiplies a torch batch by a numpy array,
    which fails once the angles require grad (default.qubit backprop). Used only for
    broadcast tensors; one draw's float angles use the native gate (lightning)."""

    @staticmethod
    def compute_matrix(phi):  # noqa: D102 - the same matrix as IsingXY
        c, s = qml.math.cos(phi / 2), qml.math.sin(phi / 2)
        one, zero = qml.math.ones_like(c), qml.math.zeros_like(c)
        rows = [[one, zero, zero, zero], [zero, c, 1j * s, zero], [zero, 1j * s, c, zero], [zero, zero, zero, one]]
        return qml.math.stack(
            [qml.math.stack([qml.math.cast(v, "complex128") for v in row], axis=-1) for row in rows], axis=-2
        )


def _xy_pair(angle: Any, wires: list[int]) -> qml.operation.Operation:
    return (IsingXYTorch if isinstance(angle, torch.Tensor) else qml.IsingXY)(angle, wires=wires)


def _xy_generator(a: int, b: int) -> dict[tuple[int, int], float]:
    """IsingXY(θ) = exp(iθ(XX+YY)/4) = exp(−iθH) with H = −(XX+YY)/4."""
    return pauli_masks([(-0.25, [("X", a), ("X", b)]), (-0.25, [("Y", a), ("Y", b)])])


def _layered_lie(generators: Callable[[int, int], list], fixed: Callable[[int, int], list]) -> Callable:
    def layer(index: int, n: int, periodic: bool) -> tuple[list, list]:
        return generators(index, n), fixed(index, n)

    return layer


def _fixed_gates(name: str, entangler: Callable) -> Callable:
    """``(layer, n) -> [(name, a, b)]``: an entangler's two-qubit gates in :mod:`xvanish.theory.lie`'s form."""
    return lambda layer, n: [(name, op.wires[0], op.wires[1]) for op in entangler(layer, n)]


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
        # the drawn axis varies per draw: the algebra of the union {X, Y, Z}/2 per wire (+ CZ ladder)
        lie_layer=_layered_lie(
            lambda layer, n: [(0, w, _half((p, w))) for w in range(n) for p in "XYZ"], _fixed_gates("CZ", _cz_ladder)
        ),
    ),
    # RY on |0⟩: ⟨Y⟩ = 0; RZ after RY(a)|0⟩ with a ~ U[0, 2π): E⟨Z⟩² = E cos²a = ½.
    "hea": AnsatzSpec(
        slots=2,
        start=lambda n: [],
        rotation=lambda slot, angle, axis, wire, n, periodic: _HEA_GATES[slot](angle, wires=wire),
        entangler=_cnot_ring,
        draws_axes=False,
        layer0_mean_p_squared=(0.0, 0.5),
        unitary_design=True,
        lie_layer=_layered_lie(
            lambda layer, n: [(s, w, _half(("YZ"[s], w))) for w in range(n) for s in range(2)],
            _fixed_gates("CNOT", _cnot_ring),
        ),
    ),
    "alternating": AnsatzSpec(
        slots=1,
        start=lambda n: [],
        rotation=lambda slot, angle, axis, wire, n, periodic: qml.RY(angle, wires=wire),
        entangler=_cz_bricks,
        draws_axes=False,
        layer0_mean_p_squared=(0.0,),
        unitary_design=False,
        lie_layer=_layered_lie(
            lambda layer, n: [(0, w, _half(("Y", w))) for w in range(n)], _fixed_gates("CZ", _cz_bricks)
        ),
    ),
    "tfim": AnsatzSpec(
        slots=2,
        start=lambda n: [],
        rotation=_chain_rotation(qml.RX, qml.IsingZZ),
        entangler=lambda layer, n: [],
        draws_axes=False,
        layer0_mean_p_squared=(0.0, 0.0),
        unitary_design=False,
        lie_layer=_chain_lie("X", lambda a, b: _half(("Z", a), ("Z", b))),
    ),
    "xy": AnsatzSpec(
        slots=2,
        start=lambda n: [],
        rotation=_chain_rotation(qml.RZ, _xy_pair),
        entangler=lambda layer, n: [],
        draws_axes=False,
        layer0_mean_p_squared=(0.0, 0.0),
        unitary_design=False,
        lie_layer=_chain_lie("Z", _xy_generator),
        two_term_shift=False,
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
        require(
            ":" in ansatz,
            "ansatz",
            ansatz,
            "must be one of " + ", ".join(ANSATZE) + " or an import path 'package.module:callable'",
        )
        module_name, _, attribute = ansatz.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError, ValueError) as error:
            raise ConfigError("ansatz", ansatz, f"cannot import it: {type(error).__name__}: {error}") from None
        ansatz = target
    require(
        callable(ansatz) and callable(getattr(ansatz, "param_shape", None)),
        "ansatz",
        ansatz,
        "a template must be callable as f(params, wires) and declare f.param_shape(n_layers, n_wires)",
    )
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
    require(
        len(shape) >= 2 and shape[0] == n_layers and all(s >= 1 for s in shape),
        "ansatz",
        ansatz,
        f"param_shape({n_layers}, {n_qubits}) = {shape}: must start with n_layers={n_layers}, then the "
        "per-wire axis, all entries >= 1",
    )
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

    Built once per sampler (:func:`xvanish.domains.vqc.preprocess.resolve`) and not changed
    after (:meth:`present` and :meth:`forward_indices` are computed once); the back-ends in
    :mod:`.methods` act on it, an observable and :class:`Draws`.

    Attributes:
        n: number of wires.
        n_layers: layers of the ansatz (forward layers; ``identity`` adds their inverses).
        spec: the built-in ansatz, or ``None`` for a template.
        template: the user's template, or ``None``.
        identity: each layer is followed by its inverse (Grant et al. 2019).
        shape: shape of one draw's forward angles.
        periodic: the chain ansätze close into a ring (``boundary=periodic``).
        input_state: ``zeros``, ``plus``, ``neel`` or a bitstring, prepared by fixed gates first.
    """

    def __init__(
        self,
        n_qubits: int,
        n_layers: int,
        spec: AnsatzSpec | None,
        template: Callable[..., Any] | None,
        identity: bool,
        shape: tuple[int, ...],
        periodic: bool = False,
        input_state: str = "zeros",
    ) -> None:
        self.n, self.n_layers = int(n_qubits), int(n_layers)
        self.spec, self.template = spec, template
        self.identity = identity
        self.shape = shape
        self.periodic = bool(periodic)
        self.input_state = input_state
        self.wires = list(range(self.n))

    def present(self) -> np.ndarray:
        """``[n_qubits, slots]`` booleans (read-only, built once): which (wire, slot) of a
        built-in layer has a gate (all but the open chain's missing last edge)."""
        return self._present

    @functools.cached_property
    def _present(self) -> np.ndarray:
        mask = np.ones((self.n, self.spec.slots), dtype=bool)
        for wire in range(self.n):
            for slot in range(self.spec.slots):
                mask[wire, slot] = self.spec.rotation(slot, 0.0, 0, wire, self.n, self.periodic) is not None
        mask.flags.writeable = False
        return mask

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
            self.template(params[layer : layer + 1], self.wires)
        return list(qml.tape.QuantumScript.from_queue(queue).operations)

    def _builtin_layer(self, angles: Any, axes: Any, layer: int) -> list:
        """One layer: a rotation per (wire, slot) in wire-major order, then the entangler."""
        ops = []
        for wire in range(self.n):
            for slot in range(self.spec.slots):
                axis = None if axes is None else axes[layer][wire]
                op = self.spec.rotation(slot, angles[layer][wire][slot], axis, wire, self.n, self.periodic)
                if op is not None:
                    ops.append(op)
        return ops + self.spec.entangler(layer, self.n)

    def ops(self, angles: Any, inverse: Any, axes: Any) -> list[qml.operation.Operation]:
        """The gates, with ``angles[l][w][s]`` (built-ins) or ``angles[l, w, …]`` (templates) a
        float for one draw or a tensor [B] for a broadcast batch; ``inverse`` likewise
        (``init=identity``), ``axes[l][w]`` McClean's axis codes."""
        ops = input_ops(self.input_state, self.n) + ([] if self.spec is None else list(self.spec.start(self.n)))
        for layer in range(self.n_layers):
            if self.spec is None:
                block = self._template_layer(angles, layer)
                inverse_block = self._template_layer(inverse, layer) if self.identity else []
            else:
                block = self._builtin_layer(angles, axes, layer)
                inverse_block = self._builtin_layer(inverse, axes, layer) if self.identity else []
            ops += block + _inverse_ops(inverse_block)
        return ops

    def broadcast_ops(
        self, draws: Draws, device: str, requires_grad: bool = False
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

    def broadcast_target_ops(
        self, draws: Draws, device: str, target: tuple[int, ...]
    ) -> tuple[list[qml.operation.Operation], torch.Tensor]:
        """As :meth:`broadcast_ops` (built-in ansatz) with one leaf, the ``target`` angle [B]:
        every other gate's parameters are constants, so a gradient sweep differentiates that
        gate alone."""
        angles = torch.as_tensor(draws.angles, device=device)
        leaf = angles[(slice(None),) + tuple(target)].clone().requires_grad_(True)
        nested = [[list(row.unbind(0)) for row in layer.unbind(0)] for layer in angles.permute(1, 2, 3, 0).unbind(0)]
        nested[target[0]][target[1]][target[2]] = leaf
        inverse = None if draws.inverse is None else torch.as_tensor(draws.inverse, device=device).permute(1, 2, 3, 0)
        axes = None if draws.axes is None else torch.as_tensor(draws.axes, device=device).permute(1, 2, 0)
        return self.ops(nested, inverse, axes), leaf

    def draw_ops(self, draws: Draws, index: int) -> tuple[list[qml.operation.Operation], list[int]]:
        """Gates of one built-in draw with native float parameters, and the tape parameter
        index of each forward angle (in ``angles[index]`` order, flattened)."""
        angles = draws.angles[index]
        inverse = None if draws.inverse is None else draws.inverse[index]
        axes = None if draws.axes is None else draws.axes[index]
        ops = self.ops(angles, inverse, axes)
        forward = self.forward_indices()
        per_layer = int(self.present().sum()) * (2 if self.identity else 1)
        # the index arithmetic assumes one parameter per rotation and none per entangler or input gate
        assert sum(op.num_params for op in ops) == len(self.spec.start(self.n)) + self.n_layers * per_layer
        return ops, forward

    def forward_indices(self) -> list[int | None]:
        """Tape parameter index of every forward angle of a built-in draw (one per gate), in
        ``angles`` order; ``None`` for a slot without a gate (its gradient is 0). Built once."""
        return list(self._forward_indices)

    @functools.cached_property
    def _forward_indices(self) -> tuple[int | None, ...]:
        start = len(self.spec.start(self.n))
        mask = self.present().ravel()
        per_layer = int(mask.sum())
        stride = per_layer * (2 if self.identity else 1)
        within = np.cumsum(mask) - 1
        return tuple(
            start + layer * stride + int(within[k]) if mask[k] else None
            for layer in range(self.n_layers)
            for k in range(len(mask))
        )
