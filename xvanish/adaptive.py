"""Adaptive precision: when a point has enough draws, and how many to add if not (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from xvanish.stats import CONFIDENCE, log_interval, relative_half_width

__all__ = [
    "CONFIRM",
    "WIDEN",
    "widened",
    "GROWTH",
    "MAX_GROWTH",
    "SAFETY",
    "Coverage",
    "Precision",
    "confirmed_total",
    "next_total",
    "next_totals",
    "power_sum_interval",
    "settled",
    "simulate_coverage",
    "widths",
]

#: Each round at least doubles a point's draws: at most log2(max_samples / n_samples) rounds.
GROWTH = 2.0
#: ... and at most multiplies them by 8, however far the projection says it is.
MAX_GROWTH = 8.0
#: The projected need n·(w/target)² is raised by this much: w itself is estimated, and
#: stopping just short of the target costs a whole further round.
SAFETY = 1.2
#: A settled point draws this fraction of its draws again, fresh, and reports the interval
#: of all of them: the stopping rule saw the first ones only (docs/adaptive.md: coverage).
CONFIRM = 0.5
#: ... and widens that interval's half-width on the log scale by this factor: on heavy tails
#: (Student t5, target 0.2) the confirmation batch alone left coverage at 0.927; with ×1.1
#: it is 0.947 (docs/adaptive.md).
WIDEN = 1.1


@dataclass(frozen=True)
class Precision:
    """What a point must reach before it stops drawing.

    Attributes:
        target_rel_ci: the largest relative half-width (var_hi − var_lo)/(2·var) of the
            variance interval (:func:`~xvanish.stats.relative_half_width`).
        max_samples: the most draws a point may take; a point that reaches it unsettled
            says so (``settled`` false).
        groups: the groups that must reach it; None: every group of the point.
    """

    target_rel_ci: float
    max_samples: int
    groups: tuple[str, ...] | None = None


def widths(var: Sequence[float], lo: Sequence[float], hi: Sequence[float]) -> np.ndarray:
    """Relative half-widths of the intervals (NaN where undefined)."""
    return np.atleast_1d(relative_half_width(var, lo, hi))


def next_totals(n: np.ndarray, group_widths: np.ndarray, precision: Precision) -> np.ndarray:
    """:func:`next_total` of many points at once: ``n`` [P], ``group_widths`` [P, G]; 0 where done."""
    n = np.asarray(n, dtype=np.int64)
    group_widths = np.asarray(group_widths, dtype=np.float64).reshape(len(n), -1)
    defined = np.isfinite(group_widths).all(axis=1)
    done = (
        defined & (np.where(np.isfinite(group_widths), group_widths, 0.0) <= precision.target_rel_ci).all(axis=1)
    ) | (n >= precision.max_samples)
    widest = np.where(defined, np.nanmax(np.where(np.isfinite(group_widths), group_widths, 0.0), axis=1), 0.0)
    projected = SAFETY * n * (widest / precision.target_rel_ci) ** 2
    total = np.where(defined, np.clip(projected, GROWTH * n, MAX_GROWTH * n), GROWTH * n)
    total = np.minimum(precision.max_samples, np.ceil(total)).astype(np.int64)
    return np.where(done, 0, total)


def next_total(n: int, group_widths: np.ndarray, precision: Precision) -> int | None:
    """The draws a point should have after its next round, or None when it is done.

    Done: every width is <= the target (settled), or ``n`` is already ``max_samples``.
    Otherwise the widest interval, shrinking like 1/√n, needs about n·(w/target)²; the next
    total is that times :data:`SAFETY`, at least ×:data:`GROWTH` and at most
    ×:data:`MAX_GROWTH` of n (×GROWTH when a width is undefined), capped at max_samples.

    Example:
        >>> next_total(100, np.array([0.2]), Precision(0.1, 10_000))   # needs ~400: 1.2·400
        480
        >>> next_total(100, np.array([0.05]), Precision(0.1, 10_000)) is None
        True
    """
    total = int(next_totals(np.array([n]), np.asarray(group_widths, dtype=np.float64)[None], precision)[0])
    return None if total == 0 else total


def settled(group_widths: np.ndarray, precision: Precision) -> bool:
    """Every width is defined and at most the target."""
    group_widths = np.asarray(group_widths, dtype=np.float64)
    return bool(np.all(np.isfinite(group_widths)) and np.all(group_widths <= precision.target_rel_ci))


def confirmed_total(n: int, precision: Precision, confirm: float | None = None) -> int:
    """The draws a settled point ends with: n plus a confirmation batch of ``confirm``·n
    fresh draws, whose interval is the one reported; capped at max_samples (a point that
    settles near its budget gets a smaller batch, or none at max_samples)."""
    confirm = CONFIRM if confirm is None else confirm
    return int(min(precision.max_samples, math.ceil(n * (1.0 + confirm))))


def widened(lo: np.ndarray, hi: np.ndarray, widen: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A log-symmetric interval [lo, hi] with its log half-width times ``widen`` (same centre √(lo·hi))."""
    widen = WIDEN if widen is None else widen
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre, spread = np.sqrt(lo * hi), 0.5 * np.log(hi / lo)
        out = centre * np.exp(-widen * spread), centre * np.exp(widen * spread)
    positive = (lo > 0) & np.isfinite(hi)
    return np.where(positive, out[0], lo), np.where(positive, out[1], hi)


# --- the coverage of the rule, by simulation ----------------------------------------------------


def power_sum_interval(
    n: np.ndarray, s1: np.ndarray, s2: np.ndarray, s3: np.ndarray, s4: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`xvanish.stats.variance_ci` for one entry per draw, from the power sums Σx^k of n draws.

    With one entry per draw the influence of draw i is ψ_i = (x_i − m)² − V_b (V_b the
    biased variance), so Σψ = 0 and Σψ² = Σ(x − m)⁴ − n·V_b², and Σ(x − m)⁴ expands in the
    power sums: the interval at any n costs O(1) from cumulative sums.
    """
    n = np.asarray(n, dtype=np.float64)
    m = s1 / n
    biased = s2 / n - m * m
    var = biased * n / (n - 1)
    central4 = s4 - 4 * m * s3 + 6 * m * m * s2 - 4 * m**3 * s1 + n * m**4
    psi_var = np.maximum(central4 - n * biased**2, 0.0) / (n - 1)
    relative_se = np.sqrt(psi_var) / np.sqrt(n) / var
    lo, hi = log_interval(var, relative_se, n, confidence)
    return var, lo, hi


@dataclass(frozen=True)
class Coverage:
    """What :func:`simulate_coverage` found.

    Attributes:
        coverage: fraction of repetitions whose final interval holds the true variance.
        mean_n: mean draws used.
        at_max: fraction that stopped at max_samples unsettled.
        fixed_coverage: coverage of the fixed-n interval at n = mean_n (the same cost, no stopping).
    """

    coverage: float
    mean_n: float
    at_max: float
    fixed_coverage: float


class _PowerSums:
    """Cumulative Σx, Σx², Σx³, Σx⁴ of each repetition's draws, drawn as far as asked."""

    def __init__(
        self,
        draw: Callable[[np.random.Generator, tuple[int, int]], np.ndarray],
        rng: np.random.Generator,
        reps: int,
        block: int = 2048,
    ) -> None:
        self.draw, self.rng, self.reps, self.block = draw, rng, reps, block
        self.sums = np.zeros((4, reps, 0))

    def at(self, n: np.ndarray) -> list[np.ndarray]:
        while self.sums.shape[2] < int(n.max()):
            x = self.draw(self.rng, (self.reps, self.block))
            last = self.sums[:, :, -1:] if self.sums.shape[2] else np.zeros((4, self.reps, 1))
            new = np.cumsum(np.stack([x, x * x, x**3, x**4]), axis=2) + last
            self.sums = np.concatenate([self.sums, new], axis=2)
        index = (np.asarray(n, dtype=np.int64) - 1)[None, :, None]
        return list(np.take_along_axis(self.sums, np.broadcast_to(index, (4, self.reps, 1)), axis=2)[:, :, 0])


def simulate_coverage(
    draw: Callable[[np.random.Generator, tuple[int, int]], np.ndarray],
    precision: Precision,
    n_samples: int,
    reps: int,
    seed: int,
    *,
    confirm: float | None = None,
    widen: float | None = None,
    true_var: float = 1.0,
    chunk: int = 250,
) -> Coverage:
    """Run the stopping rule on ``reps`` simulated points and count covering final intervals.

    Each repetition draws ``draw(rng, shape)`` (variance ``true_var``, one entry per draw),
    starts with ``n_samples`` draws and follows :func:`next_totals` until settled or at
    ``max_samples``; a settled one then adds the confirmation batch (:func:`confirmed_total`,
    ``confirm=0``: the naive rule, no batch) and its interval is :func:`widened` by ``widen``
    (default :data:`WIDEN`; 1: not widened). Vectorised over repetitions, ``chunk`` at a time.
    """
    confirm = CONFIRM if confirm is None else confirm
    rng = np.random.default_rng(seed)
    covered, used, capped, fixed = [], [], [], []
    for first in range(0, reps, chunk):
        m = min(chunk, reps - first)
        sums = _PowerSums(draw, rng, m)
        n = np.full(m, int(n_samples), dtype=np.int64)
        active = np.ones(m, dtype=bool)
        while active.any():
            widths_now = widths(*power_sum_interval(n, *sums.at(n)))
            total = next_totals(n, widths_now[:, None], precision)
            active &= total > 0
            n = np.where(active, total, n)
        done = widths(*power_sum_interval(n, *sums.at(n))) <= precision.target_rel_ci
        final = np.where(done, np.minimum(precision.max_samples, np.ceil(n * (1.0 + confirm))), n).astype(np.int64)
        _, lo, hi = power_sum_interval(final, *sums.at(final))
        lo, hi = widened(lo, hi, np.where(done, WIDEN if widen is None else widen, 1.0))
        covered.append((lo <= true_var) & (true_var <= hi))
        used.append(final)
        capped.append(~done)
        sums_fixed = sums.at(np.full(m, max(2, int(round(float(final.mean()))))))
        _, lo_f, hi_f = power_sum_interval(np.full(m, max(2, int(round(float(final.mean()))))), *sums_fixed)
        fixed.append((lo_f <= true_var) & (true_var <= hi_f))
    covered, used, capped, fixed = (np.concatenate(x) for x in (covered, used, capped, fixed))
    return Coverage(float(covered.mean()), float(used.mean()), float(capped.mean()), float(fixed.mean()))
