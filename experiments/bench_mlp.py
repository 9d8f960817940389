"""Benchmark of the batched MLP sampler (a command, not a test).

    python experiments/bench_mlp.py [--depth 50 --width 64 --samples 256 ...]

(a) The batched sampler against the plain way, in the same run: a Python loop that builds
    one ``nn.Sequential`` of ``nn.Linear`` + activation per initialisation, initialises it
    the same way (xavier-normal weights, N(0, σb²) biases, readout a ~ N(0, 1/N)), runs the
    same per-draw loss a·φ(h^L), one backward, and collects the same gradients (pre-
    activation gradients through ``retain_grad``, weight gradients, input gradient).
    Target: ≥ 10×.
(b) Achieved FLOP rate of the batched forward + backward at width 512 with ``batch`` inputs
    per initialisation, so every layer is a real GEMM: 6·n·L·batch·N² flops (forward
    W·u, backward Wᵀ·δ and δ·uᵀ), with and without the random draws, against this
    machine's torch.matmul rate for 512×512 float32 matrices with the same threads.
    Target: within 2× of the matmul rate.
"""

import argparse
import statistics
import time

import torch

from xvanish.domains import mlp

ACTIVATION = "tanh"
BIAS_VAR = 0.05


def best_time(function, repeats):
    """Median wall time of ``repeats`` calls (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_loop(depth, width, n, seed):
    """The plain way: one nn.Sequential per initialisation, one backward each."""
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
            torch.nn.init.normal_(linear.bias, std=BIAS_VAR ** 0.5)
            layers += [linear, torch.nn.Tanh()]
        model = torch.nn.Sequential(*layers[:-1])  # h^L is the last Linear's output
        readout = torch.randn(width) / width ** 0.5
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
    return {group: torch.stack(rows) for group, rows in out.items()}


def batched(depth, width, n, seed):
    """Our way: one sampler call for all n initialisations (random draws included)."""
    return mlp.sampler(depth=depth, width=width, activation=ACTIVATION, init="xavier",
                       bias_var=BIAS_VAR).sample(n, seed).grads


def matmul_rate(width, repeats):
    """FLOP/s of torch.matmul on width×width float32 matrices (a batch of 8 to fill the cores)."""
    a = torch.randn(8, width, width)
    b = torch.randn(8, width, width)
    seconds = best_time(lambda: torch.matmul(a, b), repeats)
    return 8 * 2 * width ** 3 / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=50, help="(a) layers")
    parser.add_argument("--width", type=int, default=64, help="(a) width")
    parser.add_argument("--samples", type=int, default=256, help="(a) initialisations")
    parser.add_argument("--gemm-width", type=int, default=512, help="(b) width")
    parser.add_argument("--gemm-depth", type=int, default=8, help="(b) layers")
    parser.add_argument("--gemm-samples", type=int, default=8, help="(b) initialisations")
    parser.add_argument("--gemm-batch", type=int, default=256, help="(b) inputs per initialisation")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    parser.add_argument("--skip-plain", action="store_true", help="skip (a)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads for both ways (default: torch's choice); on a "
                             "shared machine 1 avoids OpenMP contention with other processes")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    if not args.skip_plain:
        d, w, n = args.depth, args.width, args.samples
        start = time.perf_counter()
        plain = plain_loop(d, w, n, seed=0)
        t_plain = time.perf_counter() - start
        t_batched = best_time(lambda: batched(d, w, n, seed=0), max(args.repeats, 5))
        ours = batched(d, w, n, seed=0)
        assert set(ours) == set(plain) and all(ours[g].shape == plain[g].shape for g in ours)
        print(f"(a) depth {d}, width {w}, {n} initialisations, all groups "
              f"({2 * d + 1} groups, {sum(v[0].numel() for v in ours.values())} values per draw)")
        print(f"    plain loop of nn.Sequential + backward: {t_plain:8.3f} s")
        print(f"    batched sampler (draws included)      : {t_batched:8.3f} s")
        print(f"    speed-up                               : {t_plain / t_batched:8.1f}x  (target >= 10x)")

    d, w, n, b = args.gemm_depth, args.gemm_width, args.gemm_samples, args.gemm_batch
    sampler = mlp.sampler(depth=d, width=w, activation=ACTIVATION, init="xavier", bias_var=BIAS_VAR, batch=b)
    drawn = sampler.draw(n, 0)
    flops = 6 * n * d * b * w ** 2
    t_total = best_time(lambda: sampler.sample(n, 0), args.repeats)
    t_grads = best_time(lambda: sampler.gradients(drawn), args.repeats)
    reference = matmul_rate(w, max(args.repeats, 5))
    print(f"(b) width {w}, depth {d}, {n} initialisations x {b} inputs: {flops / 1e9:.2f} GFLOP per sample() call")
    print(f"    torch.matmul {w}x{w} float32        : {reference / 1e9:8.1f} GFLOP/s")
    print(f"    forward+backward (no random draws)  : {flops / t_grads / 1e9:8.1f} GFLOP/s  "
          f"= matmul rate / {reference * t_grads / flops:.2f}  (target <= 2)")
    print(f"    sample() with random draws          : {flops / t_total / 1e9:8.1f} GFLOP/s  "
          f"= matmul rate / {reference * t_total / flops:.2f}")


if __name__ == "__main__":
    main()
