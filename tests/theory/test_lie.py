"""Tests of the Lie-algebraic theory in xvanish.theory.lie (Ragone et al. 2024; Fontana et al. 2024).

Independent references:
* THEORY.md §5b's table (verified there by 10⁵-draw Monte Carlo and exact finite-depth
  moments), held to 1e−9 against the exact fractions its printed values are (3/28, 5/66,
  1/12, 3/20, 4/21, 1/(2ⁿ + 1)) and to its printed digits otherwise;
* known algebra dimensions (so(2n): n(2n − 1); two copies for the periodic ring; u(n) =
  su(n) ⊕ u(1)), PennyLane's own ``qml.center``, and hand-made algebras (su(2) ⊕ su(2),
  u(1) centres);
* the 2-design closed forms of :mod:`xvanish.theory.haar` against the algebra built in full
  (su(4), su(8));
* dense-matrix Clifford conjugation against :func:`lie.conjugate`;
* a dense numpy Monte Carlo of deep random circuits at n = 3 (no xvanish circuit code),
  within 4 standard errors of the sample variance (SE from the sample's fourth moment).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from xvanish.theory import haar, lie
from xvanish.theory.lie import paulis

pytestmark = pytest.mark.vqc


def _hea(n: int) -> list[dict]:
    """THEORY §5b's ``hea`` family: RX, RY on every qubit, ZZ on neighbours (→ su(2ⁿ))."""
    return (
        [{(1 << i, 0): 1.0} for i in range(n)]
        + [{(1 << i, 1 << i): 1.0} for i in range(n)]
        + [{(0, (1 << i) | (1 << (i + 1))): 1.0} for i in range(n - 1)]
    )


FAMILIES = {
    "hea": lambda n: _hea(n),
    "tfim_open": lambda n: lie.tfim_generators(n, "open"),
    "tfim_periodic": lambda n: lie.tfim_generators(n, "periodic"),
    "xy": lambda n: lie.xy_generators(n),
}


# ------------------------------------------------------------------ THEORY §5b's table


@pytest.mark.parametrize(
    "family, n, dim, observable, state, expected",
    [
        ("hea", 3, 63, "Z0 Z1", "000", Fraction(1, 9)),
        ("hea", 6, 4095, "Z0 Z1", "zeros", Fraction(1, 65)),
        ("tfim_open", 4, 28, "Z0 Z1", "0000", Fraction(3, 28)),
        ("tfim_open", 6, 66, "X0", "zeros", Fraction(5, 66)),
        ("tfim_open", 6, 66, "Z0", "zeros", Fraction(1, 12)),  # O outside g (pitfall 1)
        ("xy", 4, 16, "Z0", "1000", Fraction(3, 20)),
        ("xy", 6, 36, "X0 X1 + Y0 Y1", "100000", Fraction(4, 21)),
    ],
)
def test_theory_table(family, n, dim, observable, state, expected):
    alg = lie.lie_algebra(FAMILIES[family](n), n)
    pred = lie.predict(alg, state, lie.pauli_sum(observable, n))
    assert alg.dim == dim
    assert pred.var_cost == pytest.approx(float(expected), abs=1e-9)


def test_xy_mean_moves_only_through_the_centre():
    """THEORY §5b: xy n = 4, O = Z0, input 1000: mean 0.500 (the u(1) centre ΣZ/√(n·2ⁿ))."""
    alg = lie.lie_algebra(lie.xy_generators(4), 4)
    assert lie.predict(alg, "1000", lie.pauli_sum("Z0", 4)).mean_cost == pytest.approx(0.5, abs=1e-12)
    # tfim has no centre: mean 0 for any traceless O
    alg = lie.lie_algebra(lie.tfim_generators(4), 4)
    assert lie.predict(alg, "0000", lie.pauli_sum("Z0 Z1", 4)).mean_cost == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
@pytest.mark.parametrize("observable", ["Z0 Z1", "X0"])
def test_open_tfim_polynomial_plateau(n, observable):
    """Open-chain TFIM, |0…0⟩: Var[C] = (n − 1)/(n(2n − 1)) (THEORY §5b) and dim = n(2n − 1)."""
    alg = lie.lie_algebra(lie.tfim_generators(n), n)
    assert alg.dim == n * (2 * n - 1) and [i.dim for i in alg.ideals] == [n * (2 * n - 1)]
    assert [i.rank for i in alg.ideals] == [n]  # so(2n) has rank n
    pred = lie.predict(alg, "zeros", lie.pauli_sum(observable, n))
    assert pred.var_cost == pytest.approx((n - 1) / (n * (2 * n - 1)), abs=1e-12)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
def test_open_tfim_outside_g_is_one_over_2n(n):
    """Pitfall 1: O = Z0 is outside so(2n): its invariant subspace (the 2n Majoranas) gives
    THEORY's 1/(2n); projecting onto g would give 0."""
    alg = lie.lie_algebra(lie.tfim_generators(n), n)
    pred = lie.predict(alg, "zeros", lie.pauli_sum("Z0", n))
    assert pred.outside and pred.parts[-1]["dim"] == 2 * n
    assert pred.parts[0]["purity_observable"] == pytest.approx(0.0, abs=1e-12)  # the projection: nothing
    assert pred.var_cost == pytest.approx(1 / (2 * n), abs=1e-12)


def test_centre_must_be_split_off():
    """Pitfall 2: xy n = 4, O = Z0, input 1000 — 0.15 with the centre split off, 0.25 lumped."""
    alg = lie.lie_algebra(lie.xy_generators(4), 4)
    pred = lie.predict(alg, "1000", lie.pauli_sum("Z0", 4))
    rho, obs = lie.product_state("1000", 4), lie.pauli_sum("Z0", 4)
    lumped = lie.purity(alg.basis, alg.keys, 4, bloch=rho) * lie.purity(alg.basis, alg.keys, 4, op=obs) / alg.dim
    assert pred.var_cost == pytest.approx(0.15, abs=1e-9) and lumped == pytest.approx(0.25, abs=1e-9)


def test_several_ideals_must_be_summed_separately():
    """Pitfall 3: periodic TFIM n = 6, |+⟩ⁿ, O = Z0Z1(1 + ΠX) = Z0Z1 − Y0Y1X2⋯X5: 0.3636 vs 0.1818 lumped."""
    n = 6
    alg = lie.lie_algebra(lie.tfim_generators(n, "periodic"), n)
    assert [i.dim for i in alg.ideals] == [66, 66] and alg.centre_dim == 0
    obs = lie.pauli_sum("Z0 Z1 - Y0 Y1 X2 X3 X4 X5", n)
    pred = lie.predict(alg, "plus", obs)
    rho = lie.product_state("plus", n)
    lumped = lie.purity(alg.basis, alg.keys, n, bloch=rho) * lie.purity(alg.basis, alg.keys, n, op=obs) / alg.dim
    assert pred.var_cost == pytest.approx(4 / 11, abs=1e-9)  # 0.3636
    assert lumped == pytest.approx(2 / 11, abs=1e-9)  # 0.1818


# ------------------------------------------------------------------ the algebra: dims, ideals, centre


@pytest.mark.parametrize("n", [3, 4, 5])
def test_known_dimensions(n):
    assert (
        lie.lie_algebra(lie.tfim_generators(n, "periodic"), n).summary()["ideals"]
        == [{"dim": n * (2 * n - 1), "rank": n}] * 2
    )
    xy = lie.lie_algebra(lie.xy_generators(n), n)
    assert (xy.dim, xy.centre_dim, [(i.dim, i.rank) for i in xy.ideals]) == (n * n, 1, [(n * n - 1, n - 1)])


def test_centre_agrees_with_pennylane():
    import pennylane as qml
    from pennylane.pauli import PauliSentence, PauliWord

    n = 4
    alg = lie.lie_algebra(lie.xy_generators(n), n)
    sentences = qml.lie_closure(
        [
            PauliSentence({PauliWord({i: "X", i + 1: "X"}): 1.0, PauliWord({i: "Y", i + 1: "Y"}): 1.0})
            for i in range(n - 1)
        ]
        + [PauliWord({i: "Z"}) for i in range(n)],
        pauli=True,
    )
    assert len(qml.center(sentences, pauli=True)) == alg.centre_dim == 1
    # the centre is ΣZ_i (normalised): coefficients all equal on the Z_i strings
    row = alg.centre[0]
    z_strings = [k for k, c in zip(alg.keys.tolist(), row) if abs(c) > 1e-9]
    assert sorted(z_strings) == sorted([[0, 1 << i] for i in range(n)])
    assert np.allclose(np.abs(row[np.abs(row) > 1e-9]), 1 / math.sqrt(n))


@pytest.mark.parametrize(
    "generators, ideals, centre",
    [
        ([{(1, 0): 1.0}, {(1, 1): 1.0}, {(2, 0): 1.0}, {(2, 2): 1.0}], [3, 3], 0),  # su(2) ⊕ su(2)
        ([{(0, 1): 1.0}], [], 1),  # u(1)
        ([{(1, 0): 1.0}, {(1, 1): 1.0}, {(0, 2): 1.0}], [3], 1),  # su(2) ⊕ u(1)
        ([{(1, 0): 1.0}, {(1, 1): 1.0}, {(2, 0): 1.0}, {(2, 2): 1.0}, {(0, 3): 1.0}], [15], 0),  # + Z0Z1: su(4)
    ],
)
def test_ideal_split_of_known_algebras(generators, ideals, centre):
    alg = lie.lie_algebra(generators, 2, universal=False)
    assert [i.dim for i in alg.ideals] == ideals and alg.centre_dim == centre
    # ideals commute with each other and are orthogonal: [B_a, B_b] = 0 across ideals
    for a in range(len(alg.ideals)):
        for b in range(a + 1, len(alg.ideals)):
            for ra in alg.ideals[a].basis:
                sa = {tuple(k): v for k, v in zip(alg.keys.tolist(), ra) if abs(v) > 1e-12}
                for rb in alg.ideals[b].basis:
                    sb = {tuple(k): v for k, v in zip(alg.keys.tolist(), rb) if abs(v) > 1e-12}
                    assert not paulis._commutator(sa, sb)


def test_su2_plus_su2_variance_sums_ideals():
    """Two independent qubits (su(2) ⊕ su(2)), O = Z0 + Z1 on |00⟩: each qubit Haar on the sphere,
    Var⟨Z⟩ = 1/3, so Var[C] = 2/3 exactly."""
    gens = [{(1, 0): 1.0}, {(1, 1): 1.0}, {(2, 0): 1.0}, {(2, 2): 1.0}]
    alg = lie.lie_algebra(gens, 2, universal=False)
    assert lie.predict(alg, "00", lie.pauli_sum("Z0 + Z1", 2)).var_cost == pytest.approx(2 / 3, abs=1e-12)


# ------------------------------------------------------------------ universal: closed forms = built algebra


@pytest.mark.parametrize("n", [2, 3])
def test_universal_closed_form_equals_built_su(n):
    obs = lie.pauli_sum("Z0 Z1", n)
    gates = {"RX": lie.pauli_sum("0.5 X0", n), "XY": lie.pauli_sum("0.5 X0 X1 + 0.5 Y0 Y1", n)}
    closed = lie.predict(lie.lie_algebra(_hea(n), n), "zeros", obs, gates)
    built_alg = lie.lie_algebra(_hea(n), n, universal=False)
    built = lie.predict(built_alg, "zeros", obs, gates)
    assert built_alg.dim == 4**n - 1 and [i.dim for i in built_alg.ideals] == [4**n - 1]
    assert built.var_cost == pytest.approx(closed.var_cost, abs=1e-12)
    for label in gates:
        assert built.var_grad[label] == pytest.approx(closed.var_grad[label], abs=1e-12)
    # and both are THEORY's F1 / F2 (haar): 1/(d + 1), d²/(2(d − 1)(d + 1)²)
    assert closed.var_cost == pytest.approx(haar.output_variance_pauli(n), abs=1e-12)
    assert closed.var_grad["RX"] == pytest.approx(haar.gradient_variance_pauli(n), abs=1e-12)


@pytest.mark.parametrize("n, f2", [(2, 0.1067), (3, 0.05644), (4, 0.02953), (5, 0.01517), (6, 0.007694)])
def test_universal_gradient_matches_theory_f2(n, f2):
    alg = lie.lie_algebra(_hea(n), n)
    assert alg.universal
    pred = lie.predict(alg, "zeros", lie.pauli_sum("Z0 Z1", n), {"RX": lie.pauli_sum("0.5 X1", n)})
    assert pred.var_grad["RX"] == pytest.approx(f2, rel=5e-4)  # THEORY prints 4 digits


# ------------------------------------------------------------------ gradients: THEORY §5b's values


def test_gradient_values_of_theory():
    """hea n = 4 RX: 0.02953; tfim open n = 6, X gate: 0.02296; xy n = 6, XX+YY gate: 0.05442.

    RX-type convention exp(−iθP/2) → H = P/2; THEORY's xy value is for O = Z0 on |100000⟩
    (8/147 exactly), with the exact derivative of the three-eigenvalue gate.
    """
    hea = lie.predict(
        lie.lie_algebra(_hea(4), 4), "zeros", lie.pauli_sum("Z0 Z1", 4), {"g": lie.pauli_sum("0.5 X2", 4)}
    )
    tfim = lie.predict(
        lie.lie_algebra(lie.tfim_generators(6), 6),
        "zeros",
        lie.pauli_sum("Z0 Z1", 6),
        {"g": lie.pauli_sum("0.5 X3", 6)},
    )
    xy = lie.predict(
        lie.lie_algebra(lie.xy_generators(6), 6),
        "100000",
        lie.pauli_sum("Z0", 6),
        {"g": lie.pauli_sum("0.5 X2 X3 + 0.5 Y2 Y3", 6)},
    )
    assert hea.var_grad["g"] == pytest.approx(0.02953, abs=5e-6)
    assert tfim.var_grad["g"] == pytest.approx(0.02296, abs=5e-6)
    assert xy.var_grad["g"] == pytest.approx(8 / 147, abs=1e-9)


# ------------------------------------------------------------------ folding, refusal, parsing


def _dense(p: dict, n: int) -> np.ndarray:
    paulis = {
        (0, 0): np.eye(2),
        (1, 0): np.array([[0, 1], [1, 0]]),
        (1, 1): np.array([[0, -1j], [1j, 0]]),
        (0, 1): np.diag([1.0, -1.0]),
    }
    out = 0
    for (x, z), v in p.items():
        m = np.eye(1)
        for w in reversed(range(n)):  # wire 0 least significant here: only consistency matters
            m = np.kron(m, paulis[(x >> w & 1, z >> w & 1)])
        out = out + v * m
    return out


def _dense_gate(name: str, a: int, b: int, n: int) -> np.ndarray:
    d = 2**n
    m = np.zeros((d, d))
    for i in range(d):
        ba, bb = i >> a & 1, i >> b & 1
        if name == "CZ":
            m[i, i] = -1.0 if ba and bb else 1.0
        else:
            m[i ^ (ba << b), i] = 1.0
    return m


@pytest.mark.parametrize("text", ["X0", "Y0", "X0 Y1", "Y0 Y1", "X0 X1 + Y0 Y1", "Y0 Z1 X2", "Z0 Y2"])
@pytest.mark.parametrize("gate", [("CZ", 0, 1), ("CNOT", 0, 1), ("CNOT", 1, 0), ("CZ", 1, 2), ("CNOT", 2, 0)])
def test_conjugate_matches_dense(text, gate):
    n = 3
    p = lie.pauli_sum(text, n)
    g = _dense_gate(*gate, n)
    assert np.allclose(_dense(lie.conjugate(p, [gate]), n), g @ _dense(p, n) @ g.conj().T, atol=1e-12)


def test_folding_hea_layers_gives_su():
    """RY, RZ per wire and a CNOT ring (the vqc ``hea``): su(2ⁿ) only after folding the ring in."""
    n = 3
    ring = [("CNOT", w, (w + 1) % n) for w in range(n)]
    rot = [{(1 << w, 1 << w): 0.5} for w in range(n)] + [{(0, 1 << w): 0.5} for w in range(n)]
    folded, _ = lie.fold_layers([(rot, ring)] * 8)
    assert lie.lie_algebra(lie.distinct([h for layer in folded for h in layer]), n).universal
    assert lie.lie_algebra(rot, n).dim == 3 * n  # unfolded: su(2)^n, wrong


def test_refuses_with_one_line():
    with pytest.raises(lie.LieTooLarge, match=r"dim > 100 \(max_dim\)") as info:
        lie.lie_algebra(lie.tfim_generators(8, "periodic"), 8, max_dim=100)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text, n, expected",
    [
        ("X0 X1 + Y0 Y1", 2, {(3, 0): 1.0, (3, 3): 1.0}),
        ("0.5 Z0 - Z1", 2, {(0, 1): 0.5, (0, 2): -1.0}),
        ("Y1", 2, {(2, 2): 1.0}),
    ],
)
def test_pauli_sum_parsing(text, n, expected):
    assert lie.pauli_sum(text, n) == expected


@pytest.mark.parametrize("text", ["X2", "Q0", "X0 X0", ""])
def test_pauli_sum_rejects(text):
    with pytest.raises(ValueError):
        lie.pauli_sum(text, 2)


# ------------------------------------------------------------------ Monte Carlo of deep circuits (dense numpy)


def _deep_circuit_moments(generators, n, state, obs, gate_index, layers, draws, seed):
    """C and the exact ∂C of the ``gate_index``-th gate of the middle layer, over random deep circuits.

    Gates exp(−iθH) (eigendecomposition, so any spectrum), θ ~ U[0, 2π); ∂C from −iHψ
    carried through the rest of the circuit (exact derivative, no shift rule).
    """
    rng = np.random.default_rng(seed)
    mats = [_dense(g, n) for g in generators]
    eig = [np.linalg.eigh(m) for m in mats]
    psi0 = np.zeros(2**n, complex)
    psi0[int(state[::-1], 2)] = 1.0  # wire 0 least significant, as in _dense
    psi = np.tile(psi0, (draws, 1))
    tangent = None
    o = _dense(obs, n)
    for layer in range(layers):
        for k, (lam, vec) in enumerate(eig):
            phase = np.exp(-1j * rng.uniform(0, 2 * np.pi, size=(draws, 1)) * lam[None, :])
            psi = ((psi @ vec.conj()) * phase) @ vec.T
            if tangent is not None:
                tangent = ((tangent @ vec.conj()) * phase) @ vec.T
            if layer == layers // 2 and k == gate_index:
                tangent = -1j * psi @ mats[k].T
    cost = np.einsum("bi,ij,bj->b", psi.conj(), o, psi).real
    grad = 2 * np.einsum("bi,ij,bj->b", psi.conj(), o, tangent).real
    return cost, grad


def _var_se(values):
    c = values - values.mean()
    var = float(np.mean(c**2)) * len(values) / (len(values) - 1)
    return var, math.sqrt(max(float(np.mean(c**4)) - var**2, 0.0) / len(values))


@pytest.mark.parametrize(
    "family, obs, state, gate",
    [
        ("tfim_open", "Z0", "000", 4),  # O outside g; gate X1
        ("xy", "Z0", "100", 0),  # gate X0X1 + Y0Y1: three eigenvalues, exact derivative
        ("tfim_open", "Z0 + Z1 + Z2", "000", 2),  # ΣZ outside g: several irreducible parts
    ],
)
def test_monte_carlo_of_deep_circuits(family, obs, state, gate):
    n = 3
    gens = FAMILIES[family](n)
    alg = lie.lie_algebra(gens, n)
    o = lie.pauli_sum(obs, n)
    pred = lie.predict(alg, state, o, {"g": gens[gate]})  # gates exp(−iθH) with H the generator itself
    cost, grad = _deep_circuit_moments(gens, n, state, o, gate, layers=40, draws=4000, seed=7)
    var_c, se_c = _var_se(cost)
    var_g, se_g = _var_se(grad)
    assert abs(var_c - pred.var_cost) < 4 * se_c
    assert abs(var_g - pred.var_grad["g"]) < 4 * se_g
    assert abs(cost.mean() - pred.mean_cost) < 4 * cost.std() / math.sqrt(len(cost))


def test_generator_normalisation_against_monte_carlo():
    """Pitfall 4: gates exp(−iθP/2), H = P/2 (the circuits' RX/IsingZZ), against the dense Monte
    Carlo of such circuits: Var[∂C] is the prediction for H = P/2 within 4 standard errors, and
    a quarter of the prediction for H = P (which the Monte Carlo rejects); Var[C] is the same."""
    n = 3
    half = [{k: 0.5 * v for k, v in g.items()} for g in lie.tfim_generators(n)]
    alg = lie.lie_algebra(half, n)
    o = lie.pauli_sum("Z0 Z1", n)
    gate = 3  # the middle layer's X1/2 (tfim_generators: the ZZ edges, then X0, X1, X2)
    pred = lie.predict(alg, "000", o, {"half": half[gate], "full": lie.tfim_generators(n)[gate]})
    assert pred.var_grad["full"] == pytest.approx(4 * pred.var_grad["half"], rel=1e-12)
    cost, grad = _deep_circuit_moments(half, n, "000", o, gate, layers=40, draws=4000, seed=11)
    var_c, se_c = _var_se(cost)
    var_g, se_g = _var_se(grad)
    assert abs(var_c - pred.var_cost) < 4 * se_c
    assert abs(var_g - pred.var_grad["half"]) < 4 * se_g
    assert abs(var_g - pred.var_grad["full"]) > 20 * se_g  # the other normalisation is far outside
