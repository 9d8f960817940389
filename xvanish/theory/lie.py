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

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xvanish.theory.pauli import parse_pauli_sum, pauli_masks

__all__ = [
    "Ideal", "LieAlgebra", "LieTooLarge", "MAX_BYTES", "MAX_DIM", "Prediction", "adjoint_norm_squared", "conjugate",
    "distinct", "fold_layers", "lie_algebra", "pauli_sum", "predict", "product_state", "purity", "sum_key",
    "tfim_generators", "xy_generators",
]

#: Refuse algebras (or invariant subspaces) larger than this: the dense adjoint matrices
#: take ``(k + 2)·dim²`` floats (dim 4000: ~0.13 GB per matrix).
MAX_DIM = 4000

#: Refuse work whose dense matrices (the generators' ad, plus three more) exceed this many bytes.
MAX_BYTES = 5e8

_TOL = 1e-9

PauliSum = dict[tuple[int, int], float]


class LieTooLarge(ValueError):
    """The algebra (or an invariant subspace) is larger than the memory this module allows."""


def _check_memory(n_matrices: int, size: int, what: str) -> None:
    """Refuse ``n_matrices + 3`` dense ``size × size`` float64 matrices past :data:`MAX_BYTES`, in one line."""
    need = (n_matrices + 3) * float(size) ** 2 * 8
    if need > MAX_BYTES:
        raise LieTooLarge(f"{what} of dim {size} with {n_matrices} generators needs {need / 1e9:.2g} GB of dense "
                          f"adjoint matrices (limit lie.MAX_BYTES = {MAX_BYTES / 1e9:.2g} GB); not built")


# ------------------------------------------------------------------ Pauli sums


def pauli_sum(text: str, n: int) -> PauliSum:
    """Parse ``"X0 X1 + Y0 Y1"``, ``"0.5 Z0 - Z1"`` into a Pauli sum on ``n`` qubits.

    Args:
        text: terms separated by ``+``/``-``; each an optional real factor first, then Pauli
            letters with wire indices (``0.5 X0 Y2``; ``@``/``*`` allowed as separators), as the
            circuit domain's ``observable`` (:func:`xvanish.theory.pauli.parse_pauli_sum`).
        n: number of qubits.

    Returns:
        ``{(x, z): coefficient}``.

    Raises:
        ConfigError (a ValueError): a bad term or a wire outside ``0 … n−1``.
    """
    return pauli_masks(parse_pauli_sum(text, n))


def _pc(a: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a).astype(np.int64)


def _commutators(ax, az, av, bx, bz, bv):
    """All nonzero ``i[A_t, B_s]`` for Pauli terms: (x, z, value) arrays.

    ``i[P_a, P_b] = 2i·P_a P_b`` when they anticommute (else 0); ``P_a P_b = i^e P_c`` with
    ``c = a ⊕ b`` and ``e = |a_x∧a_z| + |b_x∧b_z| + 2|a_z∧b_x| − |c_x∧c_z|`` (odd when they
    anticommute, so ``i^{e+1}`` is ±1 and real coefficients stay real).
    """
    ax, az, av = (np.asarray(v)[:, None] for v in (ax, az, av))
    bx, bz, bv = (np.asarray(v)[None, :] for v in (bx, bz, bv))
    anti = ((_pc(ax & bz) + _pc(az & bx)) & 1).astype(bool)
    ax, az, av = (np.broadcast_to(v, anti.shape)[anti] for v in (ax, az, av))
    bx, bz, bv = (np.broadcast_to(v, anti.shape)[anti] for v in (bx, bz, bv))
    cx, cz = ax ^ bx, az ^ bz
    e = (_pc(ax & az) + _pc(bx & bz) + 2 * _pc(az & bx) - _pc(cx & cz) + 1) % 4
    return cx, cz, 2.0 * av * bv * np.where(e == 0, 1.0, -1.0)


def _commutator(a: PauliSum, b: PauliSum) -> PauliSum:
    """``i[A, B]`` of two Pauli sums (Hermitian in, Hermitian out)."""
    (ax, az), av = _arrays(a)
    (bx, bz), bv = _arrays(b)
    cx, cz, cv = _commutators(ax, az, av, bx, bz, bv)
    out: PauliSum = {}
    for key, value in zip(zip(cx.tolist(), cz.tolist()), cv.tolist()):
        out[key] = out.get(key, 0.0) + value
    return {k: v for k, v in out.items() if abs(v) > _TOL}


def _arrays(s: PauliSum) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    keys = list(s)
    return ((np.array([k[0] for k in keys], dtype=np.int64), np.array([k[1] for k in keys], dtype=np.int64)),
            np.array([s[k] for k in keys], dtype=float))


def product_state(spec: str | list[tuple[float, float, float]], n: int) -> np.ndarray:
    """Bloch vectors ``[n, 3]`` of a product input state.

    Args:
        spec: ``zeros``, ``plus``, ``neel`` (``0101…``), a bitstring such as ``"1000"``, or a
            list of ``n`` Bloch vectors.
        n: number of qubits.
    """
    if isinstance(spec, str):
        if spec == "zeros":
            spec = "0" * n
        elif spec == "neel":
            spec = ("01" * n)[:n]
        if spec == "plus":
            return np.tile([1.0, 0.0, 0.0], (n, 1))
        if len(spec) != n or set(spec) - {"0", "1"}:
            raise ValueError(f"input state {spec!r}: zeros, plus, neel or a bitstring of length {n}")
        return np.array([[0.0, 0.0, 1.0 - 2.0 * int(bit)] for bit in spec])
    bloch = np.asarray(spec, dtype=float)
    if bloch.shape != (n, 3):
        raise ValueError(f"Bloch vectors must have shape ({n}, 3)")
    return bloch


def _state_expectations(bloch: np.ndarray, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``⟨P⟩`` of a product state for each Pauli string: ``Π_i r_i[P_i]``."""
    out = np.ones(len(x))
    for wire, r in enumerate(bloch):
        bx, bz = (x >> wire) & 1, (z >> wire) & 1
        factor = np.where(bx & bz, r[1], np.where(bx, r[0], np.where(bz, r[2], 1.0)))
        out = out * factor
    return out


# ------------------------------------------------------------------ folding fixed Clifford gates


def _conjugate_gate(x: int, z: int, gate: tuple[str, int, int]) -> tuple[int, int, int]:
    """``G P G†`` for ``G`` = CZ(a, b) or CNOT(a → b): the new (x, z) and a sign exponent (0/1).

    Aaronson & Gottesman 2004 update rules in the ``Y = iXZ`` convention: CNOT
    ``x_b ^= x_a, z_a ^= z_b``, sign ``x_a z_b (x_b ⊕ z_a ⊕ 1)``; CZ ``z_a ^= x_b, z_b ^= x_a``,
    sign ``x_a x_b (z_a ⊕ z_b)``.
    """
    name, a, b = gate
    xa, xb, za, zb = x >> a & 1, x >> b & 1, z >> a & 1, z >> b & 1
    if name == "CNOT":
        return x ^ (xa << b), z ^ (zb << a), xa & zb & (xb ^ za ^ 1)
    if name == "CZ":
        return x, z ^ (xb << a) ^ (xa << b), xa & xb & (za ^ zb)
    raise ValueError(f"cannot fold fixed gate {name}: only CZ and CNOT (Clifford, Pauli-preserving)")


def conjugate(p: PauliSum, gates: list[tuple[str, int, int]]) -> PauliSum:
    """``U P U†`` for ``U = G_m ⋯ G_1`` (``gates`` in the order applied to the state)."""
    out = {}
    for (x, z), v in p.items():
        sign = 0
        for gate in gates:
            x, z, s = _conjugate_gate(x, z, gate)
            sign ^= s
        out[(x, z)] = out.get((x, z), 0.0) + (-v if sign else v)
    return out


def fold_layers(layers: list[tuple[list[PauliSum], list[tuple[str, int, int]]]]
                ) -> tuple[list[list[PauliSum]], list[tuple[str, int, int]]]:
    """Fold the fixed gates of a layered circuit into its generators.

    ``U = E_{L−1}R_{L−1} ⋯ E_0R_0`` with rotations ``R_l`` (generators ``H``) and fixed Clifford
    layers ``E_l`` equals ``K_L · Π_l exp(−iθ K_l†HK_l)`` with ``K_l = E_{l−1}⋯E_0``: the state
    is untouched, each generator is conjugated by the fixed gates before it, and the
    observable becomes ``K_L† O K_L``.

    Args:
        layers: per layer, ``(generators, fixed gates applied after them)``.

    Returns:
        Each layer's folded generators (same order), and the gates of ``K_L†`` in the order
        to pass to :func:`conjugate` for the observable.

    Example:
        >>> folded, _ = fold_layers([([{(1, 0): 1.0}], [("CZ", 0, 1)])] * 2)  # X0, then CZ
        >>> folded[1]  # CZ X0 CZ = X0 Z1
        [{(1, 2): 1.0}]
    """
    out = []
    before: list[tuple[str, int, int]] = []  # K_l† = E_0† ⋯ E_{l−1}†: conjugate by E_{l−1} first
    for generators, fixed in layers:
        out.append([conjugate(h, list(reversed(before))) for h in generators])
        before = before + list(fixed)
    return out, list(reversed(before))


def sum_key(h: PauliSum) -> tuple:
    """A hashable canonical key of a Pauli sum: its terms sorted, coefficients rounded to 12 digits."""
    return tuple(sorted((k, round(v, 12)) for k, v in h.items()))


def distinct(sums: list[PauliSum]) -> list[PauliSum]:
    """The distinct Pauli sums of a list (order kept), e.g. the folded generators of all layers."""
    seen, out = set(), []
    for h in sums:
        key = sum_key(h)
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


# ------------------------------------------------------------------ generators of the families


def tfim_generators(n: int, boundary: str = "open") -> list[PauliSum]:
    """Generators of the transverse-field Ising ansatz: ``Z_iZ_{i+1}`` (ring if periodic) and ``X_i``.

    The open chain's DLA is so(2n), dim n(2n − 1); the periodic ring's two copies of it
    (THEORY §5b; Wiersema et al. 2023).
    """
    edges = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if boundary == "periodic" and n > 2 else [])
    return [{(0, (1 << i) | (1 << j)): 1.0} for i, j in edges] + [{(1 << i, 0): 1.0} for i in range(n)]


def xy_generators(n: int, boundary: str = "open") -> list[PauliSum]:
    """Generators of the XY ansatz: ``X_iX_{i+1} + Y_iY_{i+1}`` and ``Z_i``; DLA u(n) on the open chain."""
    edges = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if boundary == "periodic" and n > 2 else [])
    gens = []
    for i, j in edges:
        m = (1 << i) | (1 << j)
        gens.append({(m, 0): 1.0, (m, m): 1.0})
    return gens + [{(0, 1 << i): 1.0} for i in range(n)]


# ------------------------------------------------------------------ the algebra


@dataclass
class Ideal:
    """A simple ideal of ``g``: orthonormal basis rows over the algebra's Pauli support.

    Attributes:
        basis: ``[dim, S]`` coefficients (HS-orthonormal: ``B = Σ_s c_s P_s/√d``).
        rank: dimension of its Cartan subalgebra (so(2n): n; su(n): n − 1).
    """

    basis: np.ndarray
    rank: int

    @property
    def dim(self) -> int:
        return int(self.basis.shape[0])


@dataclass
class LieAlgebra:
    """The dynamical Lie algebra of a generator set, split into simple ideals and a centre.

    Attributes:
        n: qubits.
        generators: the Pauli sums ``H_k``.
        dim: ``dim g``.
        universal: ``g = su(2ⁿ)`` (then no basis is built: closed forms).
        keys: ``[S, 2]`` the Pauli strings ``(x, z)`` spanning ``g`` (empty if universal).
        basis: ``[dim, S]`` orthonormal basis (empty if universal).
        centre: ``[c, S]`` orthonormal basis of the centre.
        ideals: the simple ideals (largest first).
        seconds: time to build.
        cache: the split of an observable's part outside ``g`` (:func:`predict`), per observable.
    """

    n: int
    generators: list[PauliSum]
    dim: int
    universal: bool
    keys: np.ndarray
    basis: np.ndarray
    centre: np.ndarray
    ideals: list[Ideal] = field(default_factory=list)
    seconds: float = 0.0
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def centre_dim(self) -> int:
        return int(self.centre.shape[0])

    def summary(self) -> dict[str, Any]:
        """``dim``, ``ideals`` (``[{dim, rank}]``), ``centre_dim``, ``universal`` — for summary.json."""
        if self.universal:
            d = 2 ** self.n
            ideals = [{"dim": d * d - 1, "rank": d - 1}]
        else:
            ideals = [{"dim": i.dim, "rank": i.rank} for i in self.ideals]
        return {"dim": self.dim, "ideals": ideals, "centre_dim": self.centre_dim, "universal": self.universal,
                "seconds": round(self.seconds, 4)}


def _key_index(keys: np.ndarray, x: np.ndarray, z: np.ndarray, n: int) -> np.ndarray:
    """Index of each (x, z) in the sorted support ``keys`` (−1 where absent)."""
    code = keys[:, 0] << n | keys[:, 1]
    probe = x << n | z
    pos = np.searchsorted(code, probe)
    pos = np.clip(pos, 0, len(code) - 1)
    return np.where(code[pos] == probe, pos, -1)


def _ad_on_support(h: PauliSum, keys: np.ndarray, n: int) -> np.ndarray:
    """``[S, S]`` matrix of ``X ↦ i[H, X]`` on coefficient vectors over ``keys``, rows outside dropped.

    Dropping rows outside the support is exact for the restriction to ``g`` (whose image
    lies in ``g``), whatever individual strings do.
    """
    (hx, hz), hv = _arrays(h)
    cols = np.arange(len(keys))
    mat = np.zeros((len(keys), len(keys)))
    for start in range(0, len(keys), 4096):  # bounds the pairwise temporaries
        part = slice(start, start + 4096)
        x, z, v = _commutators(hx, hz, hv, keys[part, 0], keys[part, 1], np.ones(len(cols[part])))
        col = np.broadcast_to(cols[None, part], (len(hx), len(cols[part])))
        anti = ((_pc(hx[:, None] & keys[None, part, 1]) + _pc(hz[:, None] & keys[None, part, 0])) & 1).astype(bool)
        col = col[anti]
        row = _key_index(keys, x, z, n)
        keep = row >= 0
        np.add.at(mat, (row[keep], col[keep]), v[keep])
    return mat


def _orthonormal_rows(m: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    if m.size == 0:
        return m
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    return vt[s > tol * max(1.0, s[0])]


def _pauli_closure(strings: set[tuple[int, int]], n: int, cap: int) -> set[tuple[int, int]] | None:
    """Closure of a set of Pauli strings under commutators (strings only), or None past ``cap``."""
    found = set(strings)
    frontier = list(strings)
    base = np.array(list(strings), dtype=np.int64).reshape(-1, 2)
    while frontier:
        f = np.array(frontier, dtype=np.int64)
        cx, cz, _ = _commutators(base[:, 0], base[:, 1], np.ones(len(base)), f[:, 0], f[:, 1], np.ones(len(f)))
        frontier = [k for k in set(zip(cx.tolist(), cz.tolist())) if k not in found]
        found.update(frontier)
        if len(found) > cap:
            return None
    return found


def lie_algebra(generators: list[PauliSum], n: int, *, universal: bool | None = None, max_dim: int = MAX_DIM,
                seed: int = 0) -> LieAlgebra:
    """The DLA of ``{iH_k}``, its orthonormal basis, centre and simple ideals.

    The closure itself is PennyLane's ``qml.lie_closure`` (Pauli representation); before it
    runs, the closure of the individual Pauli strings of the generators (which contains
    ``g``; it *is* ``g`` when every generator is one string) bounds the size: a bound past
    ``max_dim`` is refused, and ``4ⁿ − 1`` from single-string generators means ``su(2ⁿ)``,
    answered by the closed forms without a basis.

    Args:
        generators: Pauli sums (fixed gates already folded in by conjugation).
        n: qubits.
        universal: ``True`` declares ``g = su(2ⁿ)`` (a gate set known to be universal) without
            any check; ``False`` builds the basis even when the count says su(2ⁿ) (tests);
            ``None`` decides by the count.
        max_dim: the largest algebra built.
        seed: of the random regular element used to split the ideals.

    Raises:
        LieTooLarge: one line, when ``g`` (or its bound) exceeds ``max_dim``.
    """
    import time

    t0 = time.perf_counter()
    full = 4 ** n - 1
    empty = np.zeros((0, 0))
    if universal:
        return LieAlgebra(n, generators, full, True, np.zeros((0, 2), np.int64), empty, empty, [], 0.0)
    strings = {k for g in generators for k in g if k != (0, 0)}
    single = all(len([k for k in g if k != (0, 0)]) == 1 for g in generators)
    # Strings only: the closure of the generators' strings is g itself when each generator
    # is one string (then su(2ⁿ) is recognised by counting, cheaply up to n = 8), and an
    # upper bound on g otherwise.
    cap = full if single and n <= 8 else max_dim
    closure = _pauli_closure(strings, n, cap=cap)
    if closure is not None and single and len(closure) == full and universal is None:
        return LieAlgebra(n, generators, full, True, np.zeros((0, 2), np.int64), empty, empty, [],
                          time.perf_counter() - t0)
    if closure is None or len(closure) > max_dim:
        what = "has dim" if single else "is bounded only by dim"
        raise LieTooLarge(f"dynamical Lie algebra on {n} qubits {what} > {max_dim} (max_dim): not built, its dense "
                          "adjoint matrices would not fit; a universal gate set needs universal=True")
    _check_memory(len(generators), len(closure), f"dynamical Lie algebra on {n} qubits (support)")
    basis_sums = _closure_sums(generators, n)
    keys = np.array(sorted(closure, key=lambda k: k[0] << n | k[1]), dtype=np.int64)
    coef = np.zeros((len(basis_sums), len(keys)))
    for row, s in enumerate(basis_sums):
        (x, z), v = _arrays(s)
        coef[row, _key_index(keys, x, z, n)] = v
    basis = _orthonormal_rows(coef)
    alg = LieAlgebra(n, generators, basis.shape[0], False, keys, basis, empty)
    _split(alg, np.random.default_rng(seed))
    alg.seconds = time.perf_counter() - t0
    return alg


def _closure_sums(generators: list[PauliSum], n: int) -> list[PauliSum]:
    """``qml.lie_closure`` of the generators, as real Pauli sums."""
    import pennylane as qml
    from pennylane.pauli import PauliSentence, PauliWord

    letters = {(1, 0): "X", (1, 1): "Y", (0, 1): "Z"}

    def word(x: int, z: int) -> PauliWord:
        return PauliWord({w: letters[(x >> w & 1, z >> w & 1)] for w in range(n) if (x | z) >> w & 1})

    sentences = [PauliSentence({word(*k): v for k, v in g.items() if k != (0, 0)}) for g in generators]
    out = []
    for ps in qml.lie_closure(sentences, pauli=True):
        s: dict[tuple[int, int], complex] = {}
        for pw, v in ps.items():
            (key,) = pauli_masks([(1.0, [(p, w) for w, p in pw.items()])])
            s[key] = complex(v)
        values = np.array(list(s.values()))
        # commutators come back as i·(Hermitian) or Hermitian: keep the real-valued form
        part = values.real if np.abs(values.real).max() >= np.abs(values.imag).max() else values.imag
        out.append(dict(zip(s, part.tolist())))
    return out


def _restricted(h: PauliSum, alg: LieAlgebra, rows: np.ndarray | None = None) -> np.ndarray:
    """``ad_H`` in the orthonormal basis of ``g`` (or of the rows given)."""
    rows = alg.basis if rows is None else rows
    return rows @ _ad_on_support(h, alg.keys, alg.n) @ rows.T


def _invariant_span(start: np.ndarray, ads: list[np.ndarray], limit: int) -> np.ndarray:
    """Orthonormal rows of the smallest subspace containing ``start`` rows and invariant under ``ads``."""
    span = _orthonormal_rows(np.atleast_2d(start))
    new = span
    while len(new):
        images = np.concatenate([new @ a.T for a in ads])
        images -= images @ span.T @ span
        images -= images @ span.T @ span  # twice: keeps the rows orthogonal to rounding
        new = _orthonormal_rows(images, tol=1e-7) if np.abs(images).max() > 1e-7 else images[:0]
        span = np.concatenate([span, new])
        if len(span) > limit:
            raise LieTooLarge(f"invariant subspace has dim > {limit} (limit max_dim); not built")
    return span


def _split(alg: LieAlgebra, rng: np.random.Generator) -> None:
    """Centre and simple ideals (in place). Coordinates are those of ``alg.basis``.

    Centre: the common kernel of the generators' ``ad``. Ideals: a random ``x`` of the
    semisimple part is regular, so ``ad_x`` has distinct nonzero eigenvalues whose
    eigenvectors are root vectors, each inside one simple ideal; the invariant subspace a
    root vector generates is its ideal (Humphreys, §8; no structure-constant tensor).
    """
    ads = [_restricted(h, alg) for h in alg.generators]
    dim = alg.dim
    # the common kernel from Σ_k A_kᵀA_k (dim × dim), not an SVD of the stacked (k·dim × dim)
    # matrix, whose full U alone would take (k·dim)² floats
    gram = sum((a.T @ a for a in ads), np.zeros((dim, dim)))
    values, vectors = np.linalg.eigh(gram)
    centre_coords = vectors[:, values <= 1e-12 * max(1.0, float(values.max()) if dim else 1.0)].T
    alg.centre = centre_coords @ alg.basis
    # semisimple part: the orthogonal complement of the centre (HS is invariant)
    comp = np.eye(dim) - centre_coords.T @ centre_coords
    semi = _orthonormal_rows(comp)
    if len(semi) == 0:
        return
    ads_s = [semi @ a @ semi.T for a in ads]
    x = rng.standard_normal(len(semi)) @ semi @ alg.basis  # a random element, as coefficients
    x_sum = {tuple(k): v for k, v in zip(alg.keys.tolist(), x.tolist()) if abs(v) > 1e-14}
    ad_x = semi @ _restricted(x_sum, alg) @ semi.T
    values, vectors = np.linalg.eigh(1j * ad_x)  # ad_x antisymmetric: i·ad_x Hermitian
    found = np.zeros((0, len(semi)))
    ideals = []
    for k in np.argsort(-np.abs(values)):
        if values[k] <= 1e-8:  # each root plane once (+λ); λ = 0 is the Cartan part
            continue
        v = np.stack([vectors[:, k].real, vectors[:, k].imag])
        v -= v @ found.T @ found
        if np.linalg.norm(v) < 1e-6:
            continue
        ideal = _invariant_span(v, ads_s, len(semi))
        found = np.concatenate([found, ideal])
        ideals.append(ideal)
    if len(found) != len(semi):
        raise RuntimeError(f"ideal split covered {len(found)} of {len(semi)} dimensions; retry another seed")
    for coords in ideals:
        restricted = coords @ ad_x @ coords.T
        rank = int(np.sum(np.linalg.svd(restricted, compute_uv=False) <= 1e-8 * np.abs(values).max()))
        alg.ideals.append(Ideal(coords @ semi @ alg.basis, rank))
    alg.ideals.sort(key=lambda i: -i.dim)


# ------------------------------------------------------------------ purities and predictions


def _overlaps_operator(rows: np.ndarray, keys: np.ndarray, op: PauliSum, n: int) -> np.ndarray:
    """``Tr(B_a O)`` for basis rows over ``keys``: ``√d Σ_s c_s o_s``."""
    (x, z), v = _arrays(op)
    idx = _key_index(keys, x, z, n)
    vec = np.zeros(len(keys))
    vec[idx[idx >= 0]] = v[idx >= 0]
    return np.sqrt(2.0 ** n) * rows @ vec


def _overlaps_state(rows: np.ndarray, keys: np.ndarray, bloch: np.ndarray) -> np.ndarray:
    """``Tr(B_a ρ)`` for a product state: ``Σ_s c_s ⟨P_s⟩ / √d``."""
    n = len(bloch)
    return rows @ _state_expectations(bloch, keys[:, 0], keys[:, 1]) / np.sqrt(2.0 ** n)


def purity(rows: np.ndarray, keys: np.ndarray, n: int, *, op: PauliSum | None = None,
           bloch: np.ndarray | None = None) -> float:
    """g-purity ``Σ_a Tr(B_a X)²`` of an operator (Pauli sum) or a product state over basis rows.

    Args:
        rows: orthonormal basis rows over ``keys`` (an ideal's ``basis``, the centre).
        keys: ``[S, 2]`` Pauli strings of the rows.
        n: qubits.
        op: ``X`` as a Pauli sum, or
        bloch: ``X = ρ`` a product state (Bloch vectors ``[n, 3]``).
    """
    if op is not None:
        return float(np.sum(_overlaps_operator(rows, keys, op, n) ** 2))
    return float(np.sum(_overlaps_state(rows, keys, np.asarray(bloch, float)) ** 2))


def adjoint_norm_squared(h: PauliSum, rows: np.ndarray, keys: np.ndarray, n: int) -> float:
    """``‖ad_H|_V‖²_F = Σ_a ‖[H, B_a]‖²_HS`` over orthonormal rows spanning an invariant ``V``.

    ``[H, B]`` = ``−i·(i[H, B])`` has HS norm² ``Σ_u c_u²`` over Pauli coefficients (the
    ``1/√d`` of ``B`` and the ``d`` of ``Tr P²`` cancel); computed on the full image, not
    only the support, so it is right for any ``V``.
    """
    (hx, hz), hv = _arrays(h)
    total = 0.0
    for row in rows:
        nz = np.flatnonzero(np.abs(row) > 1e-14)
        cx, cz, cv = _commutators(hx, hz, hv, keys[nz, 0], keys[nz, 1], row[nz])
        code = cx << n | cz
        uniq, inv = np.unique(code, return_inverse=True)
        total += float(np.sum(np.bincount(inv, weights=cv, minlength=len(uniq)) ** 2))
    return total


@dataclass
class Prediction:
    """The deep-circuit (2-design over ``e^g``) moments of ``C`` and of ``∂θC`` per gate.

    Attributes:
        mean_cost: ``E[C]``.
        var_cost: ``Var[C]``.
        var_grad: generator label -> ``Var[∂θC]`` for the gate ``exp(−iθH)``.
        parts: per ideal / invariant subspace: ``dim``, ``purity_state``, ``purity_observable``.
        outside: the part of ``O`` outside ``g`` was handled by its invariant subspace.
    """

    mean_cost: float
    var_cost: float
    var_grad: dict[str, float]
    parts: list[dict[str, float]]
    outside: bool


def predict(alg: LieAlgebra, state: Any, observable: PauliSum, gates: dict[str, PauliSum] | None = None,
            max_dim: int = MAX_DIM) -> Prediction:
    """Predicted mean and variance of ``C`` and ``Var[∂θC]`` for each gate in ``gates``.

    Args:
        alg: from :func:`lie_algebra`.
        state: a product state (:func:`product_state` spec or Bloch vectors ``[n, 3]``).
        observable: ``O`` as a Pauli sum (:func:`pauli_sum`).
        gates: label -> ``H`` of the gate ``exp(−iθH)`` (``exp(−iθP/2)``: ``H = P/2``;
            THEORY §5b pitfall 4: the convention scales ``Var[∂C]`` by 4, not ``Var[C]``).
        max_dim: the largest invariant subspace built for an ``O`` outside ``g``.

    Returns:
        :class:`Prediction`.

    Raises:
        LieTooLarge: the invariant subspace of ``O`` outside ``g`` exceeds ``max_dim``.

    Example:
        >>> alg = lie_algebra(tfim_generators(6), 6)
        >>> round(predict(alg, "zeros", pauli_sum("Z0", 6)).var_cost, 5)  # outside g: 1/12
        0.08333
    """
    n = alg.n
    d = 2.0 ** n
    bloch = product_state(state, n) if isinstance(state, str) else np.asarray(state, float)
    gates = gates or {}
    identity = observable.get((0, 0), 0.0)
    traceless = {k: v for k, v in observable.items() if k != (0, 0)}
    if alg.universal:
        p_rho = _purity_product(bloch) - 1.0 / d
        p_obs = d * sum(v * v for v in traceless.values())
        dim = d * d - 1
        grads = {label: p_rho * p_obs * (2 * d * d * sum(v * v for k, v in h.items() if k != (0, 0))) / dim ** 2
                 for label, h in gates.items()}
        return Prediction(identity, p_rho * p_obs / dim, grads,
                          [{"dim": dim, "purity_state": p_rho, "purity_observable": p_obs}], False)
    parts, rows_list = [], []
    mean = identity + float(_overlaps_state(alg.centre, alg.keys, bloch) @ _overlaps_operator(alg.centre, alg.keys,
                                                                                                traceless, n))
    for ideal in alg.ideals:
        rows_list.append((ideal.basis, alg.keys))
    # the part of O outside g: its own invariant subspace, not its projection (pitfall 1)
    in_g = _overlaps_operator(alg.basis, alg.keys, traceless, n) / np.sqrt(d)  # coefficients of O_g in basis rows
    o_g_coef = in_g @ alg.basis
    rest = dict(traceless)
    for (x, z), c in zip(alg.keys.tolist(), o_g_coef.tolist()):
        rest[(x, z)] = rest.get((x, z), 0.0) - c
    rest = {k: v for k, v in rest.items() if abs(v) > 1e-12}
    outside = bool(rest)
    if outside:
        # the split depends on O and g only: kept on the algebra for the next gate's prediction
        cache_key = ("outside", sum_key(rest))
        if cache_key not in alg.cache:
            keys, rows = _module(rest, alg.generators, n, max_dim)
            alg.cache[cache_key] = (keys, *_irreducible_parts(alg, rows, keys))
        keys, parts_out, fixed = alg.cache[cache_key]
        # a part g acts on trivially is a constant of the circuit: it moves the mean only
        mean += float(_overlaps_state(fixed, keys, bloch) @ _overlaps_operator(fixed, keys, rest, n))
        rows_list += [(part, keys) for part in parts_out]
    var_cost, grads = 0.0, {label: 0.0 for label in gates}
    for rows, keys in rows_list:
        dim = rows.shape[0]
        p_rho = float(np.sum(_overlaps_state(rows, keys, bloch) ** 2))
        p_obs = float(np.sum(_overlaps_operator(rows, keys, traceless, n) ** 2))
        parts.append({"dim": dim, "purity_state": p_rho, "purity_observable": p_obs})
        var_cost += p_rho * p_obs / dim
        for label, h in gates.items():
            grads[label] += p_rho * p_obs * adjoint_norm_squared(h, rows, keys, n) / dim ** 2
    return Prediction(mean, var_cost, grads, parts, outside)


def _purity_product(bloch: np.ndarray) -> float:
    """``Tr ρ²`` of a product state: ``Π (1 + |r_i|²)/2``."""
    return float(np.prod((1.0 + np.sum(bloch ** 2, axis=1)) / 2.0))


def _irreducible_parts(alg: LieAlgebra, rows: np.ndarray, keys: np.ndarray, seed: int = 1
                       ) -> tuple[list[np.ndarray], np.ndarray]:
    """Split an invariant subspace (orthonormal ``rows`` over ``keys``) into irreducible parts.

    As for the ideals (:func:`_split`): a weight vector of a random ``x ∈ g`` (an eigenvector
    of ``ad_x`` with a nonzero, isolated eigenvalue) lies in one irreducible part, which is
    the invariant subspace it generates; the orthogonal complement is invariant too (the
    action is orthogonal), so the split recurses on it. A remainder on which ``g`` acts
    trivially is returned apart. Assumes the parts are pairwise inequivalent (each occurs
    once), as for every family tested here.

    Returns:
        The parts' rows over ``keys``, and the rows of the trivial remainder.
    """
    n = alg.n
    _check_memory(len(alg.generators), len(keys), "invariant subspace of the observable (support)")
    ads = [rows @ _ad_on_support(h, keys, n) @ rows.T for h in alg.generators]
    x = np.random.default_rng(seed).standard_normal(alg.dim) @ alg.basis
    x_sum = {tuple(k): v for k, v in zip(alg.keys.tolist(), x.tolist()) if abs(v) > 1e-14}
    ad_x = rows @ _ad_on_support(x_sum, keys, n) @ rows.T
    remaining = np.eye(len(rows))
    parts = []
    while len(remaining):
        values, vectors = np.linalg.eigh(1j * (remaining @ ad_x @ remaining.T))
        scale = max(1.0, float(np.abs(values).max()))
        gaps = np.array([np.min(np.abs(np.delete(values, k) - values[k])) if len(values) > 1 else scale
                         for k in range(len(values))])
        candidates = np.flatnonzero(values > 1e-8 * scale)
        if len(candidates) == 0:
            break  # g acts as 0 on what is left (ad_x = 0 for a generic x)
        k = candidates[np.argmax(gaps[candidates])]
        v = np.stack([vectors[:, k].real, vectors[:, k].imag]) @ remaining
        part = _invariant_span(v, ads, len(rows))
        parts.append(part)
        rest = remaining - (remaining @ part.T) @ part
        remaining = _orthonormal_rows(rest) if np.abs(rest).max() > 1e-7 else rest[:0]
    return [p @ rows for p in parts], remaining @ rows


def _module(op: PauliSum, generators: list[PauliSum], n: int, max_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Support keys and orthonormal rows of the invariant subspace ``op`` generates under ``ad_{H_k}``
    (Krylov: ``op``, then the commutators of each new direction with every generator)."""
    span_keys: dict[tuple[int, int], int] = {k: i for i, k in enumerate(op)}
    basis = np.zeros((0, 0))
    frontier = [dict(op)]
    while frontier:
        for v in frontier:
            for k in v:
                span_keys.setdefault(k, len(span_keys))
        width = len(span_keys)
        mats = []
        for v in frontier:
            vec = np.zeros(width)
            for k, c in v.items():
                vec[span_keys[k]] = c
            mats.append(vec)
        if basis.size:
            basis = np.pad(basis, ((0, 0), (0, width - basis.shape[1])))
        cand = np.array(mats)
        if basis.size:
            cand = cand - cand @ basis.T @ basis
            cand = cand - cand @ basis.T @ basis
        new = _orthonormal_rows(cand, tol=1e-7) if np.abs(cand).max() > 1e-7 else cand[:0]
        basis = new if not basis.size else np.concatenate([basis, new])
        if len(basis) > max_dim:
            raise LieTooLarge(f"invariant subspace of the observable has dim > {max_dim} (limit max_dim); not built")
        keys_list = list(span_keys)
        frontier = []
        for row in new:
            sum_ = {keys_list[i]: c for i, c in enumerate(row) if abs(c) > 1e-14}
            frontier += [_commutator(h, sum_) for h in generators]
        frontier = [f for f in frontier if f]
    keys_list = list(span_keys)
    order = np.argsort([x << n | z for x, z in keys_list])
    keys = np.array(keys_list, dtype=np.int64)[order]
    return keys, basis[:, order]


def _benchmark() -> None:  # pragma: no cover - a command, not a test
    """``python -m xvanish.theory.lie``: time to predict (algebra + prediction) per family at n = 8."""
    import time

    import pennylane  # noqa: F401 - imported first so that its import time is not counted

    cases = [("tfim periodic", tfim_generators(8, "periodic"), "Z0 Z1"), ("tfim open", tfim_generators(8), "Z0 Z1"),
             ("xy", xy_generators(8), "X0 X1 + Y0 Y1")]
    for name, gens, obs in cases:
        start = time.perf_counter()
        alg = lie_algebra(gens, 8)
        pred = predict(alg, "zeros" if name != "xy" else "10000000", pauli_sum(obs, 8), {"g": gens[-1]})
        print(f"{name:14s} n=8: dim {alg.dim:4d}, ideals {[i.dim for i in alg.ideals]}, centre {alg.centre_dim}; "
              f"Var[C] {pred.var_cost:.6g}, Var[dC] {pred.var_grad['g']:.6g}; {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":  # pragma: no cover
    _benchmark()
