"""The VQC state-vector engine (xvanish.domains.vqc._statevector) against PennyLane's default.qubit (the independent reference).

Reference: a default.qubit QNode with parameter broadcasting and diff_method="backprop"
(exact analytic derivatives by torch autograd through PennyLane's own simulator), fed the
very same operation objects. Per-sample gradients of broadcast parameters come from
autograd of the summed values (the samples are independent circuits).

Tolerance 1e-10, absolute, on values and gradients of order 1: complex128 has unit
round-off ε = 1.1e-16; every gate application (a matmul over ≤ 2^5 terms, a phase
multiply or a gather) adds ≲ 10 ε relative error to unit-norm amplitudes, and the test
circuits have ≲ 150 gates, so both simulators sit within ~150·10·ε ≈ 2e-13 of the exact
value (adjoint gradients: the same bound, twice). 1e-10 leaves a 500× margin over that
round-off and is still ~10^8 times smaller than the effect of any real error (a wrong
matrix, wire order, sign or conjugation changes results at O(1e-2..1)). complex64 runs
use ε = 6e-8 and the same argument: 1e-5.
"""

import math

import numpy as np
import pennylane as qml
import pytest
import torch

from xvanish.domains.vqc import _statevector as sv
from xvanish.core import ConfigError

pytestmark = pytest.mark.vqc

TOL = 1e-10
B = 5


def gen(seed):
    return torch.Generator().manual_seed(seed)


def angles(shape, seed, grad=False):
    t = torch.rand(tuple(shape), generator=gen(seed), dtype=torch.float64) * 2 * math.pi
    return t.requires_grad_(grad)


# ----------------------------------------------------------------- circuits ---------
# Each builder takes (n, params) and returns the operation list; params() draws the
# tensors (leaves) the operations are computed from.


def mcclean_params(n, layers=3, seed=0):
    axis = torch.randint(0, 3, (layers, n, B), generator=gen(seed + 1))
    return {"theta": angles((layers, n, B), seed), "mask": torch.nn.functional.one_hot(axis, 3).to(torch.float64)}


def mcclean(n, p):
    """RY(π/4) layer, then per layer a per-sample random-axis rotation per wire, CZ ladder."""
    ops = [qml.RY(math.pi / 4, wires=w) for w in range(n)]
    for row, mrow in zip(p["theta"].unbind(0), p["mask"].unbind(0)):
        for w, (t, m) in enumerate(zip(row.unbind(0), mrow.unbind(0))):
            ops += [qml.RX(t * m[:, 0], wires=w), qml.RY(t * m[:, 1], wires=w), qml.RZ(t * m[:, 2], wires=w)]
        ops += [qml.CZ(wires=[w, w + 1]) for w in range(n - 1)]
    return ops


def hea_params(n, layers=3, seed=0):
    return {"theta": angles((layers, n, 2, B), seed)}


def hea(n, p):
    """Hardware-efficient ansatz: RY, RZ on every wire, then a CNOT ring."""
    ops = []
    for layer in p["theta"].unbind(0):
        for w, (ty, tz) in enumerate(layer.unbind(0)):
            ops += [qml.RY(ty, wires=w), qml.RZ(tz, wires=w)]
        ops += [qml.CNOT(wires=[w, (w + 1) % n]) for w in range(n)]
    return ops


def cerezo_params(n, layers=2, seed=0):
    return {"theta": angles((layers, n, B), seed)}


def cerezo(n, p):
    """Cerezo et al.'s alternating layered ansatz: two-qubit blocks (RY, RY, CZ) on
    pairs (0,1),(2,3),… then on the shifted pairs (1,2),(3,4),…"""
    ops = []
    for li, layer in enumerate(p["theta"].unbind(0)):
        t = layer.unbind(0)
        for start in (0, 1):
            for a in range(start, n - 1, 2):
                ops += [
                    qml.RY(t[a] * (1 + start), wires=a),
                    qml.RY(t[a + 1] * (1 + start), wires=a + 1),
                    qml.CZ(wires=[a, a + 1]),
                ]
    return ops


def generic_params(n, seed=0):
    g = gen(seed + 7)
    z = torch.randn(B, 4, 4, generator=g, dtype=torch.complex128)
    q, r = torch.linalg.qr(z)  # Haar-like random unitaries, one per sample
    q = q * (torch.diagonal(r, dim1=-2, dim2=-1) / torch.diagonal(r, dim1=-2, dim2=-1).abs()).unsqueeze(-2)
    return {"theta": angles((6, B), seed), "shared": angles((), seed + 3), "unitary": q}


def generic(n, p):
    """Generic-path gates (CRX, IsingXX, batched QubitUnitary, non-adjacent and reversed
    wires), parametrised diagonals (CRZ, MultiRZ, IsingZZ), monomials (Toffoli, SWAP, CY,
    iSWAP), a parameter-free dense gate (ECR), a template that must be decomposed, and
    a parameter shared by all samples mixed with broadcast ones."""
    t = p["theta"].unbind(0)
    return [
        qml.Hadamard(wires=0),
        qml.RX(t[0], wires=1),
        qml.S(wires=2),
        qml.T(wires=n - 1),
        qml.RY(p["shared"] * 1.3, wires=n - 1),  # a one-qubit factor shared by all samples
        qml.BasicEntanglerLayers(np.full((1, n), 0.3), wires=range(n)),
        qml.CRX(t[1], wires=[n - 1, 0]),
        qml.IsingXX(p["shared"], wires=[1, 2]),
        qml.QubitUnitary(p["unitary"], wires=[2, 0]),
        qml.CRZ(t[2], wires=[0, 2]),
        qml.MultiRZ(t[3], wires=list(range(n))),
        qml.IsingZZ(p["shared"] * 0.7, wires=[1, n - 1]),
        qml.RZ(t[4], wires=1),
        qml.Toffoli(wires=[0, 1, 2]),
        qml.SWAP(wires=[0, n - 1]),
        qml.CY(wires=[2, 1]),
        qml.ISWAP(wires=[1, 0]),
        qml.ECR(wires=[0, 2]),
        qml.Rot(t[5], 0.4, p["shared"], wires=1),
        qml.PhaseShift(t[0], wires=0),
        qml.RY(t[5], wires=2),
        qml.CNOT(wires=[2, 0]),
    ]


CIRCUITS = {
    "mcclean": (mcclean, mcclean_params),
    "hea": (hea, hea_params),
    "cerezo": (cerezo, cerezo_params),
    "generic": (generic, generic_params),
}


def observables(n):
    """The observables of the brief, for n ≥ 3 (X0 Y2 needs wire 2)."""
    return {
        "Z0Z1": qml.Z(0) @ qml.Z(1),
        "X0Y2": qml.X(0) @ qml.Y(2),
        "hamiltonian": qml.Hamiltonian(
            [0.5, -0.3, 0.2, 1.1], [qml.Z(0) @ qml.Z(1), qml.X(1), qml.Y(0) @ qml.Y(2), qml.Identity(0)]
        ),
        "global_projector": qml.Projector([0] * n, wires=range(n)),
        "local_cost": qml.s_prod(1 / n, qml.sum(*[qml.Projector([0], wires=[j]) for j in range(n)])),
        "hermitian_2q": qml.Hermitian(
            np.array([[1, 0.5j, 0, 0], [-0.5j, -1, 0, 0.2], [0, 0, 0.3, 0], [0, 0.2, 0, 2]]), wires=[2, 0]
        ),
        "mixed_sum": qml.sum(qml.Projector([1, 0], wires=[0, 2]), qml.s_prod(0.5, qml.X(1))),
    }


# ---------------------------------------------------------------- reference -------


def reference(ops, n, obs):
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit():
        for op in ops:
            qml.apply(op)
        return qml.expval(obs)

    return circuit()


def leaves(p):
    return [v for v in p.values() if v.requires_grad]


def with_grad(p, names):
    return {k: (v.detach().clone().requires_grad_() if k in names else v) for k, v in p.items()}


def close(a, b, tol=TOL):
    a, b = torch.as_tensor(a).detach(), torch.as_tensor(b).detach()
    assert a.shape == b.shape, (a.shape, b.shape)
    assert float((a - b).abs().max()) < tol, float((a - b).abs().max())


# -------------------------------------------------------------------- values -------


@pytest.mark.parametrize("name", sorted(CIRCUITS))
@pytest.mark.parametrize("obs_name", sorted(observables(3)))
def test_values_match_default_qubit(name, obs_name):
    n = 4
    build, params = CIRCUITS[name]
    ops = build(n, params(n))
    obs = observables(n)[obs_name]
    close(sv.expval(ops, n, obs), reference(ops, n, obs))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_mcclean_values_all_sizes(n):
    ops = mcclean(n, mcclean_params(n, layers=4, seed=n))
    obs = qml.Z(0) @ qml.Z(1)
    close(sv.expval(ops, n, obs), reference(ops, n, obs))


# ----------------------------------------------------------------- gradients -------

GRAD_CASES = [  # (circuit, n, observable, names of the params to differentiate)
    ("mcclean", 2, "Z0Z1", ["theta"]),
    ("mcclean", 5, "Z0Z1", ["theta"]),
    ("mcclean", 6, "global_projector", ["theta"]),
    ("hea", 4, "X0Y2", ["theta"]),
    ("hea", 3, "hamiltonian", ["theta"]),
    ("cerezo", 4, "local_cost", ["theta"]),
    ("generic", 4, "hamiltonian", ["theta", "shared", "unitary"]),
    ("generic", 3, "hermitian_2q", ["theta", "shared"]),
    ("generic", 4, "mixed_sum", ["shared"]),
]


def _grad_case(name, n, obs_name, names):
    build, params = CIRCUITS[name]
    p = with_grad(params(n), names)
    obs = {**observables(max(n, 3)), "Z0Z1": qml.Z(0) @ qml.Z(1)}[obs_name]
    ref = reference(build(n, p), n, obs)
    ref_grads = torch.autograd.grad(ref.sum(), leaves(p))
    return build, p, obs, ref, ref_grads


@pytest.mark.parametrize("checkpoint_bytes", [0, sv.DEFAULT_CHECKPOINT_BYTES])
@pytest.mark.parametrize("name,n,obs_name,names", GRAD_CASES)
def test_adjoint_gradient_matches_default_qubit(name, n, obs_name, names, checkpoint_bytes):
    """Both adjoint modes: uncomputing ψ (checkpoint_bytes=0) and stored states."""
    build, p, obs, ref, ref_grads = _grad_case(name, n, obs_name, names)
    values, grads = sv.expval_and_grad(build(n, p), n, obs, leaves(p), checkpoint_bytes=checkpoint_bytes)
    close(values, ref)
    for g, r in zip(grads, ref_grads):
        close(g, r)


@pytest.mark.parametrize("name,n,obs_name,names", GRAD_CASES[::2])
def test_autograd_through_expval_matches_default_qubit(name, n, obs_name, names):
    build, p, obs, ref, ref_grads = _grad_case(name, n, obs_name, names)
    values = sv.expval(build(n, p), n, obs)
    for g, r in zip(torch.autograd.grad(values.sum(), leaves(p)), ref_grads):
        close(g, r)


def test_single_angle_gradient_equals_parameter_shift():
    """McClean's θ₁,₁ as its own leaf (the headline use): adjoint vs the exact two-term
    parameter-shift rule evaluated by expval on a 2B batch (an independent formula)."""
    n = 5
    p = mcclean_params(n, layers=4, seed=11)
    first = p["theta"][0, 0].clone().requires_grad_()
    theta = p["theta"].clone()

    def ops_with(first_angle, theta, mask):
        return mcclean(n, {"theta": _replace_first(theta, first_angle), "mask": mask})

    obs = qml.Z(0) @ qml.Z(1)
    values, (grad,) = sv.expval_and_grad(ops_with(first, theta, p["mask"]), n, obs, [first])
    shifted = torch.cat([first.detach() + math.pi / 2, first.detach() - math.pi / 2])
    both = sv.expval(ops_with(shifted, theta.repeat(1, 1, 2), p["mask"].repeat(1, 1, 2, 1)), n, obs)
    close(grad, (both[:B] - both[B:]) / 2)
    close(values, sv.expval(mcclean(n, p), n, obs))


def _replace_first(theta, first_angle):
    """θ with its (layer 0, wire 0) angles replaced by ``first_angle`` (keeps the graph)."""
    rows = list(theta.unbind(0))
    wires = list(rows[0].unbind(0))
    wires[0] = first_angle
    rows[0] = torch.stack(wires)
    return torch.stack(rows)


@pytest.mark.parametrize("max_chunk_wires", [1, 2, 3])
def test_narrow_chunks_agree(max_chunk_wires):
    """Middle Kronecker chunks (a different kernel from the leading/trailing ones)."""
    n = 6
    p = with_grad(hea_params(n, layers=2, seed=5), ["theta"])
    obs = qml.X(0) @ qml.Y(3) + qml.Z(5)
    ref = reference(hea(n, p), n, obs)
    (ref_grad,) = torch.autograd.grad(ref.sum(), [p["theta"]])
    values, (grad,) = sv.expval_and_grad(hea(n, p), n, obs, [p["theta"]], max_chunk_wires=max_chunk_wires)
    close(values, ref)
    close(grad, ref_grad)


# ------------------------------------------------------------ edge cases -------


@pytest.mark.parametrize("obs", [qml.Z(0), qml.X(0), qml.Y(0), qml.Projector([1], wires=0), qml.Hadamard(0)], ids=str)
def test_one_wire(obs):
    th = angles((B,), 3, grad=True)

    def ops():
        return [qml.RX(th, wires=0), qml.RY(0.3, wires=0), qml.RZ(th * 2, wires=0)]

    ref = reference(ops(), 1, obs)
    (ref_grad,) = torch.autograd.grad(ref.sum(), [th])
    values, (grad,) = sv.expval_and_grad(ops(), 1, obs, [th])
    close(values, ref)
    close(grad, ref_grad)


def test_shared_parameters_only_with_batch_size():
    """No broadcast operation: batch_size copies of the one circuit; the gradient of a
    shared parameter is d(Σ values)/dp = B × the single-circuit derivative."""
    x = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    ops = [qml.RX(x, wires=0), qml.RY(0.2, wires=1), qml.CNOT(wires=[0, 1])]
    obs = qml.Z(1)
    # CNOT maps Z1 to Z0 Z1 (Heisenberg picture): ⟨Z0⟩⟨Z1⟩ on the product state
    exact = math.cos(0.7) * math.cos(0.2)
    values, (grad,) = sv.expval_and_grad(ops, 2, obs, [x], batch_size=4)
    close(values, torch.full((4,), exact, dtype=torch.float64))
    close(grad, torch.tensor(-4 * math.sin(0.7) * math.cos(0.2), dtype=torch.float64))
    close(sv.expval(ops, 2, obs), torch.tensor([exact], dtype=torch.float64))


def test_parameter_not_in_circuit_gets_zero():
    th = angles((B,), 4, grad=True)
    other = torch.tensor(1.0, requires_grad=True, dtype=torch.float64)
    _, grads = sv.expval_and_grad([qml.RX(th, wires=0)], 1, qml.Z(0), [th, other])
    close(grads[0], -torch.sin(th))
    assert grads[1].shape == other.shape and float(grads[1]) == 0.0


def test_complex64():
    n = 4
    p = hea_params(n, seed=9)
    obs = qml.Z(0) @ qml.Z(1)
    values = sv.expval(hea(n, p), n, obs, dtype=torch.complex64)
    assert values.dtype == torch.float32
    close(values.double(), reference(hea(n, p), n, obs), tol=1e-5)


def test_state_bytes():
    assert sv.state_bytes(10, 200) == 16 * 2**10 * 200
    assert sv.state_bytes(3, 7, dtype=torch.complex64) == 8 * 2**3 * 7
    with pytest.raises(ValueError, match="n_wires") as error:
        sv.state_bytes(0, 1)
    assert not isinstance(error.value, ConfigError)  # a caller's bug, not bad user input
    with pytest.raises(ValueError, match="batch_size"):
        sv.state_bytes(2, True)


@pytest.mark.parametrize(
    "ops,n,match",
    [
        ([qml.RX(0.1, wires=3)], 2, "wires"),
        ([qml.RX(torch.zeros(3), wires=0), qml.RY(torch.zeros(4), wires=1)], 2, "batch_size"),
    ],
)
def test_bad_arguments_raise_plain_errors(ops, n, match):
    """The engine is called by code after the user's config was validated: a bad argument is
    a bug, reported as ValueError, never as ConfigError (which the CLI turns into exit 2)."""
    with pytest.raises(ValueError, match=match) as error:
        sv.expval(ops, n, qml.Z(0))
    assert not isinstance(error.value, ConfigError)


def test_param_without_grad_is_refused():
    with pytest.raises(ValueError, match="requires_grad"):
        sv.expval_and_grad([qml.RX(0.1, wires=0)], 1, qml.Z(0), [torch.zeros(())])


def test_templates_controlled_and_adjoint_ops():
    """Operations reached only through PennyLane's generic machinery: a broadcast template
    (decomposed), a controlled rotation, an adjoint, a dense parameter-free QFT, and a
    state-vector projector observable (dense)."""
    n = 3
    weights = angles((B, 1, n, 3), 21, grad=True)
    th = angles((B,), 22, grad=True)

    def ops():
        return [
            qml.StronglyEntanglingLayers(weights, wires=range(n)),
            qml.ctrl(qml.RY(th, wires=2), control=0),
            qml.adjoint(qml.RX(th * 0.5, wires=1)),
            qml.QFT(wires=range(n)),
        ]

    obs = qml.Projector(np.array([1, 1j, 0, 0, 0, 0, 0, 1]) / math.sqrt(3), wires=range(n))
    ref = reference(ops(), n, obs)
    ref_grads = torch.autograd.grad(ref.sum(), [weights, th])
    values, grads = sv.expval_and_grad(ops(), n, obs, [weights, th])
    close(values, ref)
    for g, r in zip(grads, ref_grads):
        close(g, r)


def test_probs_match_default_qubit():
    n = 4
    ops = generic(n, generic_params(n))
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="torch")
    def circuit():
        for op in ops:
            qml.apply(op)
        return qml.probs(wires=range(n))

    close(sv.probs(ops, n), circuit())


# ----------------------------------------------------------------- schedule ---------


@pytest.mark.parametrize("rows", [1, 2, B])
def test_row_groups_change_nothing(rows):
    """Running the batch in row groups of any size gives the whole-batch numbers: each
    circuit's amplitudes see the same kernels in the same order, so the values agree to
    round-off of a different matmul blocking (1e-12 on values of order 1)."""
    n, p = 5, mcclean_params(5, layers=3, seed=3)
    p["theta"].requires_grad_(True)
    obs = qml.Z(0) @ qml.Z(1)
    ref_val, (ref_grad,) = sv.expval_and_grad(mcclean(n, p), n, obs, [p["theta"]], rows=B)
    val, (grad,) = sv.expval_and_grad(mcclean(n, p), n, obs, [p["theta"]], rows=rows)
    assert torch.allclose(val, ref_val, atol=1e-12) and torch.allclose(grad, ref_grad, atol=1e-12)
    with torch.no_grad():
        assert torch.allclose(sv.expval(mcclean(n, p), n, obs, rows=rows), ref_val, atol=1e-12)
        assert torch.allclose(sv.probs(mcclean(n, p), n, rows=rows), sv.probs(mcclean(n, p), n, rows=B), atol=1e-12)


def test_schedule_follows_the_sizes():
    """Rows: CACHE_MULTIPLE × cache × threads over 3 states, at least 1, at most the batch."""
    from xvanish.domains.vqc._statevector import schedule

    threads = torch.get_num_threads()
    budget = schedule.CACHE_MULTIPLE * 2**21 * threads
    assert sv.plan(10, 10**6, torch.complex128, cache=2**21).rows == budget // (3 * 16 * 2**10)
    assert sv.plan(10, 10**6, torch.complex64, cache=2**21).rows == budget // (3 * 8 * 2**10)
    assert sv.plan(24, 600, torch.complex128, cache=2**21).rows == 1
    assert sv.plan(4, 7, torch.complex128, cache=2**21).rows == 7
    assert schedule.row_groups(10, 4) == [slice(0, 3), slice(3, 7), slice(7, 10)]
    assert schedule._parse_size("2048K") == 2**21 and schedule._parse_size("1M") == 2**20
    assert sv.cache_bytes() > 0
