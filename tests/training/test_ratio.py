"""rms_ratio against a leave-one-block-out jackknife computed from the raw draws."""

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from xvanish import stats
from xvanish.training.ratio import rms_ratio


def test_rms_ratio_equals_a_naive_grouped_jackknife_of_the_raw_draws():
    rng = np.random.default_rng(0)
    runs, k = 40, 30
    scale = rng.lognormal(size=(runs, 1))  # shared per run: the two groups are correlated
    a, b = rng.normal(size=(runs, k)) * 1e-3 * scale, rng.normal(size=(runs, k)) * scale
    rows = pd.DataFrame([{"group": name, **stats.summarize(x, jackknife=True)} for name, x in (("a", a), ("b", b))])
    ratio, lo, hi = rms_ratio(rows, "a", "b")
    assert ratio == np.sqrt(np.var(a, ddof=1) / np.var(b, ddof=1)) or math.isclose(
        ratio, np.sqrt(np.var(a, ddof=1) / np.var(b, ddof=1)), rel_tol=1e-12
    )
    edges = np.linspace(0, runs, 11).astype(int)
    d = []
    for g in range(10):
        keep = np.r_[0 : edges[g], edges[g + 1] : runs]
        d.append(0.5 * np.log(np.var(a[keep], ddof=1) / np.var(b[keep], ddof=1)))
    d = np.array(d)
    se = np.sqrt(9 / 10 * np.sum((d - d.mean()) ** 2))
    t = scipy_stats.t.ppf(0.975, 9)
    np.testing.assert_allclose([lo, hi], ratio * np.exp([-t * se, t * se]), rtol=1e-9)
    assert lo < 1e-3 < hi  # the true ratio, here inside the interval
