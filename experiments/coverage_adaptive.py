"""Coverage of the variance interval after adaptive stopping (target_rel_ci), by simulation.

Sequential stopping biases a naive interval: a point stops when its interval happens to be
narrow, and a narrow interval is one that underestimates its own error (on heavy tails the
fourth moment is then low). This script runs xvanish's own stopping rule
(:func:`xvanish.adaptive.next_total`) on simulated draws with known variance and counts how
often the final 95% interval covers it, for Gaussian and heavy-tailed (Laplace, Student t5)
draws, with and without the correction the runs use (:data:`xvanish.adaptive.CONFIRM`).

    python experiments/coverage_adaptive.py              # 4,000 repetitions per case (~1 min)
    python experiments/coverage_adaptive.py --reps 2000 --target 0.2 --confirm 0 0.25 0.5

Vectorised: each repetition's interval at any n comes from cumulative power sums of its
draws (:func:`xvanish.adaptive.power_sum_interval`, equal to xvanish.stats.variance_ci for
one entry per draw: a test holds them equal).
"""

from __future__ import annotations

import argparse
import math
import time


from xvanish import adaptive

#: Draws with variance 1: name -> (rng, shape) -> draws.
DISTRIBUTIONS = {
    "gaussian": lambda rng, shape: rng.standard_normal(shape),
    "laplace": lambda rng, shape: rng.laplace(0.0, 1.0 / math.sqrt(2.0), shape),
    "student_t5": lambda rng, shape: rng.standard_t(5, shape) * math.sqrt(3.0 / 5.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--target", type=float, default=0.1)
    parser.add_argument("--n-samples", type=int, default=100, help="first round's draws")
    parser.add_argument("--max-samples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--confirm",
        type=float,
        nargs="+",
        default=[0.0, adaptive.CONFIRM],
        help="confirmation batches to compare, as fractions of the stopping n (0: naive)",
    )
    parser.add_argument(
        "--widen",
        type=float,
        nargs="+",
        default=[adaptive.WIDEN],
        help="log half-width factors of a settled point's interval to compare",
    )
    parser.add_argument("--only", choices=sorted(DISTRIBUTIONS), nargs="+", default=sorted(DISTRIBUTIONS))
    args = parser.parse_args()
    precision = adaptive.Precision(args.target, args.max_samples)
    print(
        f"coverage of the final 95% interval of Var (true value 1), target_rel_ci={args.target}, "
        f"n_samples={args.n_samples}, max_samples={args.max_samples}, {args.reps} repetitions per case"
    )
    print(
        f"{'draws':<11} {'rule':<13} {'coverage':>9} {'± (2 se)':>9} {'mean n':>8} {'at max':>7}  "
        f"{'fixed n, same mean':>19}"
    )
    for name, draw in DISTRIBUTIONS.items():
        if name not in args.only:
            continue
        start = time.perf_counter()
        for confirm, widen in [(c, w) for c in args.confirm for w in ([1.0] if c == 0 else args.widen)]:
            result = adaptive.simulate_coverage(
                draw, precision, args.n_samples, args.reps, args.seed, confirm=confirm, widen=widen
            )
            se = math.sqrt(result.coverage * (1 - result.coverage) / args.reps)
            rule = "naive" if confirm == 0 else f"confirm {confirm:g}" + (f" ×{widen:g}" if widen != 1 else "")
            print(
                f"{name:<11} {rule:<13} {result.coverage:9.4f} {2 * se:9.4f} {result.mean_n:8.0f} "
                f"{result.at_max:7.3f}  {result.fixed_coverage:19.4f}"
            )
        print(f"{'':<11} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
