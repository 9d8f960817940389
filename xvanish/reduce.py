"""Reduce gradient groups to per-draw sums where the gradients live (torch).

:mod:`xvanish.stats` works from per-draw sufficient statistics (:class:`~xvanish.stats.DrawSums`).
This module computes them from torch tensors and from the factors of an outer-product group
(:class:`~xvanish.core.OuterProduct`), accumulating in float64, without a float64 copy of a
whole group and without materialising an outer product.

Every path first reduces each draw to *local* moments (finite count, the draw's own mean,
Σ(g − mean)², Σ|g|, exact zeros, non-finite entries), which merge without cancellation
(Chan, Golub & LeVeque 1979, "Updating formulae and a pairwise algorithm for computing
sample variances"), then turns them into :class:`DrawSums` about one shift c, the mean of
all finite entries: Σ(g − c) = count·(mean − c), Σ(g − c)² = M2 + count·(mean − c)².

* Dense groups (:func:`draw_sums`, :func:`chunked_sums`): blocks of draws are copied to
  float64 one block at a time (at most :data:`BLOCK_ELEMENTS` entries), so memory stays
  bounded; a group that arrives chunk by chunk (a weight gradient of several inputs, built
  for a few draws at a time) is reduced chunk by chunk, and so is a whole batch whose draws
  are computed a chunk at a time (:func:`chunked_group_sums`).
* Outer products (:func:`outer_sums`): entry (j, k) of draw i is l_j·r_k rounded to the
  model's dtype. With d = l − l̄, e = r − r̄ (Σd = Σe = 0), the draw's mean is l̄·r̄ and
  M2 = Σ(l_j r_k − l̄ r̄)² = Σd²·Σe² + a·l̄²·Σe² + b·r̄²·Σd², Σ|l_j r_k| = Σ|l|·Σ|r|: sums of
  non-negative terms, no cancellation (BackPACK builds second moments of weight
  gradients from the same factors, Dangel et al. 2020). These are the moments of the exact
  products; materialising rounds each product to the model's dtype first, a relative
  difference of at most that dtype's unit roundoff per entry (the same in float64).
  Exact zeros are counted as materialising in the model's dtype gives them: l_j·r_k rounds
  to 0 iff l_j = 0, r_k = 0 or |l_j|·|r_k| ≤ s/2 (s the dtype's smallest subnormal; the tie
  goes to the even 0). For float32, float16 and bfloat16 factors the exact product fits in
  a float64 and the count is, per draw, Σ_j #{k : |r_k| ≤ (s/2)/|l_j|} (one stable sort
  per draw that can underflow at all; float64's correctly rounded quotient decides every
  such comparison exactly because s/2 is a power of two and the factors have ≤ 24-bit
  significands, so |r|·|l| differs from s/2 by at least 2^-48 relative when unequal). torch
  multiplies float16/bfloat16 in float32 and rounds once more; that double rounding could
  only matter for products in (2^-134, 2^-134 + 2^-150], and a product of two 8-bit
  bfloat16 significands above 2^-134 is at least 2^-134·(1 + 2^-15). Draws the algebra cannot
  vouch for are materialised, a block at a time: a non-finite factor, a product that may
  overflow the dtype, and for float64 factors any magnitude outside [2^-250, 2^250]
  (where products may be subnormal or their squares overflow).

Core imports this module only when a group holds torch tensors, so a numpy-only domain
never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Dict

import numpy as np
import torch

from xvanish.base import OuterProduct, draw_slices
from xvanish.stats import DrawSums

__all__ = [
    "BLOCK_ELEMENTS",
    "STACK_ELEMENTS",
    "chunked_group_sums",
    "chunked_sums",
    "draw_sums",
    "group_sums",
    "many_draw_sums",
    "many_group_sums",
    "outer_sums",
]

#: Most entries copied to float64 at once (2 MiB): a block of draws of a dense group, or
#: of materialised outer-product draws. One draw larger than this is one block.
BLOCK_ELEMENTS = 1 << 18

#: Most entries of small groups stacked to be reduced together (:func:`many_draw_sums`).
STACK_ELEMENTS = 1 << 22

#: float64 factors whose nonzero magnitudes lie in [2^-FLOAT64_SAFE_EXPONENT,
#: 2^FLOAT64_SAFE_EXPONENT] give normal products with normal, finite squares.
FLOAT64_SAFE_EXPONENT = 250

_F64 = torch.float64


@dataclass
class _Local:
    """Per-draw moments about each draw's own mean (numpy arrays [n], float64)."""

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    total_abs: np.ndarray
    zeros: np.ndarray
    nonfinite: np.ndarray

    @staticmethod
    def cat(parts: list[_Local]) -> _Local:
        return _Local(*(np.concatenate([getattr(p, f) for p in parts]) for f in _LOCAL_FIELDS))

    @staticmethod
    def empty(n: int) -> _Local:
        return _Local(*(np.zeros(n) for _ in _LOCAL_FIELDS))

    def rows(self, part: slice) -> _Local:
        """The draws ``part`` only."""
        return _Local(*(getattr(self, f)[part] for f in _LOCAL_FIELDS))

    def assign(self, rows: np.ndarray, other: _Local) -> None:
        """Overwrite the draws ``rows`` with ``other``'s values."""
        for field in _LOCAL_FIELDS:
            getattr(self, field)[rows] = getattr(other, field)

    def draw_sums(self, size: int) -> DrawSums:
        """:class:`DrawSums` about the mean c of all finite entries (no cancellation)."""
        finite = self.count.sum()
        shift = float((self.count * self.mean).sum() / finite) if finite else 0.0
        offset = self.mean - shift
        return DrawSums(
            count=self.count,
            total=self.count * offset,
            total_sq=self.m2 + self.count * offset**2,
            total_abs=self.total_abs,
            zeros=self.zeros,
            nonfinite=self.nonfinite,
            size=int(size),
            shift=shift,
        )


_LOCAL_FIELDS = ("count", "mean", "m2", "total_abs", "zeros", "nonfinite")


def _numpy(*tensors: torch.Tensor) -> list[np.ndarray]:
    return [t.to(dtype=_F64).cpu().numpy() for t in tensors]


# --- dense groups -------------------------------------------------------------------------------


def _centred_squares(values: torch.Tensor, mean: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """Σ(x − mean)² per row of float64 ``values`` (``overwrite``: use ``values`` as scratch).

    Two passes (the mean first) instead of torch.var_mean, whose Welford loop is ~10x slower
    on CPU here.
    """
    mean = torch.from_numpy(mean).to(values.device)[:, None]
    centred = values.sub_(mean) if overwrite else values - mean
    return centred.square_().sum(dim=1).cpu().numpy()


def _dense_block(block: torch.Tensor, buffer: torch.Tensor) -> _Local:
    """Local moments of a block of draws ``[c, k]``, in float64, from one float64 copy into
    ``buffer`` (reused from block to block: fresh memory would page-fault every time)."""
    values = buffer[: block.shape[0]].copy_(block)
    k = values.shape[1]
    zeros, total, total_abs = _numpy((block == 0).sum(dim=1), values.sum(dim=1), values.abs().sum(dim=1))
    count, nonfinite = np.full_like(total, float(k)), np.zeros_like(total)
    if np.isfinite(total_abs).all():  # one sum tells whether every entry of a draw is finite
        mean = total / k if k else np.zeros_like(total)
        m2 = _centred_squares(values, mean, overwrite=True)
        return _Local(count, mean, m2, total_abs, zeros, nonfinite)
    finite = torch.isfinite(values)
    clean = torch.where(finite, values, 0.0)
    count, total, total_abs = _numpy(finite.sum(dim=1), clean.sum(dim=1), clean.abs().sum(dim=1))
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    centred = torch.where(finite, clean - torch.from_numpy(mean).to(clean.device)[:, None], 0.0)
    (m2,) = _numpy(centred.square().sum(dim=1))
    return _Local(count, mean, m2, total_abs, zeros, k - count)


def _blocks(n: int, size: int) -> list[slice]:
    """Consecutive blocks of draws of at most BLOCK_ELEMENTS entries (one draw at least)."""
    return draw_slices(n, BLOCK_ELEMENTS // max(1, size))


def _buffer(blocks: list[slice], size: int, device: torch.device) -> torch.Tensor:
    """float64 scratch for the largest block, where the values live (no host copy of a GPU group)."""
    return torch.empty((max((b.stop - b.start for b in blocks), default=0), size), dtype=_F64, device=device)


def _dense_local(values: torch.Tensor) -> _Local:
    """Local moments of ``[n, ...]`` values, in blocks of at most BLOCK_ELEMENTS entries."""
    values = values.detach().reshape(values.shape[0], -1)
    blocks = _blocks(*values.shape)
    buffer = _buffer(blocks, values.shape[1], values.device)
    return _Local.cat([_dense_block(values[block], buffer) for block in blocks])


def draw_sums(values: torch.Tensor) -> DrawSums:
    """:class:`DrawSums` of a tensor ``[n, ...]`` (draws first), accumulated in float64.

    Zeros are counted in the tensor's own dtype (converting to float64 is exact); the shift
    is the mean of the finite entries. Memory: one float64 block of BLOCK_ELEMENTS entries.

    Example:
        >>> draw_sums(torch.tensor([[1.0, 0.0], [float("nan"), 3.0]])).zeros
        array([1., 0.])
    """
    values = values.detach().reshape(values.shape[0], -1)
    return _dense_local(values).draw_sums(values.shape[1])


def many_draw_sums(groups: Mapping[str, torch.Tensor]) -> Dict[str, DrawSums]:
    """:class:`DrawSums` of several dense groups ``[n, ...]``, each equal to :func:`draw_sums`'s.

    Groups of the same shape, dtype and device are stacked, at most :data:`STACK_ELEMENTS`
    entries at a time, and reduced as the rows of one tensor: a reduction costs about ten
    small torch calls whatever its size, and a model with hundreds of small groups (an
    RNN's per-step gradients) would pay them hundreds of times.
    """
    return {name: local.draw_sums(size) for name, (local, size) in _many_locals(groups).items()}


def _many_locals(groups: Mapping[str, torch.Tensor]) -> Dict[str, tuple[_Local, int]]:
    """Local moments and entries per draw of dense groups, stacked (:func:`many_draw_sums`)."""
    alike: Dict[tuple, list] = {}
    for name, values in groups.items():
        flat = values.detach().reshape(values.shape[0], -1)
        alike.setdefault((tuple(flat.shape), flat.dtype, flat.device), []).append((name, flat))
    out: Dict[str, tuple[_Local, int]] = {}
    for ((n, size), _, _), members in alike.items():
        for part in draw_slices(len(members), STACK_ELEMENTS // max(1, n * size)):
            stack = members[part]
            local = _dense_local(torch.cat([flat for _, flat in stack]))
            for j, (name, _) in enumerate(stack):
                out[name] = (local.rows(slice(j * n, (j + 1) * n)), size)
    return out


def many_group_sums(values: Mapping[str, Any]) -> Dict[str, DrawSums]:
    """The per-draw sums of every group of a batch as a sampler returns them (see
    GradientBatch): sums pass through, outer products are reduced from their factors, and
    dense groups together (:func:`many_draw_sums`)."""
    out: Dict[str, DrawSums] = {}
    dense: Dict[str, torch.Tensor] = {}
    for name, value in values.items():
        if isinstance(value, DrawSums):
            out[name] = value
        elif isinstance(value, OuterProduct):
            out[name] = outer_sums(value.left, value.right)
        else:
            dense[name] = torch.as_tensor(value)
    out.update(many_draw_sums(dense))
    return {name: out[name] for name in values}


def chunked_sums(chunks: Iterable[torch.Tensor]) -> DrawSums:
    """:class:`DrawSums` of a group delivered as consecutive blocks of draws ``[c_i, ...]``.

    Only one block is alive at a time when ``chunks`` is a generator, so a group of many
    large draws (the weight gradients of a batch of inputs) never exists whole.

    Raises:
        ValueError: when ``chunks`` is empty or the blocks differ in entries per draw.
    """
    return chunked_group_sums({"group": chunk} for chunk in chunks)["group"]


def chunked_group_sums(chunks: Iterable[Mapping[str, torch.Tensor]]) -> Dict[str, DrawSums]:
    """:class:`DrawSums` of every group of a batch delivered as consecutive chunks of draws.

    Each chunk maps group name -> ``[c_i, ...]`` for the same draws; it is reduced as it
    comes, so with a generator only one chunk of dense gradients is alive at a time (a
    sampler whose n draws do not fit in memory at once).

    Raises:
        ValueError: when ``chunks`` is empty, or a group differs from chunk to chunk in
            entries per draw or is missing from a chunk.
    """
    parts: Dict[str, list] = {}
    sizes: Dict[str, int] = {}
    for chunk in chunks:
        if parts and set(chunk) != set(parts):
            raise ValueError(f"chunks have groups {sorted(parts)} and {sorted(chunk)}")
        for name, values in chunk.items():
            size = math.prod(values.shape[1:])
            if sizes.setdefault(name, size) != size:
                raise ValueError(f"chunks of {name!r} have {sizes[name]} and {size} entries per draw")
        for name, (local, _) in _many_locals(chunk).items():  # a chunk's groups reduced together
            parts.setdefault(name, []).append(local)
    if not parts:
        raise ValueError("chunked sums need at least one chunk")
    return {name: _Local.cat(locals_).draw_sums(sizes[name]) for name, locals_ in parts.items()}


# --- outer products ----------------------------------------------------------------------------


def _smallest_subnormal(dtype: torch.dtype) -> float:
    info = torch.finfo(dtype)
    return info.tiny * info.eps


def _overflow_threshold(dtype: torch.dtype) -> float:
    """Smallest |p| that rounds to infinity in ``dtype`` (max + half an ulp; the tie goes to inf)."""
    info = torch.finfo(dtype)
    return info.max + info.eps * (info.max / (2 - info.eps)) / 2


@dataclass
class _Factor:
    """What the outer-product algebra needs of one factor ``[n, a]`` (float64, per draw)."""

    values: torch.Tensor  # float64 copy [n, a]
    magnitudes: torch.Tensor  # |values|
    mean: np.ndarray
    var: np.ndarray  # biased: Σ(x − mean)²/a
    total_abs: np.ndarray
    zeros: np.ndarray
    smallest: np.ndarray  # smallest nonzero |x| (inf for an all-zero draw)
    largest: np.ndarray

    @staticmethod
    def of(values: torch.Tensor) -> _Factor:
        values = values.to(device="cpu", dtype=_F64)
        magnitudes = values.abs()
        low, high = torch.aminmax(magnitudes, dim=1)
        total, total_abs, nonzero, low, high = _numpy(
            values.sum(dim=1), magnitudes.sum(dim=1), torch.count_nonzero(values, dim=1), low, high
        )
        mean = total / values.shape[1]
        var = _centred_squares(values, mean) / values.shape[1]
        zeros = values.shape[1] - nonzero
        if (zeros > 0).any():  # the smallest *nonzero* magnitude, where a draw has zeros
            (low,) = _numpy(torch.where(magnitudes == 0, torch.inf, magnitudes).amin(dim=1))
        return _Factor(values, magnitudes, mean, var, total_abs, zeros, low, high)

    def rows(self, rows: np.ndarray) -> _Factor:
        index = torch.from_numpy(rows)
        return _Factor(
            self.values[index],
            self.magnitudes[index],
            *(getattr(self, f)[rows] for f in ("mean", "var", "total_abs", "zeros", "smallest", "largest")),
        )


def _risky_draws(left: _Factor, right: _Factor, dtype: torch.dtype) -> np.ndarray:
    """Draws whose sums the factor algebra cannot vouch for (see the module docstring)."""
    # Σ|x| of a draw is finite iff every entry is (float64 sums of lower-precision values).
    finite = np.isfinite(left.total_abs) & np.isfinite(right.total_abs)
    with np.errstate(invalid="ignore", over="ignore"):
        if dtype == _F64:
            low, high = 2.0**-FLOAT64_SAFE_EXPONENT, 2.0**FLOAT64_SAFE_EXPONENT
            inside = (left.smallest >= low) & (left.largest <= high) & (right.smallest >= low) & (right.largest <= high)
            return ~(finite & inside)
        return ~(finite & (left.largest * right.largest < _overflow_threshold(dtype)))


def _outer_zeros(left: _Factor, right: _Factor, dtype: torch.dtype) -> np.ndarray:
    """Entries of l ⊗ r that are exactly 0 in ``dtype``, per draw (safe draws only).

    Exact for float32/float16/bfloat16 factors (module docstring); for float64 factors
    inside the safe range no nonzero product underflows.
    """
    a, b = left.values.shape[1], right.values.shape[1]
    zeros = left.zeros * b + right.zeros * a - left.zeros * right.zeros
    if dtype == _F64:
        return zeros
    half_subnormal = _smallest_subnormal(dtype) / 2
    # Only draws whose two smallest nonzero factors multiply to <= s/2 can underflow.
    under = np.flatnonzero(left.smallest * right.smallest <= half_subnormal)
    if under.size:
        # Σ_j #{k : |r_k| <= limit_j} from one stable sort of [|r|, limits] per draw (|r|
        # first, so an |r| equal to a limit sorts before it): a limit at sorted position p
        # has p − (limits before it) values of |r| before it. (A batched searchsorted is
        # ~10x slower.)
        index = torch.from_numpy(under)
        limits = half_subnormal / left.magnitudes[index]  # inf where l_j = 0: every k counts
        values = torch.cat([right.magnitudes[index], limits], dim=1)
        is_limit = torch.cat(
            [torch.zeros(len(under), b, dtype=torch.long), torch.ones(len(under), a, dtype=torch.long)], dim=1
        )
        is_limit = is_limit.gather(1, torch.sort(values, dim=1, stable=True).indices)
        position = torch.arange(1, a + b + 1)
        (zeros[under],) = _numpy((is_limit * (position - is_limit.cumsum(dim=1))).sum(dim=1))
    return zeros


def _outer_local(left: _Factor, right: _Factor, dtype: torch.dtype) -> _Local:
    """Local moments of l ⊗ r per draw from the factors (every draw assumed safe)."""
    a, b = left.values.shape[1], right.values.shape[1]
    vd, ve = a * left.var, b * right.var  # Σd², Σe²; Σd = Σe = 0 up to rounding
    m2 = vd * ve + a * left.mean**2 * ve + b * right.mean**2 * vd
    return _Local(
        np.full_like(m2, float(a * b)),
        left.mean * right.mean,
        m2,
        left.total_abs * right.total_abs,
        _outer_zeros(left, right, dtype),
        np.zeros_like(m2),
    )


def _materialized_local(left: torch.Tensor, right: torch.Tensor) -> _Local:
    """Local moments of l ⊗ r materialised in the factors' dtype, a block of draws at a time."""
    size = left.shape[1] * right.shape[1]
    blocks = _blocks(left.shape[0], size)
    buffer = _buffer(blocks, size, left.device)
    return _Local.cat([_dense_block((left[b, :, None] * right[b, None, :]).reshape(-1, size), buffer) for b in blocks])


def outer_sums(left: Any, right: Any, *, factored: bool = True) -> DrawSums:
    """:class:`DrawSums` of the outer products ``left[i] ⊗ right[i]`` (see OuterProduct).

    Args:
        left: ``[n, a]`` factors (δ of a dense layer), in the model's dtype.
        right: ``[n, b]`` factors (the layer's input u), same dtype.
        factored: compute from the factors (O(n·(a + b) log b) time, O(n·(a + b)) memory;
            module docstring); False materialises the products in the model's dtype, a
            block of draws at a time: the reference the factored path is tested against.

    Returns:
        The per-draw sums of the n·a·b entries. Counts (zeros, non-finite) equal the
        materialised ones exactly; moments are those of the exact products (materialising
        rounds each product to the dtype first: at most its unit roundoff, relative).

    Raises:
        TypeError: when the factors differ in dtype or are not floating point.
    """
    left, right = (torch.as_tensor(v).detach() for v in (left, right))
    if left.dtype != right.dtype or not left.is_floating_point():
        raise TypeError(f"outer-product factors must share one floating dtype, got {left.dtype} and {right.dtype}")
    if left.ndim != 2 or right.ndim != 2 or left.shape[0] != right.shape[0]:
        raise ValueError(
            f"outer-product factors must be [n, a] and [n, b], got {tuple(left.shape)} and {tuple(right.shape)}"
        )
    dtype, size = left.dtype, left.shape[1] * right.shape[1]
    if not factored:
        return _materialized_local(left, right).draw_sums(size)
    factors = _Factor.of(left), _Factor.of(right)
    risky = _risky_draws(*factors, dtype)
    if not risky.any():
        return _outer_local(*factors, dtype).draw_sums(size)
    local, safe = _Local.empty(left.shape[0]), np.flatnonzero(~risky)
    if safe.size:
        local.assign(safe, _outer_local(*(f.rows(safe) for f in factors), dtype))
    rows = torch.from_numpy(np.flatnonzero(risky)).to(left.device)
    local.assign(risky, _materialized_local(left[rows], right[rows]))
    return local.draw_sums(size)


def group_sums(values: Any) -> DrawSums:
    """The per-draw sums of one group value as a sampler returns it (see GradientBatch)."""
    return many_group_sums({"group": values})["group"]
