"""The headline of a run, per series (variant): what the table, the plot and summary.json show.

For each series: the rows of the headline group across the sweep, the better of the
exponential and power laws fitted to them, and the profile (a family of positioned groups,
``preact/1 … preact/L``) at the largest scale with its fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xvanish.fit import fit_records, group_family

__all__ = ["Series", "build_series", "headline_record"]


@dataclass
class Series:
    """One series of a run (a variant, or a multirun job's variant).

    Attributes:
        label: the legend label (variant name; ``None`` for a run without variants).
        group: the headline group.
        scale_name: the swept key.
        rows: the headline group's rows across the sweep, sorted by scale.
        fit: the better scale-law fit record of the headline group, or ``None``.
        profile_family: the family of positioned groups shown as the profile, or ``None``.
        profile_scale: the largest scale of the series (where the profile is taken).
        profile_rows: that family's rows at ``profile_scale``, sorted by position.
        profile_fit: the better profile fit record there, or ``None``.
        cost_rows: the ``cost`` group's rows across the sweep (the variance of C itself),
            shown where there is no profile; empty when the domain reports no cost.
    """

    label: str | None
    group: str
    scale_name: str
    rows: pd.DataFrame
    fit: dict[str, Any] | None
    profile_family: str | None
    profile_scale: float
    profile_rows: pd.DataFrame
    profile_fit: dict[str, Any] | None
    cost_rows: pd.DataFrame


def _better(fits: pd.DataFrame, kind: str, group: str | None, scale: float | None = None) -> dict | None:
    """The better-law record of one fitted series, or None when it was not fitted."""
    if fits.empty or group is None:
        return None
    keep = (fits["kind"] == kind) & (fits["group"] == group) & fits["better"].astype(bool)
    if scale is not None:
        keep &= np.isclose(fits["scale"].astype(float), scale)
    chosen = fits[keep]
    return fit_records(chosen.head(1))[0] if len(chosen) else None


def _profile_family(positioned: pd.DataFrame, group: str) -> str | None:
    """The headline group's own family when it has a profile, else the first family present."""
    families = positioned["group"].map(group_family)
    if (families == group_family(group)).any():
        return group_family(group)
    return str(families.iloc[0]) if len(families) else None


def build_series(df: pd.DataFrame, fits: pd.DataFrame, group: str,
                 label_column: str = "variant") -> list[Series]:
    """Split a results table (and its fits) into the series a report shows.

    Args:
        df: rows in the ``results.csv`` schema, optionally with a ``variant`` column.
        fits: :func:`xvanish.fit.fit_decay` of ``df`` (``variant`` column iff ``df`` has one).
        group: the headline group.
        label_column: the column that names the series.

    Returns:
        One :class:`Series` per distinct label, in order of appearance.
    """
    if label_column in df.columns:
        parts = [(str(label), rows) for label, rows in df.groupby(label_column, sort=False)]
    else:
        parts = [(None, df)]
    result = []
    for label, rows in parts:
        own_fits = fits
        if label is not None and label_column in fits.columns:
            own_fits = fits[fits[label_column].astype(str) == label]
        scale_name = str(rows["scale_name"].iloc[0]) if len(rows) else ""
        largest = float(rows["scale"].astype(float).max()) if len(rows) else math.nan
        at_largest = rows[np.isclose(rows["scale"].astype(float), largest)]
        positioned = at_largest[np.isfinite(at_largest["position"].astype(float))]
        family = _profile_family(positioned, group)
        profile_rows = positioned[positioned["group"].map(group_family) == family].sort_values("position")
        result.append(Series(
            label=label,
            group=group,
            scale_name=scale_name,
            rows=rows[rows["group"] == group].sort_values("scale"),
            fit=_better(own_fits, "scale", group),
            profile_family=family,
            profile_scale=largest,
            profile_rows=profile_rows,
            profile_fit=_better(own_fits, "profile", family, largest),
            cost_rows=rows[rows["group"] == "cost"].sort_values("scale") if group != "cost" else rows.iloc[:0],
        ))
    return result


def headline_record(series: Series) -> dict[str, Any]:
    """The JSON-ready headline of one series (summary.json ``headline``)."""
    def pick(record: dict | None) -> dict | None:
        if record is None:
            return None
        keys = ("law", "rate", "rate_lo", "rate_hi", "theory_rate", "r2", "intercept",
                "n_points", "x_min", "x_max", "excluded")
        return {key: record.get(key) for key in keys}

    return {
        "variant": series.label,
        "group": series.group,
        "scale_name": series.scale_name,
        "fit": pick(series.fit),
        "profile": None if series.profile_family is None else {
            "group": series.profile_family,
            "scale": series.profile_scale,
            "fit": pick(series.profile_fit),
        },
    }
