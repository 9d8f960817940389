"""Benchmark of the MLP domain as a user runs it (a command, not a test).

    python experiments/bench_mlp.py [--depth 50 --width 64 --samples 256 ...]

(a) ``measure(mlp.sampler(...), n_samples, seed)`` end to end (random draws, forward,
    backward, statistics of every group) against the plain way, in the same run: a Python
    loop that builds one ``nn.Sequential`` of ``nn.Linear`` + activation per
    initialisation, initialises it the same way (xavier-normal weights, N(0, σb²) biases,
    readout a ~ N(0, 1/N)), runs the same per-draw loss a·φ(h^L) with one backward, collects
    the same gradients (pre-activation gradients through ``retain_grad``, weight gradients,
    input gradient) and computes the same statistics per group (numpy,
    :func:`xvanish.stats.summarize`). Target: >= 10x. Also the breakdown of one
    ``measure`` call: random draws, forward + backward, reduction to per-draw sums and
    statistics, and the draws' share at 1 thread (they are a fixed cost: L·n·N² Gaussian
    numbers from one sequential generator per layer).
(b) Achieved FLOP rate of the batched forward + backward at width 512 with ``batch`` inputs
    per initialisation, so every layer is a real GEMM: 6·n·L·batch·N² flops (forward
    W·u, backward Wᵀ·δ and δ·uᵀ, the weight gradients materialised), against this
    machine's torch.matmul rate for 512×512 float32 matrices with the same threads.
    Target: within 2x of the matmul rate. Also ``sample()`` as measure() calls it: random
    draws included, and the weight gradients reduced to per-draw sums a block of draws at a
    time instead of returned.

Peak memory of a wide case (depth 20, width 1024): experiments/bench_mlp_memory.py.
"""

import argparse
import statistics
import time

import numpy as np
import torch

from xvanish import reduce, stats
from xvanish.core import measure
from xvanish.domains import mlp

ACTIVATION = "tanh"
BIAS_VAR = 0.05


def median_time(function, repeats):
    """Median wall time of ``repeats`` calls (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_loop(depth, width, n, seed):
    """The plain way: one nn.Sequential per initialisation, one backward each, then the
    statistics of every group from the stacked gradients (numpy)."""
    torch.manual_seed(seed)
    activation = mlp.ACTIVATIONS[ACTIVATION]
    out = {f"preact/{l}": [] for l in range(1, depth + 1)}
    out.update({f"weight/{l}": [] for l in range(1, depth + 1)})
    out["input"] = []
    for _ in range(n):
        layers = []
        for _ in range(depth):
            linear = torch.nn.Linear(width, width)
            torch.nn.init.xavier_normal_(linear.weight)
            torch.nn.init.normal_(linear.bias, std=BIAS_VAR**0.5)
            layers += [linear, torch.nn.Tanh()]
        model = torch.nn.Sequential(*layers[:-1])  # h^L is the last Linear's output
        readout = torch.randn(width) / width**0.5
        x = torch.randn(1, width, requires_grad=True)
        hs = []
        h = x
        for module in model:
            h = module(h)
            if isinstance(module, torch.nn.Linear):
                h.retain_grad()
                hs.append(h)
        loss = (activation(h) * readout).sum()
        loss.backward()
        for l, (h_l, linear) in enumerate(zip(hs, model[::2]), start=1):
            out[f"preact/{l}"].append(h_l.grad.reshape(-1))
            out[f"weight/{l}"].append(linear.weight.grad.reshape(-1))
        out["input"].append(x.grad.reshape(-1))
    return {group: stats.summarize(torch.stack(rows).numpy()) for group, rows in out.items()}


def make_sampler(depth, width, batch=1):
    return mlp.sampler(depth=depth, width=width, activation=ACTIVATION, init="xavier", bias_var=BIAS_VAR, batch=batch)


def ours(depth, width, n, seed):
    """Our way, as a user calls it: build the sampler and measure (statistics included)."""
    return measure(make_sampler(depth, width), n_samples=n, seed=seed)


def breakdown(depth, width, n, seed, repeats):
    """Median seconds of the stages of one measure() call, run one after the other."""
    sampler = make_sampler(depth, width)
    drawn = sampler.draw(n, seed)
    batch = sampler.gradients(drawn)

    def reduce_all():
        values = {**batch.grads, "cost": batch.cost}
        return [stats.summarize_sums(reduce.group_sums(v), jackknife=True) for v in values.values()]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one_thread = median_time(lambda: sampler.draw(n, seed), repeats)
    finally:
        torch.set_num_threads(threads)
    return {
        "draws": median_time(lambda: sampler.draw(n, seed), repeats),
        "draws at 1 thread": one_thread,
        "forward + backward": median_time(lambda: sampler.gradients(drawn), repeats),
        "reduction + statistics": median_time(reduce_all, repeats),
    }


def matmul_rate(width, repeats):
    """FLOP/s of torch.matmul on width×width float32 matrices (a batch of 8 to fill the cores)."""
    a = torch.randn(8, width, width)
    b = torch.randn(8, width, width)
    seconds = median_time(lambda: torch.matmul(a, b), repeats)
    return 8 * 2 * width**3 / seconds


def compare_rows(frame, plain):
    """Median over groups of var(ours)/var(plain): the two ways use different random numbers,
    so this is a sanity check that both measure the same ensemble (≈ 1), not an identity."""
    ratios = [row.var / plain[row.group]["var"] for row in frame.itertuples() if row.group in plain]
    return float(np.median(ratios))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=50, help="(a) layers")
    parser.add_argument("--width", type=int, default=64, help="(a) width")
    parser.add_argument("--samples", type=int, default=256, help="(a) initialisations")
    parser.add_argument("--gemm-width", type=int, default=512, help="(b) width")
    parser.add_argument("--gemm-depth", type=int, default=8, help="(b) layers")
    parser.add_argument("--gemm-samples", type=int, default=8, help="(b) initialisations")
    parser.add_argument("--gemm-batch", type=int, default=256, help="(b) inputs per initialisation")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (median)")
    parser.add_argument("--plain-repeats", type=int, default=1, help="timed repeats of the plain loop (median)")
    parser.add_argument("--skip-plain", action="store_true", help="skip (a)")
    parser.add_argument("--skip-gemm", action="store_true", help="skip (b)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads for both ways (default: torch's choice); on a "
        "shared machine 1 avoids OpenMP contention with other processes",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    if not args.skip_plain:
        d, w, n = args.depth, args.width, args.samples
        t_plain = median_time(lambda: plain_loop(d, w, n, seed=0), args.plain_repeats)
        t_ours = median_time(lambda: ours(d, w, n, seed=0), args.repeats)
        frame, plain = ours(d, w, n, seed=0), plain_loop(d, w, n, seed=1)
        assert set(frame.group) == {*plain, "cost"}
        print(
            f"(a) depth {d}, width {w}, {n} initialisations, all {len(frame)} groups "
            f"({int(frame.n_params.sum())} values per draw), statistics included"
        )
        print(f"    plain loop of nn.Sequential + backward + numpy statistics: {t_plain:8.3f} s")
        print(f"    measure(mlp.sampler(...)) end to end                     : {t_ours:8.3f} s")
        print(
            f"    speed-up                                                  : {t_plain / t_ours:8.1f}x  (target >= 10x)"
        )
        print(f"    median var ratio ours/plain over groups (independent draws): {compare_rows(frame, plain):.3f}")
        print("    breakdown of measure() (stages timed separately):")
        for stage, seconds in breakdown(d, w, n, 0, args.repeats).items():
            print(f"      {stage:24s}: {seconds:8.3f} s")

    if not args.skip_gemm:
        d, w, n, b = args.gemm_depth, args.gemm_width, args.gemm_samples, args.gemm_batch
        sampler = make_sampler(d, w, batch=b)
        drawn = sampler.draw(n, 0)
        flops = 6 * n * d * b * w**2
        t_total = median_time(lambda: sampler.sample(n, 0), args.repeats)
        t_grads = median_time(lambda: sampler.gradients(drawn, materialize=True), args.repeats)
        reference = matmul_rate(w, args.repeats)
        print(f"(b) width {w}, depth {d}, {n} initialisations x {b} inputs: {flops / 1e9:.2f} GFLOP per sample() call")
        print(f"    torch.matmul {w}x{w} float32        : {reference / 1e9:8.1f} GFLOP/s")
        print(
            f"    forward+backward (no random draws)  : {flops / t_grads / 1e9:8.1f} GFLOP/s  "
            f"= matmul rate / {reference * t_grads / flops:.2f}  (target <= 2)"
        )
        print(
            f"    sample(): draws, weight-gradient sums: {flops / t_total / 1e9:8.1f} GFLOP/s  "
            f"= matmul rate / {reference * t_total / flops:.2f}"
        )


if __name__ == "__main__":
    main()
