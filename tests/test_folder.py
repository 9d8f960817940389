"""One run per output folder: the lock, its holder, stale locks of dead runs."""

import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import toy_domain
from xvanish import sweep
from xvanish.folder import LOCK_NAME, FolderBusy, hold_folder

HOLD = textwrap.dedent("""
    import sys, time
    from xvanish.folder import hold_folder
    with hold_folder(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


@pytest.fixture
def other_process(tmp_path):
    """Another process holding ``tmp_path/run`` until the test ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_run_is_refused_naming_folder_and_holder(tmp_path, other_process):
    with pytest.raises(FolderBusy) as error:
        sweep(toy_domain.DOMAIN, "depth", [2], n_samples=4, seed=0, out_dir=tmp_path / "run")
    line = str(error.value)
    assert str(tmp_path / "run") in line and f"pid {other_process.pid} on host {socket.gethostname()}" in line
    assert sorted(os.listdir(tmp_path / "run")) == [LOCK_NAME]  # nothing written by the refused run


def test_a_dead_runs_lock_is_taken_over(tmp_path, other_process, caplog):
    other_process.kill()  # SIGKILL: no clean-up; its lock file stays, its flock goes with it
    other_process.wait()
    assert (tmp_path / "run" / LOCK_NAME).exists()
    with caplog.at_level("WARNING", logger="xvanish"):
        sweep(toy_domain.DOMAIN, "depth", [2], n_samples=4, seed=0, out_dir=tmp_path / "run")
    assert f"pid {other_process.pid}" in caplog.text and "took over" in caplog.text
    assert sorted(os.listdir(tmp_path / "run")) == ["results.csv"]  # the lock is gone after the run


def test_two_threads_cannot_share_a_folder_but_one_thread_nests(tmp_path):
    refused = []
    with hold_folder(tmp_path) as outer:
        with hold_folder(tmp_path) as inner:  # the command line holds it, then Plan.run
            assert inner is outer

        def other():
            try:
                with hold_folder(tmp_path):
                    pass
            except FolderBusy as error:
                refused.append(str(error))

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(refused) == 1 and f"pid {os.getpid()}" in refused[0]
    with hold_folder(tmp_path):  # released: free again
        pass


def test_an_unwritable_place_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(Exception, match=r"output directory='.*file/run': cannot be written"):
        with hold_folder(blocker / "run"):
            pass


def test_the_lock_names_this_process_while_held(tmp_path):
    with hold_folder(tmp_path):
        text = Path(tmp_path / LOCK_NAME).read_text()
    assert text.startswith(f"pid {os.getpid()} on host {socket.gethostname()}, started ")
    assert not (tmp_path / LOCK_NAME).exists()
