"""Resume trusts only whole, unedited points; an unreadable results.csv is one clear error."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import toy_domain
from xvanish import sweep
from xvanish.core import RESULT_COLUMNS
from xvanish.folder import LOCK_NAME
from xvanish.resume import HASH_COLUMN, ResultsUnreadable, read_results

DEPTHS = [2, 3, 4]
RUN = {"n_samples": 8, "seed": 5}
#: Rows of one toy point at depth d: d layer groups, input, cost.
GROUPS = {d: d + 2 for d in DEPTHS}
#: What a resumed table must reproduce exactly (seconds is wall time, never the same).
NUMBERS = [c for c in RESULT_COLUMNS if c != "seconds"]


@pytest.fixture
def finished(tmp_path):
    """A finished toy run and its results.csv lines (header first)."""
    df = sweep(toy_domain.DOMAIN, "depth", DEPTHS, out_dir=tmp_path, **RUN)
    return tmp_path, df, (tmp_path / "results.csv").read_text().splitlines()


def resume(out_dir):
    done = []
    df = sweep(toy_domain.DOMAIN, "depth", DEPTHS, out_dir=out_dir, resume=True, on_point=done.append, **RUN)
    return df, {d.point.value: (d.reused, d.recomputed) for d in done}


def assert_same_numbers(a, b):
    pd.testing.assert_frame_equal(a[NUMBERS].reset_index(drop=True), b[NUMBERS].reset_index(drop=True))


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")


def test_every_row_carries_its_points_hash(finished):
    out_dir, _, lines = finished
    assert lines[0].split(",")[-1] == HASH_COLUMN
    hashes = [line.rsplit(",", 1)[1] for line in lines[1:]]
    runs = [hashes[sum(list(GROUPS.values())[:i]) : sum(list(GROUPS.values())[: i + 1])] for i in range(3)]
    assert [len(set(run)) for run in runs] == [1, 1, 1] and len({run[0] for run in runs}) == 3


def test_a_whole_file_is_reused_point_for_point(finished):
    out_dir, first, _ = finished
    again, how = resume(out_dir)
    assert how == {2: (True, ""), 3: (True, ""), 4: (True, "")}
    assert_same_numbers(again, first)


def _cut_inside_point(lines):  # the file ends at a row boundary inside depth=3's rows
    return lines[: 1 + GROUPS[2] + 2]


def _duplicate_row(lines):
    return lines + [lines[1]]


def _drop_group(lines):  # depth=4 loses its input row
    return [line for line in lines if not line.startswith("toy,depth,4.0,input,")]


def _edit_number(lines):  # one var of depth=3 changed in its last digit
    row = 1 + GROUPS[2]
    cells = lines[row].split(",")
    var = RESULT_COLUMNS.index("var")
    cells[var] = cells[var][:-1] + ("1" if cells[var][-1] != "1" else "2")
    return lines[:row] + [",".join(cells)] + lines[row + 1 :]


def _rename_config_column(lines):  # a header edit beyond the documented columns
    return [lines[0].replace(",decay,", ",dekay,")] + lines[1:]


def _no_hash_column(lines):  # written by an older xvanish
    return [line.rsplit(",", 1)[0] for line in lines]


@pytest.mark.parametrize(
    "damage, recomputed",
    [
        (_cut_inside_point, {3: "2 of its 5 groups", 4: ""}),
        (_duplicate_row, {2: "1 duplicated rows"}),
        (_drop_group, {4: "5 of its 6 groups"}),
        (_edit_number, {3: "content hash differs"}),
        (_rename_config_column, {}),  # no row matches a point any more: every point is new
        (_no_hash_column, {2: "no content hash", 3: "no content hash", 4: "no content hash"}),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_points_that_are_not_whole_are_measured_again(finished, damage, recomputed):
    out_dir, first, lines = finished
    write(out_dir / "results.csv", damage(lines))
    again, how = resume(out_dir)
    for depth in DEPTHS:
        reused, why = how[depth]
        if depth in recomputed:
            assert not reused and recomputed[depth] in why, (depth, why)
        elif damage is _rename_config_column:
            assert not reused and why == ""
    # whatever was damaged, the resumed table is the uninterrupted one, and whole again
    assert_same_numbers(again, first)
    assert all(reused for reused, _ in resume(out_dir)[1].values())


@pytest.mark.parametrize(
    "content, cause",
    [
        (b"\xff\xfe\x00\x01garbage\n", "not UTF-8 text"),
        (b"", "the file is empty"),
        (b"\n\n  \n", "the file is empty"),
        (b'domain,"scale_name\n1,2\n', "not a CSV table"),
        (b"a,b\n1,2\n", "column 1 is 'a'"),
    ],
    ids=["binary", "empty", "blank", "unclosed quote", "foreign table"],
)
def test_unreadable_files_are_one_line_naming_the_file(tmp_path, content, cause):
    (tmp_path / "results.csv").write_bytes(content)
    with pytest.raises(ResultsUnreadable) as error:
        resume(tmp_path)
    line = str(error.value)
    assert "\n" not in line and str(tmp_path / "results.csv") in line and cause in line, line


@pytest.mark.parametrize(
    "edit, cause",
    [
        (lambda h: h.replace(",mean,var,", ",var,mean,"), "column 8 is 'var'"),  # swapped names
        (lambda h: h.replace(",seed,", ",sead,"), "'sead'"),
        (lambda h: h.replace(",var,", ",", 1), "column 9 is 'var_lo'"),  # a column missing
    ],
    ids=["swapped", "renamed", "missing"],
)
def test_documented_columns_must_be_there_in_order(finished, edit, cause):
    out_dir, _, lines = finished
    header = edit(lines[0])
    body = (
        lines[1:]
        if header.count(",") == lines[0].count(",")
        else [
            ",".join(c for i, c in enumerate(line.split(",")) if i != RESULT_COLUMNS.index("var")) for line in lines[1:]
        ]
    )
    write(out_dir / "results.csv", [header] + body)
    with pytest.raises(ResultsUnreadable, match=cause):
        read_results(out_dir / "results.csv")


def test_temporary_files_of_a_killed_run_are_removed(finished):
    out_dir, _, _ = finished
    for name in (".results.k2j4.csv", ".summary.x.json", ".plot.y.png"):
        (out_dir / name).write_text("half")
    (out_dir / ".keep.csv").write_text("not ours")
    resume(out_dir)
    assert sorted(p.name for p in out_dir.iterdir() if p.name.startswith(".")) == [".keep.csv"]


# --------------------------------------------------------------------------- kill -9 at random moments

KILLED_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import toy_domain
    from xvanish import sweep
    sweep(toy_domain.DOMAIN, "depth", list(range(2, 14)), n_samples=600, seed=3, out_dir={out!r}, resume=True,
          width=1000)
""")


def test_kill_minus_nine_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path):
    """Killed (SIGKILL) at random moments, resumed each time: the finished table equals one
    made without interruption, and no temporary or lock file is left."""
    reference = sweep(toy_domain.DOMAIN, "depth", list(range(2, 14)), n_samples=600, seed=3, width=1000)
    out = tmp_path / "killed"
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), out=str(out))
    rng = np.random.default_rng(0)
    cut = []  # kills that caught the run holding its folder (mid-measurement)
    for _ in range(4):  # bounded: four kills at moments drawn in [0.5, 2.5] s (imports take ~1-2 s)
        proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.5, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        cut.append(proc.returncode == -signal.SIGKILL and (out / LOCK_NAME).exists())
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert sum(cut) >= 2, cut  # the test must interrupt real work, not finished runs
    assert_same_numbers(read_results(out / "results.csv").rows, reference)
    assert [p.name for p in out.iterdir()] == ["results.csv"]
    os.remove(out / "results.csv")
