"""Preprocessing a VQC point: the whole config checked and what sampling needs derived, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xvanish.core import require

from .circuits import ANSATZE, INITS, AnsatzSpec, Circuit, input_state_error, param_shape, resolve_template
from .costs import COSTS, CostSpec, parse_pauli_sum
from .memory import Memory, estimate
from .methods import PRECISIONS, choose_method, gradient_rule

if TYPE_CHECKING:
    from .config import VQCConfig

__all__ = ["CHAIN_ANSATZE", "Plan", "resolve"]

#: ansätze on a chain of wires, with a ``boundary`` (open | periodic).
CHAIN_ANSATZE = ("tfim", "xy")


@dataclass(frozen=True)
class Plan:
    """What a sampler derives from its config, once (:func:`resolve`).

    Attributes:
        circuit: the gate lists' builder (shape, ansatz or template).
        cost: the cost spec; ``observable``, ``offset``, ``scale`` its values at this n.
        method: the back-end that runs (``diff_method=auto`` resolved).
        rule: ``shift``, ``adjoint`` or ``backprop``.
        target_index: the target angle's index into one draw's angles.
        memory: what one draw (and a chunk) needs.
    """

    circuit: Circuit
    cost: CostSpec
    observable: Any
    offset: float
    scale: float
    method: str
    rule: str
    target_index: tuple[int, ...]
    memory: Memory


def resolve(config: VQCConfig) -> Plan:
    """Validate the point as a whole and derive what sampling needs.

    Raises:
        ConfigError: the observable names a wire ≥ n_qubits, the target is outside the
            ansatz, ``shots`` with a template, a back-end that cannot run on ``device``, or
            one draw needs more than ``memory_limit_gb``.
    """
    n = config.n_qubits
    template = resolve_template(config.ansatz)
    spec: AnsatzSpec | None = None if template is not None else ANSATZE[config.ansatz]
    shape = param_shape(n, config.n_layers, config.ansatz, template)
    problem = input_state_error(config.input_state, n)
    require(problem is None, "input_state", config.input_state, problem or "")
    require(
        config.boundary == "open" or config.ansatz in CHAIN_ANSATZE,
        "boundary",
        config.boundary,
        "periodic applies to the chain ansaetze " + ", ".join(CHAIN_ANSATZE) + f", not ansatz={config.ansatz}",
    )
    circuit = Circuit(
        n,
        config.n_layers,
        spec,
        template,
        INITS[config.init].identity_blocks,
        shape,
        periodic=config.boundary == "periodic",
        input_state=config.input_state,
    )
    cost = COSTS[config.cost]
    observable = cost.observable(n, config.observable)  # checks the Pauli string's wires against n
    layer, wire, *slot = (int(i) for i in config.target)
    require(
        -shape[0] <= layer < shape[0],
        "target",
        list(config.target),
        f"layer {layer} does not exist with n_layers={shape[0]} (0..{shape[0] - 1}, or negative from the end)",
    )
    require(
        -shape[1] <= wire < shape[1],
        "target",
        list(config.target),
        f"wire {wire} does not exist: {shape[1]} wires (0..{shape[1] - 1}, or negative from the end)",
    )
    slots = shape[2] if len(shape) > 2 else 1
    slot_index = slot[0] if slot else 0
    require(
        -slots <= slot_index < slots and (len(shape) > 2 or not slot),
        "target",
        list(config.target),
        f"slot {slot_index} does not exist: {slots} angle(s) per wire and layer",
    )
    target_index = (layer % shape[0], wire % shape[1]) + ((slot_index % slots,) if len(shape) > 2 else ())
    target_index += (0,) * (len(shape) - len(target_index))
    if spec is not None:
        require(
            bool(circuit.present()[target_index[1], target_index[2]]),
            "target",
            list(config.target),
            f"no gate there: the open chain has no edge after the last wire (boundary={config.boundary})",
        )
    shift_exact = spec is not None and (spec.two_term_shift or target_index[2] == 0)
    require(
        config.shots is None or template is None,
        "shots",
        config.shots,
        "finite shots need a built-in ansatz (the two-term shift needs the angle in one Pauli rotation)",
    )
    require(
        config.shots is None or shift_exact,
        "shots",
        config.shots,
        "finite shots need a gate with a two-term shift rule; the XX+YY gate (three eigenvalues) has none here",
    )
    require(
        config.shots is None or config.cost != "observable" or len(parse_pauli_sum(config.observable)) == 1,
        "shots",
        config.shots,
        "finite shots measure one Pauli string; a sum of strings needs shots=null",
    )
    method = choose_method(config.diff_method, n, config.device)
    require(
        method == "batched" or config.device == "cpu",
        "device",
        config.device,
        f"only the batched engine runs on {config.device!r}; diff_method={method} runs on cpu",
    )
    require(
        config.precision == "double" or method == "batched",
        "precision",
        config.precision,
        f"diff_method={method} runs in double precision only; single precision needs diff_method=batched",
    )
    rule = gradient_rule(method, config.gradient, template is not None, config.shots, shift_exact)
    memory = estimate(
        n,
        circuit.gate_count(),
        method,
        rule,
        PRECISIONS[config.precision],
        one_gate=config.gradient == "target" and spec is not None,
    )
    need, limit = memory.need(1), config.memory_limit_gb * 1e9
    require(
        need <= limit,
        "n_qubits",
        n,
        f"needs {need / 1e9:.3g} GB for one draw ({method}: state vectors of 2^{n} "
        f"{str(PRECISIONS[config.precision]).removeprefix('torch.')} "
        f"amplitudes), limit memory_limit_gb={config.memory_limit_gb}; lower n_qubits or raise memory_limit_gb",
    )
    return Plan(
        circuit, cost, observable, float(cost.offset(n)), float(cost.scale(n)), method, rule, target_index, memory
    )
