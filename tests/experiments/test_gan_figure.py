"""The gan_figure runner: the GAN experiments' plot.png in Arjovsky & Bottou's two-panel layout."""

import json
import os
import subprocess
import sys

import pytest
from matplotlib.image import imread

from xvanish.core import ConfigError
from xvanish.experiments import check_runner


def test_a_tiny_gan_run_draws_the_two_panel_figure(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "xvanish",
            "experiment=gan_saturation",
            "domain.d_steps=3",
            "domain.d_hidden=8",
            "measure.n_samples=4",
            "report.group=saturating/3",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    height, width, _ = imread(tmp_path / "plot.png").shape
    assert (width, height) == (1320, 506)  # 12 x 4.6 inches at 110 dpi: this figure, not the standard plot
    assert json.loads((tmp_path / "summary.json").read_text())["runner"] == {"name": "gan_figure", "figure": "plot.png"}


def test_an_unknown_loss_is_named():
    with pytest.raises(ConfigError) as error:
        check_runner("gan_figure", {"losses": ["minimax"]})
    assert error.value.key == "runner.options.losses"
