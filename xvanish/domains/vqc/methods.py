"""Gradient back-ends: how exact expectations and gradients of a batch of draws are computed.

Each back-end acts on a :class:`~.circuits.Circuit`, an observable and :class:`~.circuits.Draws`
(never on a sampler), and holds no state: devices are created per call, so nothing is
cached between samplers.

* ``batched`` — the torch state-vector engine (:mod:`._statevector`), all draws as one
  broadcast batch: the parameter shift as broadcast evaluations for one angle, the
  engine's adjoint sweep for all;
* ``default.qubit`` — PennyLane with parameter broadcasting (the reference);
* ``lightning`` — lightning.qubit's adjoint over one batch of per-draw tapes.

``diff_method=auto`` picks one by :func:`choose_method` (a measured crossover).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pennylane as qml
import torch

from . import _statevector
from .circuits import Circuit, Draws

__all__ = ["AUTO_LIGHTNING_MIN_QUBITS", "METHODS", "PRECISIONS", "choose_method", "gradient_rule"]

#: ``diff_method=auto``: the batched engine below this many qubits, lightning.qubit's
#: adjoint from here on (CPU; the engine on any other torch device). Measured on this
#: project's 2-core machine with the cores otherwise idle (experiments/bench_vqc.py
#: --crossover: McClean's circuit, 100 layers, ms per draw, batched vs lightning; docs/vqc.md,
#: "How auto chooses"):
#:   one angle    n = 12: 17.6 vs 111, n = 14: 149 vs 167, n = 15: 194 vs 192, n = 16: 409 vs 256;
#:   every angle  n = 12: 61 vs 112,   n = 14: 117 vs 183, n = 15: 252 vs 280, n = 16: 457 vs 410.
#: Four other runs agree (at n = 15 lightning/batched 0.71-1.04, at 16 0.55-0.90). The two
#: meet at n = 15 for both kinds of gradient. Lightning pays ~0.1 s of Python per draw (a
#: tape per draw), so it wins only once the state outgrows the cache and its per-gate
#: kernels beat the engine's fused layers. (It was 12 before: 6x slower there.)
AUTO_LIGHTNING_MIN_QUBITS = 15


def choose_method(diff_method: str, n_qubits: int, device: str) -> str:
    """The back-end ``diff_method=auto`` resolves to (an explicit choice is returned unchanged).

    Args:
        diff_method: ``auto`` or a key of :data:`METHODS`.
        n_qubits: wires.
        device: the torch device; the engine is the only back-end that runs off the CPU.

    Returns:
        A key of :data:`METHODS`: ``batched`` below :data:`AUTO_LIGHTNING_MIN_QUBITS` qubits
        (or off the CPU), ``lightning`` from there on.
    """
    if diff_method != "auto":
        return diff_method
    if device == "cpu" and n_qubits >= AUTO_LIGHTNING_MIN_QUBITS:
        return "lightning"
    return "batched"


def gradient_rule(method: str, gradient: str, template: bool, shots: int | None, shift_exact: bool = True) -> str:
    """How the gradient is computed: ``shift``, ``adjoint`` or ``backprop``.

    A shot-based gradient needs the shifted expectations (``shift``); one angle of a
    built-in ansatz uses the back-end's ``one_angle_rule`` when the two-term shift is exact
    for its gate (``shift_exact``: a generator with eigenvalues ±½); every angle, a
    template (whose angle may enter several gates) or a gate with more than two
    eigenvalues (``xy``'s XX+YY) uses its ``all_angles_rule`` (exact derivatives).
    """
    backend = METHODS[method]
    if shots is not None:
        return "shift"
    if gradient == "target" and not template and (shift_exact or backend.one_angle_rule != "shift"):
        return backend.one_angle_rule
    return backend.all_angles_rule


def _numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


#: ``precision`` -> complex dtype of the state vectors.
PRECISIONS: dict[str, torch.dtype] = {"double": torch.complex128, "single": torch.complex64}


class Batched:
    """The torch state-vector engine, all draws as one broadcast batch (run in cache-sized
    row groups, :mod:`._statevector.schedule`)."""

    # one angle: one forward and one backward sweep with only that angle's gate differentiated
    # (2 state sweeps per draw; the parameter shift needs 3 circuits per draw)
    one_angle_rule = "adjoint"
    all_angles_rule = "adjoint"

    @staticmethod
    def values(circuit: Circuit, observable: Any, draws: Draws, device: str, precision: str = "double") -> np.ndarray:
        """⟨O⟩ per draw, [B]."""
        with torch.no_grad():
            ops, _ = circuit.broadcast_ops(draws, device)
            out = _statevector.expval(
                ops, circuit.n, observable, batch_size=len(draws.angles), device=device, dtype=PRECISIONS[precision]
            )
        return _numpy(out)

    @staticmethod
    def probs(circuit: Circuit, draws: Draws, device: str, precision: str = "double") -> np.ndarray:
        """Computational-basis probabilities per draw, [B, 2^n] (wire 0 most significant)."""
        with torch.no_grad():
            ops, _ = circuit.broadcast_ops(draws, device)
            out = _statevector.probs(
                ops, circuit.n, batch_size=len(draws.angles), device=device, dtype=PRECISIONS[precision]
            )
        return _numpy(out)

    @staticmethod
    def values_and_grads(
        circuit: Circuit,
        observable: Any,
        draws: Draws,
        device: str,
        target: tuple[int, ...] | None = None,
        precision: str = "double",
    ) -> tuple[np.ndarray, np.ndarray]:
        """⟨O⟩ [B] and ∂⟨O⟩ with respect to every forward angle, [B, *shape].

        The adjoint sweep pulls the gate derivatives back to the drawn angles itself
        (McClean's Rot mapping, the inverse layers' negation, a template's expressions).
        With ``target`` (a built-in ansatz) only that angle's gate carries a gradient, so the
        backward sweep carries λ alone (ψ before the gate is checkpointed); the other
        entries of the returned gradient are 0.
        """
        batch, dtype = len(draws.angles), PRECISIONS[precision]
        if target is not None and circuit.spec is not None:
            ops, leaf = circuit.broadcast_target_ops(draws, device, target)
            values, (grad,) = _statevector.expval_and_grad(
                ops, circuit.n, observable, [leaf], batch_size=batch, device=device, dtype=dtype
            )
            full = np.zeros((batch, *circuit.shape))
            full[(slice(None),) + tuple(target)] = _numpy(grad)
            return _numpy(values), full
        ops, leaves = circuit.broadcast_ops(draws, device, requires_grad=True)
        values, (grad,) = _statevector.expval_and_grad(
            ops, circuit.n, observable, [leaves[0]], batch_size=batch, device=device, dtype=dtype
        )
        return _numpy(values), _numpy(grad)


class DefaultQubit:
    """PennyLane's default.qubit with parameter broadcasting (the reference)."""

    one_angle_rule = "shift"
    all_angles_rule = "backprop"  # torch autograd through the simulator
    # double only: resolve refuses precision=single here; the keyword keeps one back-end signature

    @staticmethod
    def _run(circuit: Circuit, draws: Draws, measurement: Any, device: str, requires_grad: bool = False):
        ops, leaves = circuit.broadcast_ops(draws, device, requires_grad)
        tape = qml.tape.QuantumScript(ops, [measurement])
        (out,) = qml.execute([tape], qml.device("default.qubit"), diff_method="backprop" if requires_grad else None)
        return out, leaves

    @classmethod
    def values(
        cls, circuit: Circuit, observable: Any, draws: Draws, device: str, precision: str = "double"
    ) -> np.ndarray:
        with torch.no_grad():
            out, _ = cls._run(circuit, draws, qml.expval(observable), device)
        return _numpy(out).reshape(len(draws.angles))

    @classmethod
    def probs(cls, circuit: Circuit, draws: Draws, device: str, precision: str = "double") -> np.ndarray:
        with torch.no_grad():
            out, _ = cls._run(circuit, draws, qml.probs(wires=circuit.wires), device)
        return _numpy(out).reshape(len(draws.angles), -1)

    @classmethod
    def values_and_grads(
        cls,
        circuit: Circuit,
        observable: Any,
        draws: Draws,
        device: str,
        target: tuple[int, ...] | None = None,
        precision: str = "double",
    ) -> tuple[np.ndarray, np.ndarray]:
        out, leaves = cls._run(circuit, draws, qml.expval(observable), device, requires_grad=True)
        out = out.reshape(len(draws.angles))
        (grad,) = torch.autograd.grad(out.sum(), leaves[0])  # draws are independent: Σ gives each gradient
        return _numpy(out), _numpy(grad)


#: Gates lightning.qubit applies and differentiates natively (templates are decomposed to these).
_LIGHTNING_NATIVE = frozenset(
    {
        "RX",
        "RY",
        "RZ",
        "Rot",
        "PhaseShift",
        "Hadamard",
        "PauliX",
        "PauliY",
        "PauliZ",
        "S",
        "T",
        "SX",
        "CNOT",
        "CZ",
        "CY",
        "SWAP",
        "Toffoli",
        "CRX",
        "CRY",
        "CRZ",
        "CRot",
        "IsingXX",
        "IsingYY",
        "IsingZZ",
        "MultiRZ",
        "ControlledPhaseShift",
    }
)


class Lightning:
    """lightning.qubit: one batch of per-draw tapes, adjoint derivatives in one device call.

    A device is created per call (cheap next to the tapes): nothing is cached across calls.
    """

    one_angle_rule = "adjoint"  # one trainable parameter per tape
    all_angles_rule = "adjoint"

    @staticmethod
    def _setup(n: int, adjoint: bool) -> tuple[Any, Any]:
        device = qml.device("lightning.qubit", wires=n)
        config = qml.devices.ExecutionConfig(gradient_method="adjoint" if adjoint else None)
        return device, device.setup_execution_config(config)

    @classmethod
    def _execute(cls, circuit: Circuit, draws: Draws, measurement: Any, trainable=None):
        device, config = cls._setup(circuit.n, adjoint=trainable is not None)
        tapes = []
        for index in range(len(draws.angles)):
            ops, forward = circuit.draw_ops(draws, index)
            tapes.append(
                qml.tape.QuantumScript(ops, [measurement], trainable_params=trainable(forward) if trainable else [])
            )
        program = device.preprocess_transforms(config)
        count = len(tapes)
        tapes, post = program(tapes)
        # one derivative row per draw: the device program must not split or decompose the tapes
        if len(tapes) != count:
            raise RuntimeError("lightning.qubit's preprocessing split the tapes")
        if trainable is None:
            return post(device.execute(tapes, config)), None
        results, jacobians = device.execute_and_compute_derivatives(tapes, config)
        return post(results), jacobians

    @classmethod
    def values(
        cls, circuit: Circuit, observable: Any, draws: Draws, device: str, precision: str = "double"
    ) -> np.ndarray:
        if circuit.template is not None:
            return cls._template(circuit, observable, draws, grad=False)[0]
        out, _ = cls._execute(circuit, draws, qml.expval(observable))
        return np.asarray(out, dtype=np.float64).reshape(len(draws.angles))

    @classmethod
    def probs(cls, circuit: Circuit, draws: Draws, device: str, precision: str = "double") -> np.ndarray:
        out, _ = cls._execute(circuit, draws, qml.probs(wires=circuit.wires))
        return np.asarray(out, dtype=np.float64).reshape(len(draws.angles), -1)

    @classmethod
    def values_and_grads(
        cls,
        circuit: Circuit,
        observable: Any,
        draws: Draws,
        device: str,
        target: tuple[int, ...] | None = None,
        precision: str = "double",
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`Batched.values_and_grads`; with ``target`` only that angle is trainable
        (the other entries of the returned gradient are 0)."""
        if circuit.template is not None:
            return cls._template(circuit, observable, draws, grad=True)
        batch = len(draws.angles)
        shape = circuit.shape
        if target is not None:
            flat = int(np.ravel_multi_index(target, shape))
            out, jac = cls._execute(circuit, draws, qml.expval(observable), trainable=lambda forward: [forward[flat]])
            grads = np.zeros((batch, int(np.prod(shape))))
            grads[:, flat] = np.asarray(jac, dtype=np.float64).reshape(batch)
        else:
            out, jac = cls._execute(
                circuit, draws, qml.expval(observable), trainable=lambda forward: [i for i in forward if i is not None]
            )
            # slots without a gate (the open chain's missing edge) have gradient 0
            present = [k for k, i in enumerate(circuit.forward_indices()) if i is not None]
            grads = np.zeros((batch, int(np.prod(shape))))
            grads[:, present] = np.asarray(jac, dtype=np.float64).reshape(batch, -1)
        return np.asarray(out, dtype=np.float64).reshape(batch), grads.reshape(batch, *shape)

    @classmethod
    def _template(cls, circuit: Circuit, observable: Any, draws: Draws, grad: bool):
        """Templates: decompose to lightning's native gates with torch parameters, run the
        numeric tapes in one adjoint call, and pull the gate derivatives back to the drawn
        angles with torch autograd (a template's angle may enter several gates)."""
        leaves = [torch.as_tensor(draws.angles).requires_grad_(grad)]
        if draws.inverse is not None:
            leaves.append(torch.as_tensor(draws.inverse).requires_grad_(grad))
        tapes, gate_params = [], []
        with torch.set_grad_enabled(grad):
            for index in range(len(draws.angles)):
                inverse = leaves[1][index] if len(leaves) > 1 else None
                ops = circuit.ops(leaves[0][index], inverse, None)
                tape = qml.tape.QuantumScript(ops, [qml.expval(observable)])
                (tape,), _ = qml.transforms.decompose(tape, gate_set=_LIGHTNING_NATIVE)
                params = tape.get_parameters(trainable_only=False)
                trainable = [i for i, p in enumerate(params) if isinstance(p, torch.Tensor) and p.requires_grad]
                values = [float(p.detach()) if isinstance(p, torch.Tensor) else float(p) for p in params]
                numeric = tape.bind_new_parameters(values, list(range(len(params))))
                numeric.trainable_params = trainable
                tapes.append(numeric)
                gate_params.append([params[i] for i in trainable])
        device, config = cls._setup(circuit.n, adjoint=grad)
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


#: diff_method -> back-end (stateless classes: their methods take circuit, observable, draws).
METHODS: dict[str, type] = {"batched": Batched, "default.qubit": DefaultQubit, "lightning": Lightning}
