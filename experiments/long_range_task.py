"""Can a model *learn* a dependency Δ residues back? Training on real protein windows.

Each example is a window of real protein (the shipped proteome) of Δ + 1 residues; its
label is whether the first residue, Δ positions before the last one, belongs to a fixed
half of the amino acids (a set whose proteome frequency is as close to 1/2 as possible, so
the classes are balanced; the test set is drawn from other windows). Nothing else in the
window carries the label, so a model can only solve it by carrying that residue's identity
over Δ steps — the gradient that teaches it has to reach Δ residues back. The labelled
residue opens the window (the task of Hochreiter & Schmidhuber 1997, experiment 2): with
residues before it as well, a model would also have to count to find it, and the task
would measure counting as much as memory.

Models are the variants of ``conf/experiment/long_range_task.yaml`` (hidden 64, embedding
32), initialised exactly as the RNN domain draws them (``RNNSampler.draw_parameters``),
then trained with Adam (lr 3e-3, batch 64, gradient norm clipped at 1) for a fixed budget
of 1,000 updates per Δ. Reported
per model: test accuracy at each Δ, and the largest Δ learnt to ≥ 90% test accuracy
(a Δ is tried only while the model still learns the previous one). The literature: a plain
RNN stalls beyond a few tens of steps (Bengio et al. 1994; Hochreiter & Schmidhuber 1997),
gated cells — especially with a forget-gate bias or chrono init (Gers et al. 2000; Tallec
& Ollivier 2018) — go much further.

    python experiments/long_range_task.py                      # one seed, ~4 min on 2 cores
    python experiments/long_range_task.py --seeds 0 1 2 --figure docs/figures/rnn_long_range_seeds.png

``python -m xvanish experiment=long_range_task`` measures the same models' gradient at
each residue back (state/<d>) at the same window lengths, to set beside what they learn.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from xvanish.core import streams  # noqa: E402
from xvanish.domains import rnn  # noqa: E402
from xvanish.domains.rnn import data as seqdata  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def balanced_half(frequencies: np.ndarray) -> np.ndarray:
    """A boolean mask over the 20 amino acids whose total frequency is closest to 1/2
    (exhaustive over 2^19 subsets containing residue 0: deterministic)."""
    subsets = np.arange(1 << 19, dtype=np.int64)
    bits = ((subsets[:, None] >> np.arange(19)) & 1).astype(bool)
    totals = frequencies[0] + bits @ frequencies[1:]
    best = bits[int(np.argmin(np.abs(totals - 0.5)))]
    return np.concatenate([[True], best])


def examples(sequences, half: np.ndarray, delta: int, count: int, rng: np.random.Generator):
    """``count`` windows [count, Δ + 1] labelled half[first residue, Δ before the last],
    balanced exactly (equal numbers of each class)."""
    length = delta + 1
    chosen: dict[bool, list[np.ndarray]] = {True: [], False: []}
    while min(len(v) for v in chosen.values()) < count // 2:
        windows = seqdata.windows(sequences, length, 4 * count, rng)
        for window in windows:
            label = bool(half[window[-1 - delta]])
            if len(chosen[label]) < count // 2:
                chosen[label].append(window)
    x = np.stack(chosen[True] + chosen[False])
    y = np.array([1] * (count // 2) + [0] * (count // 2))
    order = rng.permutation(len(y))
    return torch.as_tensor(x[order]), torch.as_tensor(y[order], dtype=torch.float32)


class Classifier(torch.nn.Module):
    """Embedding → torch.nn recurrent module (the domain's init) → linear readout of h_T."""

    def __init__(self, keys: dict, seed: int) -> None:
        super().__init__()
        sampler = rnn.sampler(**keys)
        cfg = sampler.config
        params = sampler.draw_parameters([seed])
        self.embedding = torch.nn.Embedding(cfg.vocabulary, cfg.embed)
        self.recurrent = MODULES[cfg.cell](cfg.embed, cfg.hidden, batch_first=True)
        self.readout = torch.nn.Linear(cfg.hidden, 1)
        with torch.no_grad():
            self.embedding.weight.copy_(params["embedding"][0])
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.recurrent, f"{name}_l0").copy_(params[name][0])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.recurrent(self.embedding(tokens))
        return self.readout(out[:, -1]).squeeze(-1)


def train(keys: dict, delta: int, sequences, half, seed: int, updates: int, batch: int, lr: float) -> float:
    """Test accuracy after ``updates`` Adam steps on fresh balanced batches."""
    data_seed, init_seed, test_seed = streams(seed * 1_000_003 + delta, 3)
    rng = np.random.default_rng(data_seed)
    torch.manual_seed(init_seed)  # nothing else random is drawn in torch here
    model = Classifier({**keys, "seq_len": delta + 1}, init_seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x_all, y_all = examples(sequences, half, delta, batch * updates, rng)
    for step in range(updates):
        part = slice(step * batch, (step + 1) * batch)
        optimiser.zero_grad()
        loss_fn(model(x_all[part]), y_all[part]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # exploding RNNs stay trainable
        optimiser.step()
    x_test, y_test = examples(sequences, half, delta, 1000, np.random.default_rng(test_seed))
    with torch.no_grad():
        return float(((model(x_test) > 0).float() == y_test).float().mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, nargs="+", default=[5, 10, 20, 40, 80, 160, 320])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--updates", type=int, default=1000, help="Adam updates per (model, Δ)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--out", type=Path, default=Path("long_range_out"))
    parser.add_argument("--figure", type=Path, default=None,
                        help="where the figure goes (default: OUT/rnn_long_range.png; docs/rnn.md's is "
                             "docs/figures/rnn_long_range_seeds.png from --seeds 0 1 2)")
    args = parser.parse_args(argv)
    config = yaml.safe_load((ROOT / "conf" / "experiment" / "long_range_task.yaml").read_text())
    base = {k: v for k, v in config["domain"].items() if k in ("hidden", "embed", "dtype")}
    base["dtype"] = "float32"
    sequences = seqdata.load("proteome")
    half = balanced_half(sequences.frequencies())
    print("label residues:", "".join(a for a, h in zip(seqdata.ALPHABET, half) if h),
          f"(proteome frequency {sequences.frequencies()[half].sum():.3f})")
    results = []
    start = time.perf_counter()
    for seed in args.seeds:
        for variant in config["variants"]:
            keys = {**base, **variant["domain"]}
            learnt, accuracies = 0, {}
            for delta in args.deltas:
                accuracies[delta] = train(keys, delta, sequences, half, seed, args.updates, args.batch, args.lr)
                if accuracies[delta] < args.threshold:
                    break
                learnt = delta
            results.append({"model": variant["name"], "seed": seed, "largest_delta": learnt, "accuracy": accuracies})
            print(f"seed {seed} {variant['name']:>20}: largest Δ at ≥ {args.threshold:.0%}: {learnt:4d}   "
                  + "  ".join(f"Δ={d}: {a:.3f}" for d, a in accuracies.items())
                  + f"   ({time.perf_counter() - start:.0f} s)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "long_range_task.json").write_text(json.dumps(
        {"results": results, "deltas": args.deltas, "updates": args.updates, "batch": args.batch, "lr": args.lr,
         "threshold": args.threshold, "label_residues": "".join(a for a, h in zip(seqdata.ALPHABET, half) if h)},
        indent=1))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for index, variant in enumerate(config["variants"]):
        for result in (r for r in results if r["model"] == variant["name"]):
            deltas = list(result["accuracy"])
            ax.plot(deltas, list(result["accuracy"].values()), "o-", color=f"C{index}",
                    label=variant["name"] if result["seed"] == args.seeds[0] else None)
    ax.axhline(args.threshold, color="k", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("Δ: residues between the labelled residue and the end of the window")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"long-range task on real protein windows ({args.updates} Adam updates)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    figure = args.figure or args.out / "rnn_long_range.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)
    print("figure:", figure)


if __name__ == "__main__":
    main()
