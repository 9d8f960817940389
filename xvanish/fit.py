"""Decay-law fits of measured variances (numpy/scipy/pandas, no torch).

Two laws are fitted to every series, both by least squares on the log of the measured
quantity (the log of the mean, never the mean of logs: THEORY.md §1):

* exponential, ``ln V = a + r·x``: ``rate`` r per unit of x (e-folding scale −1/r);
* power, ``ln V = a + p·ln x``: ``rate`` p is the exponent.

The better law is the one with the larger R² (same response, same number of parameters).
Rates carry a 95% interval. Across the sweep (independent points) it is the OLS
Student-t interval on m − 2 degrees of freedom (``interval = "ols"``). Along a profile the
points share their draws, so the interval comes from a grouped jackknife over blocks of
draws (``interval = "jackknife"``, from the ``lnvar_jk*`` columns ``measure`` writes).
Points with a non-positive or non-finite variance, or with non-finite gradients, are left
out of a fit and listed in the ``excluded`` column, never silently averaged.

Two kinds of series are fitted:

* ``scale``: one group (e.g. ``input``, ``grad/target``) across the swept scale values;
* ``profile``: inside one model, a family of groups (``preact/1 … preact/L``) against
  their position (layer index, time step), for each scale value.

Where rows carry a ``theory_var`` that is a prediction (``theory_kind`` exact or
asymptotic) the same fit on it gives ``theory_rate``; a bound gives none.

A categorical sweep axis (``activation``) has ``scale`` NaN: no fit across the sweep,
profiles per value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from xvanish.core import JACKKNIFE_PREFIX, PREDICTION_KINDS
from xvanish.stats import CONFIDENCE

__all__ = ["FIT_COLUMNS", "LineFit", "best_fits", "fit_decay", "fit_line", "fit_records", "group_family"]

FIT_COLUMNS = (
    "kind",
    "group",
    "scale",
    "law",
    "rate",
    "rate_lo",
    "rate_hi",
    "interval",
    "intercept",
    "r2",
    "n_points",
    "better",
    "theory_rate",
    "x_min",
    "x_max",
    "excluded",
    "point",
)

_POSITION_SUFFIX = re.compile(r"/[-+0-9.eE]+$")


@dataclass(frozen=True)
class LineFit:
    """Least-squares line y = intercept + slope·x with a confidence interval on the slope."""

    slope: float
    slope_lo: float
    slope_hi: float
    intercept: float
    r2: float
    n_points: int


def fit_line(x: np.ndarray, y: np.ndarray, confidence: float = CONFIDENCE) -> LineFit:
    """Ordinary least squares of ``y`` on ``x`` with a t-interval on the slope.

    Returns NaNs where there are fewer than two points (no interval with fewer than three).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    m = x.size
    if m < 2 or np.ptp(x) == 0:
        return LineFit(math.nan, math.nan, math.nan, math.nan, math.nan, m)
    x_mean, y_mean = x.mean(), y.mean()
    sxx = np.sum((x - x_mean) ** 2)
    slope = float(np.sum((x - x_mean) * (y - y_mean)) / sxx)
    intercept = float(y_mean - slope * x_mean)
    residual = y - intercept - slope * x
    total = np.sum((y - y_mean) ** 2)
    r2 = float(1 - np.sum(residual**2) / total) if total > 0 else 1.0
    if m < 3:
        return LineFit(slope, math.nan, math.nan, intercept, r2, m)
    se = math.sqrt(np.sum(residual**2) / (m - 2) / sxx)
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=m - 2)) * se
    return LineFit(slope, slope - half, slope + half, intercept, r2, m)


def group_family(group: str) -> str:
    """``"preact/12"`` -> ``"preact"``; ``"grad/layer/3"`` -> ``"grad/layer"``."""
    return _POSITION_SUFFIX.sub("", group)


def _usable(rows: pd.DataFrame, quantity: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows a log fit can use, and a note for each one it cannot."""
    value = rows[quantity].astype(float)
    bad_value = ~(np.isfinite(value) & (value > 0))
    bad_grads = rows["nonfinite_frac"].astype(float) > 0
    notes = []
    for _, row in rows[bad_value | bad_grads].iterrows():
        reason = "non-finite gradients" if row["nonfinite_frac"] > 0 else f"{quantity}={row[quantity]:.3g}"
        notes.append(f"{row['group']}@{row['scale']:g}: {reason}")  # NaN prints as nan (categorical)
    return rows[~(bad_value | bad_grads)], notes


def _theory_slope(x: np.ndarray, rows: pd.DataFrame) -> float:
    """The same fit on the rows' theory values; NaN unless every row has a prediction.

    A bound (``theory_kind == "bound"``) is a ceiling, not a prediction: the slope of a
    series of bounds is no theory rate, so none is reported.
    """
    theory = rows["theory_var"].astype(float).to_numpy()
    if theory.size < 2 or not np.all(np.isfinite(theory) & (theory > 0)):
        return math.nan
    if "theory_kind" in rows.columns and not rows["theory_kind"].isin(PREDICTION_KINDS).all():
        return math.nan
    log_theory = np.log(theory)
    slope = fit_line(x, log_theory).slope
    return 0.0 if abs(slope) <= _rounding_slope(x, log_theory) else slope


def _rounding_slope(x: np.ndarray, y: np.ndarray) -> float:
    """The largest OLS slope that rounding alone can put on ``y`` (a flat theory stays 0).

    A closed form evaluated at each scale carries a relative error of a few ulps, so ln of
    it is off by up to ``δ = 64·ε·max(1, |y|)``; errors bounded by δ move the slope by at
    most ``δ·Σ|x − x̄| / Σ(x − x̄)²``. Below that, a prediction that is the same at every
    scale would print as ``2.6e-15`` instead of ``0``.
    """
    centred = np.asarray(x, float) - np.mean(x)
    delta = 64 * np.finfo(float).eps * max(1.0, float(np.max(np.abs(y))))
    return float(delta * np.sum(np.abs(centred)) / np.sum(centred**2))


def _jackknife_replicates(rows: pd.DataFrame) -> np.ndarray | None:
    """The rows' leave-one-block-out ln Var, ``[G, m]``, or None when not all are available."""
    columns = [c for c in rows.columns if c.startswith(JACKKNIFE_PREFIX)]
    if not columns:
        return None
    table = rows[columns].astype(float).to_numpy().T
    table = table[np.isfinite(table).any(axis=1)]  # blocks that exist (fewer for small n)
    if table.shape[0] < 2 or not np.isfinite(table).all():
        return None
    return table


def _jackknife_interval(x: np.ndarray, slope: float, replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """Grouped-jackknife t-interval of a slope whose points share their draws.

    The layers of one model are measured on the same draws, so their ln Var are correlated
    and the OLS interval, which assumes independent points, is several times too narrow
    (ReLU+He, depth 32: OLS SE 0.0013 vs 0.0074 across seeds). Refitting on each
    leave-one-block-out replicate carries that correlation: SE² = (G−1)/G·Σ(s_g − s̄)².
    """
    blocks = replicates.shape[0]
    slopes = np.array([fit_line(x, row).slope for row in replicates])
    se = math.sqrt((blocks - 1) / blocks * np.sum((slopes - slopes.mean()) ** 2))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=blocks - 1)) * se
    return slope - half, slope + half


def _fit_series(
    kind: str,
    group: str,
    scale: float,
    x: np.ndarray,
    rows: pd.DataFrame,
    quantity: str,
    excluded: list[str],
    confidence: float,
    point: str = "",
) -> list[dict]:
    """Exponential and power-law records for one series (x ascending, rows aligned)."""
    y = np.log(rows[quantity].astype(float).to_numpy())
    records = []
    laws = {"exponential": x}
    if x.size and np.all(x > 0):
        laws["power"] = np.log(x)
    replicates = _jackknife_replicates(rows) if kind == "profile" and quantity == "var" else None
    for law, regressor in laws.items():
        line = fit_line(regressor, y, confidence)
        lo, hi, interval = line.slope_lo, line.slope_hi, "ols"
        if replicates is not None:
            lo, hi = _jackknife_interval(regressor, line.slope, replicates, confidence)
            interval = "jackknife"
        records.append(
            {
                "kind": kind,
                "group": group,
                "scale": scale,
                "law": law,
                "rate": line.slope,
                "rate_lo": lo,
                "rate_hi": hi,
                "interval": interval,
                "intercept": line.intercept,
                "r2": line.r2,
                "n_points": line.n_points,
                "better": False,
                "theory_rate": _theory_slope(regressor, rows),
                "x_min": float(x.min()) if x.size else math.nan,
                "x_max": float(x.max()) if x.size else math.nan,
                "excluded": "; ".join(excluded),
                "point": point,
            }
        )
    scored = [r for r in records if math.isfinite(r["r2"])]
    if scored:
        max(scored, key=lambda r: r["r2"])["better"] = True
    return records


def fit_decay(
    df: pd.DataFrame,
    *,
    quantity: str = "var",
    min_points: int = 3,
    profile_skip: int = 0,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Fit exponential and power decay laws to a results table.

    Args:
        df: rows in the ``results.csv`` schema (from :func:`xvanish.measure` / :func:`xvanish.sweep`).
        quantity: the column fitted on the log scale (``var`` or ``mean_sq``).
        min_points: series with fewer usable points are skipped.
        profile_skip: leave out profile positions below ``profile_skip + min(position)``
            (e.g. the first layers while q^l converges, THEORY.md §1).
        confidence: level of the rate intervals.

    Returns:
        One row per (kind, group, scale, law) with columns :data:`FIT_COLUMNS` (preceded
        by ``variant`` when ``df`` has that column: each variant is fitted on its own). ``kind`` is
        ``"scale"`` (a group across the sweep; ``scale`` is NaN) or ``"profile"`` (a family
        of groups against position inside the model at that ``scale``). ``better`` marks
        the law with the larger R² of each series.

    Example:
        >>> fits = fit_decay(df)  # doctest: +SKIP
        >>> fits[(fits.kind == "scale") & fits.better][["group", "law", "rate", "rate_lo", "rate_hi"]]  # doctest: +SKIP
    """
    if df.empty:
        return pd.DataFrame(columns=list(FIT_COLUMNS))
    if "variant" in df.columns:
        parts = []
        for variant, rows in df.groupby("variant", sort=False):
            part = fit_decay(
                rows.drop(columns="variant"),
                quantity=quantity,
                min_points=min_points,
                profile_skip=profile_skip,
                confidence=confidence,
            )
            part.insert(0, "variant", variant)
            parts.append(part)
        return pd.concat(parts, ignore_index=True)
    records: list[dict] = []
    scales = df["scale"].astype(float)
    if scales.nunique() >= min_points:
        for group, rows in df.groupby("group", sort=False):
            usable, excluded = _usable(rows.sort_values("scale"), quantity)
            if len(usable) >= min_points:
                x = usable["scale"].astype(float).to_numpy()
                records += _fit_series("scale", group, math.nan, x, usable, quantity, excluded, confidence)
            elif excluded:
                records.append(_skipped("scale", group, math.nan, usable, excluded, min_points))
    positioned = df[np.isfinite(df["position"].astype(float))]
    # Families as the sampler declared them (results.csv's family column); older tables
    # without it fall back to the group name up to its position suffix.
    families = positioned["family"] if "family" in positioned.columns else positioned["group"].map(group_family)
    # One profile per point: the scale, or for a categorical axis the swept key's value.
    point_key = positioned["scale"]
    if (
        "scale_name" in positioned.columns
        and positioned["scale"].isna().all()
        and positioned["scale_name"].nunique() == 1
    ):
        name = str(positioned["scale_name"].iloc[0])
        if name in positioned.columns:
            point_key = positioned[name].astype(str)
    for (scale, family), rows in positioned.groupby([point_key, families], sort=False, dropna=False):
        rows = rows.sort_values("position")
        first = rows["position"].astype(float).min()
        rows = rows[rows["position"].astype(float) >= first + profile_skip]
        usable, excluded = _usable(rows, quantity)
        if len(usable) >= min_points:
            x = usable["position"].astype(float).to_numpy()
            categorical = isinstance(scale, str)
            records += _fit_series(
                "profile",
                family,
                math.nan if categorical else float(scale),
                x,
                usable,
                quantity,
                excluded,
                confidence,
                point=str(scale) if categorical else f"{scale:g}",
            )
        elif excluded:
            categorical = isinstance(scale, str)
            records.append(
                _skipped(
                    "profile",
                    family,
                    math.nan if categorical else float(scale),
                    usable,
                    excluded,
                    min_points,
                    point=str(scale) if categorical else f"{scale:g}",
                )
            )
    frame = pd.DataFrame(records, columns=list(FIT_COLUMNS))
    return frame


def _skipped(
    kind: str, group: str, scale: float, usable: pd.DataFrame, excluded: list[str], min_points: int, point: str = ""
) -> dict:
    """The record of a series not fitted because its exclusions left too few points (law
    ``skipped``, never ``better``): its exclusions are reported like a fitted series'."""
    record: dict = {column: math.nan for column in FIT_COLUMNS}
    record.update(
        kind=kind,
        group=group,
        scale=scale,
        law="skipped",
        interval="",
        n_points=len(usable),
        better=False,
        point=point,
        excluded="; ".join(excluded + [f"fit skipped: {len(usable)} usable points, needs {min_points}"]),
    )
    return record


def best_fits(fits: pd.DataFrame) -> pd.DataFrame:
    """Only the better law of each series."""
    return fits[fits["better"].astype(bool)]


def fit_records(fits: pd.DataFrame) -> list[dict]:
    """JSON-ready records (NaN -> None)."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in fits.to_dict("records")
    ]
