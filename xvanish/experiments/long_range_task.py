"""Can a model learn a dependency Δ residues back? The run's models trained on real protein windows.

What is learnt, how the labels are made and what the literature expects: docs/rnn.md
(the long-range task).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xvanish.core import is_int, is_number, require, require_int, require_number, streams, write_csv_atomic
from xvanish.report.callback import find_jobs, job_info
from xvanish.report.outputs import replace_atomic

from .runner import Job, Runner

#: One row per (model, Δ) trained: what resume reads and the multirun combines.
TABLE_NAME = "training.csv"
FIGURE_NAME = "training.png"
#: The columns that must match for a row of an earlier training.csv to be reused.
SETTINGS = ("seed", "updates", "batch", "lr", "hidden", "embed")
#: Test windows per (seed, Δ).
TEST_WINDOWS = 1000


@dataclass
class LongRangeOptions:
    """``runner.options`` of ``long_range_task`` (the seed is ``measure.seed``).

    Attributes:
        model: ``all`` or a list of the run's variant names to train.
        deltas: Δ tried in order while the previous one is learnt.
        updates: Adam updates per (model, Δ).
        batch: windows per update (even: the classes are balanced).
        lr: Adam learning rate.
        threshold: a Δ is learnt at this test accuracy.
    """

    model: Any = "all"
    deltas: list[int] = field(default_factory=lambda: [5, 10, 20, 40, 80, 160, 320])
    updates: int = 1000
    batch: int = 64
    lr: float = 3e-3
    threshold: float = 0.9

    def __post_init__(self) -> None:
        require(
            self.model == "all"
            or (
                isinstance(self.model, (list, tuple))
                and len(self.model) > 0
                and all(isinstance(m, str) for m in self.model)
            ),
            "model",
            self.model,
            "must be all or a list [a,b] of the run's variant names",
        )
        deltas = list(self.deltas) if isinstance(self.deltas, (list, tuple)) else []
        require(
            len(deltas) > 0
            and all(is_int(d) and d >= 1 for d in deltas)
            and all(a < b for a, b in itertools.pairwise(deltas)),
            "deltas",
            self.deltas,
            "must be a non-empty list of increasing integers >= 1",
        )
        require_int("updates", self.updates, minimum=1)
        require(
            is_int(self.batch) and self.batch >= 2 and self.batch % 2 == 0,
            "batch",
            self.batch,
            "must be an even integer >= 2 (the classes are balanced)",
        )
        require_number("lr", self.lr, 0, strict=True)
        require(
            is_number(self.threshold) and 0 < self.threshold <= 1,
            "threshold",
            self.threshold,
            "must be a number in (0, 1]",
        )


def chosen_models(options: LongRangeOptions, variants: list[dict]) -> list[dict]:
    """The variants ``options.model`` names, in the run's order."""
    names = [variant["name"] for variant in variants]
    wanted = names if options.model == "all" else list(options.model)
    require(
        all(name in names for name in wanted),
        "runner.options.model",
        options.model,
        "must be all or a list of the run's variants: " + ", ".join(names),
    )
    return [variant for variant in variants if variant["name"] in wanted]


def balanced_half(frequencies: np.ndarray) -> np.ndarray:
    """A boolean mask over the 20 amino acids whose total frequency is closest to 1/2
    (exhaustive over 2^19 subsets containing residue 0: deterministic)."""
    subsets = np.arange(1 << 19, dtype=np.int64)
    bits = ((subsets[:, None] >> np.arange(19)) & 1).astype(bool)
    totals = frequencies[0] + bits @ frequencies[1:]
    best = bits[int(np.argmin(np.abs(totals - 0.5)))]
    return np.concatenate([[True], best])


def examples(sequences: Any, half: np.ndarray, delta: int, count: int, rng: np.random.Generator) -> tuple[Any, Any]:
    """``count`` windows [count, Δ + 1] labelled half[first residue, Δ before the last],
    balanced exactly: from batches of 4·count windows, the first ones of each class in window
    order until each has count // 2, then shuffled."""
    import torch

    from xvanish.domains.rnn import data as seqdata

    length, wanted = delta + 1, count // 2
    chosen: dict[bool, list[np.ndarray]] = {True: [], False: []}
    have = {True: 0, False: 0}
    while min(have.values()) < wanted:
        windows = seqdata.windows(sequences, length, 4 * count, rng)
        labels = half[windows[:, -1 - delta]]
        for label, members in ((True, labels), (False, ~labels)):
            taken = windows[np.flatnonzero(members)[: wanted - have[label]]]
            chosen[label].append(taken)
            have[label] += len(taken)
    x = np.concatenate(chosen[True] + chosen[False])
    y = np.array([1] * wanted + [0] * wanted)
    order = rng.permutation(len(y))
    return torch.as_tensor(x[order]), torch.as_tensor(y[order], dtype=torch.float32)


def task_seeds(seed: int, delta: int) -> list[int]:
    """The (data, init, test) seeds of one (seed, Δ)."""
    return streams(seed * 1_000_003 + delta, 3)


def task_data(sequences: Any, half: np.ndarray, delta: int, seed: int, updates: int, batch: int) -> tuple:
    """Training (``updates`` batches of ``batch``, in update order) and test windows of (seed, Δ):
    they depend on the seed and Δ alone, so every model trains and is tested on them."""
    data_seed, _, test_seed = task_seeds(seed, delta)
    x, y = examples(sequences, half, delta, batch * updates, np.random.default_rng(data_seed))
    x_test, y_test = examples(sequences, half, delta, TEST_WINDOWS, np.random.default_rng(test_seed))
    return x, y, x_test, y_test


def classifier(keys: dict, seed: int) -> Any:
    """Embedding → torch.nn recurrent module, initialised exactly as the RNN domain draws it
    (``RNNSampler.draw_parameters``) → linear readout of h_T."""
    import torch

    from xvanish.domains import rnn

    modules = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    sampler = rnn.sampler(**keys)
    cfg = sampler.config
    params = sampler.draw_parameters([seed])

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(cfg.vocabulary, cfg.embed)
            self.recurrent = modules[cfg.cell](cfg.embed, cfg.hidden, batch_first=True)
            self.readout = torch.nn.Linear(cfg.hidden, 1)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            out, _ = self.recurrent(self.embedding(tokens))
            return self.readout(out[:, -1]).squeeze(-1)

    model = Classifier()
    with torch.no_grad():
        model.embedding.weight.copy_(params["embedding"][0])
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(model.recurrent, f"{name}_l0").copy_(params[name][0])
    return model


def train(keys: dict, delta: int, data: tuple, seed: int, options: LongRangeOptions) -> float:
    """Test accuracy after ``updates`` Adam steps (gradient norm clipped at 1) on ``data``."""
    import torch

    x, y, x_test, y_test = data
    init_seed = task_seeds(seed, delta)[1]
    torch.manual_seed(init_seed)  # nothing else random is drawn in torch here
    model = classifier({**keys, "seq_len": delta + 1}, init_seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=options.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for step in range(options.updates):
        part = slice(step * options.batch, (step + 1) * options.batch)
        optimiser.zero_grad()
        loss_fn(model(x[part]), y[part]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # exploding RNNs stay trainable
        optimiser.step()
    with torch.no_grad():
        return float(((model(x_test) > 0).float() == y_test).float().mean())


def _key(row: dict[str, Any]) -> tuple:
    """What identifies one trained (model, Δ): a row of an earlier training.csv with this key is reused."""
    return (str(row["model"]), int(row["delta"]), *(float(row[k]) for k in SETTINGS))


def largest_learnt(table: pd.DataFrame) -> dict[str, int]:
    """Per model, the largest Δ learnt (0 when none)."""
    return {
        model: int(part.loc[part.learnt, "delta"].max()) if part.learnt.any() else 0
        for model, part in table.groupby("model", sort=False)
    }


def after_run(job: Job) -> dict[str, Any]:
    """Train every chosen model for ``measure.seed``, Δ by Δ while it still learns;
    training.csv after every Δ (a killed run resumes from it), training.png at the end."""
    from xvanish.domains.rnn import data as seqdata

    options: LongRangeOptions = job.options
    seed = int(job.config["measure"]["seed"])
    domain = job.config["domain"]
    base = {"hidden": domain["hidden"], "embed": domain["embed"], "dtype": "float32"}  # trained in float32
    models = chosen_models(options, job.config["variants"])
    settings = {
        "seed": seed,
        "updates": options.updates,
        "batch": options.batch,
        "lr": options.lr,
        "hidden": base["hidden"],
        "embed": base["embed"],
    }
    path = job.out_dir / TABLE_NAME
    earlier = pd.read_csv(path).to_dict("records") if job.resume and path.exists() else []
    done = {_key(row): float(row["accuracy"]) for row in earlier}
    rows: list[dict[str, Any]] = []
    sequences = seqdata.load("proteome")
    half = balanced_half(sequences.frequencies())
    label_residues = "".join(a for a, h in zip(seqdata.ALPHABET, half) if h)
    print("label residues:", label_residues, f"(proteome frequency {sequences.frequencies()[half].sum():.3f})")
    start, reused = time.perf_counter(), 0
    for delta in options.deltas:
        learning = [m for m in models if all(r["learnt"] for r in rows if r["model"] == m["name"])]
        if not learning:
            break
        data = None  # one Δ's windows, built once for every model still learning
        for variant in learning:
            key = _key({"model": variant["name"], "delta": delta, **settings})
            if key in done:
                accuracy, reused = done[key], reused + 1
            else:
                if data is None:
                    data = task_data(sequences, half, delta, seed, options.updates, options.batch)
                accuracy = train({**base, **variant["domain"]}, delta, data, seed, options)
            rows.append(
                {
                    "model": variant["name"],
                    "delta": delta,
                    "accuracy": accuracy,
                    "learnt": accuracy >= options.threshold,
                    **settings,
                }
            )
        write_csv_atomic(pd.DataFrame(rows), path)
        print(
            f"seed {seed} Δ={delta}: "
            + "  ".join(f"{r['model']} {r['accuracy']:.3f}" for r in rows if r["delta"] == delta)
            + f"   ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    table = pd.DataFrame(rows)
    largest = largest_learnt(table)
    for model, delta in largest.items():
        accuracies = table[table.model == model]
        print(
            f"seed {seed} {model:>20}: largest Δ at ≥ {options.threshold:.0%}: {delta:4d}   "
            + "  ".join(f"Δ={d}: {a:.3f}" for d, a in zip(accuracies.delta, accuracies.accuracy))
        )
    if job.resume:
        print(f"training: reused {reused} of {len(table)} (model, Δ) from {TABLE_NAME}")
    replace_atomic(
        job.out_dir / FIGURE_NAME,
        lambda tmp: plot(table, [m["name"] for m in models], options.threshold, options.updates, tmp),
    )
    return {
        "largest_delta": largest,
        "label_residues": label_residues,
        "threshold": options.threshold,
        "table": TABLE_NAME,
        "figure": FIGURE_NAME,
    }


def plot(table: pd.DataFrame, names: list[str], threshold: float, updates: Any, out: Any) -> None:
    """Test accuracy against Δ: one colour per model, one line per (model, seed, job)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    labelled = set()
    keys = [k for k in ("model", "seed", "job") if k in table]
    for key, part in table.groupby(keys, sort=False):
        model = key[0] if isinstance(key, tuple) else key
        ax.plot(
            part.delta,
            part.accuracy,
            "o-",
            color=f"C{names.index(model) % 10}",
            label=None if model in labelled else model,
        )
        labelled.add(model)
    ax.axhline(threshold, color="k", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("Δ: residues between the labelled residue and the end of the window")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"long-range task on real protein windows ({updates} Adam updates)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def format_table(table: pd.DataFrame, threshold: float) -> str:
    """Per model, the largest Δ learnt per seed (``-`` where a seed did not train it)."""
    seeds = sorted(table.seed.unique())
    per_seed = {seed: largest_learnt(table[table.seed == seed]) for seed in seeds}
    models = list(dict.fromkeys(table.model))
    width = max(len(m) for m in models)
    lines = [f"largest Δ learnt to ≥ {threshold:.0%}, seeds " + " / ".join(map(str, seeds))]
    lines += [f"  {m:<{width}}  " + " / ".join(str(per_seed[s].get(m, "-")) for s in seeds) for m in models]
    return "\n".join(lines)


def after_multirun(sweep_dir: Path, options: LongRangeOptions) -> None:
    """The jobs' training.csv combined at the sweep root (with ``job``), one figure, the table per seed."""
    frames = [
        pd.read_csv(info["dir"] / TABLE_NAME).assign(job=info["job"])
        for info in map(job_info, find_jobs(sweep_dir))
        if (info["dir"] / TABLE_NAME).exists()
    ]
    if not frames:
        print(f"long_range_task: no job under {sweep_dir} left {TABLE_NAME}")
        return
    table = pd.concat(frames, ignore_index=True)
    write_csv_atomic(table, sweep_dir / TABLE_NAME)
    names = list(dict.fromkeys(table.model))
    replace_atomic(sweep_dir / FIGURE_NAME, lambda tmp: plot(table, names, options.threshold, options.updates, tmp))
    print(format_table(table, options.threshold))
    print(f"long_range_task: {len(frames)} jobs combined in {sweep_dir / TABLE_NAME}")


def check(options: LongRangeOptions, config: dict[str, Any]) -> None:
    """The models named are variants of the run."""
    chosen_models(options, config["variants"])


RUNNER = Runner(options=LongRangeOptions, check=check, after_run=after_run, after_multirun=after_multirun)
