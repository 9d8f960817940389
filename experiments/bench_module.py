"""Benchmark of the ``module`` domain: the vmap path against the plain per-draw loop (a command, not a test).

    python experiments/bench_module.py [--draws 256 --depth 16 --width 128 --batch 1 --repeats 3 --threads 1]

A residual MLP (``xvanish.examples.resnet:residual_mlp``: 16 blocks h + W·ReLU(h) + b of
width 128, after a linear embedding), ``--draws`` independent initialisations, each fed
``--batch`` standard-normal inputs, random linear readout; float32. Every group the domain
returns (each parameter's gradient, the gradient at each block's output, at the input, the
loss) is computed, in the same run, two ways:

(a) the gradients alone, given the drawn initialisations: one ``vmap(grad(functional_call))``
    over the stacked parameters against the plain way — a Python loop over the draws'
    ``nn.Module`` objects with one forward and one ``loss.backward()`` each, block outputs
    kept with ``retain_grad``, gradients copied into ``[n, k]`` rows (written here, not the
    sampler's own loop). Target: >= 5x.
(b) ``sampler.sample(n, seed)`` end to end with ``batching=vmap`` and ``batching=loop``:
    both paths build every draw's model by calling the factory under the draw's seed (the
    factory's own initialisation), a cost they share, so this ratio is bounded by how much
    of the time that building takes; its share is printed.

Ratios are medians over ``--repeats`` runs, measured in this one process.
"""

import argparse
import statistics
import time

import torch

from xvanish.domains import module

MODEL = "xvanish.examples.resnet:residual_mlp"


def plain_loop(models, drawn, acts):
    """The gradients of every draw, one model and one ``loss.backward()`` at a time."""
    inputs, readout = drawn["inputs"], drawn["readout"]
    n = len(models)
    rows = {}
    cost = torch.empty(n)
    for i, model in enumerate(models):
        model.zero_grad(set_to_none=True)
        outputs = {}
        handles = []
        for name in acts:
            def keep(mod, args, output, name=name, outputs=outputs):
                output.retain_grad()
                outputs[name] = output
            handles.append(model.get_submodule(name).register_forward_hook(keep))
        x = inputs[i].clone().requires_grad_()
        loss = (model(x) * readout[i]).sum()
        loss.backward()
        for handle in handles:
            handle.remove()
        grads = {f"param/{k}": p.grad for k, p in model.named_parameters()}
        grads.update({f"act/{k}": v.grad for k, v in outputs.items()})
        grads["input"] = x.grad
        for key, g in grads.items():
            if key not in rows:
                rows[key] = torch.empty((n, g.numel()))
            rows[key][i] = g.reshape(-1)
        cost[i] = loss.detach()
    return rows, cost


def timed(function, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=256)
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1, help="inputs per draw")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared machine, tiny multi-threaded kernels stall "
                             "whenever another process holds a core)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n, seed = args.draws, args.seed
    keys = dict(model=MODEL, depth=args.depth, width=args.width, inputs=[args.batch, args.width])
    sampler = module.sampler(**keys, batching="vmap")
    print(f"residual MLP: {args.depth} blocks, width {args.width}, {args.batch} input(s) per draw, {n} draws, "
          f"float32, {torch.get_num_threads()} threads")

    drawn = sampler.draw(n, seed)
    stacked = sampler.stack(drawn["init_seeds"])
    factory = module._resolve("model", MODEL)
    models = []
    with module._cpu_rng_restored():
        for draw_seed in drawn["init_seeds"]:
            torch.manual_seed(draw_seed)
            models.append(factory(depth=args.depth, width=args.width))
    acts = list(sampler._probe.acts)

    t_vmap, batch = timed(lambda: sampler.vmap_gradients(drawn, stacked), args.repeats)
    t_loop, (rows, _) = timed(lambda: plain_loop(models, drawn, acts), args.repeats)
    worst = max((batch.grads[k] - rows[k]).abs().max().item() / rows[k].abs().max().item() for k in rows)
    print(f"(a) gradients of {n} drawn initialisations: vmap {t_vmap:.3f} s, plain loop {t_loop:.3f} s, "
          f"ratio {t_loop / t_vmap:.1f}x (target >= 5x); largest relative difference {worst:.1e}")

    t_build, _ = timed(lambda: sampler.stack(drawn["init_seeds"]), args.repeats)
    looping = module.sampler(**keys, batching="loop")
    t_sample_vmap, _ = timed(lambda: sampler.sample(n, seed), args.repeats)
    t_sample_loop, _ = timed(lambda: looping.sample(n, seed), args.repeats)
    print(f"(b) sample({n}) end to end: vmap {t_sample_vmap:.3f} s, loop {t_sample_loop:.3f} s, "
          f"ratio {t_sample_loop / t_sample_vmap:.1f}x; building the {n} models from the factory takes "
          f"{t_build:.3f} s ({100 * t_build / t_sample_vmap:.0f}% of the vmap path)")


if __name__ == "__main__":
    main()
