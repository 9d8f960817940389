"""Rows of a multirun over seeds pooled into one result per point: more draws, one interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from xvanish.stats import JACKKNIFE_PREFIX, pool_summaries

__all__ = ["SEED_KEYS", "pool_seeds"]

#: Swept keys whose jobs are independent repeats of one configuration (different draws).
SEED_KEYS = ("measure.seed", "seed")

#: Columns that describe one set of draws, recomputed by pooling; the rest identify the point.
_PER_DRAWS = (
    "n_samples",
    "mean",
    "var",
    "var_lo",
    "var_hi",
    "mean_sq",
    "mean_abs",
    "zero_frac",
    "nonfinite_frac",
    "seconds",
    "seed",
    "job",
    "overrides",
)


def pool_seeds(rows: pd.DataFrame, seed_keys: Sequence[str], other_keys: Sequence[str] = ()) -> pd.DataFrame:
    """Pool the rows of jobs that differ only in their seed: one row per point and group.

    Args:
        rows: a multirun's combined results (the jobs' results.csv rows with ``job`` and one
            column per swept key).
        seed_keys: the swept seed keys (columns of ``rows``), pooled over.
        other_keys: the other swept keys: jobs differing in them stay apart.

    Returns:
        Rows in the results.csv schema: ``n_samples`` the draws of all seeds, mean and
        variance those of all draws together, the interval from the sets' standard errors
        (:func:`xvanish.stats.pool_summaries`), moments and fractions weighted by entries,
        ``seconds`` summed, ``seed`` the pooled seeds (``"0,1,2"``) and ``n_seeds``. The
        grouped-jackknife replicates are pooled block by block (block b of every seed
        left out together), so profile fits keep their correlated-draws interval.
    """
    keys = [*other_keys, *(c for c in ("variant", "scale_name", "scale", "group") if c in rows.columns)]
    scale_names = rows["scale_name"].dropna().astype(str).unique() if "scale_name" in rows.columns else []
    keys += [name for name in scale_names if name in rows.columns and name not in keys]  # a categorical axis
    jackknife = [c for c in rows.columns if c.startswith(JACKKNIFE_PREFIX)]
    drop = set(_PER_DRAWS) | set(seed_keys) | set(jackknife)
    pooled = []
    for _, part in rows.groupby(keys, sort=False, dropna=False):
        first = part.iloc[0]
        record = {c: first[c] for c in rows.columns if c not in drop}
        n_draws = part["n_samples"].to_numpy(float)
        all_entries = n_draws * part["n_params"].to_numpy(float)
        finite = all_entries * (1 - part["nonfinite_frac"].to_numpy(float))
        mean, var, lo, hi = pool_summaries(n_draws, finite, part["mean"], part["var"], part["var_lo"], part["var_hi"])
        weights = finite / finite.sum()
        record.update(
            {
                "n_samples": int(n_draws.sum()),
                "mean": mean,
                "var": var,
                "var_lo": lo,
                "var_hi": hi,
                "mean_sq": float(np.sum(weights * part["mean_sq"])),
                "mean_abs": float(np.sum(weights * part["mean_abs"])),
                "zero_frac": float(np.sum(all_entries * part["zero_frac"]) / all_entries.sum()),
                "nonfinite_frac": float(np.sum(all_entries * part["nonfinite_frac"]) / all_entries.sum()),
                "seconds": float(part["seconds"].sum()),
                "seed": ",".join(str(s) for s in part[seed_keys[0]]),
                "n_seeds": len(part),
            }
        )
        for column in jackknife:  # ln of the pooled variance with block b of every seed left out
            replicate = part[column].to_numpy(float)
            record[column] = (
                math.log(float(np.sum(weights * np.exp(replicate)))) if np.isfinite(replicate).all() else math.nan
            )
        pooled.append(record)
    frame = pd.DataFrame.from_records(pooled)
    order = [c for c in rows.columns if c in frame.columns] + ["n_seeds"]
    return frame[order]
