"""The short console table of a run: the headline group across the sweep, then the fits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from xvanish.report.headline import Series

__all__ = ["fit_line", "format_report", "format_series"]

#: How each law's rate reads in words ({x}: the regressor's name).
_RATE_WORDING = {
    "exponential": "rate of ln Var per {x}",
    "power": "exponent of Var in {x}",
}


def _num(value: Any, spec: str = ".3e") -> str:
    """A number, or an em dash for a missing one (NaN/None)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(float(value), spec)


def fit_line(record: dict[str, Any] | None, x_name: str) -> str:
    """One line for a fit record: ``rate of ln Var per depth: r [lo, hi] (theory t), better law: …``."""
    if record is None:
        return f"fit across {x_name}: not fitted (fewer than 3 usable points)"
    words = _RATE_WORDING[record["law"]].format(x=x_name)
    return (f"{words}: {_num(record['rate'], '.4g')} [{_num(record['rate_lo'], '.4g')}, "
            f"{_num(record['rate_hi'], '.4g')}] (theory {_num(record['theory_rate'], '.4g')}), "
            f"better law: {record['law']} (R²={_num(record['r2'], '.4f')})")


def format_series(series: Series) -> str:
    """The table of one series: scale, variance with its 95% CI, theory; then its fit lines."""
    title = f"{series.group} across {series.scale_name}"
    if series.label is not None:
        title = f"[{series.label}] " + title
    width = max(len(series.scale_name), 6)
    # Exact zeros (underflow) get a column only where they occur: it is the story there.
    zeros = bool((series.rows["zero_frac"] > 0).any()) if "zero_frac" in series.rows else False
    header = f"  {series.scale_name:>{width}}  {'var [95% CI]':<34}  {'theory':<10}"
    lines = [title, header + ("  zeros" if zeros else "")]
    for row in series.rows.itertuples():
        interval = f"{_num(row.var)} [{_num(row.var_lo, '.2e')}, {_num(row.var_hi, '.2e')}]"
        zero_text = f"  {row.zero_frac:.1%}" if zeros else ""
        flag = f"  (non-finite gradients: {row.nonfinite_frac:.1%})" if row.nonfinite_frac > 0 else ""
        lines.append(f"  {row.scale:>{width}g}  {interval:<34}  {_num(row.theory_var):<10}{zero_text}{flag}".rstrip())
    lines.append("  " + fit_line(series.fit, series.scale_name))
    if series.profile_family is not None:
        lines.append(f"  profile of {series.profile_family} at {series.scale_name}={series.profile_scale:g}: "
                     + fit_line(series.profile_fit, "position"))
    return "\n".join(lines)


def format_report(series: Sequence[Series]) -> str:
    """Tables of every series, separated by blank lines."""
    return "\n\n".join(format_series(one) for one in series)
