"""xvanish.reduce against independent references.

* Dense groups: the torch reduction against numpy's :func:`xvanish.stats.draw_sums` on the
  same values (a separate implementation: one float64 copy, masks, direct shifted sums).
* Outer products: the factored sums against materialising the products, in the model's
  dtype for the counts (exact equality: underflow to zero and overflow to inf are what is
  measured) and, for the moments, against the exact products (float64 products of
  float32/float16/bfloat16 factors are exact; in float64 the materialised products carry
  one rounding, 1.1e-16 relative, so 1e-12 leaves four orders of margin).
"""

import math

import numpy as np
import pytest
import torch

from xvanish import reduce, stats
from xvanish.core import OuterProduct

MOMENTS = ("mean", "var", "var_lo", "var_hi", "mean_sq", "mean_abs")
COUNTS = ("zero_frac", "nonfinite_frac")
LOW_PRECISION = [torch.float32, torch.float16, torch.bfloat16]


def _assert_summaries_equal(got, expected, rel=1e-12):
    a, b = stats.summarize_sums(got), stats.summarize_sums(expected)
    for key in MOMENTS:
        assert a[key] == pytest.approx(b[key], rel=rel, nan_ok=True), key
    for key in COUNTS:
        assert a[key] == b[key], key
    for field in ("count", "zeros", "nonfinite"):
        np.testing.assert_array_equal(getattr(got, field), getattr(expected, field), err_msg=field)
    # Per draw, relative to the largest draw: Σg² is rebuilt from sums about the shift c,
    # so an all-zero draw comes back as ~1e-16·c²·k, not 0.
    for a, b in ((got.total_abs, expected.total_abs), (got.unshifted_sq(), expected.unshifted_sq())):
        finite = np.isfinite(b)
        np.testing.assert_allclose(a[finite], b[finite], rtol=rel, atol=rel * np.abs(b[finite]).max(initial=0))
    assert got.size == expected.size


def _numpy_sums(values: torch.Tensor) -> stats.DrawSums:
    return stats.draw_sums(values.to(torch.float64).reshape(values.shape[0], -1).numpy())


def _exact_outer(left, right):
    """Products of the factors in float64 (exact for factors of at most 26-bit significands)."""
    return OuterProduct(left.double(), right.double()).materialize()


# --- dense groups ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, *LOW_PRECISION])
@pytest.mark.parametrize("block", [reduce.BLOCK_ELEMENTS, 37])  # one block; many blocks of 1 draw
def test_dense_sums_equal_numpy(dtype, block, monkeypatch):
    # Mean 3 with std 0.01: a naive Σg² − (Σg)²/n would lose ~6 digits; both paths shift.
    # Zeros, NaN and ±inf in some draws; one draw entirely non-finite.
    monkeypatch.setattr(reduce, "BLOCK_ELEMENTS", block)
    gen = torch.Generator().manual_seed(0)
    values = (3 + 0.01 * torch.randn(9, 5, 7, generator=gen, dtype=torch.float64)).to(dtype)
    values[0, 0, :3] = 0
    values[1, 2, 1] = math.nan
    values[2, 4, 6] = -math.inf
    values[3] = math.inf
    _assert_summaries_equal(reduce.draw_sums(values), _numpy_sums(values))


@pytest.mark.parametrize("stack", [reduce.STACK_ELEMENTS, 40])  # one stack; stacks of one and two groups
def test_many_draw_sums_equal_one_group_at_a_time(stack, monkeypatch):
    """Groups of two widths and two dtypes, zeros, NaN and inf among them, reduced together:
    each group's sums equal draw_sums of that group alone (the same row-wise arithmetic) and
    numpy's reference."""
    monkeypatch.setattr(reduce, "STACK_ELEMENTS", stack)
    gen = torch.Generator().manual_seed(3)
    groups = {f"w{j}": torch.randn(5, 4, generator=gen) * (j + 1) + j for j in range(3)}
    groups["narrow"] = torch.randn(5, 2, generator=gen)
    groups["double"] = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    groups["w1"][2, 1] = 0
    groups["w2"][3, 0] = math.nan
    groups["double"][1] = math.inf
    got = reduce.many_draw_sums(groups)
    assert sorted(got) == sorted(groups)
    for name, values in groups.items():
        _assert_summaries_equal(got[name], reduce.draw_sums(values), rel=1e-15)
        _assert_summaries_equal(got[name], _numpy_sums(values))


def test_chunked_sums_equal_one_pass():
    gen = torch.Generator().manual_seed(1)
    values = torch.randn(11, 6, generator=gen) * 2 + 5
    values[4, 2] = 0
    values[7, 1] = math.nan
    chunks = (values[s : s + 3] for s in range(0, 11, 3))
    _assert_summaries_equal(reduce.chunked_sums(chunks), _numpy_sums(values))
    with pytest.raises(ValueError, match="at least one chunk"):
        reduce.chunked_sums([])


def test_chunked_group_sums_equal_one_pass_per_group():
    """Two groups of different widths delivered in chunks of 4, 4 and 3 draws: each equals
    the numpy reduction of the whole group; a group that changes width or goes missing
    between chunks is refused."""
    gen = torch.Generator().manual_seed(2)
    wide, narrow = torch.randn(11, 9, generator=gen) - 4, torch.randn(11, 2, generator=gen).double()
    wide[3, 5] = math.inf
    chunks = ({"wide": wide[s : s + 4], "narrow": narrow[s : s + 4]} for s in range(0, 11, 4))
    got = reduce.chunked_group_sums(chunks)
    assert sorted(got) == ["narrow", "wide"]
    _assert_summaries_equal(got["wide"], _numpy_sums(wide))
    _assert_summaries_equal(got["narrow"], _numpy_sums(narrow))
    with pytest.raises(ValueError, match="entries per draw"):
        reduce.chunked_group_sums([{"a": wide[:2]}, {"a": narrow[2:4]}])
    with pytest.raises(ValueError, match="groups"):
        reduce.chunked_group_sums([{"a": wide[:2], "b": narrow[:2]}, {"a": wide[2:4]}])


# --- outer products: float64 -------------------------------------------------------------------


def _factors(n, a, b, dtype, seed, offset=0.0):
    gen = torch.Generator().manual_seed(seed)
    left = (offset + torch.randn(n, a, generator=gen, dtype=torch.float64)).to(dtype)
    right = (2 * offset + torch.randn(n, b, generator=gen, dtype=torch.float64)).to(dtype)
    left[0, :2] = 0  # zero factors: whole rows/columns of zeros
    right[1, 3] = 0
    right[2] = 0  # an all-zero draw
    return left, right


@pytest.mark.parametrize("offset", [0.0, 30.0])  # 30: |mean| ~ 600·std, the shift must hold
def test_outer_factored_equals_materialised_float64(offset):
    left, right = _factors(8, 5, 6, torch.float64, seed=2, offset=offset)
    factored = reduce.outer_sums(left, right)
    materialised = reduce.outer_sums(left, right, factored=False)
    _assert_summaries_equal(factored, materialised)
    _assert_summaries_equal(materialised, reduce.draw_sums(OuterProduct(left, right).materialize()), rel=0)


@pytest.mark.parametrize("left_scale, right_scale", [(1e-200, 1e-200), (1e-80, 1.0), (math.inf, 1.0), (math.nan, 1.0)])
def test_outer_float64_out_of_range_draws_are_materialised(left_scale, right_scale, monkeypatch):
    # Products of 1e-200 factors underflow to 0 in float64; 1e-80 lies outside the range
    # where the factor algebra is trusted: those draws (and non-finite ones) are
    # materialised, the others stay factored. 1e-80 products are still normal numbers, so
    # equal sums alone would not show the routing: a spy checks which draws were materialised.
    left, right = _factors(6, 4, 5, torch.float64, seed=3)
    left[3] *= left_scale
    right[3] *= right_scale
    right[4, 0] = left_scale
    routed = []
    materialise = reduce._materialized_local
    monkeypatch.setattr(reduce, "_materialized_local", lambda l, r: routed.append(l.shape[0]) or materialise(l, r))
    factored = reduce.outer_sums(left, right)
    assert routed == [2]  # draws 3 and 4, and only those
    _assert_summaries_equal(factored, reduce.outer_sums(left, right, factored=False))


# --- outer products: low precision ---------------------------------------------------------------


def _underflow_factors(dtype, n=24, a=9, b=11, seed=4):
    """Factors around sqrt(s/2) (s: smallest subnormal) so that many products round to 0
    although neither factor is 0, plus products exactly at s/2 (the tie goes to 0) and just
    above it, and zero factors."""
    info = torch.finfo(dtype)
    half_subnormal_log2 = math.log2(info.tiny * info.eps) - 1
    gen = torch.Generator().manual_seed(seed)
    exponents = half_subnormal_log2 / 2 + 4 * torch.rand(n, a + b, generator=gen, dtype=torch.float64) - 2
    signs = torch.where(torch.rand(n, a + b, generator=gen) < 0.5, -1.0, 1.0).double()
    values = (signs * 2.0**exponents).to(dtype)
    left, right = values[:, :a].clone(), values[:, a:].clone()
    tie = 2.0 ** math.floor(half_subnormal_log2 / 2)
    left[0, 0], right[0, 0] = tie, 2.0**half_subnormal_log2 / tie  # exactly s/2: rounds to 0
    left[0, 1] = torch.tensor(tie, dtype=dtype).nextafter(torch.tensor(1.0, dtype=dtype))  # just above
    left[1, :3] = 0
    right[2, 4] = 0
    return left, right


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=str)
def test_outer_underflow_counts_exact_low_precision(dtype):
    left, right = _underflow_factors(dtype)
    materialised = reduce.outer_sums(left, right, factored=False)
    zero_frac = stats.summarize_sums(materialised)["zero_frac"]
    assert 0.1 < zero_frac < 0.9  # the factors do probe the underflow boundary
    assert (left[0, 0] * right[0, 0]).item() == 0 and (left[0, 1] * right[0, 0]).item() != 0
    factored = reduce.outer_sums(left, right)
    np.testing.assert_array_equal(factored.zeros, materialised.zeros)
    np.testing.assert_array_equal(factored.nonfinite, materialised.nonfinite)
    # Moments are those of the exact products (float64 products of these factors are exact).
    exact = reduce.draw_sums(_exact_outer(left, right))
    for key in ("mean", "var", "mean_sq", "mean_abs"):
        assert stats.summarize_sums(factored)[key] == pytest.approx(stats.summarize_sums(exact)[key], rel=1e-12)


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=str)
def test_outer_moments_low_precision_within_rounding_of_materialised(dtype):
    # Materialising rounds each product to the dtype: per entry |fl(p) − p| <= u·|p| (u the
    # unit roundoff; these products are normal numbers), so Σ|g| and Σg² differ by at most
    # u and 2u+u² relative. Counts are exact.
    left, right = _factors(8, 5, 6, dtype, seed=5, offset=0.5)
    factored, materialised = reduce.outer_sums(left, right), reduce.outer_sums(left, right, factored=False)
    u = torch.finfo(dtype).eps / 2
    scale = materialised.unshifted_sq().max()  # an all-zero draw: Σg² rebuilt about c, ~1e-16·c²·k
    np.testing.assert_allclose(factored.total_abs, materialised.total_abs, rtol=u, atol=0)
    np.testing.assert_allclose(
        factored.unshifted_sq(), materialised.unshifted_sq(), rtol=2 * u + u * u, atol=1e-12 * scale
    )
    for field in ("count", "zeros", "nonfinite"):
        np.testing.assert_array_equal(getattr(factored, field), getattr(materialised, field))
    _assert_summaries_equal(factored, reduce.draw_sums(_exact_outer(left, right)))


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=str)
def test_outer_nonfinite_and_overflow_counted_as_materialised(dtype):
    # A non-finite factor (NaN, inf: inf·0 is NaN) and products just above and at the
    # overflow threshold max + ulp/2 (the tie rounds to inf) in some draws.
    left, right = _factors(7, 4, 5, dtype, seed=6)
    info = torch.finfo(dtype)
    left[3, 1], left[4, 0], right[4, 2] = math.nan, math.inf, 0.0
    big = torch.tensor(info.max, dtype=dtype)
    left[5, 0], right[5, 0] = big, 1.0
    right[5, 1] = torch.tensor(1.0, dtype=dtype).nextafter(torch.tensor(2.0, dtype=dtype))  # max·(1+eps): inf
    left[6, 0], right[6] = big, right[6].clamp(-1, 1)  # max·|r| <= max: finite, stays factored
    materialised = reduce.outer_sums(left, right, factored=False)
    assert materialised.nonfinite[[3, 4, 5]].min() > 0
    factored = reduce.outer_sums(left, right)
    for field in ("count", "zeros", "nonfinite"):
        np.testing.assert_array_equal(getattr(factored, field), getattr(materialised, field))
    safe = [0, 1, 2, 6]  # factored draws: exact-product moments
    exact = reduce.draw_sums(_exact_outer(left[safe], right[safe]))
    np.testing.assert_allclose(factored.total_abs[safe], exact.total_abs, rtol=1e-12)


def test_outer_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match="one floating dtype"):
        reduce.outer_sums(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.float64))


def test_group_sums_dispatch():
    left, right = _factors(4, 3, 5, torch.float64, seed=7)
    product = OuterProduct(left, right)
    _assert_summaries_equal(reduce.group_sums(product), reduce.draw_sums(product.materialize()))
    sums = reduce.draw_sums(left)
    assert reduce.group_sums(sums) is sums
