"""Results tables in the results.csv schema with known numbers, for the report tests.

The report layer only reads tables, so its tests build them here (no domain, no torch):
every number drawn or printed can be compared with the number put in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pandas as pd

from xvanish.core import RESULT_COLUMNS
from xvanish.fit import fit_decay
from xvanish.report.headline import Series, build_series


def series_of(df: pd.DataFrame, group: str = "preact/1") -> list[Series]:
    """The report's series of a table, with its fits (as the CLI builds them)."""
    return build_series(df, fit_decay(df), group)


def results(
    scales: Sequence,
    var: Callable[[object, int], float],
    *,
    scale_name: str = "depth",
    family: str = "preact",
    depth: Callable[[object], int] = lambda scale: int(scale),
    theory: Callable[[object, int], float] | None = None,
    kind: str = "",
    zero_frac: Callable[[object, int], float] | None = None,
    variant: str | None = None,
    categorical: bool = False,
    cost: bool = False,
    n_samples: int = 64,
    n_params: int = 8,
) -> pd.DataFrame:
    """Rows ``family/1 … family/L`` at each scale value, plus an ``input`` group (no position).

    Args:
        scales: the sweep values (strings for a categorical axis).
        var: the variance of position ``l`` (``input``: l = 0) at a scale value.
        depth: the number of positions at a scale value.
        theory, kind: the theory variance and its kind (``""``: none).
        zero_frac: the fraction of exact zeros (default 0; a zero variance where it is 1).
        variant: the ``variant`` column (first), if given.
        categorical: ``scale`` NaN and the value in the ``scale_name`` column.
        cost: add a ``cost`` group (no position) with the ``input`` numbers.
    """
    records = []
    for scale in scales:
        places = [(f"{family}/{l}", family, float(l)) for l in range(1, depth(scale) + 1)]
        plain = [("input", "input", math.nan)] + ([("cost", "cost", math.nan)] if cost else [])
        for group, fam, position in places + plain:
            l = 0 if math.isnan(position) else int(position)
            value = float(var(scale, l))
            predicted = math.nan if theory is None else float(theory(scale, l))
            records.append(
                {
                    "domain": "synthetic",
                    "scale_name": scale_name,
                    "scale": math.nan if categorical else float(scale),
                    "group": group,
                    "position": position,
                    "n_samples": n_samples,
                    "n_params": n_params,
                    "mean": 0.0,
                    "var": value,
                    "var_lo": value * 0.8,
                    "var_hi": value * 1.25,
                    "mean_sq": value,
                    "mean_abs": math.sqrt(value),
                    "zero_frac": 0.0 if zero_frac is None else float(zero_frac(scale, l)),
                    "nonfinite_frac": 0.0,
                    "theory_var": predicted,
                    "theory_kind": kind if math.isfinite(predicted) else "",
                    "seconds": 0.01,
                    "seed": 0,
                    "family": fam,
                    scale_name: scale,
                }
            )
    frame = pd.DataFrame.from_records(records)
    frame = frame[list(RESULT_COLUMNS) + [c for c in frame.columns if c not in RESULT_COLUMNS]]
    if variant is not None:
        frame.insert(0, "variant", variant)
    return frame


def decaying(rate: float, base: float = 1.0) -> Callable[[object, int], float]:
    """Var = base·e^(rate·depth) for the headline groups (independent of the position)."""
    return lambda scale, l: base * math.exp(rate * float(scale))


def deep_mlp_like(n_vanishing: int = 4, n_stable: int = 6) -> pd.DataFrame:
    """deep_mlp's shape: some variants vanish by 10-100 decades, the rest stay within ~3."""
    depths = [2, 4, 8, 16, 32, 64]
    frames = []
    for i in range(n_vanishing):
        rate = -(1 + i) * 1.0  # ln Var per layer: down to ~1e-110 at depth 64
        frames.append(
            results(
                depths,
                lambda s, l, r=rate: math.exp(r * (float(s) - l)),
                theory=lambda s, l, r=rate: math.exp(r * (float(s) - l)),
                kind="asymptotic",
                variant=f"vanishing_{i}",
            )
        )
    for i in range(n_stable):
        rate = 0.02 * (i - 2)
        frames.append(
            results(
                depths, lambda s, l, r=rate, i=i: 10.0 ** (i - 2) * math.exp(r * (float(s) - l)), variant=f"stable_{i}"
            )
        )
    return pd.concat(frames, ignore_index=True)


def underflow_like() -> pd.DataFrame:
    """Precision variants: float16 flushes to 0 from depth 12 (zero_frac 1), partly before."""
    depths = [2, 4, 8, 12, 16, 32]

    def zeros(limit):
        return lambda s, l: 1.0 if float(s) - l >= limit else (0.999756 if float(s) - l >= limit - 2 else 0.0)

    def var(limit):
        return lambda s, l: 0.0 if float(s) - l >= limit else math.exp(-2.9 * (float(s) - l))

    return pd.concat(
        [
            results(depths, var(lim), zero_frac=zeros(lim), variant=name)
            for name, lim in (("float16", 10), ("float32", 30), ("float64", 1000))
        ],
        ignore_index=True,
    )
