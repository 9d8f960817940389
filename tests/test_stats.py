"""Statistics against closed forms and naive numpy."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from xvanish import stats

# Coverage is a binomial proportion over independent replications: 3 standard errors of
# sqrt(0.95·0.05/R) bound a false failure at ~0.3% if the interval is exact.
REPLICATIONS = 2000
COVERAGE_SLACK = 3 * math.sqrt(0.95 * 0.05 / REPLICATIONS)  # = 0.0146


def _coverage(draw, true_var: float, n: int, k: int, seed: int, replications: int = REPLICATIONS) -> float:
    rng = np.random.default_rng(seed)
    data = draw(rng, (replications, n, k))
    hits = 0
    for values in data:
        summary = stats.summarize(values)
        hits += summary["var_lo"] <= true_var <= summary["var_hi"]
    return hits / replications


@pytest.mark.parametrize(
    "name, draw, true_var, n, k",
    [
        # Laplace(0, 1): variance 2, kurtosis 6 — heavy-tailed with a known variance.
        ("laplace", lambda g, s: g.laplace(0.0, 1.0, s), 2.0, 1000, 1),
        # Correlated entries inside a draw (a shared offset per row), as within one layer's
        # gradient: pooled variance 1 + 1 = 2; the interval must treat the draw as the unit.
        ("correlated-rows", lambda g, s: g.standard_normal(s[:-1] + (1,)) + g.standard_normal(s), 2.0, 400, 8),
        ("gaussian", lambda g, s: g.standard_normal(s), 1.0, 200, 1),
    ],
)
def test_variance_interval_covers_true_variance_at_nominal_rate(name, draw, true_var, n, k):
    coverage = _coverage(draw, true_var, n, k, seed=7)
    assert abs(coverage - 0.95) <= COVERAGE_SLACK, f"{name}: coverage {coverage:.4f}"


def test_heavy_tailed_small_sample_coverage_is_as_documented():
    # docs/core.md: on Laplace data at n = 200 draws the interval covers 0.925 (measured
    # over 2000 replications), short of 0.95 because the fourth moment is poorly estimated.
    # Hold it to the documented level minus 3 binomial SE: >= 0.925 − 0.0146 ≈ 0.91.
    coverage = _coverage(lambda g, s: g.laplace(0.0, 1.0, s), 2.0, 200, 1, seed=8)
    assert coverage >= 0.91, coverage


def test_summary_matches_naive_numpy():
    rng = np.random.default_rng(3)
    values = rng.normal(0.3, 2.0, size=(50, 7))
    values[0, :3] = 0.0
    summary = stats.summarize(values)
    flat = values.ravel()
    assert summary["mean"] == pytest.approx(flat.mean(), rel=1e-12)
    assert summary["var"] == pytest.approx(flat.var(ddof=1), rel=1e-12)
    assert summary["mean_sq"] == pytest.approx(np.mean(flat**2), rel=1e-12)
    assert summary["mean_abs"] == pytest.approx(np.mean(np.abs(flat)), rel=1e-12)
    assert summary["zero_frac"] == pytest.approx(3 / flat.size)
    assert summary["nonfinite_frac"] == 0.0


def test_nonfinite_values_are_counted_and_left_out_never_averaged():
    rng = np.random.default_rng(4)
    values = rng.standard_normal((40, 5))
    clean = values.copy()
    values[2, 1], values[5, 0], values[9, 4] = np.nan, np.inf, -np.inf
    summary = stats.summarize(values)
    assert summary["nonfinite_frac"] == pytest.approx(3 / values.size)
    kept = clean.ravel()[np.isfinite(values.ravel())]
    assert summary["var"] == pytest.approx(kept.var(ddof=1), rel=1e-12)
    assert math.isfinite(summary["var_lo"]) and math.isfinite(summary["var_hi"])


def test_all_zero_group_has_zero_variance_and_full_zero_fraction():
    summary = stats.summarize(np.zeros((10, 3)))
    assert summary["var"] == 0.0 and summary["zero_frac"] == 1.0


def test_large_mean_does_not_cancel_catastrophically():
    rng = np.random.default_rng(5)
    values = 1e8 + rng.standard_normal((200, 4))
    assert stats.summarize(values)["var"] == pytest.approx(values.ravel().var(ddof=1), rel=1e-6)


def test_small_sample_coverage_is_as_documented():
    # At n = 20 Laplace draws the interval covers 0.889/0.896 (seeds 11, 12; 4000
    # replications each, binomial SE 0.005); docs/core.md. Held to 3 SE below the first.
    assert _coverage(lambda g, s: g.laplace(0.0, 1.0, s), 2.0, 20, 1, seed=11, replications=4000) >= 0.874


def test_many_entries_per_draw_at_few_draws_cover():
    # Bonett's centre ln(c·V), c = n/(n − z), suits one entry per draw; at n = 8 draws of 64
    # independent entries it covered 0.08 and left V outside its own interval 99% of the
    # time. The interval now covers 0.990/0.986 (seeds 13, 14): at least nominal − 3 SE.
    assert _coverage(lambda g, s: g.standard_normal(s), 1.0, 8, 64, seed=13) >= 0.95 - COVERAGE_SLACK


@pytest.mark.parametrize("n", [2, 3, 8, 20, 128])
@pytest.mark.parametrize("k", [1, 17, 256])
def test_estimate_lies_inside_its_interval(n, k):
    """The issue's preact/17 at n = 8: 0.2298 outside [0.2444, 0.3791]. Every group, light or
    heavy tailed, correlated within draws or not, must contain its own estimate."""
    rng = np.random.default_rng(n * 1000 + k)
    groups = [
        rng.standard_normal((n, k)) * rng.exponential(size=(n, 1)) ** p + rng.standard_normal((n, 1)) * q
        for p in (0.0, 1.0, 3.0)
        for q in (0.0, 0.3, 3.0)
    ]
    for summary in stats.summarize_many([stats.draw_sums(g) for g in groups]):
        assert summary["var_lo"] <= summary["var"] <= summary["var_hi"], summary


def test_statistics_do_not_depend_on_the_shift_of_the_sums():
    """DrawSums about any shift c give the same statistics (mean_sq uses the unshifted Σg²)."""
    rng = np.random.default_rng(6)
    values = rng.normal(3.0, 0.5, size=(30, 6))
    about_mean = stats.draw_sums(values)
    about_zero = stats.DrawSums(
        count=np.full(30, 6.0),
        total=values.sum(axis=1),
        total_sq=np.square(values).sum(axis=1),
        total_abs=np.abs(values).sum(axis=1),
        zeros=np.zeros(30),
        nonfinite=np.zeros(30),
        size=6,
        shift=0.0,
    )
    first, second = stats.summarize_sums(about_mean), stats.summarize_sums(about_zero)
    for key in ("mean", "var", "var_lo", "var_hi", "mean_sq", "mean_abs"):
        assert first[key] == pytest.approx(second[key], rel=1e-10), key
    assert first["mean_sq"] == pytest.approx(np.mean(values**2), rel=1e-12)


def _naive_interval(values: np.ndarray) -> tuple[float, float, float]:
    """variance_ci's docstring, one draw at a time in plain Python: the pooled variance of
    the finite entries, each draw's influence on it, the log interval around V. Draws without a
    finite entry are left out; the entries are centred first (the interval does not depend
    on a shift, and Σg² of a large mean would cancel)."""
    rows = [row[np.isfinite(row)] for row in values]
    rows = [row for row in rows if row.size]
    n, entries = len(rows), np.concatenate(rows) if rows else np.empty(0)
    if entries.size < 2:
        return math.nan, math.nan, math.nan
    var = float(np.var(entries, ddof=1))
    rows = [row - entries.mean() for row in rows]
    mean = float(np.concatenate(rows).mean())
    if n < 2 or not math.isfinite(var):
        return var, math.nan, math.nan
    if var == 0.0:
        return 0.0, 0.0, 0.0
    biased, c_bar = var * (entries.size - 1) / entries.size, entries.size / n
    influence = [
        (float(np.sum(row**2)) - row.size * (biased + mean**2) - 2 * mean * (float(row.sum()) - row.size * mean))
        / c_bar
        for row in rows
    ]
    z = 1.959963984540054
    t = float(scipy_stats.t.ppf(0.975, n - 1))
    relative = float(np.std(influence, ddof=1)) / math.sqrt(n) / var * math.sqrt(n / (n - 1))
    half = n / (n - z) * t * relative
    centre = min(relative**2 / 2, half / 2)  # the log's bias, never pushing V out of its interval
    with np.errstate(over="ignore"):  # n = 2: c = n/(n − z) ≈ 51 and t ≈ 12.7, the upper end may overflow
        return var, var * float(np.exp(centre - half)), var * float(np.exp(centre + half))


def test_many_groups_at_once_equal_one_group_at_a_time():
    """summarize_many stacks groups of equal n; each summary must be summarize_sums's,
    exactly, including the groups the stacked formulas cannot take whole (a draw with no
    finite entry, n < 2) and the jackknife replicates of flagged groups only."""
    rng = np.random.default_rng(11)
    groups, raw = [], []
    for n in (1, 2, 7, 40):
        for case in range(5):
            values = rng.laplace(size=(n, 6)) * 10.0 ** rng.integers(-20, 20)
            if case == 1:
                values[0] = np.nan  # a draw without a finite entry
            elif case == 2:
                values[:] = 2.5  # zero variance
            elif case == 3:
                values[rng.random(values.shape) < 0.4] = -np.inf
            elif case == 4:
                values += 1e8  # large mean: the sums are shifted
            groups.append(stats.draw_sums(values))
            raw.append(values)
    flags = [i % 3 == 0 for i in range(len(groups))]
    many = stats.summarize_many(groups, jackknife=flags)
    for sums, flag, summary, values in zip(groups, flags, many, raw):
        one = stats.summarize_sums(sums, jackknife=flag)
        assert one.keys() == summary.keys()
        for key, value in one.items():
            assert value == summary[key] or (math.isnan(value) and math.isnan(summary[key])), (sums.n, key)
        # ... and both equal references written out here from the raw values, independently
        # of the stacked code (float64 two-pass sums against shifted sums: 1e-9 relative,
        # far above their rounding, far below any formula error)
        expected = _naive_interval(values)
        for key, reference in zip(("var", "var_lo", "var_hi"), expected):
            assert summary[key] == pytest.approx(reference, rel=1e-9, nan_ok=True), (sums.n, key)
        if flag and np.isfinite(values).all():
            edges = np.linspace(0, sums.n, min(stats.JACKKNIFE_BLOCKS, sums.n // 2) + 1).astype(int)
            for b in range(len(edges) - 1):
                left = np.delete(values, slice(edges[b], edges[b + 1]), axis=0)
                reference = float(np.var(left, ddof=1)) if left.shape[0] * left.shape[1] > 1 else 0.0
                if reference > 0:
                    assert summary[f"lnvar_jk{b}"] == pytest.approx(math.log(reference), abs=1e-9), (sums.n, b)
    with pytest.raises(ValueError, match="flags"):
        stats.summarize_many(groups, jackknife=[True])


def _pool(sets: list[np.ndarray]) -> tuple[tuple[float, float, float, float], dict[str, float]]:
    """Pooled statistics of independent sets of draws, and the direct summary of all of them."""
    rows = [stats.summarize(s) for s in sets]
    n_draws = np.array([s.shape[0] for s in sets])
    entries = n_draws * sets[0].shape[1]
    pooled = stats.pool_summaries(
        n_draws, entries, *([r[c] for r in rows] for c in ("mean", "var", "var_lo", "var_hi"))
    )
    return pooled, stats.summarize(np.concatenate(sets))


def test_pooled_mean_and_variance_are_those_of_all_draws_together():
    rng = np.random.default_rng(21)
    sets = [rng.normal(0.5 + 0.1 * j, 1.0, (n, 6)) for j, n in enumerate((30, 70, 200))]
    (mean, var, _, _), direct = _pool(sets)
    assert mean == pytest.approx(direct["mean"], rel=1e-12)
    assert var == pytest.approx(direct["var"], rel=1e-12)


def test_pooling_one_set_gives_back_its_own_interval():
    # interval_relative_se inverts the interval rule: a change to one without the other fails here.
    values = np.random.default_rng(22).laplace(0.0, 1.0, (40, 3))
    (_, var, lo, hi), direct = _pool([values])
    assert (var, lo, hi) == pytest.approx((direct["var"], direct["var_lo"], direct["var_hi"]), rel=1e-12)


def test_pooled_interval_matches_the_direct_interval_and_covers():
    # Three seeds' sets (60, 100, 140 draws of 4 correlated Laplace entries, variance 2 + 1):
    # the pooled SE differs from the direct one only by each set's own centring, so its
    # log-width stays within 5% of the direct interval's (measured 0.948–1.030 over 2000
    # replications; held at 10%). Gaussian sets (variance 1): coverage within 3 binomial SE of 0.95.
    rng = np.random.default_rng(23)
    widths, hits = [], 0
    for _ in range(300):
        sets = [rng.laplace(0.3, 1.0, (n, 4)) + rng.standard_normal((n, 1)) for n in (60, 100, 140)]
        (_, _, lo, hi), direct = _pool(sets)
        widths.append(math.log(hi / lo) / math.log(direct["var_hi"] / direct["var_lo"]))
    assert 0.9 <= min(widths) and max(widths) <= 1.1
    for _ in range(REPLICATIONS):
        (_, _, lo, hi), _ = _pool([rng.standard_normal((n, 1)) for n in (60, 100, 140)])
        hits += lo <= 1.0 <= hi
    assert abs(hits / REPLICATIONS - 0.95) <= COVERAGE_SLACK, hits / REPLICATIONS
