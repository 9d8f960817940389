"""Schoenholz et al. (2017) phase diagram of tanh networks, measured as one multirun.

Runs ``python -m xvanish -m experiment=phase_diagram domain.weight_var=... domain.bias_var=...``
(one depth-L network per (σw², σb²) point), reads the combined ``results.csv`` the multirun
callback writes at the sweep root, fits each job's per-layer profile of the backpropagated
signal ``preact/<l>`` and plots the measured per-layer rate ln χ (the slope of
ln Var[δ^l] towards the input) over the plane, with the mean-field critical line χ₁ = 1
and the trajectory prediction beside it.

    python experiments/phase_diagram.py                       # default grid, ~5 min on 2 cores
    python experiments/phase_diagram.py --launcher joblib     # jobs in parallel processes
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from xvanish.fit import fit_decay  # noqa: E402
from xvanish.theory.meanfield import critical_weight_var  # noqa: E402


def run_multirun(args: argparse.Namespace, sweep_dir: Path) -> None:
    command = [
        sys.executable, "-m", "xvanish", "-m", "experiment=phase_diagram",
        "domain.weight_var=" + ",".join(map(str, args.weight_vars)),
        "domain.bias_var=" + ",".join(map(str, args.bias_vars)),
        f"domain.width={args.width}", f"sweep.values=[{args.depth}]",
        f"measure.n_samples={args.n_samples}", f"hydra.sweep.dir={sweep_dir}",
    ]
    if args.launcher != "basic":
        command.append(f"hydra/launcher={args.launcher}")
    subprocess.run(command, check=True)


def per_layer_rates(results: pd.DataFrame) -> pd.DataFrame:
    """One row per job: measured and trajectory-predicted ln χ per layer, with the CI."""
    rows = []
    for job, frame in results.groupby("job"):
        fits = fit_decay(frame.drop(columns=[c for c in ("variant",) if c in frame]))
        profile = fits[(fits.kind == "profile") & (fits.group == "preact") & (fits.law == "exponential")].iloc[0]
        # Var[δ^{l-1}] = χ Var[δ^l]: the slope against l (counted from the input) is −ln χ.
        rows.append({
            "weight_var": float(frame["weight_var"].iloc[0]),
            "bias_var": float(frame["bias_var"].iloc[0]),
            "rate": -profile["rate"], "rate_lo": -profile["rate_hi"], "rate_hi": -profile["rate_lo"],
            "theory_rate": -profile["theory_rate"],
        })
    return pd.DataFrame(rows).sort_values(["bias_var", "weight_var"])


def plot(rates: pd.DataFrame, out: Path) -> None:
    weight_vars = np.sort(rates.weight_var.unique())
    bias_vars = np.sort(rates.bias_var.unique())
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, constrained_layout=True)
    limit = np.nanmax(np.abs(rates[["rate", "theory_rate"]].to_numpy()))
    line_b = np.linspace(bias_vars.min(), bias_vars.max(), 60)
    line_w = [critical_weight_var(b) for b in line_b]
    for ax, column, title in zip(axes, ("rate", "theory_rate"), ("measured", "mean-field trajectory")):
        grid = rates.pivot(index="bias_var", columns="weight_var", values=column).loc[bias_vars, weight_vars]
        mesh = ax.pcolormesh(weight_vars, bias_vars, grid.to_numpy(), cmap="RdBu_r", vmin=-limit,
                             vmax=limit, shading="nearest")
        ax.plot(line_w, line_b, "k-", lw=2, label="χ₁ = 1 (critical line)")
        ax.set_xlabel("σw²")
        ax.set_title(f"ln χ per layer, tanh — {title}")
    axes[0].set_ylabel("σb²")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.colorbar(mesh, ax=axes, label="ln χ per layer (<0 vanishing)")
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weight-vars", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0])
    parser.add_argument("--bias-vars", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.3])
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--n-samples", type=int, default=64)
    parser.add_argument("--launcher", default="basic", help="basic, joblib, submitit_local, ...")
    parser.add_argument("--out", type=Path, default=Path("multirun/phase_diagram"))
    args = parser.parse_args()

    run_multirun(args, args.out)
    rates = per_layer_rates(pd.read_csv(args.out / "results.csv"))
    rates.to_csv(args.out / "phase_rates.csv", index=False)
    plot(rates, args.out / "phase_diagram.png")
    error = (rates.rate - rates.theory_rate).abs()
    print(rates.to_string(index=False, float_format=lambda v: f"{v:+.4f}"))
    print(f"|measured − trajectory| per layer: median {error.median():.4f}, max {error.max():.4f}")
    print(f"wrote {args.out / 'phase_diagram.png'}")


if __name__ == "__main__":
    main()
