"""Benchmark: the RNN domain's batched pass against the plain way, in one run.

The plain way is what a researcher writes first: one draw at a time, an ``nn.LSTMCell``
(``nn.RNNCell``, ``nn.GRUCell``) unrolled in Python with ``retain_grad()`` on every hidden
state, one ``backward()`` per draw. The batched way is ``xvanish.domains.rnn``: all draws
and all steps in one pass, one backward, every per-step group kept (``record=all``).
Both compute the same gradients (the plain way is checked against the sampler on two
draws first: ||dg||/||g|| < 1e-5 at every step in float32).

Run::

    python experiments/bench_rnn.py                 # n = 256, hidden 128, 200 residues, LSTM
    python experiments/bench_rnn.py --n 64 --plain-draws 16

The plain way is timed on ``--plain-draws`` draws and scaled to n (its cost is linear in
the draws). Both ways are timed with 1 torch thread and with ``--threads`` (torch's
default): the batched way runs its blocks of draws on parallel threads, the plain way's
tiny operations cannot use them (and on a loaded machine extra threads slow them down).
The last line is the conservative ratio: each way at its own best thread count.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from xvanish.domains import rnn

CELLS = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}


def plain_draw(sampler: rnn.RNNSampler, params: dict, windows: np.ndarray, i: int) -> list[torch.Tensor]:
    """One draw the plain way: a torch.nn cell unrolled in Python, retain_grad at every step.

    Returns:
        ∂L/∂h_t for t = T … 1 (the last state first), each [batch, H].
    """
    cfg = sampler.config
    cell = CELLS[cfg.cell](cfg.input_size, cfg.hidden).to(params["weight_hh"].dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(params[name][i])
    x = sampler.inputs({k: v[i:i + 1] for k, v in params.items()}, windows[i:i + 1])[0]  # [B, T, I]
    h = x.new_zeros((cfg.batch, cfg.hidden))
    c = x.new_zeros((cfg.batch, cfg.hidden))
    states = []
    for t in range(cfg.tokens):
        if cfg.cell == "lstm":
            h, c = cell(x[:, t], (h, c))
        else:
            h = cell(x[:, t], h)
        h.retain_grad()
        states.append(h)
    loss = (h * params["readout"][i]).sum()
    loss.backward()
    return [s.grad for s in reversed(states)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="draws")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=200)
    parser.add_argument("--cell", default="lstm", choices=sorted(CELLS))
    parser.add_argument("--plain-draws", type=int, default=32, help="draws timed the plain way (scaled to n)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads of the second timing (the first uses 1); default: torch's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sampler = rnn.sampler(cell=args.cell, hidden=args.hidden, seq_len=args.seq_len, record="all")

    # Same numbers first: the plain way on 2 draws against the sampler's batch.
    drawn = sampler.draw(2, args.seed)
    windows = drawn.pop("windows")
    batched = sampler.gradients(drawn, windows)
    for i in range(2):
        for j, g in enumerate(plain_draw(sampler, drawn, windows, i)):
            ref = batched[f"state/{j}"][i]
            # float32 flushes the far states to zero in both ways: compare where they are not
            error = float((g.reshape(-1) - ref).norm() / ref.norm()) if ref.norm() > 0 else float(g.norm())
            assert error < 1e-5, f"draw {i}, state/{j}: relative error {error:.2e}"

    print(f"{args.cell}, hidden {args.hidden}, {args.seq_len} residues, n = {args.n} draws, "
          f"{len(sampler.groups())} groups; plain way timed on {args.plain_draws} draws and scaled to n")
    best_plain = best_batched = math.inf
    for threads in sorted({1, args.threads}):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        sampler.sample(args.n, args.seed)
        batched_s = time.perf_counter() - start
        drawn = sampler.draw(args.plain_draws, args.seed)
        windows = drawn.pop("windows")
        start = time.perf_counter()
        for i in range(args.plain_draws):
            plain_draw(sampler, drawn, windows, i)
        plain_s = (time.perf_counter() - start) * args.n / args.plain_draws
        best_plain, best_batched = min(best_plain, plain_s), min(best_batched, batched_s)
        print(f"  {threads} thread(s): plain (nn.{CELLS[args.cell].__name__}, retain_grad, one draw at a time) "
              f"{plain_s:8.2f} s | xvanish batched {batched_s:6.2f} s | ratio {plain_s / batched_s:6.1f}x")
    print(f"ratio, each way at its best thread count: {best_plain / best_batched:.1f}x")

if __name__ == "__main__":
    main()
