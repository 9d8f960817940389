"""Writing a run's summary.json and plot, and the numbers they share.

See docs/output.md for the contract.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xvanish.core import replace_atomic
from xvanish.fit import fit_records
from xvanish.plan import RESULTS_NAME  # one name for the table, defined where it is written
from xvanish.report.headline import Series, headline_record

__all__ = [
    "PLOT_NAME",
    "RESULTS_NAME",
    "SUMMARY_NAME",
    "excluded_points",
    "nonfinite_report",
    "package_versions",
    "replace_atomic",
    "run_summary",
    "write_json_atomic",
]

SUMMARY_NAME = "summary.json"
PLOT_NAME = "plot.png"

#: Distributions whose versions every summary records.
_ALWAYS = ("xvanish", "torch", "numpy", "scipy", "pandas", "matplotlib", "hydra-core", "omegaconf")
#: Recorded only when the run imported them (importing PennyLane costs seconds).
_IF_IMPORTED = {"pennylane": "pennylane", "pennylane_lightning": "pennylane-lightning"}


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that produce the numbers (None: not installed)."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    versions = {name: version(name) for name in _ALWAYS}
    versions.update({dist: version(dist) for module, dist in _IF_IMPORTED.items() if module in sys.modules})
    versions["python"] = sys.version.split()[0]
    return versions


def nonfinite_report(df: pd.DataFrame) -> dict[str, Any]:
    """How many gradient entries were NaN/inf, and in which rows.

    The count per row is ``nonfinite_frac · n_samples · n_params`` (the fraction is over
    all entries of the group's batch).
    """
    bad = df[df["nonfinite_frac"].astype(float) > 0]
    counts = np.rint(bad["nonfinite_frac"].astype(float) * bad["n_samples"] * bad["n_params"]).astype(int)
    rows = []
    for (_, row), count in zip(bad.iterrows(), counts):
        where = f"{row['variant']}: " if "variant" in bad.columns else ""
        rows.append(
            f"{where}{row['group']} at {row['scale_name']}={row['scale']:g}: {count} entries "
            f"({row['nonfinite_frac']:.3g} of {int(row['n_samples'] * row['n_params'])})"
        )
    return {"count": int(counts.sum()), "rows": rows}


def excluded_points(fits: pd.DataFrame) -> list[str]:
    """Every point some fit left out, with the reason (unique, in order)."""
    seen: dict[str, None] = {}
    for row in fits.to_dict("records"):
        if row.get("excluded"):
            prefix = f"{row['variant']}: " if "variant" in row else ""
            for note in str(row["excluded"]).split("; "):
                seen.setdefault(f"{prefix}{row['kind']} fit: {note}", None)
    return list(seen)


def run_summary(
    *,
    df: pd.DataFrame,
    fits: pd.DataFrame,
    series: Sequence[Series],
    domain: str,
    config: Mapping[str, Any],
    wall_seconds: float,
) -> dict[str, Any]:
    """The content of summary.json (see docs/output.md)."""
    return {
        "domain": domain,
        "scale_name": series[0].scale_name if series else None,
        "headline_group": series[0].group if series else None,
        "headline": [headline_record(one) for one in series],
        "fits": fit_records(fits),
        "nonfinite": nonfinite_report(df),
        "excluded": excluded_points(fits),
        "n_rows": int(len(df)),
        "wall_seconds": round(float(wall_seconds), 3),
        "versions": package_versions(),
        "config": dict(config),
    }


def _json_ready(value: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, NaN/inf -> None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(data: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``data`` as strict JSON (no NaN), atomically."""
    text = json.dumps(_json_ready(data), indent=2, allow_nan=False)
    replace_atomic(path, lambda tmp: Path(tmp).write_text(text + "\n"))
