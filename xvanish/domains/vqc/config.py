"""The VQC config: the keys of ``conf/domain/vqc.yaml``.

Each key is checked on its own first; then the point as a whole (the observable's wires
against ``n_qubits``, the target against the ansatz's shape, the memory of one draw) is
resolved once, at the end of ``__post_init__``
(:func:`xvanish.domains.vqc.preprocess.resolve`), and kept as ``config.resolved`` for the
sampler. A run is planned by building each point's config (docs/core.md), so a sweep
validates exactly the points it will run and never an unused default.
"""

# No ``from __future__ import annotations``: OmegaConf reads the dataclass annotations.
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import List, Optional


from xvanish.core import is_int, require, require_choice, require_int, require_number
from xvanish.devices import require_device

from .circuits import ANSATZE, BOUNDARIES, INITS, input_state_error
from .costs import COSTS, parse_pauli_sum
from .preprocess import resolve

__all__ = ["DIFF_METHODS", "GRADIENTS", "PRECISION_NAMES", "VQCConfig"]

#: ``gradient``: one angle, or every angle grouped by layer.
GRADIENTS = ("target", "all")

#: ``diff_method`` values (``auto`` picks one of the others: :func:`.methods.choose_method`).
DIFF_METHODS = ("auto", "batched", "default.qubit", "lightning")

#: ``precision``: complex128 or complex64 state vectors (:data:`.methods.PRECISIONS`).
PRECISION_NAMES = ("double", "single")


@dataclass
class VQCConfig:
    """Keys of ``conf/domain/vqc.yaml`` (= the keyword arguments of :func:`xvanish.domains.vqc.sampler`).

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
        observable: a Pauli string such as ``"Z0 Z1"`` or ``"X0 Y2 Z3"``, or a sum of them
            (``"X0 X1 + Y0 Y1"``, ``"0.5 Z0 - Z1"``) (``cost=observable``).
        init: ``uniform`` (U[0, 2π)), ``normal`` (N(0, init_scale²)), ``identity`` (Grant et al.).
        init_scale: σ of the ``normal`` init.
        gradient: ``target`` (one angle) or ``all`` (every angle, grouped by layer).
        target: ``[layer, wire]`` of the angle (first slot of that wire in that layer;
            negative indices count from the end; default McClean's θ₁,₁), or ``[layer, wire,
            slot]`` (``hea``: 0 RY, 1 RZ; ``tfim``: 0 RX, 1 ZZ on (w, w+1); ``xy``: 0 RZ, 1 XX+YY).
            For a template: ``params[layer, wire, slot or 0, …]``.
        shots: ``None`` for exact expectations, else the measurement shots per shifted
            expectation (``gradient=target`` with a built-in ansatz).
        device: torch device of the ``batched`` engine (``cpu``, ``cuda``).
        diff_method: ``auto``, ``batched``, ``default.qubit``, ``lightning``.
        memory_limit_gb: working memory allowed for state vectors; a batch is computed in
            chunks that fit, and a circuit that cannot fit one draw is refused.
        boundary: ``open`` or ``periodic`` chain of the ``tfim`` and ``xy`` ansätze.
        input_state: ``zeros``, ``plus``, ``neel`` (|0101…⟩) or a bitstring such as
            ``"100000"`` (wire 0 first; quote it in YAML), prepared before the ansatz.
        precision: ``double`` (complex128) or ``single`` (complex64 state vectors: half the
            memory traffic; the batched engine only; docs/vqc.md gives its error on Var).

    Raises:
        ConfigError: for a key whose value is bad on its own (a type, a range, a name).
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
    boundary: str = "open"
    input_state: str = "zeros"
    precision: str = "double"

    def __post_init__(self) -> None:
        require_int("n_qubits", self.n_qubits, minimum=1)
        require_int("n_layers", self.n_layers, minimum=1)
        if isinstance(self.ansatz, str):
            require(
                self.ansatz in ANSATZE or ":" in self.ansatz,
                "ansatz",
                self.ansatz,
                "must be one of " + ", ".join(ANSATZE) + " or an import path 'package.module:callable'",
            )
        else:
            require(callable(self.ansatz), "ansatz", self.ansatz, "must be a name, an import path or a template")
        require_choice("cost", self.cost, COSTS)
        if self.cost == "observable":
            parse_pauli_sum(self.observable)  # syntax here; its wires against n_qubits per point
        require_choice("init", self.init, INITS)
        require_number("init_scale", self.init_scale, 0.0, strict=True)
        require_choice("gradient", self.gradient, GRADIENTS)
        require(
            isinstance(self.target, Sequence)
            and not isinstance(self.target, str)
            and len(self.target) in (2, 3)
            and all(is_int(i) for i in self.target),
            "target",
            self.target,
            "must be [layer, wire] or [layer, wire, slot], integers",
        )
        if self.shots is not None:
            require_int("shots", self.shots, minimum=1)
            require(
                self.gradient == "target",
                "shots",
                self.shots,
                "finite shots need gradient=target (a shot-based gradient of every angle needs two "
                "shifted circuits per angle); use shots=null with gradient=all",
            )
        require_device("device", self.device)
        require_choice("diff_method", self.diff_method, DIFF_METHODS)
        require_number("memory_limit_gb", self.memory_limit_gb, 0.0, strict=True)
        require_choice("boundary", self.boundary, BOUNDARIES)
        problem = input_state_error(self.input_state, None)
        require(problem is None, "input_state", self.input_state, problem or "")
        require_choice("precision", self.precision, PRECISION_NAMES)
        # Checks that need the whole point (the observable's wires against n_qubits, the
        # target inside the ansatz, the memory one draw needs) run here too, because a run is
        # planned by constructing configs (docs/core.md): a bad point of a sweep must fail
        # before the first point is measured. Resolved once; the sampler reuses it.
        self.resolved = resolve(self)
