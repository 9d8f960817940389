"""Per-group statistics of a gradient batch (numpy only, no torch).

Statistics are built from smaller statistics, as BackPACK builds a variance from the mean
and the sum of squares: each draw (row of the ``[n, k]`` batch) is reduced to its count of
finite entries and its sums of g and g², and everything, the confidence interval included,
is computed from those per-draw sums. Entries of one draw may be correlated (the weights
of one layer of one network); draws are independent. The interval therefore treats the
*draw* as the unit: an influence-function (delta-method) standard error of the pooled
variance over draws, which for k = 1 is the classical fourth-moment interval
Var(s²) ≈ (μ₄ − σ⁴)/n, taken on the log scale (the sampling distribution of a variance is
right-skewed; the log interval stays positive and covers better on heavy-tailed data) with
Bonett's (2006) small-sample adjustment. Coverage is checked by a test on Laplace data
(kurtosis 6) with known variance.

Non-finite entries are counted (``nonfinite_frac``) and left out of every moment; they are
never averaged in. Exact zeros are counted (``zero_frac``): underflow is part of the story.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

__all__ = ["CONFIDENCE", "DrawSums", "JACKKNIFE_BLOCKS", "draw_sums", "jackknife_log_variance", "summarize",
           "summarize_sums", "variance_ci"]

#: Blocks of draws for the grouped jackknife of log variances (see jackknife_log_variance).
JACKKNIFE_BLOCKS = 10
#: Name prefix of the replicates in summarize(jackknife=True) and in results.csv.
JACKKNIFE_PREFIX = "lnvar_jk"
JACKKNIFE_COLUMNS = tuple(f"{JACKKNIFE_PREFIX}{b}" for b in range(JACKKNIFE_BLOCKS))

#: Two-sided confidence level of every interval xvanish reports.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class DrawSums:
    """Per-draw sufficient statistics of one gradient group: everything the statistics use.

    A group of n draws with k entries each is reduced, draw by draw, to these sums (each an
    array ``[n]``, float64). Domains may produce them where the gradients live (torch,
    :mod:`xvanish.reduce`) or from the factors of a structured group, without ever
    materialising the ``[n, k]`` values.

    Attributes:
        count: finite entries per draw.
        total: Σ (g − shift) over the finite entries.
        total_sq: Σ (g − shift)² over the finite entries.
        total_abs: Σ |g| over the finite entries.
        zeros: entries exactly 0 (in the model's dtype: underflow is counted).
        nonfinite: NaN or ±inf entries.
        size: k, entries per draw.
        shift: a constant c subtracted before the sums (near the mean), so that Σ(g−c)²
            does not cancel catastrophically when |mean| >> std; the statistics do not
            depend on it otherwise.
    """

    count: np.ndarray
    total: np.ndarray
    total_sq: np.ndarray
    total_abs: np.ndarray
    zeros: np.ndarray
    nonfinite: np.ndarray
    size: int
    shift: float = 0.0

    @property
    def n(self) -> int:
        """Number of draws."""
        return int(self.count.shape[0])

    def unshifted_sq(self) -> np.ndarray:
        """Σ g² per draw: Σ(g−c)² + 2cΣ(g−c) + c²·count."""
        c = self.shift
        return self.total_sq + 2 * c * self.total + c * c * self.count


def draw_sums(values: np.ndarray) -> DrawSums:
    """:class:`DrawSums` of a numpy ``[n, k]`` array (rows are draws), in float64.

    The shift is the mean of all finite entries.
    """
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    values = values.reshape(values.shape[0], -1)
    zeros = (values == 0).sum(axis=1).astype(np.float64)
    values = values.astype(np.float64, copy=False)
    counts, sums, squares, finite, shift = _row_sums(values)
    return DrawSums(count=counts, total=sums, total_sq=squares,
                    total_abs=np.where(finite, np.abs(values), 0.0).sum(axis=1),
                    zeros=zeros, nonfinite=values.shape[1] - counts,
                    size=int(values.shape[1]), shift=shift)


def _row_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Per-draw finite count, Σ(g − c) and Σ(g − c)² about a shift c; the finite mask; c.

    The shift c (the mean of the finite entries) keeps the sums of squares from cancelling
    catastrophically when |mean| >> std; the variance and its interval do not depend on c.
    """
    finite = np.isfinite(values)
    shift = float(values[finite].mean()) if finite.any() else 0.0
    clean = np.where(finite, values - shift, 0.0)
    counts = finite.sum(axis=1).astype(np.float64)
    return counts, clean.sum(axis=1), np.square(clean).sum(axis=1), finite, shift


def _pooled_variance(counts: np.ndarray, sums: np.ndarray, squares: np.ndarray) -> tuple[float, float]:
    """Unbiased pooled variance of all finite entries and their mean, from per-draw sums."""
    total = counts.sum()
    if total < 2:
        return math.nan, math.nan
    mean = sums.sum() / total
    return max(squares.sum() - total * mean**2, 0.0) / (total - 1), mean


@functools.lru_cache(maxsize=16)
def _normal_quantile(p: float) -> float:
    """Φ⁻¹(p), cached: scipy's ppf costs more than the rest of an interval, once per group."""
    return float(scipy_stats.norm.ppf(p))


def variance_ci(counts: np.ndarray, sums: np.ndarray, squares: np.ndarray,
                confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Pooled variance and its confidence interval from per-draw sums (draws independent).

    The pooled variance is V = A/C − (B/C)² (A = Σ squares, B = Σ sums, C = Σ counts),
    a smooth function of draw means. Its influence per draw is
    ψ_i = [(q_i − c_i (V + m²)) − 2 m (s_i − c_i m)] / c̄ with m = B/C, c̄ = C/n, and
    SE(V) = sd(ψ)/√n (the delta method; for one entry per draw this is the fourth-moment
    interval). The interval is c·V·exp(±c·z·SE/V·√(n/(n−1))) with c = n/(n − z)
    (Bonett 2006, "Approximate confidence interval for standard deviation of nonnormal
    distributions"): symmetric on the log scale.

    Args:
        counts, sums, squares: per-draw finite count, Σg and Σg², each of shape [n].
        confidence: two-sided level.

    Returns:
        ``(var, lo, hi)``; NaNs when fewer than two draws carry finite values.
    """
    keep = counts > 0
    counts, sums, squares = counts[keep], sums[keep], squares[keep]
    n = counts.size
    var, mean = _pooled_variance(counts, sums, squares)
    if n < 2 or not math.isfinite(var):
        return var, math.nan, math.nan
    if var == 0.0:
        return 0.0, 0.0, 0.0
    biased = var * (counts.sum() - 1) / counts.sum()
    influence = ((squares - counts * (biased + mean**2)) - 2 * mean * (sums - counts * mean)) / counts.mean()
    relative_se = float(np.std(influence, ddof=1)) / math.sqrt(n) / var
    z = _normal_quantile(0.5 + confidence / 2)
    # Bonett's (2006) small-sample adjustment c = n/(n - z): without it the log interval
    # under-covers more on heavy tails at n <~ 200 (Laplace, n = 50: 0.87 -> 0.90; docs/core.md).
    adjust = n / (n - z)
    spread = adjust * z * relative_se * math.sqrt(n / (n - 1))
    var_centre = adjust * var
    return var, var_centre * math.exp(-spread), var_centre * math.exp(spread)


def summarize(values: np.ndarray, confidence: float = CONFIDENCE,
              jackknife: bool = False) -> dict[str, float]:
    """Statistics of one gradient group given as an ``[n, k]`` array (see :func:`summarize_sums`)."""
    return summarize_sums(draw_sums(values), confidence=confidence, jackknife=jackknife)


def summarize_sums(sums: DrawSums, confidence: float = CONFIDENCE,
                   jackknife: bool = False) -> dict[str, float]:
    """Statistics of one gradient group from its per-draw sums.

    Args:
        sums: the group's :class:`DrawSums`.
        confidence: level of the variance interval.
        jackknife: also return ``lnvar_jk0 …`` (:func:`jackknife_log_variance`; NaN for
            blocks that do not exist when n < 2·JACKKNIFE_BLOCKS).

    Returns:
        ``mean, var, var_lo, var_hi, mean_sq, mean_abs, zero_frac, nonfinite_frac`` over the
        finite entries (fractions over all entries).
    """
    counts = np.asarray(sums.count, dtype=np.float64)
    totals = np.asarray(sums.total, dtype=np.float64)
    squares = np.asarray(sums.total_sq, dtype=np.float64)
    var, lo, hi = variance_ci(counts, totals, squares, confidence)
    finite_total = counts.sum()
    entries = float(sums.n * sums.size)
    replicates = _jackknife_from_sums(counts, totals, squares, JACKKNIFE_BLOCKS) if jackknife else None
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "mean": sums.shift + float(totals.sum() / finite_total) if finite_total else math.nan,
            "var": var,
            "var_lo": lo,
            "var_hi": hi,
            "mean_sq": float(sums.unshifted_sq().sum() / finite_total) if finite_total else math.nan,
            "mean_abs": float(np.sum(sums.total_abs) / finite_total) if finite_total else math.nan,
            "zero_frac": float(np.sum(sums.zeros) / entries) if entries else math.nan,
            "nonfinite_frac": float(np.sum(sums.nonfinite) / entries) if entries else math.nan,
            **({} if replicates is None else {
                column: float(replicates[b]) if b < replicates.size else math.nan
                for b, column in enumerate(JACKKNIFE_COLUMNS)}),
        }


def jackknife_log_variance(values: np.ndarray, n_blocks: int = JACKKNIFE_BLOCKS) -> np.ndarray:
    """ln of the pooled variance with each of ``n_blocks`` contiguous blocks of draws left out.

    These replicates let a fit of several groups measured on the SAME draws (the layers of
    one network: ln Var along depth is a correlated random walk, not independent points)
    get an honest interval: refit the slope on each replicate and take the grouped
    jackknife variance (G − 1)/G · Σ_g (s_g − s̄)² (Efron & Stein; Quenouille).

    Args:
        values: ``[n, k]``, one row per draw.
        n_blocks: G; fewer when n < 2G (each block keeps at least two draws).

    Returns:
        ``[G]`` replicates (NaN where a replicate's variance is not positive); empty when
        n < 4.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    counts, sums, squares, _, _ = _row_sums(values)
    return _jackknife_from_sums(counts, sums, squares, n_blocks)


def _jackknife_from_sums(counts: np.ndarray, sums: np.ndarray, squares: np.ndarray,
                         n_blocks: int) -> np.ndarray:
    """:func:`jackknife_log_variance` from per-draw sums (see :func:`_row_sums`)."""
    n = counts.size
    blocks = min(n_blocks, n // 2)
    if blocks < 2:
        return np.empty(0)
    edges = np.linspace(0, n, blocks + 1).astype(int)
    block_totals = [np.add.reduceat(x, edges[:-1]) for x in (counts, sums, squares)]
    totals = [x.sum() for x in (counts, sums, squares)]
    out = np.full(blocks, np.nan)
    for b in range(blocks):
        c, s1, s2 = (total - part[b] for total, part in zip(totals, block_totals))
        if c >= 2:
            var = (s2 - s1**2 / c) / (c - 1)
            if var > 0:
                out[b] = math.log(var)
    return out
