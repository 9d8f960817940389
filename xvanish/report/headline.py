"""The headline of a run, per series (variant): what the table, the plot and summary.json show.

For each series: the rows of the headline group across the sweep, the better of the
exponential and power laws fitted to them, and the profile (a family of positioned groups,
``preact/1 … preact/L``) at the largest scale with its fit.

Families come from the ``family`` column of results.csv (what the sampler declared); tables
without it fall back to :func:`xvanish.fit.group_family` (the name up to its position).
A categorical sweep axis (``activation=[tanh,relu]``: ``scale`` NaN, the value in the swept
key's own column) gives a series with ``categories`` set, no scale fit, and a profile per
value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xvanish.fit import fit_records, group_family

__all__ = ["Series", "build_series", "families", "headline_record", "theory_kinds", "x_values"]


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
        categories: for a categorical sweep axis, its values in sweep order (the x ticks;
            ``rows`` and ``profile_rows`` hold every value, the latter by value then
            position); ``None`` for a numeric axis.
        facets: what tells this series apart from the others, as ``key -> value`` (a
            multirun's swept overrides and the variant); lets a plot of many series encode
            two keys as colour and marker instead of one legend entry per series.
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
    categories: list[str] | None = None
    facets: dict[str, str] | None = None


def families(rows: pd.DataFrame) -> pd.Series:
    """Each row's family: the declared ``family`` column where present, else from the name."""
    guessed = rows["group"].map(group_family)
    if "family" not in rows.columns:
        return guessed
    declared = rows["family"]
    return declared.where(declared.notna() & (declared.astype(str) != ""), guessed).astype(str)


def theory_kinds(rows: pd.DataFrame) -> np.ndarray:
    """Each row's theory kind (``exact``, ``asymptotic``, ``bound``; ``""`` for none or unknown).

    An empty CSV cell reads back as NaN; a table from before ``theory_kind`` existed has no
    column: both give ``""``.
    """
    if "theory_kind" not in rows.columns:
        return np.full(len(rows), "", dtype=object)
    return rows["theory_kind"].fillna("").astype(str).str.strip().to_numpy(dtype=object)


def x_values(rows: pd.DataFrame, scale_name: str, categories: list[str] | None) -> np.ndarray:
    """The x of each row across the sweep: the scale, or a categorical value's index."""
    if categories is None:
        return rows["scale"].astype(float).to_numpy()
    index = {value: i for i, value in enumerate(categories)}
    return rows[scale_name].astype(str).map(index).astype(float).to_numpy()


def _sweep_order(rows: pd.DataFrame, scale_name: str, categories: list[str] | None, *then: str) -> pd.DataFrame:
    """``rows`` sorted along the sweep (scale or categorical value), then by ``then``."""
    key = "_sweep_x"
    ordered = rows.assign(**{key: x_values(rows, scale_name, categories)})
    return ordered.sort_values([key, *then], kind="stable").drop(columns=key)


def _categories(rows: pd.DataFrame, scale_name: str) -> list[str] | None:
    """A categorical axis' values in sweep order, or None for a numeric axis."""
    if not len(rows) or rows["scale"].astype(float).notna().any() or scale_name not in rows.columns:
        return None
    return list(dict.fromkeys(rows[scale_name].astype(str)))


def _better(fits: pd.DataFrame, kind: str, group: str | None, scale: float | None = None) -> dict | None:
    """The better-law record of one fitted series, or None when it was not fitted."""
    if fits.empty or group is None:
        return None
    keep = (fits["kind"] == kind) & (fits["group"] == group) & fits["better"].astype(bool)
    if scale is not None:
        keep &= np.isclose(fits["scale"].astype(float), scale)
    chosen = fits[keep]
    return fit_records(chosen.head(1))[0] if len(chosen) else None


def _profile_family(positioned: pd.DataFrame, own_family: str | None) -> str | None:
    """The headline group's own family when it has a profile, else the first family present."""
    present = families(positioned)
    if own_family is not None and (present == own_family).any():
        return own_family
    return str(present.iloc[0]) if len(present) else None


def build_series(df: pd.DataFrame, fits: pd.DataFrame, group: str, label_column: str = "variant") -> list[Series]:
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
        categories = _categories(rows, scale_name)
        own = rows[rows["group"] == group]
        own_family = str(families(own).iloc[0]) if len(own) else group_family(group)
        if categories is None:
            largest = float(rows["scale"].astype(float).max()) if len(rows) else math.nan
            at_largest = rows[np.isclose(rows["scale"].astype(float), largest)]
        else:  # no largest value: the profile of every value, in sweep order
            largest, at_largest = math.nan, rows
        positioned = at_largest[np.isfinite(at_largest["position"].astype(float))]
        family = _profile_family(positioned, own_family)
        profile_rows = positioned[families(positioned) == family]
        cost = rows[rows["group"] == "cost"] if group != "cost" else rows.iloc[:0]
        result.append(
            Series(
                label=label,
                group=group,
                scale_name=scale_name,
                rows=_sweep_order(own, scale_name, categories),
                # A categorical axis has no decay law; its profiles' fits carry no value to match.
                fit=None if categories is not None else _better(own_fits, "scale", group),
                profile_family=family,
                profile_scale=largest,
                profile_rows=_sweep_order(profile_rows, scale_name, categories, "position"),
                profile_fit=None if categories is not None else _better(own_fits, "profile", family, largest),
                cost_rows=_sweep_order(cost, scale_name, categories),
                categories=categories,
            )
        )
    return result


def headline_record(series: Series) -> dict[str, Any]:
    """The JSON-ready headline of one series (summary.json ``headline``)."""

    def pick(record: dict | None) -> dict | None:
        if record is None:
            return None
        keys = (
            "law",
            "rate",
            "rate_lo",
            "rate_hi",
            "theory_rate",
            "r2",
            "intercept",
            "n_points",
            "x_min",
            "x_max",
            "excluded",
        )
        return {key: record.get(key) for key in keys}

    return {
        "variant": series.label,
        "group": series.group,
        "scale_name": series.scale_name,
        "categories": series.categories,
        "fit": pick(series.fit),
        "profile": None
        if series.profile_family is None
        else {
            "group": series.profile_family,
            "scale": series.profile_scale,
            "fit": pick(series.profile_fit),
        },
    }
