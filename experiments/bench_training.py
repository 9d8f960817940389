"""Benchmark: R runs of a depth-20 width-64 MLP trained on digits, batched over runs vs R nn.Module loops.

    python experiments/bench_training.py [--runs 16] [--steps 1000] [--repeats 3] [--threads 1]

Both ways train the same networks (the batched run's initial weights copied into the
modules) with the same minibatches and Adam; the batched way is what
``python -m xvanish domain=mlp train.optimizer=adam`` runs (without its row logging, timed
apart). Interleaved, fastest of ``--repeats``, ratio printed; losses compared at the end.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from xvanish.training.config import TrainConfig
from xvanish.training.loop import train
from xvanish.training.optim import BatchedOptimizer
from xvanish.training.tasks import build_problem, digits


def batched(problem, cfg: TrainConfig) -> torch.Tensor:
    """The batched loop without logging: returns the runs' last losses."""
    params = {name: value.detach().clone().requires_grad_() for name, value in problem.params.items()}
    optimizer = BatchedOptimizer(cfg)
    for t in range(1, cfg.train_steps + 1):
        losses = problem.loss(params, t)
        grads = dict(zip(params, torch.autograd.grad(losses.sum(), list(params.values()))))
        optimizer.step(params, grads)
    return losses.detach()


def modules(problem, cfg: TrainConfig, runs: int, depth: int, batches: list[torch.Tensor]) -> torch.Tensor:
    """The plain way: one nn.Sequential and one torch.optim.Adam per run, trained in turn."""
    x_all, y_all = (torch.as_tensor(a) for a in digits())
    x_all = x_all.float()
    last = []
    for r in range(runs):
        layers = []
        for l in range(1, depth + 1):
            linear = torch.nn.Linear(problem.params[f"weight/{l}"].shape[2], problem.params[f"weight/{l}"].shape[1])
            with torch.no_grad():
                linear.weight.copy_(problem.params[f"weight/{l}"][r])
                linear.bias.copy_(problem.params[f"bias/{l}"][r, :, 0])
            layers += [linear, torch.nn.Sigmoid()]
        readout = torch.nn.Linear(problem.params["weight/readout"].shape[2], 10)
        with torch.no_grad():
            readout.weight.copy_(problem.params["weight/readout"][r])
            readout.bias.zero_()
        model = torch.nn.Sequential(*layers, readout)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        for t in range(cfg.train_steps):
            index = batches[t][r]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_all[index]), y_all[index])
            loss.backward()
            optimizer.step()
        last.append(loss.detach())
    return torch.stack(last)


def monitor_overhead(depth: int, batch_size: int, steps: int, repeats: int) -> tuple[float, float]:
    """Seconds per training step of a depth-``depth`` sigmoid MLP on digits (Adam), without
    and with ``xvanish.monitor(every=10)``: interleaved, fastest of ``repeats``."""
    from xvanish.training.monitor import monitor

    x_all, y_all = (torch.as_tensor(a) for a in digits())
    x_all = x_all.float()
    index = torch.randint(0, len(y_all), (steps, batch_size), generator=torch.Generator().manual_seed(0))
    best = {False: float("inf"), True: float("inf")}
    for _ in range(repeats):
        for watched in (False, True):
            torch.manual_seed(0)
            layers = [module for _ in range(depth) for module in (torch.nn.Linear(64, 64), torch.nn.Sigmoid())]
            model = torch.nn.Sequential(*layers, torch.nn.Linear(64, 10))
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            mon = monitor(model, optimizer, every=10) if watched else None
            start = time.perf_counter()
            for t in range(steps):
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x_all[index[t]]), y_all[index[t]])
                loss.backward()
                optimizer.step()
                if mon is not None:
                    mon.step(loss)
            best[watched] = min(best[watched], (time.perf_counter() - start) / steps)
    return best[False], best[True]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keys = dict(depth=args.depth, width=64, activation="sigmoid", init="xavier")
    cfg = TrainConfig(optimizer="adam", lr=1e-3, train_steps=args.steps, batch_size=args.batch_size)
    problem = build_problem("mlp", keys, cfg, args.runs, seed=0)
    # the minibatches the batched loss draws, replayed for the modules (same generator seed)
    replay = build_problem("mlp", keys, cfg, args.runs, seed=0)
    captured = []
    original = torch.randint

    def capture(*a, **k):
        out = original(*a, **k)
        captured.append(out)
        return out

    torch.randint = capture
    try:
        with torch.no_grad():
            for t in range(1, args.steps + 1):
                replay.loss(replay.params, t)
    finally:
        torch.randint = original
    best = {"batched": float("inf"), "modules": float("inf")}
    for _ in range(args.repeats):
        for name in best:
            start = time.perf_counter()
            out = (
                batched(build_problem("mlp", keys, cfg, args.runs, seed=0), cfg)
                if name == "batched"
                else modules(problem, cfg, args.runs, args.depth, captured)
            )
            best[name] = min(best[name], time.perf_counter() - start)
            if name == "batched":
                batched_loss = out
            else:
                module_loss = out
    start = time.perf_counter()
    train(build_problem("mlp", keys, cfg, args.runs, seed=0), cfg, seed=0, scale_name="step")
    logged = time.perf_counter() - start
    print(
        f"R={args.runs} runs, depth {args.depth} width 64 sigmoid MLP, digits batch {args.batch_size}, "
        f"Adam, {args.steps} steps, {args.threads} thread(s), fastest of {args.repeats}"
    )
    print(f"  batched over runs    {best['batched']:8.2f} s")
    print(f"  {args.runs} nn.Module loops  {best['modules']:8.2f} s")
    print(f"  speed-up             {best['modules'] / best['batched']:8.2f}x")
    print(f"  batched with rows at {len(cfg.steps_logged)} logged steps: {logged:.2f} s")
    print(f"  max |last loss batched - modules| = {float((batched_loss - module_loss).abs().max()):.2e}")
    plain, watched = monitor_overhead(args.depth, args.batch_size, max(200, args.steps // 2), args.repeats)
    print(f"xvanish.monitor(every=10) on one depth-{args.depth} MLP (Adam, batch {args.batch_size}):")
    print(
        f"  step without {plain * 1e3:.3f} ms, with {watched * 1e3:.3f} ms: overhead {100 * (watched / plain - 1):+.1f}%"
    )


if __name__ == "__main__":
    main()
