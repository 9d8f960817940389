"""Benchmark of the ``module`` domain: the vmap path against the plain per-draw loop (a command, not a test).

    python experiments/bench_module.py [--draws 256 --depth 16 --width 128 --batch 1 --repeats 3 --threads 1]

A residual MLP (``xvanish.examples.resnet:residual_mlp``: 16 blocks h + W·ReLU(h) + b of
width 128, after a linear embedding), ``--draws`` independent initialisations, each fed
``--batch`` standard-normal inputs, random linear readout; float32. What is timed is what a
user calls: ``measure(sampler, n, seed)`` end to end — building every draw's model,
every group's gradients (each parameter's, the gradient at each block's output, at the
input, the loss) and their statistics — two ways, in the same run:

* vmap: the sampler with ``batching=vmap``;
* plain: the same statistics over gradients computed the plain way, written here as a
  researcher would (not the sampler's own loop): per draw, the factory called under the
  draw's seed, one forward and one ``loss.backward()``, block outputs kept with
  ``retain_grad``, gradients copied into ``[n, k]`` rows.

Target (the issue): plain / vmap >= 5x. Both ways pay for the factory's initialisation of
every draw — at the least its random numbers, which torch's CPU generator draws one at a
time — so the ratio cannot exceed plain / (that cost), printed next to it; then the vmap
path's parts (building the stack, gradients, statistics) against the plain loop's.
Times are medians over ``--repeats`` runs, the ways timed in turn within each repeat (the
machine's load changes hit them alike), after one untimed warm-up run each.
"""

import argparse
import statistics
import time

import torch

from xvanish import measure
from xvanish.core import GradientBatch
from xvanish.domains import module
from xvanish.domains.module import build, paths

MODEL = "xvanish.examples.resnet:residual_mlp"


class LikeSampler:
    """What ``measure`` reads of a sampler besides ``sample``, taken from the module sampler."""

    def __init__(self, sampler):
        self.sampler = sampler
        self.domain, self.config, self.groups, self.theory_var = (
            sampler.domain,
            sampler.config,
            sampler.groups,
            sampler.theory_var,
        )


class PlainLoop(LikeSampler):
    """The module sampler's groups and draws, with gradients computed one model and one backward at a time."""

    def sample(self, n, seed):
        drawn = self.sampler.draw(n, seed)
        inputs, readout = drawn["inputs"], drawn["readout"]
        factory = paths._resolve("model", MODEL)
        rows = {}
        cost = torch.empty(n)
        with torch.random.fork_rng(devices=[]):
            for i, draw_seed in enumerate(drawn["init_seeds"]):
                torch.manual_seed(draw_seed)
                model = factory(**self.config.factory_keywords())
                outputs = {}
                for name in self.sampler._probe.acts:

                    def keep(mod, args, output, name=name):
                        output.retain_grad()
                        outputs[name] = output

                    model.get_submodule(name).register_forward_hook(keep)
                x = inputs[i].clone().requires_grad_()
                loss = (model(x) * readout[i]).sum()
                loss.backward()
                grads = {f"param/{k}": p.grad for k, p in model.named_parameters()}
                grads.update({f"act/{k}": v.grad for k, v in outputs.items()})
                grads["input"] = x.grad
                for key, g in grads.items():
                    if key not in rows:
                        rows[key] = torch.empty((n, g.numel()))
                    rows[key][i] = g.reshape(-1)
                cost[i] = loss.detach()
        return GradientBatch(grads=rows, cost=cost)


def timed(functions, repeats):
    """Median seconds of each function and its last result, the functions run in turn each
    repeat so that a change in the machine's load hits them alike; one untimed warm-up run
    each first (the first call in a process imports torch.func and the statistics)."""
    times = [[] for _ in functions]
    results = [function() for function in functions]
    for _ in range(repeats):
        for k, function in enumerate(functions):
            start = time.perf_counter()
            results[k] = function()
            times[k].append(time.perf_counter() - start)
    return [(statistics.median(t), result) for t, result in zip(times, results)]


class Sampled(LikeSampler):
    """A sampler whose ``sample`` returns a batch computed before: ``measure`` of it times the statistics alone."""

    def __init__(self, sampler, batch):
        super().__init__(sampler)
        self.batch = batch

    def sample(self, n, seed):
        return self.batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=256)
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1, help="inputs per draw")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: on a shared machine, tiny multi-threaded kernels stall "
        "whenever another process holds a core)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n, seed = args.draws, args.seed
    sampler = module.sampler(
        model=MODEL, depth=args.depth, width=args.width, inputs=[args.batch, args.width], batching="vmap"
    )
    plain = PlainLoop(sampler)
    print(
        f"residual MLP: {args.depth} blocks, width {args.width}, {args.batch} input(s) per draw, {n} draws, "
        f"float32, {torch.get_num_threads()} threads"
    )

    drawn = sampler.draw(n, seed)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        tensors = list(build._build(sampler._factory, sampler.config).parameters())

    def random_numbers():
        """What the factory's initialisation of every draw costs at the least: its random numbers."""
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            for draw_seed in drawn["init_seeds"]:
                torch.manual_seed(draw_seed)
                for t in tensors:
                    t.uniform_()

    (t_vmap, rows_vmap), (t_plain, rows_plain), (t_random, _) = timed(
        [lambda: measure(sampler, n, seed), lambda: measure(plain, n, seed), random_numbers], args.repeats
    )
    assert sampler.info()["path"] == "vmap"
    worst = ((rows_vmap["var"] - rows_plain["var"]).abs() / rows_plain["var"].abs()).max()
    print(
        f"measure({n}) end to end: vmap {t_vmap:.3f} s, plain loop {t_plain:.3f} s, "
        f"ratio {t_plain / t_vmap:.1f}x (target >= 5x); largest relative difference of a variance {worst:.1e}"
    )
    print(
        f"  the factory's random numbers alone (one uniform_ per tensor per draw, drawn by both ways): "
        f"{t_random:.3f} s, so no way of computing the gradients gets past {t_plain / t_random:.1f}x"
    )

    (t_sample_vmap, batch_vmap), (t_sample_plain, batch_plain), (t_build, stacked) = timed(
        [lambda: sampler.sample(n, seed), lambda: plain.sample(n, seed), lambda: sampler.stack(drawn["init_seeds"])],
        args.repeats,
    )
    (t_grads, _), (t_stats_vmap, _), (t_stats_plain, _) = timed(
        [
            lambda: sampler.vmap_gradients(drawn, stacked),
            lambda: measure(Sampled(sampler, batch_vmap), n, seed),
            lambda: measure(Sampled(plain, batch_plain), n, seed),
        ],
        args.repeats,
    )
    print(
        f"  gradients (sample): vmap {t_sample_vmap:.3f} s = building the draws' initialisations {t_build:.3f} s "
        f"+ their gradients {t_grads:.3f} s; plain loop {t_sample_plain:.3f} s; ratio "
        f"{t_sample_plain / t_sample_vmap:.1f}x"
    )
    print(
        f"  statistics: vmap {t_stats_vmap:.3f} s, plain loop {t_stats_plain:.3f} s (weight gradients kept as "
        "outer-product factors against dense rows)"
    )


if __name__ == "__main__":
    main()
