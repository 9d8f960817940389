"""The Lie-algebraic theory column of a VQC point (Ragone et al. 2024; Fontana et al. 2024).

Built lazily, once per sampler, the first time :meth:`~.sampling.VQCSampler.theory_var` or
:meth:`~.sampling.VQCSampler.info` asks (never in the config or the factory: a sweep is
planned by constructing configs). :mod:`xvanish.theory.lie` does the algebra; this module
turns a built-in ansatz into its inputs:

* each layer's generators ``H`` (gates exp(−iθH): RX/RY/RZ/IsingZZ ``P/2``, IsingXY
  ``−(XX+YY)/4``) and its fixed Clifford gates, folded by conjugation
  (:func:`xvanish.theory.lie.fold_layers`); the observable is conjugated by all fixed gates;
* the input state as Bloch vectors (``input_state``);
* the cost's observable as a Pauli sum, with the cost's affine map ``C = offset + scale·⟨O⟩``.

Universal gate sets (``mcclean``, ``hea``: su(2ⁿ) for n ≥ 2, see the tests) are not built:
their theory is :mod:`xvanish.theory.haar`'s (the same closed forms) and only their
dimension is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xvanish.theory import lie

from .costs import parse_pauli_sum, pauli_masks

__all__ = ["LieModel", "build"]


@dataclass
class LieModel:
    """What the theory hook needs, or why there is none.

    Attributes:
        reason: why no Lie theory is offered (``None`` when it is).
        algebra: the DLA (``universal`` algebras carry no basis).
        observable: the folded cost observable (Pauli sum).
        bloch: the input state's Bloch vectors ``[n, 3]``.
        offset, scale: ``C = offset + scale·⟨O⟩``: the mean maps to ``offset + scale·mean``,
            variances scale by ``scale²``.
        generators: per layer, ``{(wire, slot): folded H}``.
    """

    reason: str | None
    algebra: lie.LieAlgebra | None = None
    observable: dict | None = None
    bloch: np.ndarray | None = None
    scale: float = 1.0
    offset: float = 0.0
    generators: list[dict[tuple[int, int], dict]] = field(default_factory=list)
    _cache: dict = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """The algebra for summary.json: ``dim``, ``ideals`` [{dim, rank}], ``centre_dim``,
        ``universal``, ``seconds``; or ``{"none": reason}``."""
        if self.algebra is None:
            return {"none": self.reason}
        out = self.algebra.summary()
        if self.reason is None and not self.algebra.universal:
            pred = self.prediction()
            out.update(
                mean_cost=self.offset + self.scale * pred.mean_cost,
                var_cost=self.scale**2 * pred.var_cost,
                observable_outside_g=pred.outside,
                kind="asymptotic",
            )
        return out

    def prediction(self, gates: tuple[tuple[int, int, int], ...] = ()) -> lie.Prediction:
        """Mean/variance of ⟨O⟩ and ``Var[∂⟨O⟩]`` of the gates ``(layer, wire, slot)`` (cached
        per distinct folded generator: a deep circuit repeats a handful)."""
        if "base" not in self._cache:
            self._cache["base"] = lie.predict(self.algebra, self.bloch, self.observable)
        base = self._cache["base"]
        grads = {}
        for gate in gates:
            h = self.generators[gate[0]][(gate[1], gate[2])]
            key = lie.sum_key(h)
            if key not in self._cache:
                self._cache[key] = lie.predict(self.algebra, self.bloch, self.observable, {"g": h}).var_grad["g"]
            grads[gate] = self._cache[key]
        return lie.Prediction(base.mean_cost, base.var_cost, grads, base.parts, base.outside)


def build(config: Any, plan: Any) -> LieModel:
    """The :class:`LieModel` of a point (``config``: :class:`~.config.VQCConfig`, ``plan``: its resolve)."""
    spec, n = plan.circuit.spec, config.n_qubits
    if spec is None or spec.lie_layer is None:
        return LieModel("templates: their generators are not extracted")
    if spec.unitary_design and n >= 2:
        return LieModel(
            "universal: the 2-design closed forms (xvanish.theory.haar)", lie.lie_algebra([], n, universal=True)
        )
    if config.init != "uniform":
        return LieModel(f"init={config.init}: the theorem needs uniform angles over a full period")
    if config.shots is not None:
        return LieModel("shots: the shot-noise term of a non-universal algebra is not derived")
    if config.cost == "global":
        return LieModel("cost=global: the projector has 2^n Pauli terms; use cost=observable")
    periodic = plan.circuit.periodic
    per_layer = [spec.lie_layer(layer, n, periodic) for layer in range(config.n_layers)]
    folded, observable_gates = lie.fold_layers([([h for _, _, h in gens], fixed) for gens, fixed in per_layer])
    generators = [
        {(wire, slot): h for (slot, wire, _), h in zip(gens, folded[layer])}
        for layer, (gens, _) in enumerate(per_layer)
    ]
    try:
        algebra = lie.lie_algebra(lie.distinct([h for hs in folded for h in hs]), n)
    except lie.LieTooLarge as error:
        return LieModel(str(error))
    if config.cost == "observable":
        observable = pauli_masks(parse_pauli_sum(config.observable, n))
    else:  # local: C = ½ − ⟨ΣZ_j⟩/(2n)
        observable = {(0, 1 << w): 1.0 for w in range(n)}
    bloch = lie.product_state(config.input_state, n)
    model = LieModel(
        None, algebra, lie.conjugate(observable, observable_gates), bloch, plan.scale, plan.offset, generators
    )
    try:
        model.prediction()  # an observable outside g builds its invariant subspace here: may be refused
    except lie.LieTooLarge as error:
        return LieModel(str(error), algebra)
    return model
