import logging
import os
import sys
from pathlib import Path

import pytest

# tests/toy_domain.py is a known-answer domain used by several test modules.
sys.path.insert(0, str(Path(__file__).parent))

#: Subprocesses the tests start (the CLI, the wheel) run on one thread too.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The whole suite runs torch on one intra-op thread.

    The test sizes are small: extra threads gain little and, on a 2-core machine that is
    busy with anything else, OpenMP waits make them many times slower (measured: a GAN test
    file 114 s instead of 9 s, a depth-48 encoder 1.4 s instead of 0.05 s, the MLP
    first-layer theory test 68 s instead of 9 s). The numbers are the same either way.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def main_with(monkeypatch, capsys):
    """Call the CLI entry point in this process with exactly these arguments; restore the
    logging Hydra configures. Returns ``(exit code, captured output)``."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def call(*args):
        monkeypatch.setattr(sys, "argv", ["xvanish", *args])
        try:
            from xvanish import cli

            cli.main()
            code = 0
        except SystemExit as stop:
            code = stop.code
        finally:
            root.handlers[:], root.level = handlers, level
        return code, capsys.readouterr()

    return call


@pytest.fixture
def run_main(main_with, tmp_path):
    """:func:`main_with`, the run going to ``tmp_path``."""
    return lambda *args: main_with(*args, f"hydra.run.dir={tmp_path}")
