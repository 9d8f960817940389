"""summary.json content, strict JSON, non-finite counts, atomic writes."""

import json
import math
import os
import stat
import sys

import numpy as np
import pandas as pd
import pytest
import synthetic

from xvanish.fit import fit_decay
from xvanish.report.headline import build_series
from xvanish.report.outputs import (
    excluded_points,
    nonfinite_report,
    package_versions,
    replace_atomic,
    run_summary,
    write_json_atomic,
)


def _rows(fracs, n_samples, n_params):
    return pd.DataFrame(
        {
            "group": [f"g/{i}" for i in range(len(fracs))],
            "scale_name": "depth",
            "scale": 4.0,
            "nonfinite_frac": fracs,
            "n_samples": n_samples,
            "n_params": n_params,
        }
    )


def test_nonfinite_count_is_fraction_times_entries():
    """3 of 8·4 entries and 5 of 8·10 entries were NaN/inf: 8 in total, two rows listed."""
    report = nonfinite_report(_rows([3 / 32, 0.0, 5 / 80], 8, [4, 7, 10]))
    assert report["count"] == 8
    assert report["rows"] == ["g/0 at depth=4: 3 entries (0.0938 of 32)", "g/2 at depth=4: 5 entries (0.0625 of 80)"]
    assert nonfinite_report(_rows([0.0], 8, 4)) == {"count": 0, "rows": []}


def test_json_is_strict_nan_becomes_null(tmp_path):
    path = tmp_path / "s.json"
    write_json_atomic({"a": math.nan, "b": np.float64(1.5), "c": [np.int64(3), math.inf], "d": {"e": None}}, path)
    data = json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    assert data == {"a": None, "b": 1.5, "c": [3, None], "d": {"e": None}}


def test_atomic_write_leaves_no_temporary_and_readable_permissions(tmp_path):
    replace_atomic(tmp_path / "x.csv", lambda tmp: open(tmp, "w").write("a\n1\n"))
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "x.csv").stat().st_mode) == 0o666 & ~mask

    def fail(tmp):
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        replace_atomic(tmp_path / "x.csv", fail)
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"] and (tmp_path / "x.csv").read_text() == "a\n1\n"


def test_versions_list_pennylane_only_when_imported(monkeypatch):
    monkeypatch.delitem(sys.modules, "pennylane", raising=False)
    versions = package_versions()
    assert versions["numpy"] == np.__version__ and versions["pandas"] == pd.__version__
    assert "pennylane" not in versions
    monkeypatch.setitem(sys.modules, "pennylane", object())
    assert "pennylane" in package_versions()


def test_summary_fields_and_excluded_points():
    df = synthetic.results([2, 3, 4], synthetic.decaying(-0.5), n_samples=16, n_params=3)
    df.loc[(df["group"] == "preact/1") & (df["scale"] == 4), "nonfinite_frac"] = 1 / 48  # 1 of 16·3 entries
    fits = fit_decay(df)
    summary = run_summary(
        df=df,
        fits=fits,
        series=build_series(df, fits, "input"),
        domain="toy",
        config={"measure": {"seed": 0}},
        wall_seconds=1.23456,
    )
    assert summary["domain"] == "toy" and summary["scale_name"] == "depth" and summary["headline_group"] == "input"
    assert summary["nonfinite"]["count"] == 1 and summary["n_rows"] == len(df)
    assert summary["wall_seconds"] == 1.235 and summary["config"] == {"measure": {"seed": 0}}
    assert len(summary["fits"]) == len(fits)
    assert "profile fit: preact/1@4: non-finite gradients" in summary["excluded"]
    assert excluded_points(fits) == summary["excluded"]
