"""The wheel's package list (pyproject.toml) names every package on disk, and nothing else."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_on_disk_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "xvanish").rglob("__init__.py")}
    on_disk.add("xvanish.conf")  # conf/ is mapped into the package by package-dir
    assert set(config["packages"]) == on_disk
    assert config["package-dir"]["xvanish.conf"] == "conf"
