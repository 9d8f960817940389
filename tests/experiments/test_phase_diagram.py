"""``python -m xvanish -m experiment=phase_diagram``: one command runs the grid and draws the diagram."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from xvanish.fit import fit_decay
from xvanish.experiments import phase_diagram as pd_runner


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("phase")
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "xvanish",
            "-m",
            "experiment=phase_diagram",
            "domain.weight_var=1.0,2.0",
            "domain.bias_var=0.0,0.1",
            "domain.width=8",
            "sweep.values=[6]",
            "measure.n_samples=8",
            f"hydra.sweep.dir={out}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_the_grid_runs_and_the_diagram_is_drawn(sweep):
    out, stdout = sweep
    for name in (pd_runner.FIGURE_NAME, pd_runner.RATES_NAME, pd_runner.SUMMARY_NAME, "results.csv", "plot.png"):
        assert (out / name).stat().st_size > 0, name
    rates = pd.read_csv(out / pd_runner.RATES_NAME)
    assert sorted(zip(rates.weight_var, rates.bias_var)) == [(1.0, 0.0), (1.0, 0.1), (2.0, 0.0), (2.0, 0.1)]
    assert json.loads((out / pd_runner.SUMMARY_NAME).read_text())["n_jobs"] == 4
    assert "phase diagram:" in stdout


def test_each_rate_is_minus_the_jobs_profile_slope(sweep):
    """Recomputed from each job's own results.csv: ln χ = −(slope of ln Var[preact/l] in l)."""
    out, _ = sweep
    rates = pd.read_csv(out / pd_runner.RATES_NAME).set_index(["weight_var", "bias_var"])
    for job in sorted(p for p in out.iterdir() if p.is_dir() and (p / "results.csv").exists()):
        df = pd.read_csv(job / "results.csv")
        fits = fit_decay(df)
        slope = fits[(fits.kind == "profile") & (fits.group == "preact") & (fits.law == "exponential")].rate.iloc[0]
        key = (df.weight_var.iloc[0], df.bias_var.iloc[0])
        assert rates.loc[key, "rate"] == pytest.approx(-slope, rel=1e-12)
