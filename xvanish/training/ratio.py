"""The ratio of two groups' RMS (√Var) measured on the same runs, with a grouped-jackknife CI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from xvanish.stats import CONFIDENCE, JACKKNIFE_COLUMNS

__all__ = ["rms_ratio"]


def rms_ratio(
    rows: pd.DataFrame, numerator: str, denominator: str, confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """√(Var_a/Var_b) of two groups of one step of one run, and its confidence interval.

    Both groups come from the same R runs, so their errors are correlated; the interval
    uses the leave-one-block-of-runs-out replicates results.csv carries (``lnvar_jk*``):
    d = ½(ln V_a − ln V_b), SE² = (G−1)/G·Σ_g (d_g − d̄)², d ± t_{G−1}·SE, exponentiated.
    For ``rel_update/<l>`` this is the ratio of the layers' ‖Δθ‖/‖θ‖ (up to the squared
    mean update, docs/training.md).

    Returns:
        ``(ratio, lo, hi)``; ratio 0 and NaN bounds when the numerator's variance is 0.
    """
    a, b = (rows[rows["group"] == name].iloc[0] for name in (numerator, denominator))
    if a["var"] == 0:
        return 0.0, math.nan, math.nan
    d = 0.5 * (math.log(a["var"]) - math.log(b["var"]))
    replicates = 0.5 * (
        a[list(JACKKNIFE_COLUMNS)].astype(float).to_numpy() - b[list(JACKKNIFE_COLUMNS)].astype(float).to_numpy()
    )
    replicates = replicates[np.isfinite(replicates)]
    g = len(replicates)
    if g < 2:
        return math.exp(d), math.nan, math.nan
    se = math.sqrt((g - 1) / g * np.sum((replicates - replicates.mean()) ** 2))
    t = float(scipy_stats.t.ppf(0.5 + confidence / 2, g - 1))
    return math.exp(d), math.exp(d - t * se), math.exp(d + t * se)
