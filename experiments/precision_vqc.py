"""Single (complex64) against double (complex128) precision on the same draws: Var of ∂C/∂θ₁,₁.

    python experiments/precision_vqc.py [--n 16 --layers 100 --draws 40]

Prints the largest relative error of a gradient, the relative error of the variance, and the
variance's own 95% statistical half-width for comparison (docs/vqc.md, "Precision").
"""

import argparse
import time
import warnings

import numpy as np

from xvanish.domains import vqc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    out = {}
    for precision in ("double", "single"):
        sampler = vqc.sampler(n_qubits=args.n, n_layers=args.layers, diff_method="batched", precision=precision)
        start = time.perf_counter()
        out[precision] = sampler.sample(args.draws, args.seed).grads["grad/target"][:, 0]
        print(f"{precision}: {time.perf_counter() - start:.1f} s for {args.draws} draws")
    g64, g32 = out["double"], out["single"]
    var64, var32 = np.var(g64, ddof=1), np.var(g32, ddof=1)
    print(
        f"n={args.n}, {args.layers} layers, {args.draws} draws: Var double {var64:.6e}, single {var32:.6e}, "
        f"relative error {abs(var32 - var64) / var64:.1e}; largest |g32 - g64| {np.max(np.abs(g32 - g64)):.1e} "
        f"(rms gradient {np.sqrt(np.mean(g64**2)):.1e}); the 95% CI of Var is about ±{1.96 * np.sqrt(2 / (args.draws - 1)):.0%}"
    )


if __name__ == "__main__":
    main()
