"""Coverage of the variance interval by simulation: ``python experiments/interval_coverage.py``.

Prints, for Gaussian, Laplace, Student t5 and correlated-within-draw data at several numbers
of draws n and entries per draw k, how often the 95% interval of xvanish.stats covers the true
variance, and how often the estimate lies outside its own interval (never, by construction).
"""

import argparse
import math

import numpy as np

from xvanish import stats

CASES = {  # name -> (draw(rng, shape), true variance)
    "gaussian": (lambda g, s: g.standard_normal(s), 1.0),
    "laplace": (lambda g, s: g.laplace(0.0, 1.0, s), 2.0),
    "student_t5": (lambda g, s: g.standard_t(5, s), 5.0 / 3.0),
    # a shared offset per draw, as the entries of one layer's gradient share a network
    "correlated": (lambda g, s: g.standard_normal(s[:-1] + (1,)) + g.standard_normal(s), 2.0),
}
SIZES = [(8, 1), (8, 64), (20, 1), (50, 1), (50, 64), (200, 1), (1000, 1)]


def coverage(name: str, n: int, k: int, replications: int, seed: int) -> tuple[float, int]:
    draw, true_var = CASES[name]
    data = draw(np.random.default_rng(seed), (replications, n, k))
    summaries = stats.summarize_many([stats.draw_sums(values) for values in data])
    hits = sum(s["var_lo"] <= true_var <= s["var_hi"] for s in summaries)
    outside = sum(not (s["var_lo"] <= s["var"] <= s["var_hi"]) for s in summaries)
    return hits / replications, outside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    se = math.sqrt(0.95 * 0.05 / args.replications)
    print(f"coverage of the nominal 95% interval over {args.replications} replications (binomial SE {se:.3f})")
    print(f"{'data':<12}" + "".join(f"{f'n={n},k={k}':>12}" for n, k in SIZES))
    for name in CASES:
        cells, outside = [], 0
        for n, k in SIZES:
            if name == "correlated" and k == 1:
                cells.append(f"{'—':>12}")
                continue
            value, out = coverage(name, n, k, args.replications, args.seed)
            cells.append(f"{value:>12.3f}")
            outside += out
        print(f"{name:<12}" + "".join(cells) + f"   estimate outside its interval: {outside}")


if __name__ == "__main__":
    main()
