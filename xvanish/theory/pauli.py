"""Pauli strings and sums as users write them: ``"Z0 Z1"``, ``"X0 X1 + 0.5 Y0 Y1"``.

One parser serves the circuit domain (observables, ``shots`` checks) and the Lie-algebraic
theory (:mod:`xvanish.theory.lie`, which works with ``{(x, z): coefficient}`` bit masks).
"""

from __future__ import annotations

import math
import re

from xvanish.core import require

__all__ = ["PAULI_LETTERS", "parse_pauli_string", "parse_pauli_sum", "pauli_masks"]

#: The Pauli letters a string may use.
PAULI_LETTERS = ("X", "Y", "Z")

_TERM = re.compile(r"^([A-Za-z]+)(-?\d+)$")


def parse_pauli_string(text: str, n_qubits: int | None = None, key: str = "observable") -> list[tuple[str, int]]:
    """Parse a Pauli string such as ``"Z0 Z1"`` or ``"X0 Y2 Z3"`` into ``[(letter, wire), ...]``.

    Terms are separated by spaces (``@`` and ``*`` are accepted as separators too); each is a
    letter X, Y or Z followed by a wire index in ``0 … n_qubits−1``; a wire appears once.

    Args:
        text: the Pauli string.
        n_qubits: number of wires of the circuit; ``None`` checks the syntax only (a config
            key on its own, before the point's ``n_qubits`` is known).
        key: the config key named in errors.

    Returns:
        The terms in the order given.

    Raises:
        ConfigError: naming ``key`` for a bad letter, a wire that does not exist, a repeated
            wire, or an empty string.

    Example:
        >>> parse_pauli_string("Z0 X2", 3)
        [('Z', 0), ('X', 2)]
    """
    require(isinstance(text, str), key, text, "must be a Pauli string such as 'Z0 Z1'")
    tokens = text.replace("@", " ").replace("*", " ").split()
    require(len(tokens) > 0, key, text, "must name at least one Pauli, e.g. 'Z0 Z1'")
    terms: list[tuple[str, int]] = []
    for token in tokens:
        match = _TERM.match(token)
        require(
            match is not None and match.group(1).upper() in PAULI_LETTERS,
            key,
            text,
            f"bad term {token!r}: each term is X, Y or Z followed by a wire index, e.g. 'X0 Y2 Z3'",
        )
        letter, wire = match.group(1).upper(), int(match.group(2))
        require(wire >= 0, key, text, f"wire {wire} does not exist (wires are 0, 1, ...)")
        if n_qubits is not None:
            require(
                wire < n_qubits,
                key,
                text,
                f"wire {wire} does not exist with n_qubits={n_qubits} (wires are 0..{n_qubits - 1})",
            )
        require(wire not in {w for _, w in terms}, key, text, f"wire {wire} appears twice")
        terms.append((letter, wire))
    return terms


_SUM_TERM = re.compile(r"\s*([+-]?)\s*([^+-]+)")


def parse_pauli_sum(
    text: str, n_qubits: int | None = None, key: str = "observable"
) -> list[tuple[float, list[tuple[str, int]]]]:
    """Parse a sum of Pauli strings such as ``"X0 X1 + Y0 Y1"`` or ``"0.5 Z0 - Z1"``.

    Terms are separated by ``+`` or ``-``; each is an optional real factor followed by a
    Pauli string (:func:`parse_pauli_string`). A single string is a sum of one term.

    Returns:
        ``[(coefficient, [(letter, wire), ...]), ...]``.

    Raises:
        ConfigError: naming ``key`` for a bad term, factor or wire.

    Example:
        >>> parse_pauli_sum("X0 X1 - 0.5 Y0 Y1", 2)
        [(1.0, [('X', 0), ('X', 1)]), (-0.5, [('Y', 0), ('Y', 1)])]
    """
    require(
        isinstance(text, str) and text.strip() != "",
        key,
        text,
        "must be a Pauli string or a sum of them, e.g. 'Z0 Z1' or 'X0 X1 + Y0 Y1'",
    )
    terms = []
    matches = list(_SUM_TERM.finditer(text))
    require("".join(m.group(0) for m in matches).strip() == text.strip(), key, text, "cannot parse this Pauli sum")
    for match in matches:
        sign, body = match.group(1), match.group(2).strip()
        require(body != "", key, text, "a '+' or '-' must be followed by a term")
        coefficient, _, rest = body.partition(" ")
        try:
            factor = float(coefficient)
            body = rest
        except ValueError:
            factor = 1.0
        require(math.isfinite(factor), key, text, f"bad factor {coefficient!r}")
        terms.append(((-factor if sign == "-" else factor), parse_pauli_string(body, n_qubits, key)))
    return terms


def pauli_masks(terms: list[tuple[float, list[tuple[str, int]]]]) -> dict[tuple[int, int], float]:
    """The sum as ``{(x, z): coefficient}`` bit masks (the coding of :mod:`xvanish.theory.lie`)."""
    out: dict[tuple[int, int], float] = {}
    for factor, letters in terms:
        x = sum(1 << w for letter, w in letters if letter in "XY")
        z = sum(1 << w for letter, w in letters if letter in "YZ")
        out[(x, z)] = out.get((x, z), 0.0) + factor
    return out
