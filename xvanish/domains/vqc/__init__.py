"""Variational quantum circuits: barren plateaus (McClean et al. 2018; Cerezo et al. 2021).

One sampler draws ``n`` random parameter vectors of a layered circuit on ``n_qubits`` wires
and returns, in one batch, the gradient of the cost with respect to one angle (McClean's
θ₁,₁ by default) or to every angle, and the cost itself. Its variance over the draws is the
barren-plateau signal: it falls like ``2^−n`` once the circuit is deep enough to be a
unitary 2-design (:mod:`xvanish.theory.haar`), and like the inverse dimension of the circuit's
dynamical Lie algebra in general (:mod:`xvanish.theory.lie`: polynomially for ``tfim``, ``xy``).

Modules:

* :mod:`.config` — :class:`VQCConfig`, the keys of ``conf/domain/vqc.yaml``;
* :mod:`.circuits` — ansätze (:data:`ANSATZE`), user templates, inits (:data:`INITS`),
  :class:`Draws` and the gate-list builder :class:`~.circuits.Circuit`;
* :mod:`.costs` — observables and costs (:data:`COSTS`), Pauli strings, shot outcomes;
* :mod:`.methods` — the gradient back-ends (:data:`METHODS`: ``batched``,
  ``default.qubit``, ``lightning``) and how ``diff_method=auto`` chooses (:func:`choose_method`);
* :mod:`.memory` — the memory need of one draw, chunks that fit the limit;
* :mod:`.sampling` — :class:`VQCSampler`, the factory :func:`sampler` and the theory hook;
* :mod:`.lietheory` — the Lie-algebraic theory column of a point (Ragone et al. 2024),
  built lazily from the ansatz's folded generators (:mod:`xvanish.theory.lie`);
* :mod:`._statevector` — the private batched state-vector engine in torch.

Example:
    >>> from xvanish import measure
    >>> from xvanish.domains import vqc
    >>> rows = measure(vqc.sampler(n_qubits=4, n_layers=50), n_samples=200, seed=0)  # doctest: +SKIP
"""

from xvanish.core import Domain

from .circuits import ANSATZE, INITS, Draws
from .config import DIFF_METHODS, GRADIENTS, VQCConfig
from .costs import COSTS, parse_pauli_string
from .methods import METHODS, choose_method
from . import sampling
from .preprocess import resolve
from .sampling import DOMAIN_NAME, VQCSampler, sampler

__all__ = [
    "ANSATZE",
    "COSTS",
    "DIFF_METHODS",
    "DOMAIN",
    "Draws",
    "GRADIENTS",
    "INITS",
    "METHODS",
    "VQCConfig",
    "VQCSampler",
    "choose_method",
    "parse_pauli_string",
    "resolve",
    "sampler",
    "sampling",
]

DOMAIN = Domain(
    name=DOMAIN_NAME,
    config=VQCConfig,
    factory=sampler,
    natural_axis="n_qubits",
    headline_group="grad/target",
    description="variational quantum circuits: barren plateaus vs qubits and layers (McClean 2018, Cerezo 2021)",
    small={"n_qubits": 3, "n_layers": 2},
    oversized={"n_qubits": 40},
)
