"""The built wheel works on its own: configs ship inside it as xvanish.conf.

Builds a wheel, installs it (without dependencies) into a fresh venv whose only link to
the test environment is a .pth line to its site-packages (so torch is not installed
twice), and runs the CLI from an unrelated directory.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs_from_another_directory(tmp_path):
    # Build from a copy: building in the source tree would leave build/ and rewrite *.egg-info.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "outputs", "multirun", "__pycache__"
        ),
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # only the wheel's code
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        env=env,
    )
    wheel = next(wheels.glob("xvanish-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "outer_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        check=True,
        env=env,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import xvanish; print(xvanish.__file__); "
            "print(xvanish.get_domain('vqc').factory.__module__ and "
            "__import__('sys').modules[xvanish.get_domain('vqc').factory.__module__].__file__)",
        ],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert where.count(str(venv)) == 2, f"imported xvanish / its vqc package from {where}, not the wheel"
    run = subprocess.run(
        [
            str(python),
            "-m",
            "xvanish",
            "domain.width=4",
            "measure.n_samples=4",
            "sweep.values=[2,3,4]",
            f"hydra.run.dir={elsewhere / 'run'}",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert {"results.csv", "summary.json"} <= {p.name for p in (elsewhere / "run").iterdir()}
