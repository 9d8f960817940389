"""Time every packaged ``experiment=`` as a user runs it: wall and CPU seconds, with the machine's load.

    python experiments/time_experiments.py                      # all, one after another
    python experiments/time_experiments.py lie_algebra lie_depth --out /tmp/timings.csv

Each experiment runs in a fresh temporary output dir (``hydra.run.dir``), one torch thread
(``OMP_NUM_THREADS=1``, as the README's times are stated). CPU seconds (user + system of the
child) change little when other processes share the cores; wall seconds do, so the load
average before and after each run is printed beside them.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def experiments() -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def time_one(name: str, extra: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as out:
        load_before = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "xvanish", f"experiment={name}", f"hydra.run.dir={out}", *extra],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = (done.stdout.strip().splitlines() or [""])[-1] if done.returncode == 0 else done.stderr.strip()[-200:]
    return {
        "experiment": name,
        "rc": done.returncode,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "last_line": last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="experiments (default: every packaged one)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as CSV")
    parser.add_argument("--extra", nargs="*", default=[], help="overrides passed to every run")
    args = parser.parse_args()
    rows = []
    for name in args.names or experiments():
        row = time_one(name, args.extra)
        rows.append(row)
        print(
            f"{name:>18}: rc {row['rc']}, wall {row['wall_s']:7.1f} s, cpu {row['cpu_s']:7.1f} s, "
            f"load {row['load_before']:.1f} -> {row['load_after']:.1f}",
            flush=True,
        )
        if args.out:
            with args.out.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)


if __name__ == "__main__":
    main()
