"""The dynamical Lie algebra of a generator set, split into simple ideals and a centre."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xvanish.theory.pauli import pauli_masks

from .paulis import PauliSum, _arrays, _commutators, _pc

#: Refuse algebras (or invariant subspaces) larger than this: the dense adjoint matrices
#: take ``(k + 2)·dim²`` floats (dim 4000: ~0.13 GB per matrix).
MAX_DIM = 4000

#: Refuse work whose dense matrices (the generators' ad, plus three more) exceed this many bytes.
MAX_BYTES = 5e8


class LieTooLarge(ValueError):
    """The algebra (or an invariant subspace) is larger than the memory this module allows."""


def _check_memory(n_matrices: int, size: int, what: str) -> None:
    """Refuse ``n_matrices + 3`` dense ``size × size`` float64 matrices past :data:`MAX_BYTES`, in one line."""
    need = (n_matrices + 3) * float(size) ** 2 * 8
    if need > MAX_BYTES:
        raise LieTooLarge(
            f"{what} of dim {size} with {n_matrices} generators needs {need / 1e9:.2g} GB of dense "
            f"adjoint matrices (limit lie.MAX_BYTES = {MAX_BYTES / 1e9:.2g} GB); not built"
        )


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
            d = 2**self.n
            ideals = [{"dim": d * d - 1, "rank": d - 1}]
        else:
            ideals = [{"dim": i.dim, "rank": i.rank} for i in self.ideals]
        return {
            "dim": self.dim,
            "ideals": ideals,
            "centre_dim": self.centre_dim,
            "universal": self.universal,
            "seconds": round(self.seconds, 4),
        }


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


def lie_algebra(
    generators: list[PauliSum], n: int, *, universal: bool | None = None, max_dim: int = MAX_DIM, seed: int = 0
) -> LieAlgebra:
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
    full = 4**n - 1
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
        return LieAlgebra(
            n, generators, full, True, np.zeros((0, 2), np.int64), empty, empty, [], time.perf_counter() - t0
        )
    if closure is None or len(closure) > max_dim:
        what = "has dim" if single else "is bounded only by dim"
        raise LieTooLarge(
            f"dynamical Lie algebra on {n} qubits {what} > {max_dim} (max_dim): not built, its dense "
            "adjoint matrices would not fit; a universal gate set needs universal=True"
        )
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
