"""Benchmark of the GAN domain's batched training (a command, not a test).

    python experiments/bench_gan.py [--draws 64 --steps 1000 --batch 64 16 --threads 1 2]

Trains the discriminators of ``--draws`` independent (G, D) pairs, D 2-64-64-1 against a
frozen G on the toy data, ``--steps`` Adam steps each, two ways in the same run:

* batched: :class:`xvanish.domains.gan.GANSampler`'s training step (stacked parameters held
  in one flat tensor, one ``torch.baddbmm`` per layer for all draws, D's backward pass
  written by hand into buffers allocated once, one fused ``torch.optim.Adam`` step);
* the plain way: one ``nn.Sequential`` discriminator (and its own Adam) at a time, each
  trained the same number of steps on its own batches, as a tutorial would write it.

Both use the same losses, batch, sizes, optimiser and thread count; the plain way draws its
own random batches (its speed does not depend on which numbers it draws). Both are timed
at each ``--threads`` count: the batched products use a second core, while the plain way's
small operations only get slower with threads. Prints the time per discriminator step of
one draw each way, the ratio per thread count, and the ratio of each way at its best
thread count (target: >= 10x). The
measurements at the checkpoints are excluded on both sides (training only), and so are
one-time costs: each way first runs ``WARM_UP_STEPS`` steps untimed.
"""

import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from xvanish.domains import gan

#: Steps of the untimed run of each way before the timed ones.
WARM_UP_STEPS = 20


def timed(function) -> tuple[float, float]:
    """(wall, CPU) seconds of ``function()``: on a shared machine the CPU time of this
    process is the steadier measure of the work done."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def batched_run(args):
    s = gan.sampler(d_steps=args.steps, batch=args.batch, d_hidden=64, d_depth=2)
    gens = s.generators(0, args.draws)
    nets = s.init_networks(gens)
    training = s.d_training(nets.d)
    for _ in range(args.steps):
        s.d_step(nets.g, training, s.step_inputs(gens))


def plain_run(args):
    cfg = gan.GANConfig()
    for draw in range(args.draws):
        torch.manual_seed(draw)
        d = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
        g = nn.Sequential(nn.Linear(cfg.z_dim, cfg.g_hidden), nn.Tanh(), nn.Linear(cfg.g_hidden, 2))
        shift = torch.tensor([0.0, cfg.gap])
        opt = torch.optim.Adam(d.parameters(), lr=cfg.d_lr, betas=(cfg.d_beta1, cfg.d_beta2))
        for _ in range(args.steps):
            t = torch.rand(args.batch, 1) * 2 - 1
            real = torch.cat([t, torch.zeros_like(t)], dim=1)
            with torch.no_grad():
                fake = g(torch.rand(args.batch, cfg.z_dim) * 2 - 1) + shift
            opt.zero_grad()
            f = d(torch.cat([real, fake])).squeeze(-1)
            loss = F.softplus(-f[: args.batch]).mean() + F.softplus(f[args.batch :]).mean()
            loss.backward()
            opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=[64, 16],
        help="generated (and real) samples per draw and step; one comparison per value",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=sorted({1, torch.get_num_threads()}),
        help="torch thread counts, each timed for both ways (default: 1 and torch's default)",
    )
    args = parser.parse_args()
    print(f"{args.draws} draws, D 2-64-64-1, {args.steps} Adam steps, toy data, torch {torch.__version__}")
    per = 1e3 / (args.draws * args.steps)
    for batch in args.batch:
        one = argparse.Namespace(**{**vars(args), "batch": batch})
        print(f"batch {batch} real + {batch} generated per draw and step:")
        best_batched = best_plain = math.inf
        for threads in args.threads:
            torch.set_num_threads(threads)
            # Untimed first: one-time costs (the first calls of each kernel take ~1 s in all)
            # are not the per-step cost being compared.
            warm_up = argparse.Namespace(**{**vars(one), "steps": WARM_UP_STEPS})
            batched_run(warm_up)
            plain_run(warm_up)
            batched = timed(lambda: batched_run(one))
            plain = timed(lambda: plain_run(one))
            best_batched, best_plain = min(best_batched, batched[0]), min(best_plain, plain[0])
            print(f"  {threads} thread(s):")
            for name, (wall, cpu) in (
                ("    batched (one network, one Adam)", batched),
                ("    plain (one nn.Module at a time)", plain),
            ):
                print(f"{name}: wall {wall:7.2f} s ({wall * per:.4f} ms per draw-step), CPU {cpu:7.2f} s")
            print(f"    ratio: wall {plain[0] / batched[0]:.1f}x, CPU {plain[1] / batched[1]:.1f}x")
        print(f"  ratio, each way at its best thread count: {best_plain / best_batched:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
