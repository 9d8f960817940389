"""Benchmark: the vqc sampler vs the plain way, on identical circuits and draws, in one run.

Part 1 (McClean's set-up, one angle): n = 10 qubits, 50 layers, 200 draws, ∂C/∂θ₁,₁ of
⟨Z0 Z1⟩. Ours: ``vqc.sampler(...).sample(200, seed)`` (the batched engine: the parameter
shift as one broadcast batch). The plain way: PennyLane's demo style, one QNode per draw on
default.qubit, the gradient of that one angle by parameter shift; it is timed on a subset
of the draws and scaled to all of them (printed). Also printed: the memory-traffic bound of
THEORY.md, ~3·G·(2·16 B·2^n)·B / bandwidth for G gates (3 circuits per draw, each gate a
read and a write of the state), with the bandwidth measured here by a large tensor copy.

Part 2 (every angle, large n): n = 16, 100 layers, ∂C with respect to all angles. Our
sampler (diff_method=auto, which picks lightning's adjoint there; and the batched engine
for comparison) against a plain lightning.qubit QNode with diff_method="adjoint", per draw.

Both parts check that the plain way gives our numbers on the shared draws.

Part 3 (``--crossover``): where ``diff_method=auto`` should switch from the batched engine
to lightning.qubit: ms per draw of both back-ends through the sampler, McClean's circuit,
``--crossover-layers`` layers, one angle and every angle, n = 10..16 (the numbers behind
``xvanish.domains.vqc.methods.AUTO_LIGHTNING_MIN_QUBITS``; about 2–3 min on 2 cores).

Part 4 (``--against qulacs``): McClean's circuit, 100 layers, ∂C/∂θ₁,₁, n = 8, 10, …, 20:
``vqc.sampler(...).sample(draws, seed)`` (the batched engine: one forward and one backward
sweep per draw, cache-sized row groups) against qulacs 0.6.14 one state at a time, each
circuit built gate by gate from Python, the gradient by the two-term parameter shift (3
circuits per draw), on the same draws (values checked equal), interleaved, best of
``--repeats-qulacs``. Printed per n: both times, the ratio, and the bounds of docs/vqc.md
("Bounds"): the memory-traffic bound (every layer reads and writes the state once per sweep,
2 sweeps × L layers × 2 × bytes per amplitude × 2^n per draw, over the bandwidth measured
here by a numpy copy) and the flop bound of the engine's fused layers (⌈n/5⌉ balanced
Kronecker chunks of m ≤ 5 wires, 8·2^m real flops per amplitude each, over the rate of a
32 × 32 complex matmul measured here), with our time over each. Then every angle at n = 16: ours, lightning's
adjoint (a QNode per draw) and qulacs' ``ParametricQuantumCircuit.backprop``.
qulacs is an optional extra: ``pip install -e '.[bench]'`` (pinned in constraints.txt).

Usage:
    python experiments/bench_vqc.py            # parts 1 and 2, < 3 min on 2 cores
    python experiments/bench_vqc.py --against qulacs --skip-small --skip-large   # part 4, ~5 min
    python experiments/bench_vqc.py --plain-draws 10 --large-draws 2
    python experiments/bench_vqc.py --crossover --skip-large
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import numpy as np
import pennylane as qml
import torch
from pennylane import numpy as pnp

from xvanish.domains import vqc

GATES = (qml.RX, qml.RY, qml.RZ)


def bandwidth_gb_s(megabytes: int = 256, repeats: int = 5) -> float:
    """Memory bandwidth from a large tensor copy (read + write), best of ``repeats``."""
    source = torch.empty(megabytes * 2**20 // 8, dtype=torch.float64).fill_(1.0)
    target = torch.empty_like(source)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.numel() * 8 / best / 1e9


def mcclean_qnode(n: int, n_layers: int, axes: np.ndarray, device: str, diff_method: str):
    """The demo-style McClean circuit for one draw: native gates, angles as one array."""
    dev = qml.device(device, wires=n)

    @qml.qnode(dev, diff_method=diff_method)
    def circuit(angles):
        for w in range(n):
            qml.RY(math.pi / 4, wires=w)
        for layer in range(n_layers):
            for w in range(n):
                GATES[axes[layer, w]](angles[layer, w], wires=w)
            for w in range(n - 1):
                qml.CZ(wires=[w, w + 1])
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1))

    return circuit


def plain_one_angle(n: int, n_layers: int, angles: np.ndarray, axes: np.ndarray) -> float:
    """Demo style: a QNode for this draw, parameter shift for θ₁,₁ only (others not trainable)."""
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, diff_method="parameter-shift")
    def circuit(first, rest):
        for w in range(n):
            qml.RY(math.pi / 4, wires=w)
        for layer in range(n_layers):
            for w in range(n):
                angle = first if (layer, w) == (0, 0) else rest[layer, w]
                GATES[axes[layer, w]](angle, wires=w)
            for w in range(n - 1):
                qml.CZ(wires=[w, w + 1])
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1))

    first = pnp.array(angles[0, 0], requires_grad=True)
    rest = pnp.array(angles, requires_grad=False)
    return float(qml.grad(circuit, argnums=0)(first, rest))


def part_one(args: argparse.Namespace, bandwidth: float) -> None:
    n, layers, draws = args.n, args.layers, args.draws
    print(f"\n== Part 1: n={n}, {layers} layers, {draws} draws, one angle (McClean's theta_1,1) ==")
    sampler = vqc.sampler(n_qubits=n, n_layers=layers)
    sampler.sample(2, args.seed)  # warm-up: imports, engine caches
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        batch = sampler.sample(draws, args.seed)
        times.append(time.perf_counter() - start)
    ours = statistics.median(times)
    print(
        f"ours ({sampler.info()['diff_method']}): {ours:.3f} s for {draws} draws (median of {args.repeats}; "
        f"min {min(times):.3f} s)"
    )

    drawn = sampler.draw(draws, args.seed)
    subset = min(args.plain_draws, draws)
    start = time.perf_counter()
    plain = [plain_one_angle(n, layers, drawn.angles[i, :, :, 0], drawn.axes[i]) for i in range(subset)]
    plain_time = (time.perf_counter() - start) / subset * draws
    ours_grads = np.asarray(batch.grads["grad/target"])[:subset, 0]
    diff = float(np.max(np.abs(np.asarray(plain) - ours_grads)))
    print(
        f"plain demo-style loop (QNode per draw, default.qubit, parameter shift): timed {subset} draws, "
        f"scaled to {draws}: {plain_time:.1f} s"
    )
    print(f"  same draws, max |difference| of the gradients: {diff:.1e}")
    print(
        f"  ratio plain/ours: {plain_time / ours:.0f}x with our median, {plain_time / min(times):.0f}x with our "
        f"best (target >= 40x, ours <= 1 s)"
    )
    gates = n + layers * (n + n - 1)
    traffic = 3 * gates * 2 * 16 * 2**n * draws
    cache = bandwidth_gb_s(megabytes=8, repeats=20)
    print(
        f"  memory-traffic bound (THEORY.md, one pass per gate): 3 x {gates} gates x 2 x 16 B x 2^{n} "
        f"x {draws} = {traffic / 1e9:.1f} GB: {traffic / (bandwidth * 1e9):.3f} s at the DRAM copy "
        f"bandwidth, {traffic / (cache * 1e9):.3f} s at the cache bandwidth ({cache:.1f} GB/s, 8 MB copy; "
        f"one batch of {draws} states is {16 * 2**n * draws / 2**20:.1f} MiB)"
    )
    print(
        f"  (the engine fuses each layer's one-qubit gates and the CZ ladder, so it makes ~3 passes "
        f"per layer rather than {2 * n - 1}: it can beat the per-gate bound)"
    )


def part_two(args: argparse.Namespace) -> None:
    n, layers, draws = args.large_n, args.large_layers, args.large_draws
    print(f"\n== Part 2: n={n}, {layers} layers, every angle's gradient ({n * layers} angles), {draws} draws ==")
    results = {}
    for method in ("auto", "batched"):
        sampler = vqc.sampler(n_qubits=n, n_layers=layers, gradient="all", diff_method=method)
        sampler.sample(1, args.seed)  # warm-up
        start = time.perf_counter()
        batch = sampler.sample(draws, args.seed)
        per_draw = (time.perf_counter() - start) / draws
        results[method] = (per_draw, batch, sampler.info()["diff_method"])
        print(f"ours ({method} -> {sampler.info()['diff_method']}): {per_draw:.3f} s per draw")
    drawn = vqc.sampler(n_qubits=n, n_layers=layers, gradient="all").draw(draws, args.seed)
    times, diffs = [], []
    for i in range(draws):
        circuit = mcclean_qnode(n, layers, drawn.axes[i], "lightning.qubit", "adjoint")
        angles = pnp.array(drawn.angles[i, :, :, 0], requires_grad=True)
        start = time.perf_counter()
        grad = qml.grad(circuit)(angles)
        times.append(time.perf_counter() - start)
        ours = np.stack([np.asarray(results["auto"][1].grads[f"grad/layer/{l}"])[i] for l in range(layers)])
        diffs.append(float(np.max(np.abs(np.asarray(grad) - ours))))
    plain = statistics.mean(times)
    print(
        f"plain lightning.qubit QNode, diff_method=adjoint: {plain:.3f} s per draw "
        f"(max |difference| to ours {max(diffs):.1e})"
    )
    for method, (per_draw, _, name) in results.items():
        print(f"  ratio ours({method} -> {name})/plain: {per_draw / plain:.2f} (target <= 1.5)")


#: (gradient, n) -> draws timed per back-end in part 3 (fewer where one draw takes longer).
CROSSOVER_DRAWS = {
    ("target", 10): 100,
    ("target", 12): 40,
    ("target", 13): 20,
    ("target", 14): 20,
    ("target", 15): 12,
    ("target", 16): 8,
    ("all", 10): 20,
    ("all", 12): 10,
    ("all", 13): 6,
    ("all", 14): 6,
    ("all", 15): 4,
    ("all", 16): 4,
}


def part_three(args: argparse.Namespace) -> None:
    layers = args.crossover_layers
    print(
        f"\n== Part 3: crossover of diff_method=auto, McClean's circuit, {layers} layers "
        f"(best of {args.crossover_repeats}) =="
    )
    print(f"auto switches to lightning at n >= {vqc.methods.AUTO_LIGHTNING_MIN_QUBITS}")
    for (gradient, n), draws in CROSSOVER_DRAWS.items():
        samplers = {
            method: vqc.sampler(n_qubits=n, n_layers=layers, gradient=gradient, diff_method=method)
            for method in ("batched", "lightning")
        }
        for sampler in samplers.values():
            sampler.sample(1, args.seed)  # warm-up
        best = dict.fromkeys(samplers, math.inf)
        for _ in range(args.crossover_repeats):  # interleaved: a burst of load hits both alike
            for method, sampler in samplers.items():
                start = time.perf_counter()
                sampler.sample(draws, args.seed)
                best[method] = min(best[method], time.perf_counter() - start)
        per_draw = {method: seconds / draws * 1e3 for method, seconds in best.items()}
        auto = vqc.sampler(n_qubits=n, n_layers=layers, gradient=gradient).info()["diff_method"]
        faster = min(per_draw, key=per_draw.get)
        print(
            f"{gradient:6s} n={n:2d} ({draws:3d} draws): batched {per_draw['batched']:7.1f} ms/draw, "
            f"lightning {per_draw['lightning']:7.1f} ms/draw, lightning/batched "
            f"{per_draw['lightning'] / per_draw['batched']:.2f}; faster: {faster}, auto: {auto}"
        )


#: n -> draws timed per method in part 4 (fewer where one draw takes longer).
QULACS_DRAWS = {8: 100, 10: 100, 12: 50, 14: 20, 16: 6, 18: 2, 20: 1}


def numpy_bandwidth_gb_s(megabytes: int = 256, repeats: int = 5) -> float:
    """Memory bandwidth from a numpy copy (read + write) of a large array, best of ``repeats``."""
    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best / 1e9


def complex_matmul_gflop_s(width: int = 32, columns: int = 2**15, repeats: int = 5) -> float:
    """Real flop rate of the engine's chunk kernel: a [2^5, 2^5] complex128 matrix times [2^5, columns]."""
    gate = torch.randn(width, width, dtype=torch.complex128)
    state = torch.randn(width, columns, dtype=torch.complex128)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(gate, state)
        best = min(best, time.perf_counter() - start)
    return 8 * width * width * columns / best / 1e9


def qulacs_circuit(qulacs, n: int, angles: np.ndarray, axes: np.ndarray, parametric: bool = False):
    """McClean's circuit in qulacs, built gate by gate. qulacs' rotations are exp(+iθP/2), so
    every angle enters negated (checked: values equal to ~1e-16)."""
    circuit = (qulacs.ParametricQuantumCircuit if parametric else qulacs.QuantumCircuit)(n)
    for w in range(n):
        circuit.add_RY_gate(w, -math.pi / 4)
    names = ("RX", "RY", "RZ")
    adders = [getattr(circuit, f"add_parametric_{a}_gate" if parametric else f"add_{a}_gate") for a in names]
    for layer in range(angles.shape[0]):
        for w in range(n):
            adders[axes[layer, w]](w, -float(angles[layer, w]))
        for w in range(n - 1):
            circuit.add_CZ_gate(w, w + 1)
    return circuit


def qulacs_value(qulacs, observable, n: int, angles: np.ndarray, axes: np.ndarray) -> float:
    state = qulacs.QuantumState(n)
    qulacs_circuit(qulacs, n, angles, axes).update_quantum_state(state)
    return observable.get_expectation_value(state)


def qulacs_one_angle(qulacs, observable, n: int, angles: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """∂C/∂θ₁,₁ per draw by the parameter shift, one state at a time (C(θ) too, as ours returns it)."""
    grads = []
    for a, x in zip(angles, axes):
        plus, minus = a.copy(), a.copy()
        plus[0, 0] += math.pi / 2
        minus[0, 0] -= math.pi / 2
        qulacs_value(qulacs, observable, n, a, x)
        grads.append((qulacs_value(qulacs, observable, n, plus, x) - qulacs_value(qulacs, observable, n, minus, x)) / 2)
    return np.asarray(grads)


def part_four(args: argparse.Namespace) -> None:
    try:
        import qulacs
    except ImportError:
        print(
            "\n== Part 4 skipped: qulacs is not installed; pip install -e '.[bench]' "
            "(or pip install -c constraints.txt qulacs==0.6.14) =="
        )
        return
    layers = args.qulacs_layers
    bandwidth = numpy_bandwidth_gb_s()
    gflops = complex_matmul_gflop_s()
    print(
        f"\n== Part 4: against qulacs {qulacs.__version__ if hasattr(qulacs, '__version__') else ''}, McClean, "
        f"{layers} layers, one angle; numpy copy bandwidth {bandwidth:.1f} GB/s, complex128 32x32 matmul "
        f"{gflops:.1f} GFlop/s =="
    )
    observable = qulacs.Observable(0)
    print(
        "| n | draws | ours s/draw | qulacs s/draw | qulacs/ours | traffic bound s/draw | ours/traffic | "
        "flop bound s/draw | ours/flop | max diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.qulacs_n:
        draws = QULACS_DRAWS.get(n, 1)
        observable = qulacs.Observable(n)
        observable.add_operator(1.0, "Z 0 Z 1")
        sampler = vqc.sampler(n_qubits=n, n_layers=layers, diff_method="batched")
        drawn = sampler.draw(draws, args.seed)
        angles, axes = drawn.angles[..., 0], drawn.axes
        sampler.sample(1, args.seed)  # warm-up
        best = {"ours": math.inf, "qulacs": math.inf}
        for _ in range(args.repeats_qulacs if n <= 16 else 1):  # interleaved: load hits both alike
            start = time.perf_counter()
            ours = sampler.sample(draws, args.seed).grads["grad/target"][:, 0]
            best["ours"] = min(best["ours"], time.perf_counter() - start)
            start = time.perf_counter()
            theirs = qulacs_one_angle(qulacs, observable, n, angles, axes)
            best["qulacs"] = min(best["qulacs"], time.perf_counter() - start)
        per = {k: v / draws for k, v in best.items()}
        traffic = 2 * layers * 2 * 16 * 2**n / (bandwidth * 1e9)
        count = math.ceil(n / 5)  # the compiler's balanced chunks of <= 5 wires
        widths = [round((i + 1) * n / count) - round(i * n / count) for i in range(count)]
        flops = 2 * layers * sum(8 * 2**m for m in widths) * 2**n / (gflops * 1e9)
        print(
            f"| {n} | {draws} | {per['ours']:.4f} | {per['qulacs']:.4f} | {per['qulacs'] / per['ours']:.2f} | "
            f"{traffic:.4f} | {per['ours'] / traffic:.1f} | {flops:.4f} | {per['ours'] / flops:.1f} | "
            f"{np.max(np.abs(ours - theirs)):.1e} |",
            flush=True,
        )
    every_angle(args, qulacs)


def every_angle(args: argparse.Namespace, qulacs) -> None:
    """Every angle at ``--large-n``: ours, lightning's adjoint QNode, qulacs' backprop, same draws."""
    n, layers, draws = args.large_n, args.large_layers, args.large_draws
    sampler = vqc.sampler(n_qubits=n, n_layers=layers, gradient="all", diff_method="batched")
    drawn = sampler.draw(draws, args.seed)
    observable = qulacs.Observable(n)
    observable.add_operator(1.0, "Z 0 Z 1")
    sampler.sample(1, args.seed)
    best = {"ours": math.inf, "lightning": math.inf, "qulacs": math.inf}
    for _ in range(2):
        start = time.perf_counter()
        batch = sampler.sample(draws, args.seed)
        best["ours"] = min(best["ours"], time.perf_counter() - start)
        ours = np.stack([np.stack([batch.grads[f"grad/layer/{l}"][i] for l in range(layers)]) for i in range(draws)])
        start = time.perf_counter()
        light = [
            qml.grad(mcclean_qnode(n, layers, drawn.axes[i], "lightning.qubit", "adjoint"))(
                pnp.array(drawn.angles[i, :, :, 0], requires_grad=True)
            )
            for i in range(draws)
        ]
        best["lightning"] = min(best["lightning"], time.perf_counter() - start)
        start = time.perf_counter()
        back = []
        for i in range(draws):
            circuit = qulacs_circuit(qulacs, n, drawn.angles[i, :, :, 0], drawn.axes[i], parametric=True)
            back.append(-np.asarray(circuit.backprop(observable)).reshape(layers, n))  # exp(+iθP/2): sign
        best["qulacs"] = min(best["qulacs"], time.perf_counter() - start)
    diff_l = max(float(np.max(np.abs(np.asarray(g) - o))) for g, o in zip(light, ours))
    diff_q = max(float(np.max(np.abs(g - o))) for g, o in zip(back, ours))
    per = {k: v / draws for k, v in best.items()}
    print(
        f"\nevery angle, n={n}, {layers} layers, {draws} draws (s per draw, best of 2): ours {per['ours']:.3f}, "
        f"lightning adjoint {per['lightning']:.3f} (x{per['lightning'] / per['ours']:.2f}, max diff {diff_l:.1e}), "
        f"qulacs backprop {per['qulacs']:.3f} (x{per['qulacs'] / per['ours']:.2f}, max diff {diff_q:.1e})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5, help="timings of our sampler (median reported)")
    parser.add_argument("--plain-draws", type=int, default=10, help="draws the plain loop is timed on (scaled)")
    parser.add_argument("--large-n", type=int, default=16)
    parser.add_argument("--large-layers", type=int, default=100)
    parser.add_argument("--large-draws", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-large", action="store_true", help="skip part 2")
    parser.add_argument("--skip-small", action="store_true", help="skip part 1")
    parser.add_argument("--crossover", action="store_true", help="also part 3: the auto crossover")
    parser.add_argument("--crossover-layers", type=int, default=100)
    parser.add_argument("--crossover-repeats", type=int, default=2)
    parser.add_argument("--against", choices=["qulacs"], help="also part 4: the table against qulacs")
    parser.add_argument("--qulacs-n", type=int, nargs="+", default=[8, 10, 12, 14, 16, 18, 20])
    parser.add_argument("--qulacs-layers", type=int, default=100)
    parser.add_argument("--repeats-qulacs", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(f"torch {torch.__version__}, pennylane {qml.__version__}, threads {torch.get_num_threads()}")
    bandwidth = bandwidth_gb_s()
    print(f"measured copy bandwidth: {bandwidth:.1f} GB/s (read + write)")
    if not args.skip_small:
        part_one(args, bandwidth)
    if not args.skip_large:
        part_two(args)
    if args.crossover:
        part_three(args)
    if args.against == "qulacs":
        part_four(args)


if __name__ == "__main__":
    main()
