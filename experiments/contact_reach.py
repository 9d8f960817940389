"""How far back each model's gradient reaches, against the separations of real protein contacts.

For every model (variant) of an experiment config (``conf/experiment/rnn_memory.yaml`` by
default, or ``kmer_tokens.yaml``), measure the profile ``state/<d>`` (∂L/∂h at d residues
before the last residue) with the same seed the command line uses, fit the per-residue
rate of ln ‖∂L/∂h‖ over d in [10, 150] (half the slope of ln Var; THEORY.md §3's
convention), and report:

* the **memory length**: residues for the gradient's magnitude to fall 10⁶-fold,
  ln(10⁶)/|rate| (beyond the 200-residue window it is an extrapolation, marked ``*``);
* the **fraction of real long-range contacts** (Cβ–Cβ < 8 Å, |i − j| ≥ 24, 44 chains of
  20 PDB entries: :mod:`xvanish.data`) whose separation exceeds that length — the contacts
  a gradient from one partner no longer reaches the other with a millionth of its size.

Writes ``contact_reach.csv`` and ``contact_reach.json`` to ``--out`` and the figures
``docs/figures/rnn_memory.png`` (profiles with theory) and ``rnn_contact_reach.png``
(profiles over the contact-separation histogram)::

    python experiments/contact_reach.py                          # rnn_memory models, ~1 min
    python experiments/contact_reach.py --experiment kmer_tokens --figure-prefix rnn_kmer
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from xvanish import measure  # noqa: E402
from xvanish.core import point_seed  # noqa: E402
from xvanish.data import contact_separations  # noqa: E402
from xvanish.domains import rnn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: The gradient's magnitude falls this many-fold over one memory length.
FALL = 1e6
FIT_RANGE = (10, 150)


def variants(experiment: str) -> tuple[dict, list[dict], int, dict]:
    """(domain keys, variants, seq_len, measure) of ``conf/experiment/<experiment>.yaml``."""
    config = yaml.safe_load((ROOT / "conf" / "experiment" / f"{experiment}.yaml").read_text())
    return config.get("domain", {}), config["variants"], config["sweep"]["values"][-1], config["measure"]


def norm_rate(rows: pd.DataFrame, column: str = "var") -> float:
    """Per-residue slope of ln ‖∂L/∂h‖ = ½ ln(column) over :data:`FIT_RANGE`."""
    part = rows[(rows.family == "state") & rows.position.between(*FIT_RANGE)]
    part = part[np.isfinite(np.log(part[column].astype(float)))]
    return float(np.polyfit(part.position, np.log(part[column].astype(float)), 1)[0] / 2)


def run(experiment: str, n_samples: int | None, hidden: int | None) -> tuple[pd.DataFrame, dict]:
    base, series, seq_len, measure_cfg = variants(experiment)
    if hidden is not None:
        base = {**base, "hidden": hidden}
    n = n_samples or measure_cfg["n_samples"]
    seed = point_seed(measure_cfg["seed"], "seq_len", seq_len)  # the command line's seed for this point
    separations = contact_separations()
    table, profiles = [], {}
    for variant in series:
        start = time.perf_counter()
        keys = {**base, **variant["domain"], "seq_len": seq_len}
        rows = measure(rnn.sampler(**keys), n_samples=n, seed=seed)
        rate = norm_rate(rows)
        theory = norm_rate(rows, "theory_var") if rows[rows.family == "state"].theory_var.notna().all() else math.nan
        memory = math.log(FALL) / abs(rate) if rate < 0 else math.inf
        table.append({"model": variant["name"], "rate_per_residue": rate, "theory_rate": theory,
                      "memory_length": memory, "extrapolated": memory > seq_len,
                      "contacts_beyond": float(np.mean(separations > memory)), "seconds": time.perf_counter() - start})
        state = rows[rows.family == "state"]
        profiles[variant["name"]] = state[["position", "var", "theory_var"]].to_dict("list")
        print(f"{variant['name']:>22}: {rate:+.3f} per residue (theory {theory:+.3f}), memory "
              f"{memory:7.1f}{'*' if memory > seq_len else ' '} residues, contacts beyond: "
              f"{table[-1]['contacts_beyond']:.3f}", flush=True)
    return pd.DataFrame(table), {"profiles": profiles, "seq_len": seq_len, "n_samples": n, "seed": seed,
                                 "keys": base}


def plot(frame: pd.DataFrame, extra: dict, prefix: str) -> list[Path]:
    """Profiles (log10 of ‖∂L/∂h_d‖ relative to d = 0) with theory, and over the contact histogram."""
    figures = ROOT / "docs" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    separations = contact_separations()
    paths = []
    for name, with_contacts in ((f"{prefix}_memory.png", False), (f"{prefix}_contact_reach.png", True)):
        fig, ax = plt.subplots(figsize=(8, 5))
        if with_contacts:
            twin = ax.twinx()
            twin.hist(separations, bins=np.arange(24, extra["seq_len"] + 1, 8), color="0.85", zorder=0)
            twin.set_ylabel("real long-range contacts (count)")
            ax.set_zorder(twin.get_zorder() + 1)
            ax.patch.set_visible(False)
        for index, (model, profile) in enumerate(extra["profiles"].items()):
            d = np.array(profile["position"])
            var = np.array(profile["var"], dtype=float)
            colour = f"C{index}"
            ax.plot(d, 0.5 * np.log10(var / var[0]), "o-", ms=2.5, color=colour, label=model)
            theory = np.array(profile["theory_var"], dtype=float)
            if not with_contacts and np.isfinite(theory).all():
                ax.plot(d, 0.5 * np.log10(theory / theory[0]), "--", color=colour, lw=1)
        ax.axhline(-math.log10(FALL), color="k", lw=0.8, ls=":")
        ax.set_xlabel("residues before the last residue (d)")
        ax.set_ylabel("log10 ||dL/dh_d|| / ||dL/dh_0||  (RMS over draws)")
        ax.set_ylim(-40, 1)
        ax.legend(fontsize=7, loc="lower left")
        suffix = " vs real contact separations" if with_contacts else " (dashed: mean field)"
        ax.set_title(f"gradient reach in {extra['seq_len']}-residue protein windows" + suffix)
        fig.tight_layout()
        fig.savefig(figures / name, dpi=110)
        plt.close(fig)
        paths.append(figures / name)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="rnn_memory", help="conf/experiment/<name>.yaml with variants")
    parser.add_argument("--n-samples", type=int, default=None, help="draws per model (default: the experiment's)")
    parser.add_argument("--hidden", type=int, default=None, help="override the hidden size (quick runs)")
    parser.add_argument("--out", type=Path, default=Path("contact_reach_out"))
    parser.add_argument("--figure-prefix", default="rnn", help="docs/figures/<prefix>_memory.png, ...")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small per-step products)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    frame, extra = run(args.experiment, args.n_samples, args.hidden)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "contact_reach.csv", index=False)
    separations = contact_separations()
    summary = {"experiment": args.experiment, "models": frame.to_dict("records"), **extra,
               "contacts": {"count": int(separations.size),
                            "percentiles_10_25_50_75_90": np.percentile(separations, [10, 25, 50, 75, 90]).tolist()}}
    (args.out / "contact_reach.json").write_text(json.dumps(summary, indent=1, default=float))
    for path in plot(frame, extra, args.figure_prefix):
        print("figure:", path)


if __name__ == "__main__":
    main()
