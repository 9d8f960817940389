"""Figures of docs/gan.md from the results.csv of the GAN experiments (a command, not a test).

    python -m xvanish experiment=gan_saturation hydra.run.dir=runs/gan_saturation
    python experiments/gan_figures.py saturation runs/gan_saturation   # -> docs/figures/gan_saturation.png
    python experiments/gan_figures.py noise runs/gan_noise             # -> docs/figures/gan_noise.png
    python experiments/gan_figures.py digits runs/gan_digits           # -> docs/figures/gan_digits.png

Arjovsky & Bottou's Fig. 2 layout: the generator's gradient norm against discriminator
steps k on log axes (k = 0 drawn at 0.5), one line per loss and series, with mean D(G(z))
alongside. The norm shown is the root mean square over draws, √(P · mean_sq) with P the
generator's parameter count; Theorem 2.4's ceiling is drawn the same way from the theory
column (theory_var = Σ_i B_i² / (nP − 1), so the rms bound is √(theory_var (nP − 1) / n)).
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"
LOSS_STYLE = {"saturating": "-", "nonsaturating": "--", "wgan": ":"}


def _k(position: pd.Series) -> np.ndarray:
    return np.where(position.to_numpy() == 0, 0.5, position.to_numpy())  # k = 0 on a log axis


def _series(df: pd.DataFrame, by: str) -> list[tuple[str, pd.DataFrame]]:
    if by in df.columns and df[by].nunique() > 1:
        return [(str(value) if by == "variant" else f"{by}={value}", part) for value, part in df.groupby(by, sort=True)]
    return [("", df)]


def draw(df: pd.DataFrame, by: str, title: str, out: Path, losses: tuple = tuple(LOSS_STYLE)) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, part) in enumerate(_series(df, by)):
        colour = colours[index % len(colours)]
        for loss in losses:
            style = LOSS_STYLE[loss]
            rows = part[part["family"] == loss].sort_values("position")
            if rows.empty:
                continue
            rms = np.sqrt(rows["mean_sq"] * rows["n_params"])
            left.plot(_k(rows["position"]), rms, style, marker="o", ms=3, color=colour,
                      label=f"{loss} {label}".strip())
            ceiling = rows[rows["theory_kind"] == "bound"]
            if not ceiling.empty:
                n, p = ceiling["n_samples"], ceiling["n_params"]
                left.plot(_k(ceiling["position"]), np.sqrt(ceiling["theory_var"] * (n * p - 1) / n), "-",
                          lw=4, alpha=0.25, color=colour, label=f"Theorem 2.4 bound {label}".strip())
        rows = part[part["family"] == "dfake"].sort_values("position")
        if not rows.empty and "wgan" not in set(part["family"]):
            right.plot(_k(rows["position"]), rows["mean"], marker="o", ms=3, color=colour,
                       label=f"mean D(G(z)) {label}".strip())
    left.set(xscale="log", yscale="log", xlabel="discriminator steps k (k = 0 at 0.5)",
             ylabel="generator gradient norm (rms over draws)", title="generator gradient")
    right.set(xscale="log", yscale="log", xlabel="discriminator steps k", ylabel="mean D(G(z))",
              title="discriminator output on generated samples")
    for axis in (left, right):
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


#: kind -> (series column, title, losses drawn)
KINDS = {
    "saturation": ("variant", "gan_saturation: toy data, gap 1 (disjoint supports); minimax and WGAN-GP",
                   tuple(LOSS_STYLE)),
    "noise": ("noise", "gan_noise: instance noise sigma on D's inputs, toy data, gap 1 (saturating loss)",
              ("saturating",)),
    "digits": ("g_pretrain", "gan_digits: scikit-learn digits, generator pre-trained g_pretrain steps then frozen",
               ("saturating", "nonsaturating")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    by, title, losses = KINDS[args.kind]
    df = pd.read_csv(args.run_dir / "results.csv")
    draw(df, by, title, args.out or FIGURES / f"gan_{args.kind}.png", losses)


if __name__ == "__main__":
    main()
