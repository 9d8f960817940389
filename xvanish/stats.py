"""Per-group statistics of a gradient batch (numpy only, no torch).

Statistics are built from smaller statistics, as BackPACK builds a variance from the mean
and the sum of squares: each draw (row of the ``[n, k]`` batch) is reduced to its count of
finite entries and its sums of g and g², and everything, the confidence interval included,
is computed from those per-draw sums. Entries of one draw may be correlated (the weights
of one layer of one network); draws are independent. The interval therefore treats the
*draw* as the unit: an influence-function (delta-method) standard error of the pooled
variance over draws, which for k = 1 is the classical fourth-moment interval
Var(s²) ≈ (μ₄ − σ⁴)/n, taken on the log scale (the sampling distribution of a variance is
right-skewed; the log interval stays positive and covers better on heavy-tailed data), with
a Student quantile, Bonett's (2006) small-sample widening and the log's bias correction; it
always contains the estimate. Coverage is measured in docs/core.md and held by tests.

Non-finite entries are counted (``nonfinite_frac``) and left out of every moment; they are
never averaged in. Exact zeros are counted (``zero_frac``): underflow is part of the story.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

__all__ = [
    "CONFIDENCE",
    "DrawSums",
    "JACKKNIFE_BLOCKS",
    "concat_sums",
    "draw_sums",
    "interval_relative_se",
    "jackknife_log_variance",
    "log_interval",
    "pool_summaries",
    "relative_half_width",
    "summarize",
    "summarize_many",
    "summarize_sums",
    "variance_ci",
]

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

    def take(self, draws: slice) -> DrawSums:
        """The sums of the draws ``draws`` only (same shift)."""
        return DrawSums(
            count=self.count[draws],
            total=self.total[draws],
            total_sq=self.total_sq[draws],
            total_abs=self.total_abs[draws],
            zeros=self.zeros[draws],
            nonfinite=self.nonfinite[draws],
            size=self.size,
            shift=self.shift,
        )

    def unshifted_sq(self) -> np.ndarray:
        """Σ g² per draw: Σ(g−c)² + 2cΣ(g−c) + c²·count."""
        c = self.shift
        return self.total_sq + 2 * c * self.total + c * c * self.count


def concat_sums(parts: Sequence[DrawSums]) -> DrawSums:
    """The draws of several :class:`DrawSums` of one group, in order, about one shift.

    Each part's sums are moved to the first part's shift c: with d = c_r − c,
    Σ(g − c) = Σ(g − c_r) + count·d and Σ(g − c)² = Σ(g − c_r)² + 2d·Σ(g − c_r) + count·d²
    (the shifts are means of the same group, so d is small and nothing cancels).

    Raises:
        ValueError: the parts have different entries per draw (not one group).
    """
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    if len({p.size for p in parts}) != 1:
        raise ValueError(f"cannot join draws of groups of {sorted({p.size for p in parts})} entries per draw")
    shift = parts[0].shift
    totals, squares = [], []
    for part in parts:
        d = part.shift - shift
        totals.append(part.total + part.count * d)
        squares.append(part.total_sq + 2 * d * part.total + part.count * d * d)
    join = np.concatenate
    return DrawSums(
        count=join([p.count for p in parts]),
        total=join(totals),
        total_sq=join(squares),
        total_abs=join([p.total_abs for p in parts]),
        zeros=join([p.zeros for p in parts]),
        nonfinite=join([p.nonfinite for p in parts]),
        size=parts[0].size,
        shift=shift,
    )


def relative_half_width(var: Any, lo: Any, hi: Any) -> Any:
    """Half the width of a variance interval relative to the variance: (hi − lo) / (2·var).

    The precision adaptive sampling aims at (``target_rel_ci``). 0 for a variance that is
    exactly 0 (all entries equal: more draws cannot tighten it); NaN where the interval is
    not defined (fewer than two draws, a non-finite variance).
    """
    var, lo, hi = (np.asarray(x, dtype=np.float64) for x in (var, lo, hi))
    with np.errstate(invalid="ignore", divide="ignore"):
        width = (hi - lo) / (2.0 * var)
    return np.where(var == 0.0, 0.0, width)


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
    return DrawSums(
        count=counts,
        total=sums,
        total_sq=squares,
        total_abs=np.where(finite, np.abs(values), 0.0).sum(axis=1),
        zeros=zeros,
        nonfinite=values.shape[1] - counts,
        size=int(values.shape[1]),
        shift=shift,
    )


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


def _pooled_variance(counts: np.ndarray, sums: np.ndarray, squares: np.ndarray) -> tuple[Any, Any]:
    """Unbiased pooled variance of all finite entries and their mean, from per-draw sums
    along the last axis (NaN where fewer than two entries are finite)."""
    total = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums.sum(axis=-1) / total
        var = np.maximum(squares.sum(axis=-1) - total * mean**2, 0.0) / (total - 1)
    return np.where(total < 2, math.nan, var), np.where(total < 2, math.nan, mean)


def _influence(counts: np.ndarray, sums: np.ndarray, squares: np.ndarray, var: Any, mean: Any) -> np.ndarray:
    """The pooled variance's influence ψ_i of each draw (last axis; see :func:`variance_ci`)."""
    total = counts.sum(axis=-1)
    biased = var * (total - 1) / total
    m = np.asarray(mean)[..., None]
    return ((squares - counts * np.asarray(biased + mean**2)[..., None]) - 2 * m * (sums - counts * m)) / counts.mean(
        axis=-1
    )[..., None]


def log_interval(var: Any, relative_se: Any, n: Any, confidence: float) -> tuple[Any, Any]:
    """The log interval V·exp(b ± h) around the unbiased V (docs/core.md):

    * h = c·t·r, r = SE(V)/V·√(n/(n−1)), t the Student quantile with n − 1 degrees of freedom
      (the SE comes from n draws) and c = n/(n − z) Bonett's (2006) small-sample widening;
    * b = r²/2, the second-order bias of ln V (E[ln V] ≈ ln σ² − r²/2), capped at h/2 so that
      V always lies inside its own interval (the cap binds only where r > c·t, an interval
      spanning more than e^4 either way).

    Bonett centres on ln(c·V) instead: right for one entry per draw, but for a group of many
    entries per draw the shift ln c ≈ z/n does not shrink with the group's relative SE, and at
    n = 8 draws of 64 entries it put V outside its interval in 99% of cases (coverage 0.08).
    """
    z = _normal_quantile(0.5 + confidence / 2)
    t = _student_quantiles(0.5 + confidence / 2, n)
    relative = relative_se * np.sqrt(n / (n - 1))
    half = n / (n - z) * t * relative
    centre = np.minimum(relative**2 / 2, half / 2)
    return var * np.exp(centre - half), var * np.exp(centre + half)


def interval_relative_se(var: Any, lo: Any, hi: Any, n: Any, confidence: float = CONFIDENCE) -> Any:
    """SE(V)/V recovered from an interval :func:`log_interval` made (its inverse, elementwise).

    Lets summaries that kept only ``var, var_lo, var_hi, n`` (a results.csv) be pooled.
    """
    z = _normal_quantile(0.5 + confidence / 2)
    t = _student_quantiles(0.5 + confidence / 2, n)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.log(np.asarray(hi, dtype=np.float64) / np.asarray(lo, dtype=np.float64)) / 2  # the centre drops out
        return half / (n / (n - z) * t * np.sqrt(n / (n - 1)))


def pool_summaries(
    n_draws: np.ndarray,
    entries: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    var_lo: np.ndarray,
    var_hi: np.ndarray,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float, float]:
    """One group's statistics from summaries of independent sets of draws (e.g. runs with other seeds).

    The pooled mean and unbiased variance are exact: those of all the entries taken together,
    ``V = [Σ(N_j − 1)V_j + Σ N_j(m_j − m)²] / (N − 1)`` with ``N_j`` finite entries in set j.
    The sets are independent and each ``V_j`` is a mean of its draws' influences weighted by
    ``N_j/N`` in the pooled variance, so ``SE(V)² = Σ (N_j/N)² SE(V_j)²``, each ``SE(V_j)``
    recovered from its interval (:func:`interval_relative_se`); the interval is then built by
    the same rule as for one set, with ``n = Σ n_j`` draws.

    Args:
        n_draws: draws per set, ``[J]``.
        entries: finite entries per set (draws × entries per draw × finite fraction), ``[J]``.
        mean, var, var_lo, var_hi: each set's statistics, ``[J]``.
        confidence: level of the pooled interval (that of the sets' intervals too).

    Returns:
        ``(mean, var, var_lo, var_hi)`` of the pooled sets.
    """
    n_draws, entries, mean, var = (np.asarray(x, dtype=np.float64) for x in (n_draws, entries, mean, var))
    total = entries.sum()
    pooled_mean = float(np.sum(entries * mean) / total)
    pooled_var = float((np.sum((entries - 1) * var) + np.sum(entries * (mean - pooled_mean) ** 2)) / (total - 1))
    se = var * interval_relative_se(var, var_lo, var_hi, n_draws, confidence)
    relative_se = math.sqrt(float(np.sum((entries / total) ** 2 * se**2))) / pooled_var if pooled_var > 0 else math.nan
    n = int(n_draws.sum())
    if pooled_var == 0.0:
        return pooled_mean, 0.0, 0.0, 0.0
    if not math.isfinite(relative_se) or n < 2:
        return pooled_mean, pooled_var, math.nan, math.nan
    lo, hi = log_interval(pooled_var, relative_se, n, confidence)
    return pooled_mean, pooled_var, float(lo), float(hi)


@functools.lru_cache(maxsize=16)
def _normal_quantile(p: float) -> float:
    """Φ⁻¹(p), cached: scipy's ppf costs more than the rest of an interval, once per group."""
    return float(scipy_stats.norm.ppf(p))


def _student_quantiles(p: float, n: Any) -> Any:
    """The Student t quantile with n − 1 degrees of freedom, for one n (cached) or an array of them."""
    if np.ndim(n) == 0:
        return _student_quantile(p, int(n) - 1)
    return scipy_stats.t.ppf(p, np.asarray(n, dtype=np.float64) - 1)


@functools.lru_cache(maxsize=256)
def _student_quantile(p: float, df: int) -> float:
    """The Student t quantile, cached as :func:`_normal_quantile`."""
    return float(scipy_stats.t.ppf(p, df))


def variance_ci(
    counts: np.ndarray, sums: np.ndarray, squares: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """Pooled variance and its confidence interval from per-draw sums (draws independent).

    The pooled variance is V = A/C − (B/C)² (A = Σ squares, B = Σ sums, C = Σ counts),
    a smooth function of draw means. Its influence per draw is
    ψ_i = [(q_i − c_i (V + m²)) − 2 m (s_i − c_i m)] / c̄ with m = B/C, c̄ = C/n, and
    SE(V) = sd(ψ)/√n (the delta method; for one entry per draw this is the fourth-moment
    interval). The interval is V·exp(b ± c·t·r) on the log scale (:func:`log_interval`:
    r the relative SE, t the Student quantile on n − 1 df, c = n/(n − z) from Bonett 2006,
    "Approximate confidence interval for standard deviation of nonnormal distributions",
    b = r²/2 the log's bias), which always contains V.

    Args:
        counts, sums, squares: per-draw finite count, Σg and Σg², each of shape [n].
        confidence: two-sided level.

    Returns:
        ``(var, lo, hi)``; NaNs when fewer than two draws carry finite values.
    """
    keep = counts > 0
    var, lo, hi = _interval(counts[keep][None], sums[keep][None], squares[keep][None], confidence)
    return float(var[0]), float(lo[0]), float(hi[0])


def _interval(
    counts: np.ndarray, sums: np.ndarray, squares: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`variance_ci` of every row of ``[G, n]`` per-draw sums whose draws all have a
    finite entry: ``(var, lo, hi)``, each ``[G]``. The rules in one place: no interval for
    n < 2 draws or a non-finite variance; a zero variance has the interval [0, 0]."""
    n = counts.shape[-1]
    var, mean = _pooled_variance(counts, sums, squares)
    if n < 2:
        return var, np.full(var.shape, math.nan), np.full(var.shape, math.nan)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        relative_se = np.std(_influence(counts, sums, squares, var, mean), axis=-1, ddof=1) / math.sqrt(n) / var
        lo, hi = log_interval(var, relative_se, n, confidence)
    lo, hi = (np.where(var == 0.0, 0.0, np.where(np.isfinite(var), x, math.nan)) for x in (lo, hi))
    return var, lo, hi


def summarize(values: np.ndarray, confidence: float = CONFIDENCE, jackknife: bool = False) -> dict[str, float]:
    """Statistics of one gradient group given as an ``[n, k]`` array (see :func:`summarize_sums`)."""
    return summarize_sums(draw_sums(values), confidence=confidence, jackknife=jackknife)


def summarize_sums(sums: DrawSums, confidence: float = CONFIDENCE, jackknife: bool = False) -> dict[str, float]:
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
    return _summarize_stacked([sums], confidence, [jackknife])[0]


def summarize_many(
    groups: Sequence[DrawSums], confidence: float = CONFIDENCE, jackknife: Sequence[bool] | None = None
) -> list[dict[str, float]]:
    """:func:`summarize_sums` of many groups at once: the same dicts, in the same order.

    Groups of the same number of draws are stacked and computed as rows of ``[G, n]``
    arrays: one numpy call per formula instead of one per formula and group (an RNN's 600
    per-step groups took 0.1–0.2 s one by one).

    Args:
        groups: each group's :class:`DrawSums`.
        confidence: level of the variance interval.
        jackknife: per group, whether to add ``lnvar_jk0 …``; none when None.
    """
    flags = [False] * len(groups) if jackknife is None else [bool(f) for f in jackknife]
    if len(flags) != len(groups):
        raise ValueError(f"{len(groups)} groups but {len(flags)} jackknife flags")
    out: list[dict[str, float]] = [{} for _ in groups]
    by_draws: dict[int, list[int]] = {}
    for index, sums in enumerate(groups):
        by_draws.setdefault(sums.n, []).append(index)
    for members in by_draws.values():
        summaries = _summarize_stacked([groups[i] for i in members], confidence, [flags[i] for i in members])
        for index, summary in zip(members, summaries):
            out[index] = summary
    return out


def _summarize_stacked(groups: list[DrawSums], confidence: float, flags: list[bool]) -> list[dict[str, float]]:
    """:func:`summarize_sums` of groups of equal n, as rows of ``[G, n]`` arrays.

    A group with a draw that has no finite entry gets its interval from :func:`variance_ci`,
    which leaves such draws out.
    """

    def stack(field: str) -> np.ndarray:  # one group: a view, no copy
        rows = [np.asarray(getattr(g, field), dtype=np.float64) for g in groups]
        return rows[0][None] if len(rows) == 1 else np.stack(rows)

    n = groups[0].n
    counts, totals, squares = stack("count"), stack("total"), stack("total_sq")
    shifts = np.array([g.shift for g in groups])
    entries = np.array([float(n * g.size) for g in groups])
    finite_total, total_sum = counts.sum(axis=1), totals.sum(axis=1)
    var, lo, hi = _interval(counts, totals, squares, confidence)
    for g in np.flatnonzero((counts <= 0).any(axis=1)):  # such draws leave the interval: n changes
        var[g], lo[g], hi[g] = variance_ci(counts[g], totals[g], squares[g], confidence)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        columns = {
            "mean": shifts + total_sum / finite_total,
            "var": var,
            "var_lo": lo,
            "var_hi": hi,
            "mean_sq": np.array([g.unshifted_sq().sum() for g in groups]) / finite_total,
            "mean_abs": stack("total_abs").sum(axis=1) / finite_total,
            "zero_frac": stack("zeros").sum(axis=1) / entries,
            "nonfinite_frac": stack("nonfinite").sum(axis=1) / entries,
        }
    rows = [{name: float(values[g]) for name, values in columns.items()} for g in range(len(groups))]
    if any(flags):
        replicates = _jackknife_stacked(counts, totals, squares, JACKKNIFE_BLOCKS)
        for g, flag in enumerate(flags):
            if flag:
                rows[g].update(
                    {
                        column: float(replicates[g, b]) if b < replicates.shape[1] else math.nan
                        for b, column in enumerate(JACKKNIFE_COLUMNS)
                    }
                )
    return rows


def _jackknife_stacked(counts: np.ndarray, sums: np.ndarray, squares: np.ndarray, n_blocks: int) -> np.ndarray:
    """:func:`jackknife_log_variance` of every row of ``[G, n]`` per-draw sums: ``[G, blocks]``."""
    n = counts.shape[1]
    blocks = min(n_blocks, n // 2)
    if blocks < 2:
        return np.empty((counts.shape[0], 0))
    edges = np.linspace(0, n, blocks + 1).astype(int)
    left = [x.sum(axis=1)[:, None] - np.add.reduceat(x, edges[:-1], axis=1) for x in (counts, sums, squares)]
    c, s1, s2 = left
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - s1**2 / c) / (c - 1)
        return np.where((c >= 2) & (var > 0), np.log(np.where(var > 0, var, 1.0)), math.nan)


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
    return _jackknife_stacked(counts[None], sums[None], squares[None], n_blocks)[0]
