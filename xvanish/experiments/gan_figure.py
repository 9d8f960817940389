"""The GAN experiments' figure, in Arjovsky & Bottou's Fig. 2 layout, as the run's plot.png."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xvanish.core import require
from xvanish.report.outputs import PLOT_NAME, replace_atomic

from .runner import Job, Runner

#: Line style per loss family; the families drawn are ``losses``.
LOSS_STYLE = {"saturating": "-", "nonsaturating": "--", "wgan": ":"}


@dataclass
class GanFigureOptions:
    """``runner.options`` of ``gan_figure``.

    Attributes:
        by: the results column whose values are the series (``variant``, ``noise``, ``g_pretrain``).
        losses: the loss families drawn (of saturating, nonsaturating, wgan).
        title: the figure's title.
    """

    by: str = "variant"
    losses: list[str] = field(default_factory=lambda: list(LOSS_STYLE))
    title: str = ""

    def __post_init__(self) -> None:
        require(isinstance(self.by, str) and bool(self.by), "by", self.by, "must be a results column name")
        require(
            isinstance(self.losses, (list, tuple))
            and len(self.losses) > 0
            and all(loss in LOSS_STYLE for loss in self.losses),
            "losses",
            self.losses,
            "must be a non-empty list of " + ", ".join(LOSS_STYLE),
        )


def _k(position: pd.Series) -> np.ndarray:
    return np.where(position.to_numpy() == 0, 0.5, position.to_numpy())  # k = 0 on a log axis


def _series(df: pd.DataFrame, by: str) -> list[tuple[str, pd.DataFrame]]:
    if by in df.columns and df[by].nunique() > 1:
        return [(str(value) if by == "variant" else f"{by}={value}", part) for value, part in df.groupby(by, sort=True)]
    return [("", df)]


def draw(df: pd.DataFrame, options: GanFigureOptions, out: Any) -> None:
    """Generator gradient norm (rms over draws, √(P·mean_sq)) and mean D(G(z)) against steps k, log axes.

    Theorem 2.4's ceiling is drawn the same way from the theory column: theory_var =
    Σ_i B_i² / (nP − 1), so the rms bound is √(theory_var (nP − 1) / n).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, part) in enumerate(_series(df, options.by)):
        colour = colours[index % len(colours)]
        for loss in options.losses:
            rows = part[part["family"] == loss].sort_values("position")
            if rows.empty:
                continue
            rms = np.sqrt(rows["mean_sq"] * rows["n_params"])
            left.plot(
                _k(rows["position"]),
                rms,
                LOSS_STYLE[loss],
                marker="o",
                ms=3,
                color=colour,
                label=f"{loss} {label}".strip(),
            )
            ceiling = rows[rows["theory_kind"] == "bound"]
            if not ceiling.empty:
                n, p = ceiling["n_samples"], ceiling["n_params"]
                left.plot(
                    _k(ceiling["position"]),
                    np.sqrt(ceiling["theory_var"] * (n * p - 1) / n),
                    "-",
                    lw=4,
                    alpha=0.25,
                    color=colour,
                    label=f"Theorem 2.4 bound {label}".strip(),
                )
        rows = part[part["family"] == "dfake"].sort_values("position")
        if not rows.empty and "wgan" not in set(part["family"]):
            right.plot(
                _k(rows["position"]),
                rows["mean"],
                marker="o",
                ms=3,
                color=colour,
                label=f"mean D(G(z)) {label}".strip(),
            )
    left.set(
        xscale="log",
        yscale="log",
        xlabel="discriminator steps k (k = 0 at 0.5)",
        ylabel="generator gradient norm (rms over draws)",
        title="generator gradient",
    )
    right.set(
        xscale="log",
        yscale="log",
        xlabel="discriminator steps k",
        ylabel="mean D(G(z))",
        title="discriminator output on generated samples",
    )
    for axis in (left, right):
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=7)
    fig.suptitle(options.title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def after_run(job: Job) -> dict[str, Any]:
    df = job.results.copy()
    df["theory_kind"] = df["theory_kind"].fillna("").astype(str)
    replace_atomic(job.out_dir / PLOT_NAME, lambda tmp: draw(df, job.options, tmp))
    return {"figure": PLOT_NAME}


RUNNER = Runner(options=GanFigureOptions, after_run=after_run)
