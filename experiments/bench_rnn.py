"""Benchmark: what a user calls, ``measure()`` on the RNN domain, against the plain way, in one run.

The plain way is what a researcher writes first: one draw at a time, an ``nn.LSTMCell``
(``nn.RNNCell``, ``nn.GRUCell``) unrolled in Python with ``retain_grad()`` on every hidden
state, one ``backward()`` per draw, each step's gradient copied into an ``[n, k]`` row, and
the same statistics as ``measure`` computed from those rows (:func:`xvanish.reduce.draw_sums`
per group, then :func:`xvanish.stats.summarize_sums`). The batched way is
``xvanish.measure(rnn.sampler(...), n)``: drawing every model and window, all draws and all
steps in one pass, one backward, every per-step group kept (``record=all``), statistics.
Both ways include drawing the models (the plain way uses the sampler's own draws, the cost
of initialising an ``nn.LSTMCell`` per draw). Both compute the same gradients (the plain
way is checked against the sampler on two draws first: ||dg||/||g|| < 1e-5 at every step in
float32).

Run::

    python experiments/bench_rnn.py                 # n = 256, hidden 128, 200 residues, LSTM
    python experiments/bench_rnn.py --n 64 --plain-draws 16

The plain way's drawing and per-draw loop are timed on ``--plain-draws`` draws and scaled to
n (linear in the draws); its statistics are timed on n rows, unscaled. Both ways are timed with 1 torch thread and with ``--threads`` (torch's
default): the batched way runs its blocks of draws on parallel threads, the plain way's
tiny operations cannot use them (and on a loaded machine extra threads slow them down).
Each way is timed ``--repeats`` times per thread count, the two ways alternating, and the
fastest time of each is kept. The last line is the conservative ratio: each way at its own
best thread count.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from xvanish import measure, reduce, stats
from xvanish.domains import rnn

CELLS = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}


def plain_draw(sampler: rnn.RNNSampler, params: dict, windows: np.ndarray, i: int) -> dict[str, torch.Tensor]:
    """One draw the plain way: a torch.nn cell unrolled in Python, retain_grad at every step.

    Returns:
        every group the sampler returns, by name (``state/<j>``, ``cell/<j>`` for LSTM,
        ``input/<j>``, ``initial``, ``weight/recurrent``, ``weight/input``), one draw each.
    """
    cfg = sampler.config
    cell = CELLS[cfg.cell](cfg.input_size, cfg.hidden).to(params["weight_hh"].dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(params[name][i])
    x = sampler.inputs({k: v[i : i + 1] for k, v in params.items()}, windows[i : i + 1])[
        0
    ].requires_grad_()  # [B, T, I]
    h0 = x.new_zeros((cfg.batch, cfg.hidden), requires_grad=True)
    h, c = h0, x.new_zeros((cfg.batch, cfg.hidden))
    states, cells = [], []
    for t in range(cfg.tokens):
        if cfg.cell == "lstm":
            h, c = cell(x[:, t], (h, c))
            c.retain_grad()
            cells.append(c)
        else:
            h = cell(x[:, t], h)
        h.retain_grad()
        states.append(h)
    loss = (h * params["readout"][i]).sum()
    loss.backward()
    last = cfg.tokens - 1
    out = {f"state/{j}": states[last - j].grad for j in range(cfg.tokens)}
    out.update({f"cell/{j}": cells[last - j].grad for j in range(len(cells))})
    out.update({f"input/{j}": x.grad[:, last - j] for j in range(cfg.tokens)})
    out.update({"initial": h0.grad, "weight/recurrent": cell.weight_hh.grad, "weight/input": cell.weight_ih.grad})
    return out


def plain_way(sampler: rnn.RNNSampler, n: int, seed: int, computed: int) -> float:
    """Seconds the plain way takes for n draws, end to end.

    Drawing and the per-draw loop (one unrolled cell and backward per draw, rows) are timed
    on the first ``computed`` draws and scaled to n: their cost is linear in the draws. The
    statistics are timed on n rows (the computed rows repeated): most of their cost is per
    group, and scaling it would overstate the plain way (603 groups: 0.14 s at 32 rows,
    0.18 s at 256).
    """
    start = time.perf_counter()
    drawn = sampler.draw(computed, seed)
    windows = drawn.pop("windows")
    rows: dict[str, torch.Tensor] = {}
    for i in range(computed):
        for name, g in plain_draw(sampler, drawn, windows, i).items():
            if name not in rows:
                rows[name] = g.new_empty((computed, g.numel()))
            rows[name][i] = g.reshape(-1)
    loop_s = time.perf_counter() - start
    repeat = -(-n // computed)
    rows = {name: row.repeat(repeat, 1)[:n] for name, row in rows.items()}  # not timed: n rows to summarise
    start = time.perf_counter()
    for row in rows.values():
        stats.summarize_sums(reduce.draw_sums(row))
    return loop_s * n / computed + time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="draws")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=200)
    parser.add_argument("--cell", default="lstm", choices=sorted(CELLS))
    parser.add_argument("--plain-draws", type=int, default=32, help="draws timed the plain way (scaled to n)")
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch threads of the second timing (the first uses 1); default: torch's",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timings of each way per thread count; the fastest is kept (timeit's rule: "
        "the others measure the machine's interruptions, not the code)",
    )
    args = parser.parse_args(argv)
    sampler = rnn.sampler(cell=args.cell, hidden=args.hidden, seq_len=args.seq_len, record="all")

    # Same numbers first: the plain way on 2 draws against the sampler's batch.
    drawn = sampler.draw(2, args.seed)
    windows = drawn.pop("windows")
    batched = sampler.gradients(drawn, windows)
    for i in range(2):
        plain = plain_draw(sampler, drawn, windows, i)
        assert sorted(plain) == sorted(k for k in batched if k != "cost")
        for name, g in plain.items():
            ref = batched[name][i]
            # float32 flushes the far states to zero in both ways: compare where they are not
            error = float((g.reshape(-1) - ref).norm() / ref.norm()) if ref.norm() > 0 else float(g.norm())
            assert error < 1e-5, f"draw {i}, {name}: relative error {error:.2e}"

    print(
        f"{args.cell}, hidden {args.hidden}, {args.seq_len} residues, n = {args.n} draws, "
        f"{len(sampler.groups())} groups; plain way's loop timed on {args.plain_draws} draws and scaled to n; "
        f"fastest of {args.repeats} timings each"
    )
    # First calls pay one-time costs (imports, allocator warm-up) that a run of many points does not.
    measure(sampler, 2, args.seed)
    plain_way(sampler, 2, args.seed, 2)
    best_plain = best_batched = math.inf
    for threads in sorted({1, args.threads}):
        torch.set_num_threads(threads)
        batched_s = plain_s = math.inf
        for _ in range(args.repeats):  # alternating, so a slow spell of the machine hits both ways
            start = time.perf_counter()
            measure(sampler, args.n, args.seed)
            batched_s = min(batched_s, time.perf_counter() - start)
            plain_s = min(plain_s, plain_way(sampler, args.n, args.seed, args.plain_draws))
        best_plain, best_batched = min(best_plain, plain_s), min(best_batched, batched_s)
        print(
            f"  {threads} thread(s): plain (nn.{CELLS[args.cell].__name__}, retain_grad, one draw at a time) "
            f"{plain_s:8.2f} s | xvanish measure() {batched_s:6.2f} s | ratio {plain_s / batched_s:6.1f}x"
        )
    print(f"ratio, each way at its best thread count: {best_plain / best_batched:.1f}x")


if __name__ == "__main__":
    main()
