"""The short console table of a run: the headline group across the sweep, then the fits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from xvanish.report.headline import Series, theory_kinds

__all__ = ["fit_line", "format_fraction", "format_report", "format_series", "format_theory"]

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


def format_fraction(fraction: float, digits: int = 1, max_digits: int = 3) -> str:
    """A fraction as a percentage that never claims more than it is.

    Only exactly 1 prints as ``100%`` and only exactly 0 as ``0%``. A fraction that would
    round to either end gets more decimals (up to ``max_digits``), then ``>99.999%`` /
    ``<0.001%``: the underflow story lives in those last entries (0.999756 of a group at 0
    is not all of it).

    Example:
        >>> format_fraction(0.999756), format_fraction(1.0), format_fraction(0.25), format_fraction(1e-9)
        ('99.98%', '100%', '25.0%', '<0.001%')
    """
    if not math.isfinite(fraction):
        return "—"
    if fraction in (0.0, 1.0):
        return f"{fraction:.0%}"
    for places in range(digits, max_digits + 1):
        text = f"{fraction:.{places}%}"
        if 0 < float(text[:-1]) < 100:
            return text
    step = 10.0**-max_digits
    return f">{100 - step:.{max_digits}f}%" if fraction > 0.5 else f"<{step:.{max_digits}f}%"


def format_theory(value: Any, kind: str) -> str:
    """The theory cell: ``1.000e-03 (exact)``, a bound as ``≤ 1.000e-03 (bound)``, or ``—``."""
    text = _num(value)
    if text == "—":
        return text
    if kind == "bound":
        return f"≤ {text} (bound)"
    return f"{text} ({kind})" if kind else text


def fit_line(record: dict[str, Any] | None, x_name: str) -> str:
    """One line for a fit record: ``rate of ln Var per depth: r [lo, hi] (theory t), better law: …``."""
    if record is None:
        return f"fit across {x_name}: not fitted (fewer than 3 usable points)"
    words = _RATE_WORDING[record["law"]].format(x=x_name)
    return (
        f"{words}: {_num(record['rate'], '.4g')} [{_num(record['rate_lo'], '.4g')}, "
        f"{_num(record['rate_hi'], '.4g')}] (theory {_num(record['theory_rate'], '.4g')}), "
        f"better law: {record['law']} (R²={_num(record['r2'], '.4f')})"
    )


def _x_text(series: Series, row: Any) -> str:
    """The sweep value of a row: the scale, or a categorical axis' value."""
    if series.categories is not None:
        return str(getattr(row, series.scale_name))
    return f"{row.scale:g}"


def format_series(series: Series) -> str:
    """The table of one series: scale, variance with its 95% CI, theory (with its kind); then its fits.

    A categorical sweep axis lists a row per value and says that there is no decay fit.
    """
    title = f"{series.group} across {series.scale_name}"
    if series.label is not None:
        title = f"[{series.label}] " + title
    rows = series.rows
    if rows.empty:  # a variant that does not measure the report group (WGAN-GP has no saturating loss)
        lines = [title, f"  this series has no group {series.group}"]
        if series.profile_family is not None and series.categories is None:
            lines.append(_profile_line(series))
        return "\n".join(lines)
    x_texts = [_x_text(series, row) for row in rows.itertuples(index=False)]
    width = max([len(series.scale_name), 6, *map(len, x_texts)])
    kinds = theory_kinds(rows)
    theories = [format_theory(value, kind) for value, kind in zip(rows["theory_var"], kinds)]
    theory_width = max([10, *map(len, theories)])
    # Exact zeros (underflow) get a column only where they occur: it is the story there.
    zeros = bool((rows["zero_frac"] > 0).any()) if "zero_frac" in rows else False
    header = f"  {series.scale_name:>{width}}  {'var [95% CI]':<34}  {'theory':<{theory_width}}"
    if zeros:
        header += "  zeros"
    lines = [title, header.rstrip()]
    for row, x_text, theory in zip(rows.itertuples(index=False), x_texts, theories):
        interval = f"{_num(row.var)} [{_num(row.var_lo, '.2e')}, {_num(row.var_hi, '.2e')}]"
        zero_text = f"  {format_fraction(row.zero_frac)}" if zeros else ""
        flag = f"  (non-finite gradients: {format_fraction(row.nonfinite_frac)})" if row.nonfinite_frac > 0 else ""
        lines.append(f"  {x_text:>{width}}  {interval:<34}  {theory:<{theory_width}}{zero_text}{flag}".rstrip())
    if series.categories is not None:
        lines.append(f"  {series.scale_name} is categorical: rows per value, no decay fit")
        if series.profile_family is not None:
            lines.append(f"  profile of {series.profile_family}: one per {series.scale_name} value (see the plot)")
        return "\n".join(lines)
    lines.append(
        f"  one {series.scale_name} value: nothing to fit across {series.scale_name}"
        if len(rows) == 1
        else "  " + fit_line(series.fit, series.scale_name)
    )
    if series.profile_family is not None:
        lines.append(_profile_line(series))
    return "\n".join(lines)


def _profile_line(series: Series) -> str:
    """``  profile of preact at depth=64: <fit line>``."""
    return f"  profile of {series.profile_family} at {series.scale_name}={series.profile_scale:g}: " + fit_line(
        series.profile_fit, "position"
    )


def format_report(series: Sequence[Series]) -> str:
    """Tables of every series, separated by blank lines."""
    return "\n\n".join(format_series(one) for one in series)
