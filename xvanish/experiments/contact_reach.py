"""How far back each model's gradient reaches, set against the separations of real protein contacts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xvanish.core import is_number, require, write_csv_atomic
from xvanish.data import contact_separations
from xvanish.report.outputs import PLOT_NAME, replace_atomic

from .runner import Job, Runner

#: The profiles with their mean-field theory, beside plot.png (the profiles over the contacts).
PROFILES_NAME = "profiles.png"
#: One row per model: rate, memory length, fraction of contacts beyond it.
TABLE_NAME = "contact_reach.csv"


@dataclass
class ContactReachOptions:
    """``runner.options`` of ``contact_reach``.

    Attributes:
        fall: the memory length is where the gradient's magnitude has fallen this many-fold.
        fit_range: residues back ``[first, last]`` over which the per-residue rate is fitted.
    """

    fall: float = 1e6
    fit_range: list[int] = field(default_factory=lambda: [10, 150])

    def __post_init__(self) -> None:
        require(is_number(self.fall) and self.fall > 1, "fall", self.fall, "must be a number > 1")
        span = list(self.fit_range) if isinstance(self.fit_range, (list, tuple)) else []
        require(
            len(span) == 2 and all(is_number(v) for v in span) and 0 <= span[0] < span[1],
            "fit_range",
            self.fit_range,
            "must be [first, last] residues back, 0 <= first < last",
        )


def norm_rate(state: pd.DataFrame, fit_range: list[int], column: str = "var") -> float:
    """Per-residue slope of ln ‖∂L/∂h‖ = ½ ln(column) over ``fit_range`` (THEORY.md §3's convention)."""
    part = state[state.position.between(*fit_range)]
    values = part[column].astype(float)
    keep = np.isfinite(np.log(values))
    if keep.sum() < 2:
        return math.nan
    return float(np.polyfit(part.position[keep], np.log(values[keep]), 1)[0] / 2)


def reach_table(results: pd.DataFrame, options: ContactReachOptions) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """One row per model (variant) at the run's largest window, and each model's ``state`` profile."""
    separations = contact_separations()
    frame = results if "variant" in results else results.assign(variant="model")
    seq_len = frame["seq_len"].max()
    rows, profiles = [], {}
    for model, part in frame[frame["seq_len"] == seq_len].groupby("variant", sort=False):
        state = part[part.family == "state"].sort_values("position")
        rate = norm_rate(state, options.fit_range)
        has_theory = state.theory_var.notna().all()
        theory = norm_rate(state, options.fit_range, "theory_var") if has_theory else math.nan
        memory = math.log(options.fall) / abs(rate) if rate < 0 else math.inf
        rows.append(
            {
                "model": model,
                "rate_per_residue": rate,
                "theory_rate": theory,
                "memory_length": memory,
                "extrapolated": bool(memory > seq_len),
                "contacts_beyond": float(np.mean(separations > memory)),
            }
        )
        profiles[model] = state
    return pd.DataFrame(rows), profiles


def plot(profiles: dict[str, pd.DataFrame], seq_len: int, fall: float, path: Any, with_contacts: bool) -> None:
    """log10 of ‖∂L/∂h_d‖ relative to d = 0 per model: over the contact histogram, or with theory (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    if with_contacts:
        twin = ax.twinx()
        twin.hist(contact_separations(), bins=np.arange(24, seq_len + 1, 8), color="0.85", zorder=0)
        twin.set_ylabel("real long-range contacts (count)")
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
    for index, (model, state) in enumerate(profiles.items()):
        d = state.position.to_numpy(float)
        var = state["var"].to_numpy(float)
        ax.plot(d, 0.5 * np.log10(var / var[0]), "o-", ms=2.5, color=f"C{index}", label=model)
        theory = state.theory_var.to_numpy(float)
        if not with_contacts and np.isfinite(theory).all():
            ax.plot(d, 0.5 * np.log10(theory / theory[0]), "--", color=f"C{index}", lw=1)
    ax.axhline(-math.log10(fall), color="k", lw=0.8, ls=":")
    ax.set_xlabel("residues before the last residue (d)")
    ax.set_ylabel("log10 ||dL/dh_d|| / ||dL/dh_0||  (RMS over draws)")
    ax.set_ylim(-40, 1)
    ax.legend(fontsize=7, loc="lower left")
    suffix = " vs real contact separations" if with_contacts else " (dashed: mean field)"
    ax.set_title(f"gradient reach in {seq_len}-residue protein windows" + suffix)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def after_run(job: Job) -> dict[str, Any]:
    """The table (printed, contact_reach.csv, summary.json) and both figures."""
    options: ContactReachOptions = job.options
    table, profiles = reach_table(job.results, options)
    seq_len = int(job.results["seq_len"].max())
    write_csv_atomic(table, job.out_dir / TABLE_NAME)
    replace_atomic(job.out_dir / PLOT_NAME, lambda tmp: plot(profiles, seq_len, options.fall, tmp, True))
    replace_atomic(job.out_dir / PROFILES_NAME, lambda tmp: plot(profiles, seq_len, options.fall, tmp, False))
    print(f"memory length: residues for ||dL/dh|| to fall {options.fall:.0e}-fold (* beyond the window)")
    for row in table.itertuples():
        print(
            f"{row.model:>22}: {row.rate_per_residue:+.3f} per residue (theory {row.theory_rate:+.3f}), memory "
            f"{row.memory_length:7.1f}{'*' if row.extrapolated else ' '} residues, contacts beyond: "
            f"{row.contacts_beyond:.3f}"
        )
    separations = contact_separations()
    return {
        "models": table.to_dict("records"),
        "seq_len": seq_len,
        "contacts": {
            "count": int(separations.size),
            "percentiles_10_25_50_75_90": np.percentile(separations, [10, 25, 50, 75, 90]).tolist(),
        },
    }


RUNNER = Runner(options=ContactReachOptions, after_run=after_run)
