"""First/last-layer ratio of the relative update (with a 95% CI) from a training run's results.csv.

python experiments/training_ratio.py OUTPUT_DIR [--first rel_update/1] [--last rel_update/20]
"""

import argparse
from pathlib import Path

import pandas as pd

from xvanish.training.ratio import rms_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--first", default="rel_update/1")
    parser.add_argument("--last", default="rel_update/20")
    args = parser.parse_args()
    rows = pd.read_csv(args.out_dir / "results.csv")
    print(f"{args.first} / {args.last}  (√Var ratio, 95% CI across runs; zero_frac of {args.first})")
    for step, at in rows.groupby("step"):
        ratio, lo, hi = rms_ratio(at, args.first, args.last)
        zeros = float(at.loc[at["group"] == args.first, "zero_frac"].iloc[0])
        print(f"  step {int(step):5d}  {ratio:.3e} [{lo:.3e}, {hi:.3e}]  zeros {zeros:.1%}")


if __name__ == "__main__":
    main()
