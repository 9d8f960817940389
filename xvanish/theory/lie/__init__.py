"""Lie-algebraic theory of barren plateaus for Pauli-generated circuits (numpy + PennyLane's closure).

Ragone et al. 2024, "A Lie algebraic theory of barren plateaus for deep parameterized quantum
circuits" (Nat. Commun.; arXiv 2309.09342); Fontana et al. 2024, "Characterizing barren
plateaus in quantum ansätze with the adjoint representation" (arXiv 2309.07902). THEORY.md §5b
states the formulas used here and the numbers they are tested against.

Set-up: ``C(θ) = Tr[U ρ U† O]`` with ``U`` a deep product of ``exp(−iθ_k H_k)`` (independent
uniform angles over a full period), ``H_k`` Pauli sums (fixed Clifford gates folded into them
by conjugation first). The dynamical Lie algebra (DLA) ``g`` is the Lie closure of ``{iH_k}``;
it splits into commuting simple ideals ``g_1 … g_m`` plus a centre ``c``. With an orthonormal
Hermitian basis ``Tr(B_a B_b) = δ_ab`` and the g-purities ``P_j(X) = Σ_{a∈g_j} Tr(B_a X)²``,
once the circuit is a 2-design over the group ``e^g`` (the limit of depth):

* ``E[C] = Tr(O)/d + Σ_{c∈centre} Tr(B_c ρ) Tr(B_c O)`` (only the centre and the identity
  move the mean);
* ``Var[C] = Σ_j P_j(ρ) P_j(O) / dim g_j`` over the simple ideals only;
* ``Var[∂θC] = Σ_j P_j(ρ) P_j(O) ‖ad_H|g_j‖²_F / (dim g_j)²`` for the gate ``exp(−iθH)``,
  ``‖ad_H|g_j‖²_F = Σ_{a∈g_j} ‖[H, B_a]‖²_HS``; ``E[∂θC] = 0``.

When ``O`` has a part outside ``g`` that part is not projected away (THEORY §5b pitfall 1:
TFIM with ``O = Z0`` would predict 0 where the truth is 1/(2n)): it is replaced by the
invariant subspace ``V`` it generates under the generators, ``P_V(ρ)P_V(O)/dim V`` (and
``‖ad_H|V‖²_F/(dim V)²`` for the gradient), assuming ``V`` is irreducible and occurs once —
true for the circuit families tested here.

Universal gate sets (``dim g = 4ⁿ − 1``) use the closed forms without building the algebra:
``Var[C] = (Tr ρ² − 1/d)(Tr O² − (Tr O)²/d)/(d² − 1)`` (THEORY F1) and
``‖ad_H‖²_F = 2d Tr H² − 2(Tr H)²``, which gives F2 for ``H = P/2``.

Nothing here builds the ``dim³`` structure-constant tensor: the split into ideals uses the
adjoint matrices of the generators (``k·dim²``) and of one random element (``dim²``),
whose root vectors each lie in one simple ideal (the ideal is then the invariant subspace
one root vector generates). A case that would not fit is refused with one line
(:class:`LieTooLarge`).

Pauli strings are coded as integer bit masks ``(x, z)`` on ``n ≤ 31`` qubits with
``P(x, z) = i^{|x∧z|} X^x Z^z`` (so ``Y = iXZ``); a Pauli sum is a dict ``{(x, z): coefficient}``.

Example:
    >>> alg = lie_algebra(tfim_generators(4, "open"), 4)
    >>> alg.dim, [i.dim for i in alg.ideals], alg.centre_dim
    (28, [28], 0)
    >>> round(predict(alg, "0000", pauli_sum("Z0 Z1", 4)).var_cost, 5)
    0.10714
"""

from .algebra import MAX_BYTES, MAX_DIM, Ideal, LieAlgebra, LieTooLarge, lie_algebra
from .circuits import conjugate, distinct, fold_layers, sum_key, tfim_generators, xy_generators
from .paulis import pauli_sum, product_state
from .predict import Prediction, adjoint_norm_squared, predict, purity

__all__ = [
    "Ideal",
    "LieAlgebra",
    "LieTooLarge",
    "MAX_BYTES",
    "MAX_DIM",
    "Prediction",
    "adjoint_norm_squared",
    "conjugate",
    "distinct",
    "fold_layers",
    "lie_algebra",
    "pauli_sum",
    "predict",
    "product_state",
    "purity",
    "sum_key",
    "tfim_generators",
    "xy_generators",
]
