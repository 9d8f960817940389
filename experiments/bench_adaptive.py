"""Adaptive precision against a fixed 1,000 draws per point, in the same run.

A sweep of four MLP points (tanh, width 32, depth 20 and 24), two variants: orthogonal
weights, whose preact/1 variance is known to ±12% after 100 draws, and Gaussian weights,
whose log-normal gradient spread needs about 1,000 draws for the same interval. The user's
call is ``sweep(..., target_rel_ci=0.12, max_samples=1000, target_groups=["preact/1"])`` against ``sweep(...,
n_samples=1000)``; interleaved, fastest of ``--repeats``, the ratio printed.

    python experiments/bench_adaptive.py
"""

from __future__ import annotations

import argparse
import time

import torch

from xvanish import Variant, sweep

VARIANTS = [
    Variant("orthogonal", {"init": "orthogonal", "weight_var": 1.0}),
    Variant("gaussian", {"init": "normal", "weight_var": 1.0}),
]
FIXED = dict(width=32, activation="tanh")


def run(**how):
    start = time.perf_counter()
    df = sweep("mlp", "depth", [20, 24], seed=0, variants=VARIANTS, **FIXED, **how)
    return time.perf_counter() - start, df[df["group"] == "preact/1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    fixed_times, adaptive_times = [], []
    for _ in range(args.repeats):  # interleaved: both see the same load
        seconds, fixed = run(n_samples=1000)
        fixed_times.append(seconds)
        seconds, adaptive = run(n_samples=100, target_rel_ci=args.target, max_samples=1000, target_groups=["preact/1"])
        adaptive_times.append(seconds)
    print(f"{'variant':<11} {'depth':>5} {'draws':>6} {'rel CI':>7} {'settled':>8}   fixed: {'draws':>5} {'rel CI':>7}")
    for (_, a), (_, f) in zip(adaptive.iterrows(), fixed.iterrows()):
        print(
            f"{a['variant']:<11} {a['scale']:5.0f} {a['n_samples']:6d} {a['rel_ci']:7.3f} {str(a['settled']):>8}"
            f"          {f['n_samples']:5d} {(f['var_hi'] - f['var_lo']) / (2 * f['var']):7.3f}"
        )
    best_fixed, best_adaptive = min(fixed_times), min(adaptive_times)
    print(
        f"fixed 1000 draws per point: {best_fixed:.2f} s; adaptive (target_rel_ci={args.target:g}, "
        f"100 first, at most 1000): {best_adaptive:.2f} s; ratio {best_adaptive / best_fixed:.2f} "
        f"(draws {adaptive['n_samples'].sum()} vs {fixed['n_samples'].sum()}: "
        f"{adaptive['n_samples'].sum() / fixed['n_samples'].sum():.2f}; fastest of {args.repeats})"
    )


if __name__ == "__main__":
    main()
