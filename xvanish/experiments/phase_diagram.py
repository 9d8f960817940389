"""Schoenholz et al. (2017) phase diagram: the per-layer rate of each multirun job, drawn over (σw², σb²)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xvanish.core import write_csv_atomic
from xvanish.report.callback import find_jobs
from xvanish.report.outputs import RESULTS_NAME, replace_atomic, write_json_atomic

from .runner import Runner

#: At the sweep root: one row per job, and the diagram.
RATES_NAME = "phase_rates.csv"
FIGURE_NAME = "phase_diagram.png"
SUMMARY_NAME = "phase_diagram.json"


@dataclass
class PhaseDiagramOptions:
    """``runner.options`` of ``phase_diagram``: none (the grid is ``hydra.sweeper.params``)."""


def job_rate(results: pd.DataFrame) -> dict[str, float]:
    """Measured and mean-field-trajectory ln χ per layer of one job, with the 95% interval.

    Var[δ^{l−1}] = χ Var[δ^l]: the slope of ln Var[preact/l] against l (counted from the
    input) is −ln χ.
    """
    from xvanish.fit import fit_decay

    fits = fit_decay(results.drop(columns=[c for c in ("variant",) if c in results]))
    profile = fits[(fits.kind == "profile") & (fits.group == "preact") & (fits.law == "exponential")].iloc[0]
    return {
        "weight_var": float(results["weight_var"].iloc[0]),
        "bias_var": float(results["bias_var"].iloc[0]),
        "rate": -profile["rate"],
        "rate_lo": -profile["rate_hi"],
        "rate_hi": -profile["rate_lo"],
        "theory_rate": -profile["theory_rate"],
    }


def rates_of(sweep_dir: Path) -> pd.DataFrame:
    """One row per job that left results under ``sweep_dir``, sorted over the plane."""
    rows = [job_rate(pd.read_csv(job / RESULTS_NAME)) for job in find_jobs(sweep_dir) if (job / RESULTS_NAME).exists()]
    return pd.DataFrame(rows).sort_values(["bias_var", "weight_var"]).reset_index(drop=True)


def plot(rates: pd.DataFrame, out: Any) -> None:
    """Measured and predicted ln χ over the plane, with the critical line χ₁ = 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xvanish.theory.meanfield import critical_weight_var

    weight_vars = np.sort(rates.weight_var.unique())
    bias_vars = np.sort(rates.bias_var.unique())
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, constrained_layout=True)
    limit = np.nanmax(np.abs(rates[["rate", "theory_rate"]].to_numpy()))
    line_b = np.linspace(bias_vars.min(), bias_vars.max(), 60)
    line_w = [critical_weight_var(b) for b in line_b]
    mesh = None
    for ax, column, title in zip(axes, ("rate", "theory_rate"), ("measured", "mean-field trajectory")):
        grid = rates.pivot(index="bias_var", columns="weight_var", values=column).loc[bias_vars, weight_vars]
        mesh = ax.pcolormesh(
            weight_vars, bias_vars, grid.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, shading="nearest"
        )
        ax.plot(line_w, line_b, "k-", lw=2, label="χ₁ = 1 (critical line)")
        ax.set_xlabel("σw²")
        ax.set_title(f"ln χ per layer, tanh — {title}")
    axes[0].set_ylabel("σb²")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.colorbar(mesh, ax=axes, label="ln χ per layer (<0 vanishing)")
    fig.savefig(out, dpi=120)
    plt.close(fig)


def after_multirun(sweep_dir: Path, options: PhaseDiagramOptions) -> None:
    """phase_rates.csv, phase_diagram.json and phase_diagram.png at the sweep root; the table printed."""
    rates = rates_of(sweep_dir)
    if rates.empty:
        print(f"phase diagram: no job under {sweep_dir} left {RESULTS_NAME}")
        return
    write_csv_atomic(rates, sweep_dir / RATES_NAME)
    error = (rates.rate - rates.theory_rate).abs()
    write_json_atomic(
        {
            "n_jobs": len(rates),
            "abs_error_median": float(error.median()),
            "abs_error_max": float(error.max()),
            "rates": json.loads(rates.to_json(orient="records")),
        },
        sweep_dir / SUMMARY_NAME,
    )
    if rates.weight_var.nunique() > 1 and rates.bias_var.nunique() > 1:
        replace_atomic(sweep_dir / FIGURE_NAME, lambda tmp: plot(rates, tmp))
    print(rates.to_string(index=False, float_format=lambda v: f"{v:+.4f}"))
    print(f"|measured − trajectory| ln χ per layer: median {error.median():.4f}, max {error.max():.4f}")
    print(f"phase diagram: {sweep_dir / FIGURE_NAME}")


RUNNER = Runner(options=PhaseDiagramOptions, after_multirun=after_multirun)
