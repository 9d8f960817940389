"""results.csv as resume reads and writes it: per-point content hashes, whole-point checks."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xvanish.core import RESULT_COLUMNS, ConfigError

__all__ = [
    "HASH_COLUMN",
    "Earlier",
    "ResultsUnreadable",
    "describe_recomputed",
    "point_hash",
    "read_results",
    "results_text",
    "whole_point_rows",
]

#: Last column of results.csv: the content hash of the point the row belongs to.
HASH_COLUMN = "point_hash"
#: Columns whose cells must be numbers (or empty) in a point that is reused.
_NUMERIC = (
    "scale",
    "position",
    "n_samples",
    "n_params",
    "mean",
    "var",
    "var_lo",
    "var_hi",
    "mean_sq",
    "mean_abs",
    "zero_frac",
    "nonfinite_frac",
    "theory_var",
    "seconds",
    "seed",
)


class ResultsUnreadable(ConfigError):
    """results.csv cannot be read as a results table: one line naming the file and the cause."""

    def __init__(self, path: Path, cause: str) -> None:
        self.key, self.value = "results.csv", str(path)
        self.allowed = f"cannot be read: {cause}; move it away to start afresh, or choose another output directory"
        ValueError.__init__(self, f"{path}: {self.allowed}")


def point_hash(header: str, lines: Sequence[str]) -> str:
    """16 hex digits of SHA-256 over the header and a point's rows, as text (without the hash
    column): an edited number, a renamed column or a moved row changes it."""
    return hashlib.sha256("\n".join([header, *lines]).encode()).hexdigest()[:16]


def results_text(frames: Sequence[pd.DataFrame]) -> str:
    """results.csv for these points (one frame per point, in order), each row ending in its
    point's hash. The hash is taken over the text as written, so reading it back needs no
    float parsing to verify it."""
    frames = [frame.drop(columns=[HASH_COLUMN], errors="ignore") for frame in frames]
    text = pd.concat(frames, ignore_index=True).to_csv(index=False, lineterminator="\n")
    header, *lines = text.rstrip("\n").split("\n")
    if len(lines) != sum(len(frame) for frame in frames):  # a config value with a line break in it
        raise RuntimeError("a results.csv cell holds a line break; config values must be one line")
    out, start = [f"{header},{HASH_COLUMN}"], 0
    for frame in frames:
        chunk = lines[start : start + len(frame)]
        start += len(frame)
        digest = point_hash(header, chunk)
        out.extend(f"{line},{digest}" for line in chunk)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Earlier:
    """An earlier run's results.csv: its rows, parsed, and the text each row was written as.

    Attributes:
        rows: the table (pandas >= 3 parses floats back exactly as they were written).
        header: the header line without the hash column ("" when it has none).
        lines: each row's line without its hash cell, in file order.
        hashed: the file has the hash column.
    """

    rows: pd.DataFrame
    header: str
    lines: list[str]
    hashed: bool


def read_results(path: Path) -> Earlier:
    """Read results.csv for resuming.

    Raises:
        ResultsUnreadable: not UTF-8 text, empty, not a CSV table, or without the documented
            columns in their documented order (``variant`` first with variants).
    """
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ResultsUnreadable(
            path, f"not UTF-8 text (byte {error.start} is {error.object[error.start]:#04x})"
        ) from None
    except OSError as error:
        raise ResultsUnreadable(path, error.strerror or str(error)) from None
    lines = [line for line in raw.splitlines() if line.strip()]  # pandas skips blank lines too
    if not lines:
        raise ResultsUnreadable(path, "the file is empty")
    try:
        rows = pd.read_csv(io.StringIO(raw))  # pandas >= 3 parses floats exactly as written
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise ResultsUnreadable(path, f"not a CSV table ({' '.join(str(error).split())})") from None
    columns = [str(c) for c in rows.columns]
    documented = (["variant"] if columns[:1] == ["variant"] else []) + list(RESULT_COLUMNS)
    for index, name in enumerate(documented):
        found = columns[index] if index < len(columns) else None
        if found != name:
            raise ResultsUnreadable(
                path, f"column {index + 1} is {found!r}, the documented column there is {name!r} (docs/output.md)"
            )
    if len(lines) - 1 != len(rows):
        raise ResultsUnreadable(path, f"{len(lines) - 1} lines but {len(rows)} rows (a cell spans lines)")
    rows["theory_kind"] = rows["theory_kind"].fillna("").astype(str)  # no theory: an empty cell, as measured
    hashed = columns[-1] == HASH_COLUMN
    body = [line.rsplit(",", 1)[0] for line in lines[1:]] if hashed else lines[1:]
    header = lines[0].rsplit(",", 1)[0] if hashed else ""
    return Earlier(rows=rows, header=header, lines=body, hashed=hashed)


def _matching(
    earlier: pd.DataFrame, variant: str | None, seed: int, n_samples: int | None, columns: Mapping[str, Any]
) -> pd.Series | None:
    """Rows of the point: same variant, seed, n_samples (any for ``None``: an adaptive point's
    draws vary) and every config value; None if a config column is missing."""
    match = pd.to_numeric(earlier["seed"], errors="coerce") == seed
    if n_samples is not None:
        match &= pd.to_numeric(earlier["n_samples"], errors="coerce") == n_samples
    if variant is not None:
        if "variant" not in earlier.columns:
            return None
        match &= earlier["variant"].astype(str) == variant
    for key, value in columns.items():
        if key not in earlier.columns:
            return None
        column = earlier[key]  # a None config value is written as an empty cell, read back as NaN
        match &= column.isna() if value is None else column.astype(str) == str(value)
    return match


def whole_point_rows(
    earlier: Earlier | None,
    *,
    variant: str | None,
    seed: int,
    n_samples: int | None,
    columns: Mapping[str, Any],
    groups: Sequence[str],
) -> tuple[pd.DataFrame | None, str]:
    """The rows an earlier run wrote for this point, if they are the whole point unchanged.

    The one check resume makes before reusing a point: the rows that match it (variant,
    seed, n_samples, every config value) must be exactly its declared ``groups``, each once,
    with numbers in the numeric columns, and their content hash must match the text.

    Returns:
        ``(rows, "")`` to reuse; ``(None, "")`` when the file has no row of this point;
        ``(None, why)`` when it has rows that are not the whole point (then it is measured
        again; ``why`` says what was wrong, for the console).
    """
    if earlier is None or earlier.rows.empty:
        return None, ""
    match = _matching(earlier.rows, variant, seed, n_samples, columns)
    if match is None or not match.any():
        return None, ""
    rows = earlier.rows[match]
    found = [str(g) for g in rows["group"]]
    missing = [g for g in groups if g not in found]
    if missing:
        return None, f"{len(groups) - len(missing)} of its {len(groups)} groups"
    if len(found) != len(set(found)):
        return None, f"{len(found) - len(set(found))} duplicated rows"
    if len(found) != len(groups):
        return None, f"{len(found) - len(groups)} rows of undeclared groups"
    numbers = rows[list(_NUMERIC)].apply(pd.to_numeric, errors="coerce")
    if (numbers.isna() & rows[list(_NUMERIC)].notna()).any().any():
        return None, "non-numeric values in numeric columns"
    if not earlier.hashed:
        return None, "no content hash (written by an older xvanish)"
    stored = set(rows[HASH_COLUMN].astype(str))
    digest = point_hash(earlier.header, [earlier.lines[i] for i in rows.index])
    if stored != {digest}:
        return None, "its content hash differs (numbers or columns were edited)"
    return rows.drop(columns=[HASH_COLUMN]).reset_index(drop=True), ""


def describe_recomputed(reasons: Mapping[str, str]) -> str:
    """``2 recomputed (depth=8: 5 of its 18 groups; depth=16: ...)`` or ""."""
    if not reasons:
        return ""
    return f"{len(reasons)} recomputed (" + "; ".join(f"{label}: {why}" for label, why in reasons.items()) + ")"
