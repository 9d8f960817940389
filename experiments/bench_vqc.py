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

Usage:
    python experiments/bench_vqc.py            # parts 1 and 2, < 3 min on 2 cores
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
    print(f"ours ({sampler.info()['diff_method']}): {ours:.3f} s for {draws} draws (median of {args.repeats}; "
          f"min {min(times):.3f} s)")

    drawn = sampler.draw(draws, args.seed)
    subset = min(args.plain_draws, draws)
    start = time.perf_counter()
    plain = [plain_one_angle(n, layers, drawn.angles[i, :, :, 0], drawn.axes[i]) for i in range(subset)]
    plain_time = (time.perf_counter() - start) / subset * draws
    ours_grads = np.asarray(batch.grads["grad/target"])[:subset, 0]
    diff = float(np.max(np.abs(np.asarray(plain) - ours_grads)))
    print(f"plain demo-style loop (QNode per draw, default.qubit, parameter shift): timed {subset} draws, "
          f"scaled to {draws}: {plain_time:.1f} s")
    print(f"  same draws, max |difference| of the gradients: {diff:.1e}")
    print(f"  ratio plain/ours: {plain_time / ours:.0f}x with our median, {plain_time / min(times):.0f}x with our "
          f"best (target >= 40x, ours <= 1 s)")
    gates = n + layers * (n + n - 1)
    traffic = 3 * gates * 2 * 16 * 2**n * draws
    cache = bandwidth_gb_s(megabytes=8, repeats=20)
    print(f"  memory-traffic bound (THEORY.md, one pass per gate): 3 x {gates} gates x 2 x 16 B x 2^{n} "
          f"x {draws} = {traffic / 1e9:.1f} GB: {traffic / (bandwidth * 1e9):.3f} s at the DRAM copy "
          f"bandwidth, {traffic / (cache * 1e9):.3f} s at the cache bandwidth ({cache:.1f} GB/s, 8 MB copy; "
          f"one batch of {draws} states is {16 * 2**n * draws / 2**20:.1f} MiB)")
    print(f"  (the engine fuses each layer's one-qubit gates and the CZ ladder, so it makes ~3 passes "
          f"per layer rather than {2 * n - 1}: it can beat the per-gate bound)")


def part_two(args: argparse.Namespace) -> None:
    n, layers, draws = args.large_n, args.large_layers, args.large_draws
    print(f"\n== Part 2: n={n}, {layers} layers, every angle's gradient ({n * layers} angles), "
          f"{draws} draws ==")
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
    print(f"plain lightning.qubit QNode, diff_method=adjoint: {plain:.3f} s per draw "
          f"(max |difference| to ours {max(diffs):.1e})")
    for method, (per_draw, _, name) in results.items():
        print(f"  ratio ours({method} -> {name})/plain: {per_draw / plain:.2f} (target <= 1.5)")


#: (gradient, n) -> draws timed per back-end in part 3 (fewer where one draw takes longer).
CROSSOVER_DRAWS = {
    ("target", 10): 100, ("target", 12): 40, ("target", 13): 20, ("target", 14): 20, ("target", 15): 12,
    ("target", 16): 8, ("all", 10): 20, ("all", 12): 10, ("all", 13): 6, ("all", 14): 6, ("all", 15): 4,
    ("all", 16): 4,
}


def part_three(args: argparse.Namespace) -> None:
    layers = args.crossover_layers
    print(f"\n== Part 3: crossover of diff_method=auto, McClean's circuit, {layers} layers "
          f"(best of {args.crossover_repeats}) ==")
    print(f"auto switches to lightning at n >= {vqc.methods.AUTO_LIGHTNING_MIN_QUBITS}")
    for (gradient, n), draws in CROSSOVER_DRAWS.items():
        samplers = {method: vqc.sampler(n_qubits=n, n_layers=layers, gradient=gradient, diff_method=method)
                    for method in ("batched", "lightning")}
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
        print(f"{gradient:6s} n={n:2d} ({draws:3d} draws): batched {per_draw['batched']:7.1f} ms/draw, "
              f"lightning {per_draw['lightning']:7.1f} ms/draw, lightning/batched "
              f"{per_draw['lightning'] / per_draw['batched']:.2f}; faster: {faster}, auto: {auto}")


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


if __name__ == "__main__":
    main()
