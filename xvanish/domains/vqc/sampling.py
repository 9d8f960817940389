"""The VQC sampler: one circuit family at one size, its draws, gradients and theory.

Building a sampler is cheap: :func:`.preprocess.resolve` validates the point and derives, once, what
sampling needs (template, circuit shape, observable, back-end, gradient rule, memory).
All simulation happens in :meth:`VQCSampler.sample`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from xvanish import core
from xvanish.core import GradientBatch
from xvanish.theory import haar

from .circuits import INITS, MCCLEAN_START_BLOCH, Draws
from .config import VQCConfig
from .costs import SHOT_DRAWS, parse_pauli_sum, pauli_masks, zeros_per_basis_state
from .lietheory import LieModel
from .lietheory import build as build_lie
from .methods import METHODS
from .preprocess import CHAIN_ANSATZE, Plan, resolve

__all__ = ["CHAIN_ANSATZE", "DOMAIN_NAME", "Plan", "SHIFT", "VQCSampler", "resolve", "sampler"]

DOMAIN_NAME = "vqc"

SHIFT = math.pi / 2  # two-term parameter shift of exp(−iθP/2): ∂C = [C(θ+π/2) − C(θ−π/2)]/2

#: Random streams of one ``sample(n, seed)`` (:func:`xvanish.core.streams`).
_ANGLES, _AXES, _SHOTS = range(3)


class VQCSampler:
    """Gradients of a variational circuit over random parameter draws.

    Groups (:meth:`groups`): ``grad/target`` [n, 1] (the angle ``target``); with ``shots``
    also ``grad/target_exact`` (the exact gradient of the same draws: the shot-noise floor
    beside the true variance); with ``gradient=all``, ``grad/layer/<l>`` [n, angles of
    layer l] at position l; ``cost`` (C, shot-estimated with ``shots``) last.

    What is drawn, from :func:`xvanish.core.streams` of the ``seed`` of :meth:`sample`:
    the angles (stream 0), McClean's rotation axes (stream 1) and the measurement outcomes
    with finite ``shots`` (stream 2).

    Attributes:
        config: the validated config.
        plan: the derived values (:class:`Plan`).
    """

    domain = DOMAIN_NAME

    def __init__(self, config: VQCConfig, plan: Plan | None = None) -> None:
        self.config = config
        self.plan = config.resolved if plan is None else plan  # resolved once, when the config was built
        self._last: dict[str, Any] = {}
        self._lie: LieModel | None = None

    # ------------------------------------------------------------------ declared

    def groups(self) -> list[core.Group]:
        """``grad/target``, ``grad/target_exact`` (shots), ``grad/layer/<l>`` (gradient=all), ``cost``."""
        out = [core.group("grad/target")]
        if self.config.shots is not None:
            out.append(core.group("grad/target_exact"))
        if self.config.gradient == "all":
            out += [core.group(f"grad/layer/{layer}", layer) for layer in range(self.config.n_layers)]
        return out + [core.COST]

    def info(self) -> dict[str, Any]:
        """How this point is computed, for the run's summary.

        Returns:
            ``diff_method`` (the back-end that runs, ``auto`` resolved), ``diff_method_requested``,
            ``gradient_rule`` (``shift``, ``adjoint``, ``backprop``), ``memory_bytes_per_draw``,
            ``memory_bytes_fixed``, ``memory_limit_bytes``; ``lie``: the dynamical Lie
            algebra (``dim``, ``ideals`` [{dim, rank}], ``centre_dim``, ``universal``, and for
            a built algebra the predicted ``mean_cost``/``var_cost``) or ``{"none": why}``
            (built on first call, :mod:`.lietheory`); after :meth:`sample`, also ``n_chunks``
            and ``memory_bytes`` (the estimated need of its largest chunk).
        """
        plan = self.plan
        return {
            "diff_method": plan.method,
            "diff_method_requested": self.config.diff_method,
            "gradient_rule": plan.rule,
            "memory_bytes_per_draw": int(plan.memory.per_draw),
            "memory_bytes_fixed": int(plan.memory.fixed),
            "memory_limit_bytes": int(self.config.memory_limit_gb * 1e9),
            "lie": self.lie_model().info(),
            **self._last,
        }

    # ------------------------------------------------------------------ sampling

    def draw(self, n: int, seed: int, start: int = 0) -> Draws:
        """The random parameters of draws start … start+n−1 (draw i does not depend on ``n``:
        numpy fills an array in order, so the rows before start are drawn and dropped)."""
        seeds = core.streams(seed, 3)
        circuit = self.plan.circuit
        init = INITS[self.config.init]
        total = int(start) + int(n)
        angles = init.draw(
            np.random.default_rng(seeds[_ANGLES]), (total, *circuit.shape), float(self.config.init_scale)
        )[start:]
        inverse = angles.copy() if init.identity_blocks else None
        axes = None
        if circuit.draws_axes:
            axes = np.random.default_rng(seeds[_AXES]).integers(0, 3, size=(total, circuit.n_layers, circuit.n))[start:]
        return Draws(angles, inverse, axes)

    def _chunks(self, n: int) -> list[slice]:
        """Slices of the batch that fit ``memory_limit_gb`` (one slice when all fit)."""
        return self.plan.memory.chunks(n, self.config.memory_limit_gb * 1e9)

    def shift_values(self, draws: Draws) -> tuple[np.ndarray, np.ndarray | None]:
        """⟨O⟩ at θ, θ+π/2, θ−π/2 of the target angle, as one stacked batch: [3, B] (and probs)."""
        plan = self.plan
        backend = METHODS[plan.method]
        batch = len(draws.angles)
        stacked = draws.repeat(3)
        stacked.angles[(slice(batch, 2 * batch),) + plan.target_index] += SHIFT
        stacked.angles[(slice(2 * batch, 3 * batch),) + plan.target_index] -= SHIFT
        if self.config.shots is not None and plan.cost.outcomes == "zeros_count":
            probs = backend.probs(plan.circuit, stacked, self.config.device, self.config.precision)
            values = probs @ (2.0 * zeros_per_basis_state(plan.circuit.n) - plan.circuit.n)
            return values.reshape(3, batch), probs.reshape(3, batch, -1)
        values = backend.values(plan.circuit, plan.observable, stacked, self.config.device, self.config.precision)
        return values.reshape(3, batch), None

    def sample(self, n: int, seed: int, start: int = 0) -> GradientBatch:
        """Gradients and costs of ``n`` draws, computed as one batch (chunked only to fit memory).

        Args:
            n: number of draws.
            seed: seed of every random choice (angles, axes, shots).
            start: the first draw: draws start … start+n−1 of the seed's streams.

        Returns:
            The :class:`~xvanish.core.GradientBatch` (float64 numpy arrays ``[n, k]``).
        """
        plan, config = self.plan, self.config
        core.require_int("start", start, minimum=0)
        draws = self.draw(n, seed, start)
        chunks = self._chunks(n)
        self._last = {"n_chunks": len(chunks), "memory_bytes": int(plan.memory.need(chunks[0].stop - chunks[0].start))}
        if plan.rule == "shift":
            return self._sample_shift(draws, chunks, seed, start)
        backend = METHODS[plan.method]
        target = None if config.gradient == "all" else plan.target_index
        values, grads = [], []
        for part in chunks:
            value, grad = backend.values_and_grads(
                plan.circuit, plan.observable, draws.rows(part), config.device, target, config.precision
            )
            values.append(value)
            grads.append(grad)
        grad = plan.scale * np.concatenate(grads, axis=0)
        out = {"grad/target": grad[(slice(None),) + plan.target_index].reshape(n, 1)}
        if config.gradient == "all":
            # only the angles that enter a gate (the open chain has no edge after its last wire)
            present = plan.circuit.present().ravel() if plan.circuit.spec is not None else slice(None)
            for layer in range(config.n_layers):
                out[f"grad/layer/{layer}"] = grad[:, layer].reshape(n, -1)[:, present]
        return GradientBatch(grads=out, cost=plan.offset + plan.scale * np.concatenate(values))

    def _sample_shift(self, draws: Draws, chunks: list[slice], seed: int, start: int) -> GradientBatch:
        """The parameter shift of the target angle; with ``shots``, estimated from drawn outcomes."""
        plan = self.plan
        n = len(draws.angles)
        triples, probs = [], []
        for part in chunks:
            triple, chunk_probs = self.shift_values(draws.rows(part))
            triples.append(triple)
            probs.append(chunk_probs)
        triple = np.concatenate(triples, axis=1)
        exact_grad = (plan.scale * (triple[1] - triple[2]) / 2.0).reshape(n, 1)
        if self.config.shots is None:
            return GradientBatch(grads={"grad/target": exact_grad}, cost=plan.offset + plan.scale * triple[0])
        # One generator per draw (its shots need as many numbers as its probabilities ask for,
        # so a shared one would make draw i depend on the draws before it).
        rngs = [np.random.default_rng(s) for s in core.streams(core.streams(seed, 3)[_SHOTS], start + n)[start:]]
        estimate = self._shot_estimates(rngs, triple, None if probs[0] is None else np.concatenate(probs, axis=1))
        grads = {
            "grad/target": (plan.scale * (estimate[1] - estimate[2]) / 2.0).reshape(n, 1),
            "grad/target_exact": exact_grad,
        }
        return GradientBatch(grads=grads, cost=plan.offset + plan.scale * estimate[0])

    def _shot_estimates(
        self, rngs: list[np.random.Generator], exact: np.ndarray, probs: np.ndarray | None
    ) -> np.ndarray:
        """Shot estimates of ⟨O⟩ for the [3, B] exact values, draw i's three from ``rngs[i]``."""
        draw = SHOT_DRAWS[self.plan.cost.outcomes]
        shots, n_qubits = int(self.config.shots), self.config.n_qubits
        estimate = [
            draw(rng, shots, exact[:, i], None if probs is None else probs[:, i], n_qubits)
            for i, rng in enumerate(rngs)
        ]
        return np.stack(estimate, axis=1)

    # ------------------------------------------------------------------ theory

    def theory_var(self) -> dict[str, core.Theory]:
        """The closed-form variance of each group, with its kind, where one applies.

        * **exact** — ``mcclean`` with one layer and the global cost (PennyLane's demo
          set-up): the cost factorises over qubits (:func:`haar.depth_one_global_variances`);
          with ``shots``, plus the exact mean shot noise
          (:func:`haar.depth_one_global_shot_variance`).
        * **asymptotic** — the 2-design (deep-circuit) limit elsewhere: ``cost`` F1;
          ``grad/target`` and ``grad/layer/<l>`` F3 for layer 0 (E⟨P⟩² from the known start
          state), F2 for later layers; with ``shots`` plus the 2-design mean shot noise
          (:func:`haar.shot_terms`). Given only where the premise can hold
          (:func:`haar.layered_gradient_variance`: every side taken as a 2-design has at
          least ``n_qubits`` layers); a finite-depth circuit is only approximately a
          2-design, so these are limits in depth.
        * **asymptotic**, Lie-algebraic (Ragone et al. 2024; :mod:`xvanish.theory.lie`) —
          ``tfim``, ``xy``, ``alternating``: the limit of depth, where the circuit is a
          2-design over the group of its dynamical Lie algebra g (not over SU(2ⁿ)):
          ``cost`` Σ_j P_j(ρ)P_j(O)/dim g_j; ``grad/target`` and ``grad/layer/<l>`` (the mean
          over the layer's gates) Σ_j P_j(ρ)P_j(O)‖ad_H|g_j‖²/(dim g_j)². Same premise as
          above (``n_qubits`` layers on each random side; none for layer 0). The algebra is
          built here, once, on first use (:mod:`.lietheory`).
        * none — user templates, ``normal`` and ``identity`` inits, finite ``shots`` on a
          non-universal algebra, ``cost=global`` on one, an algebra past ``lie.MAX_DIM``
          (``info()["lie"]`` says why).

        Returns:
            group -> :class:`~xvanish.core.Theory`.
        """
        config, plan = self.config, self.plan
        spec = plan.circuit.spec
        if spec is None or config.init != "uniform":
            return {}
        if not spec.unitary_design:
            return self._lie_theory()
        n, shots = config.n_qubits, config.shots
        if (
            config.ansatz == "mcclean"
            and config.n_layers == 1
            and plan.cost.haar_kind == "global"
            and config.input_state == "zeros"
        ):
            return self._depth_one_theory()
        w = haar.cost_weight(plan.cost.haar_kind, n)
        if config.cost == "observable":  # a sum of strings: Tr H² = d·Σc²
            w *= sum(c * c for c in pauli_masks(parse_pauli_sum(config.observable, n)).values())
        shot_cost, shot_grad = haar.shot_terms(w, n, shots) if shots is not None else (0.0, 0.0)
        out: dict[str, core.Theory] = {}
        cost = haar.layered_cost_variance(n, config.n_layers, w)
        if cost is not None:
            out["cost"] = core.asymptotic(cost + shot_cost)
        target = haar.layered_gradient_variance(
            n, config.n_layers, plan.target_index[0], w, spec.layer0_mean_p_squared[plan.target_index[2]]
        )
        if target is not None:
            out["grad/target"] = core.asymptotic(target + shot_grad)
            if shots is not None:
                out["grad/target_exact"] = core.asymptotic(target)
        if config.gradient == "all":
            mean_p0 = float(np.mean(spec.layer0_mean_p_squared))
            for layer in range(config.n_layers):
                value = haar.layered_gradient_variance(n, config.n_layers, layer, w, mean_p0)
                if value is not None:
                    out[f"grad/layer/{layer}"] = core.asymptotic(value)
        return out

    def lie_model(self) -> LieModel:
        """The Lie-algebraic model of this point, built on first use and kept (:mod:`.lietheory`)."""
        if self._lie is None:
            self._lie = build_lie(self.config, self.plan)
        return self._lie

    def _lie_theory(self) -> dict[str, core.Theory]:
        """Lie-algebraic limits of depth for non-universal ansätze (see :meth:`theory_var`)."""
        model = self.lie_model()
        if model.reason is not None:
            return {}
        config, plan = self.config, self.plan
        n, depth = config.n_qubits, config.n_layers
        scale2 = model.scale**2
        deep = lambda layer: layer >= n and depth - 1 - layer >= n  # noqa: E731 - haar's premise
        out: dict[str, core.Theory] = {}
        if depth >= n:
            out["cost"] = core.asymptotic(scale2 * model.prediction().var_cost)
        layer, wire, slot = plan.target_index[:3]
        if deep(layer):
            target = (layer, wire, slot)
            out["grad/target"] = core.asymptotic(scale2 * model.prediction((target,)).var_grad[target])
        if config.gradient == "all":
            present = np.argwhere(plan.circuit.present())
            for layer in filter(deep, range(depth)):
                gates = tuple((layer, int(w), int(s)) for w, s in present)
                grads = model.prediction(gates).var_grad
                out[f"grad/layer/{layer}"] = core.asymptotic(scale2 * float(np.mean([grads[g] for g in gates])))
        return out

    def _depth_one_theory(self) -> dict[str, core.Theory]:
        """Exact values of the depth-one global-cost set-up (any wire's angle: the qubits are exchangeable)."""
        n, shots = self.config.n_qubits, self.config.shots
        cost_var, grad_var = haar.depth_one_global_variances(n, MCCLEAN_START_BLOCH)
        out = {"cost": core.exact(cost_var), "grad/target": core.exact(grad_var)}
        if shots is not None:
            single = haar.depth_one_global_shot_variance(n, MCCLEAN_START_BLOCH)
            out = {
                "cost": core.exact(cost_var + single / shots),
                "grad/target": core.exact(grad_var + 2.0 * single / (4.0 * shots)),
                "grad/target_exact": core.exact(grad_var),
            }
        if self.config.gradient == "all":
            out["grad/layer/0"] = core.exact(grad_var)
        return out


def sampler(**kwargs: Any) -> VQCSampler:
    """Build a :class:`VQCSampler`; keywords are the keys of ``conf/domain/vqc.yaml`` (:class:`VQCConfig`).

    ``ansatz`` may also be a template callable (research code); YAML gives its import path.
    Cheap: validates the point and derives what sampling needs; no simulation.

    Raises:
        ConfigError: for an unknown key, a bad value, or a circuit that cannot fit one draw
            in ``memory_limit_gb``, before any work.

    Example:
        >>> s = sampler(n_qubits=6, n_layers=100, observable="Z0 Z1")  # doctest: +SKIP
        >>> s.theory_var()["grad/target"]  # d/(3(d²−1)), McClean's θ₁,₁, asymptotic  # doctest: +SKIP
    """
    return VQCSampler(core.make_config(VQCConfig, **kwargs))
