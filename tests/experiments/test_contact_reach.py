"""The contact_reach runner: rates against exact exponential profiles, memory lengths and contact
fractions against a direct count, and one tiny run through the front door."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from xvanish.core import ConfigError
from xvanish.data import contact_separations
from xvanish.experiments import check_runner
from xvanish.experiments import contact_reach as cr


def profiles(rates, seq_len=200):
    """results.csv rows of exactly exponential profiles: Var = e^{2 r d} (so ‖∂L/∂h‖ falls like e^{r d})."""
    d = np.arange(0, 160, dtype=float)
    frames = [
        pd.DataFrame(
            {
                "variant": name,
                "seq_len": seq_len,
                "family": "state",
                "position": d,
                "var": np.exp(2 * rate * d),
                "theory_var": np.exp(2 * 1.5 * rate * d),
            }
        )
        for name, rate in rates.items()
    ]
    return pd.concat(frames, ignore_index=True)


def test_rates_memory_lengths_and_contact_fractions_are_exact():
    options = cr.ContactReachOptions()
    table, _ = cr.reach_table(profiles({"fast": -0.5, "slow": -0.01}), options)
    assert table.rate_per_residue.tolist() == pytest.approx([-0.5, -0.01], rel=1e-9)  # exact data: only rounding
    assert table.theory_rate.tolist() == pytest.approx([-0.75, -0.015], rel=1e-9)
    separations = contact_separations()
    for row, rate in zip(table.itertuples(), (-0.5, -0.01)):
        memory = math.log(1e6) / -rate
        assert row.memory_length == pytest.approx(memory, rel=1e-9)
        assert row.contacts_beyond == sum(s > memory for s in separations.tolist()) / len(separations)
    assert table.extrapolated.tolist() == [False, True]  # 27.6 residues within the window, 1381.6 beyond it


def test_bad_options_name_the_key():
    for options, key in (
        ({"fall": 1}, "fall"),
        ({"fit_range": [5]}, "fit_range"),
        ({"fit_range": [9, 3]}, "fit_range"),
    ):
        with pytest.raises(ConfigError) as error:
            check_runner("contact_reach", options)
        assert error.value.key == f"runner.options.{key}"


def test_a_tiny_run_writes_the_table_and_both_figures(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "xvanish",
            "experiment=contact_reach",
            "domain.hidden=8",
            "sweep.values=[40]",
            "measure.n_samples=4",
            "runner.options.fit_range=[5,30]",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for name in ("results.csv", "summary.json", "plot.png", cr.PROFILES_NAME, cr.TABLE_NAME):
        assert (tmp_path / name).stat().st_size > 0, name
    again, _ = cr.reach_table(pd.read_csv(tmp_path / "results.csv"), cr.ContactReachOptions(fit_range=[5, 30]))
    models = json.loads((tmp_path / "summary.json").read_text())["runner"]["models"]
    assert [m["model"] for m in models] == again.model.tolist() and len(models) == 8
    assert [m["rate_per_residue"] for m in models] == pytest.approx(again.rate_per_residue.tolist(), rel=1e-12)
    assert "memory length: residues for ||dL/dh|| to fall 1e+06-fold" in done.stdout
