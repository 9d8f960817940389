"""Peak memory of a wide MLP measurement (a command, not a test).

    python experiments/bench_mlp_memory.py [--depth 20 --width 1024 --samples 256 --limit-gb 3]

Runs ``measure(mlp.sampler(depth, width), n_samples, seed=0)`` in a fresh Python process
and prints its peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that
process, which includes the interpreter, torch and the imports; printed alone for
reference) against the target, next to what holding the random weights and the weight
gradients of every draw would take (L·n·N² values each). At these sizes the sampler
streams the layers (``mlp.WEIGHT_MEMORY``): each layer's weights are drawn a block of
draws at a time, twice (forward, then backward), and the weight gradients are kept as
outer-product factors, reduced to per-draw sums from them.
"""

import argparse
import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from xvanish.core import measure
    from xvanish.domains import mlp
    depth, width, samples, only_imports = json.loads(sys.argv[1])
    start = time.perf_counter()
    if not only_imports:
        frame = measure(mlp.sampler(depth=depth, width=width), n_samples=samples, seed=0)
        assert len(frame) == 2 * depth + 2 and frame["var"].gt(0).all()
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "seconds": seconds}))
""")


def run_child(depth, width, samples, only_imports=False):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps([depth, width, samples, only_imports])],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--limit-gb", type=float, default=3.0, help="target peak (GB = 1e9 bytes)")
    args = parser.parse_args()
    values = args.depth * args.samples * args.width**2
    baseline = run_child(args.depth, args.width, args.samples, only_imports=True)
    result = run_child(args.depth, args.width, args.samples)
    peak = result["peak_bytes"] / 1e9
    print(
        f"depth {args.depth}, width {args.width}, {args.samples} draws, float32: {values / 1e9:.1f} G weights per call"
    )
    print(f"    all weights at once              : {4 * values / 1e9:8.1f} GB  (and as much again of weight gradients)")
    print(
        f"    peak RSS of measure() (fresh process): {peak:8.2f} GB  (target < {args.limit_gb:g} GB: "
        f"{'met' if peak < args.limit_gb else 'NOT met'})"
    )
    print(f"    peak RSS after the imports alone  : {baseline['peak_bytes'] / 1e9:8.2f} GB")
    print(f"    wall time of measure()            : {result['seconds']:8.1f} s")


if __name__ == "__main__":
    main()
