"""Prefix-stable random draws for the torch domains: draw i never depends on how many are drawn."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

__all__ = ["DrawStream", "padded_rows", "stream_rows"]

Tensor = torch.Tensor

#: torch's CPU ``normal_`` transforms uniforms 16 at a time and draws the last 16 entries of
#: a tensor afresh when its size is not a multiple of 16 (or is below 16, another code path):
#: filled in whole chunks, a tensor's first entries are those of any longer fill.
NORMAL_CHUNK = 16


def padded_rows(rows: int, per_row: int) -> int:
    """The fewest rows >= ``rows`` whose entry count is a positive multiple of 16.

    Filling that many rows of ``per_row`` entries from one generator gives every row the
    numbers it gets in any longer fill: rows 0 … rows−1 are a prefix of the stream.

    Example:
        >>> padded_rows(5, 3)
        16
        >>> padded_rows(5, 64)
        5
    """
    step = NORMAL_CHUNK // math.gcd(NORMAL_CHUNK, max(1, int(per_row)))
    return max(step, -(-int(rows) // step) * step)


def stream_rows(
    fill: Callable[[Tensor], object],
    shape: Sequence[int],
    start: int,
    n: int,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Rows ``start`` … ``start + n − 1`` of one generator's stream of draws of ``shape``.

    ``fill(out)`` fills ``out`` in place from the generator in one call (``out.normal_(...,
    generator=g)``); it is called on a buffer of :func:`padded_rows` ``(start + n)`` rows,
    so the rows returned are the same for every ``n`` and for ``start`` > 0 (the random
    numbers of the rows before ``start`` are drawn and dropped: cheap next to a gradient).

    Returns:
        A view ``[n, *shape]`` of the buffer.
    """
    per_row = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    out = torch.empty((padded_rows(start + n, per_row), *shape), dtype=dtype, device=device)
    fill(out)
    return out[start : start + n]


class DrawStream:
    """Random numbers for draws ``start`` … ``start + n − 1``, prefix-stable call after call.

    A generator that serves several calls hands call 2 numbers that depend on how many call
    1 took (n rows of them), so draw i would depend on n. Here every call gets a fresh
    generator, seeded by (stream seed, call number) through numpy's SeedSequence, and fills
    rows 0 … start+n−1 (:func:`stream_rows`): call c's row i is the same for every n.

    Args:
        seed: the stream's seed.
        start: the first draw.
        n: the number of draws.
        device: where the numbers are made.
    """

    def __init__(self, seed: int, start: int, n: int, device: torch.device | str = "cpu") -> None:
        self.seed, self.start, self.n, self.device = int(seed), int(start), int(n), torch.device(device)
        self.calls = 0

    def generator(self) -> torch.Generator:
        """The next call's fresh generator."""
        state = np.random.SeedSequence(self.seed, spawn_key=(self.calls,)).generate_state(2, dtype=np.uint32)
        self.calls += 1
        return torch.Generator(device=self.device).manual_seed(int(state[0]) << 32 | int(state[1]))

    def rows(
        self, fill: Callable[[Tensor, torch.Generator], object], shape: Sequence[int], dtype: torch.dtype
    ) -> Tensor:
        """``[n, *shape]``: ``fill(out, generator)`` on the rows, from the next call's generator."""
        generator = self.generator()
        return stream_rows(lambda out: fill(out, generator), shape, self.start, self.n, dtype, self.device)

    def uniform(self, shape: Sequence[int], low: float, high: float, dtype: torch.dtype) -> Tensor:
        """``[n, *shape]`` draws of U(low, high)."""
        return self.rows(lambda out, g: out.uniform_(low, high, generator=g), shape, dtype)

    def normal(self, shape: Sequence[int], dtype: torch.dtype, std: float = 1.0) -> Tensor:
        """``[n, *shape]`` draws of N(0, std²)."""
        return self.rows(lambda out, g: out.normal_(0.0, std, generator=g), shape, dtype)

    def integers(self, high: int, shape: Sequence[int]) -> Tensor:
        """``[n, *shape]`` integers uniform in 0 … high−1 (int64)."""
        return self.rows(lambda out, g: out.random_(0, int(high), generator=g), shape, torch.int64)
