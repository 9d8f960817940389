"""End-to-end tests of ``python -m xvanish`` with the real ``mlp`` domain at tiny sizes.

Subprocesses (a real interpreter, exit codes, stderr) for one single run, one multirun of
two jobs with two variants each (aggregation, variants), a resume, and one bad input; every bad input is
run in-process through the same entry point (``xvanish.cli.main``), which is what
``python -m xvanish`` calls, to keep the suite fast (each subprocess pays ~3 s of imports).
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from xvanish import cli
from xvanish.core import JACKKNIFE_PREFIX, RESULT_COLUMNS
from xvanish.stats import JACKKNIFE_BLOCKS

# Leave-one-block-out ln Var columns that follow the contract columns (profile intervals).
JACKKNIFE = [f"{JACKKNIFE_PREFIX}{b}" for b in range(JACKKNIFE_BLOCKS)]
from xvanish.domains import mlp
from xvanish.fit import fit_decay
from xvanish.schema import packaged_options

TINY = ["domain.width=8", "measure.n_samples=8"]
DEPTHS = [2, 3, 4]
# Explicit weight_var: every config value is then non-null (see test_resume_reuses_finished_points).
VARIANTS = (
    "variants=[{name:relu_he,domain:{activation:relu,init:normal,weight_var:2.0}},"
    "{name:tanh,domain:{activation:tanh,init:normal,weight_var:1.0}}]"
)
RESULT_FILES = ("results.csv", "summary.json", "plot.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MLP_KEYS = [field for field in mlp.MLPConfig.__dataclass_fields__]


def xvanish(*args, timeout=300):
    """Run the real CLI in a fresh interpreter, without the user's HYDRA_FULL_ERROR."""
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, "-m", "xvanish", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def values_arg(values):
    return "sweep.values=[" + ",".join(map(str, values)) + "]"


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width, _ = imread(path).shape
    assert width > height > 100  # two panels side by side


# --------------------------------------------------------------------------- single run


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("single")
    proc = xvanish(*TINY, values_arg(DEPTHS), f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    return proc, run_dir


def test_single_run_results_csv_has_the_contract_columns(single_run):
    _, run_dir = single_run
    df = pd.read_csv(run_dir / "results.csv")
    assert list(df.columns) == list(RESULT_COLUMNS) + JACKKNIFE + MLP_KEYS + ["point_hash"]
    assert sorted(df["scale"].unique()) == DEPTHS
    assert (df["depth"] == df["scale"]).all() and (df["width"] == 8).all() and (df["n_samples"] == 8).all()
    assert set(df[df["scale"] == 2]["group"]) >= {"preact/1", "preact/2", "input", "cost"}


def test_single_run_summary_matches_an_independent_fit_of_the_csv(single_run):
    """The headline rate must be the least-squares slope of ln var on depth of the CSV's own
    numbers (np.polyfit, independent of xvanish.fit); 1e-9 relative covers CSV round-off."""
    _, run_dir = single_run
    df = pd.read_csv(run_dir / "results.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["domain"] == "mlp" and summary["scale_name"] == "depth"
    assert summary["headline_group"] == mlp.DOMAIN.headline_group
    (headline,) = summary["headline"]
    rows = df[df["group"] == summary["headline_group"]].sort_values("scale")
    x = rows["scale"].to_numpy(float)
    regressor = {"exponential": x, "power": np.log(x)}[headline["fit"]["law"]]
    slope = np.polyfit(regressor, np.log(rows["var"].to_numpy()), 1)[0]
    assert headline["fit"]["rate"] == pytest.approx(slope, rel=1e-9)
    assert headline["profile"]["group"] == "preact" and headline["profile"]["scale"] == max(DEPTHS)
    assert len(summary["fits"]) == len(fit_decay(df))
    assert summary["config"]["domain"]["width"] == 8 and summary["config"]["measure"]["n_samples"] == 8
    assert summary["nonfinite"] == {"count": 0, "rows": []}
    assert {"xvanish", "torch", "numpy", "scipy", "pandas", "hydra-core"} <= set(summary["versions"])
    assert summary["wall_seconds"] > 0 and summary["n_rows"] == len(df)
    assert "domain.width=8" in summary["overrides"]


def test_single_run_plot_and_console_table(single_run):
    proc, run_dir = single_run
    assert_png(run_dir / "plot.png")
    df = pd.read_csv(run_dir / "results.csv")
    for row in df[df["group"] == "preact/1"].itertuples():
        assert f"{row.var:.3e}" in proc.stdout and f"{row.theory_var:.3e}" in proc.stdout
    assert "preact/1 across depth" in proc.stdout
    assert "per depth:" in proc.stdout or "in depth:" in proc.stdout
    assert "better law:" in proc.stdout
    assert "\r" not in proc.stderr  # no progress bar when stderr is not a terminal
    # Our errors start "error: "; a dependency's warning that mentions the word is not one.
    assert not [line for line in proc.stderr.splitlines() if line.startswith("error:")], proc.stderr


# --------------------------------------------------------------------------- multirun, variants, resume


@pytest.fixture(scope="module")
def multirun(tmp_path_factory):
    """Two jobs (basic launcher), each a run with two variants."""
    sweep_dir = tmp_path_factory.mktemp("multirun")
    proc = xvanish("-m", *TINY[1:], values_arg([2, 3]), VARIANTS, "domain.width=4,8", f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 0, proc.stderr
    return proc, sweep_dir


def test_multirun_aggregates_jobs_at_the_sweep_root(multirun):
    _, sweep_dir = multirun
    jobs = [pd.read_csv(sweep_dir / str(job) / "results.csv") for job in (0, 1)]
    combined = pd.read_csv(sweep_dir / "results.csv")
    assert list(combined.columns[:4]) == ["job", "overrides", "domain.width", "variant"]
    assert len(combined) == sum(map(len, jobs))
    assert (combined["domain.width"] == combined["width"]).all() and set(combined["width"]) == {4, 8}
    pd.testing.assert_frame_equal(combined[combined["job"] == 1].iloc[:, 3:].reset_index(drop=True), jobs[1])
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert summary["n_jobs"] == 2 and summary["swept_keys"] == ["domain.width"] and summary["missing"] == []
    assert [job["dir"] for job in summary["jobs"]] == ["0", "1"]
    assert [(entry["job"], entry["variant"], entry["series"]) for entry in summary["headline"]] == [
        (0, "relu_he", "domain.width=4 relu_he"),
        (0, "tanh", "domain.width=4 tanh"),
        (1, "relu_he", "domain.width=8 relu_he"),
        (1, "tanh", "domain.width=8 tanh"),
    ]
    assert_png(sweep_dir / "plot.png")


def test_variants_are_series_of_one_run(multirun):
    _, sweep_dir = multirun
    run_dir = sweep_dir / "0"
    df = pd.read_csv(run_dir / "results.csv")
    assert df.columns[0] == "variant"
    assert list(df.columns[1:]) == list(RESULT_COLUMNS) + JACKKNIFE + MLP_KEYS + ["point_hash"]
    activation = df.groupby("variant")["activation"].agg(set).to_dict()
    assert activation == {"relu_he": {"relu"}, "tanh": {"tanh"}}
    # One table, no per-variant copies: the variants share each point's seed (paired design).
    assert not (run_dir / "variants").exists()
    seeds = df.groupby("variant")["seed"].agg(list).to_dict()
    assert seeds["relu_he"] == seeds["tanh"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [entry["variant"] for entry in summary["headline"]] == ["relu_he", "tanh"]
    assert {record["variant"] for record in summary["fits"]} == {"relu_he", "tanh"}
    assert_png(run_dir / "plot.png")


def test_resume_reuses_finished_points(multirun, tmp_path):
    """Re-run job 0's config with one more depth in a copy of its directory: the earlier
    points come back unchanged, timing included (a re-measurement would differ)."""
    _, sweep_dir = multirun
    shutil.copytree(sweep_dir / "0", tmp_path, dirs_exist_ok=True)
    before = pd.read_csv(tmp_path / "results.csv")
    proc = xvanish(
        *TINY[1:], "domain.width=4", values_arg([2, 3, 4]), VARIANTS, "measure.resume=true", f"hydra.run.dir={tmp_path}"
    )
    assert proc.returncode == 0, proc.stderr
    assert "resume: reused 4 of 6 points from results.csv, measured 2" in proc.stdout
    after = pd.read_csv(tmp_path / "results.csv")
    pd.testing.assert_frame_equal(
        after[after["scale"] < 4].sort_values(["variant", "scale", "group"]).reset_index(drop=True),
        before.sort_values(["variant", "scale", "group"]).reset_index(drop=True),
    )
    assert set(after[after["scale"] == 4]["variant"]) == {"relu_he", "tanh"}


@pytest.mark.slow  # joblib workers re-import torch: ~16 s on 2 idle cores
def test_multirun_with_the_joblib_launcher(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="hydra-joblib-launcher not installed")
    proc = xvanish(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *TINY[1:],
        values_arg(DEPTHS),
        "domain.width=4,8",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr
    combined = pd.read_csv(tmp_path / "results.csv")
    assert set(combined["job"]) == {0, 1} and set(combined["width"]) == {4, 8}
    assert_png(tmp_path / "plot.png")


# --------------------------------------------------------------------------- bad input


def assert_one_error_line(stderr, *fragments):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_no_results(run_dir):
    for name in RESULT_FILES:
        assert not (run_dir / name).exists(), name


def test_bad_input_in_a_real_process(tmp_path):
    """Found by our checks inside the Hydra job (the run dir exists by then)."""
    proc = xvanish(*TINY, "sweep.values=[0,2]", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == cli.EXIT_BAD_INPUT
    assert "Traceback" not in proc.stderr
    assert_one_error_line(proc.stderr, "domain.depth=0", "must be an integer >= 1", "sweep.values")
    assert_no_results(tmp_path)


BAD_INPUTS = {
    "wrong type": (["domain.depth=abc"], ["domain.depth=abc", "must be of type int"]),
    "unknown domain key": (["domain.deptth=3"], ["domain.deptth=3", "unknown key", "depth, width"]),
    "unknown top key": (["measure.n_sample=3"], ["measure.n_sample=3", "unknown key", "n_samples"]),
    "added domain key": (["+domain.foo=1"], ["domain.foo=1", "unknown key"]),
    "unknown experiment": (
        ["experiment=nope"],
        ["experiment=nope", "unknown experiment", "available:"] + packaged_options("experiment"),
    ),
    "unknown domain": (["domain=nope"], ["domain=nope", "unknown domain", "installed:", "mlp"]),
    "unknown activation": (["domain.activation=nope"], ["domain.activation='nope'", "must be one of", "tanh"]),
    # A fixed key is checked at every point; the swept key's default is not (it never runs).
    "depth 0": (["sweep.param=width", "domain.depth=0"], ["domain.depth=0", ">= 1"]),
    "negative width": (["domain.width=-3"], ["domain.width=-3", ">= 1"]),
    "one sample": (["measure.n_samples=1"], ["measure.n_samples=1", ">= 2"]),
    "sweep.param": (["sweep.param=foo"], ["sweep.param='foo'", "must be a key of domain mlp", "depth"]),
    "empty sweep": (["sweep.values=[]"], ["sweep.values=[]", "at least one value"]),
    "bad sweep value": (["sweep.values=[2,0]"], ["domain.depth=0", "sweep.values"]),
    "linked without ++": (["sweep.linked={width:[8]}"], ["sweep.linked={width:[8]}", "++sweep.linked"]),
    "linked length": (["++sweep.linked={width:[8]}"], ["sweep.linked.width=[8]", "one value per sweep value"]),
    "variant key": (["variants=[{name:a,domain:{deptth:3}}]"], ["variants[0].domain.deptth=3", "unknown key"]),
    "variant value": (
        ["variants=[{name:a,domain:{activation:nope}}]"],
        ["domain.activation='nope'", "variants[0].domain"],
    ),
    "variant name": (["variants=[{name:a/b}]"], ["variants[0].name='a/b'", "letters, digits"]),
    "variant without name": (["variants=[{domain:{width:4}}]"], ["variants[0].name=None", "must be given"]),
    "duplicate variant": (["variants=[{name:a},{name:a}]"], ["variants[0].name='a'", "differ"]),
    "variant linked key": (["variants=[{name:a,linked:{wdth:[4,4,4]}}]"], ["variants[0].linked.wdth", "unknown key"]),
    "fit quantity": (["fit.quantity=foo"], ["fit.quantity='foo'", "var, mean_sq"]),
    "report group": (["report.group=nope"], ["report.group='nope'", "preact/1"]),
    "override grammar": (["domain.depth=["], ["domain.depth=["]),
    "target groups": (
        ["measure.target_rel_ci=0.2", "measure.target_groups=some"],
        ["measure.target_groups='some'", "reported, all"],
    ),
    "target": (["measure.target_rel_ci=2"], ["measure.target_rel_ci=2.0", "must be < 1"]),
    "budget": (["measure.target_rel_ci=0.2", "measure.max_samples=3"], ["measure.max_samples=3", ">= "]),
    "budget without target": (["measure.max_samples=300"], ["measure.max_samples=300", "needs measure.target_rel_ci"]),
}


@pytest.mark.parametrize("args, fragments", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_line_and_writes_nothing(run_main, tmp_path, args, fragments):
    code, out = run_main(*TINY, values_arg(DEPTHS), *args)
    assert code == cli.EXIT_BAD_INPUT
    assert "Traceback" not in out.err
    assert_one_error_line(out.err, *fragments)
    assert_no_results(tmp_path)


def test_hydra_full_error_shows_the_exception(run_main, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        run_main(*TINY, values_arg(DEPTHS), "domain.depth=abc")
    assert os.environ["HYDRA_FULL_ERROR"] == "1"  # the user's setting is left as it was


def test_help_lists_domains_and_experiments(run_main):
    code, out = run_main("--help")
    assert code == 0
    assert "== Domains (domain=<name>) ==" in out.out and "mlp" in out.out and "sweeps depth" in out.out
    assert "== Experiments (experiment=<name>) ==" in out.out
    for name in packaged_options("experiment"):
        assert name in out.out


@pytest.mark.parametrize("experiment", packaged_options("experiment"))
def test_every_packaged_experiment_passes_the_checks(experiment):
    """Each shipped experiment composes against the schemas and every point of every
    variant passes the domain checks (no measurement)."""
    from hydra import compose, initialize_config_module

    from xvanish.schema import register_configs

    register_configs()
    with initialize_config_module(version_base="1.3", config_module="xvanish.conf"):
        cfg = compose("config", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    plan = cli.plan_run(cfg, cfg.hydra.runtime.choices["domain"])
    n_variants = max(len(cfg.variants), 1)
    # a training run over steps trains one point per variant (the steps are its axis)
    n_values = 1 if cfg.train.optimizer is not None and cfg.sweep.param == "step" else len(cfg.sweep["values"])
    assert len(plan.plan.points) == n_variants * n_values


# --------------------------------------------------------------------------- what a new user tripped on


def test_categorical_sweep_gives_rows_per_value(tmp_path):
    proc = xvanish(
        *TINY, "domain.depth=3", "sweep.param=activation", "sweep.values=[tanh,relu]", f"hydra.run.dir={tmp_path}"
    )
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(dict.fromkeys(df["activation"])) == ["tanh", "relu"] and df["scale"].isna().all()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["axis"] == "categorical"
    assert summary["config"]["domain"]["activation"] == ["tanh", "relu"]
    assert not [fit for fit in summary["fits"] if fit["kind"] == "scale"]  # no decay law across names


def test_rerun_into_an_existing_output_directory_is_refused(run_main, tmp_path):
    code, _ = run_main(*TINY, values_arg([2]))
    assert code == 0
    before = (tmp_path / "results.csv").read_bytes()
    code, out = run_main(*TINY, values_arg([2, 3]))
    assert code == cli.EXIT_BAD_INPUT
    assert_one_error_line(out.err, "already holds results.csv", "measure.resume=true")
    assert (tmp_path / "results.csv").read_bytes() == before


def test_unwritable_output_directory_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = xvanish(*TINY, values_arg([2]), f"hydra.run.dir={blocker / 'run'}")
    assert proc.returncode == cli.EXIT_BAD_INPUT
    assert_one_error_line(proc.stderr, "output directory", str(blocker / "run"), "Not a directory")


def test_log_file_records_the_plan_and_every_point(single_run):
    _, run_dir = single_run
    log_text = (run_dir / "xvanish.log").read_text()
    assert "plan: 3 points" in log_text
    for depth in DEPTHS:
        assert f"depth={depth}: measured in" in log_text
    assert "outputs:" in log_text


def test_summary_records_the_swept_values_not_the_unused_default(single_run):
    _, run_dir = single_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["config"]["domain"]["depth"] == DEPTHS
    assert [point["value"] for point in summary["points"]] == DEPTHS
    assert all(point["reused"] is False and point["seconds"] > 0 for point in summary["points"])


def test_multirun_checks_every_job_before_the_first_starts(tmp_path):
    proc = xvanish("-m", *TINY[1:], values_arg([2, 3]), "domain.width=4,-1", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == cli.EXIT_BAD_INPUT
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "domain.width=-1" in errors[0] and "multirun job 1" in errors[0]
    assert not list(tmp_path.rglob("results.csv"))  # job 0 did not run either


def test_a_badly_typed_sweep_value_is_one_line_before_any_job(tmp_path):
    """A sweep 8,abc has no single value to quote, and the job with abc fails to compose:
    still one line naming the sweep as typed, exit 2, no job started."""
    proc = xvanish("-m", *TINY[1:], values_arg([2, 3]), "domain.width=8,abc", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == cli.EXIT_BAD_INPUT
    assert proc.stderr.strip().splitlines()[-1].startswith("error: domain.width=8,abc: must be of type int")
    assert [line for line in proc.stderr.splitlines() if line.strip()] == proc.stderr.strip().splitlines()[-1:]
    assert not list(tmp_path.rglob("results.csv"))


def test_help_lists_every_domain_with_its_keys(run_main):
    code, out = run_main("--help")
    assert code == 0
    assert "keys: depth=16" in out.out and "n_qubits=4" in out.out


VQC_BAD_INPUTS = {
    "no qubits": (["sweep.param=n_layers", "domain.n_qubits=0"], ["domain.n_qubits=0", ">= 1"]),
    "unknown ansatz": (["domain.ansatz=nope"], ["domain.ansatz='nope'", "must be one of", "mcclean"]),
    "observable wire": (["domain.observable='Z0 Z9'"], ["domain.observable='Z0 Z9'", "wire 9", "n_qubits=2"]),
    "shots with all": (["domain.shots=100", "domain.gradient=all"], ["domain.shots=100", "gradient=target"]),
    "memory": (["domain.memory_limit_gb=1e-9"], ["domain.n_qubits=2", "memory_limit_gb", "(from sweep.values)"]),
    "method": (["domain.diff_method=nope"], ["domain.diff_method='nope'", "lightning"]),
    "target": (["domain.target=[5,0]"], ["domain.target=[5, 0]", "layer 5 does not exist"]),
    "cost": (["domain.cost=nope"], ["domain.cost='nope'", "global, local"]),
    "init scale": (["domain.init_scale=-1"], ["domain.init_scale=-1.0", "> 0"]),
}


@pytest.mark.vqc
@pytest.mark.parametrize("args, fragments", VQC_BAD_INPUTS.values(), ids=VQC_BAD_INPUTS.keys())
def test_vqc_bad_input_through_the_command_line(run_main, tmp_path, args, fragments):
    """The circuit domain's catalogue of bad input, as a user meets it: one line, exit 2, no results."""
    code, out = run_main("domain=vqc", "domain.n_layers=2", "measure.n_samples=4", "sweep.values=[2,3]", *args)
    assert code == cli.EXIT_BAD_INPUT
    assert "Traceback" not in out.err
    assert_one_error_line(out.err, *fragments)
    assert_no_results(tmp_path)


def test_adaptive_run_records_draws_and_says_what_settled(run_main, tmp_path):
    """measure.target_rel_ci: n_samples per point in results.csv, summary.json's adaptive block,
    one console line; a budget too small for the target is reported unsettled."""
    code, out = run_main(
        *TINY, values_arg(DEPTHS), "measure.n_samples=8", "measure.target_rel_ci=0.05", "measure.max_samples=40"
    )
    assert code == 0
    rows = pd.read_csv(tmp_path / "results.csv")
    assert set(rows["n_samples"]) == {40} and not rows["settled"].any()
    report = json.loads((tmp_path / "summary.json").read_text())["adaptive"]
    assert report["target_rel_ci"] == 0.05 and report["max_samples"] == 40
    assert len(report["unsettled"]) == len(DEPTHS) and report["draws"]["total"] == 40 * len(DEPTHS)
    assert "reached measure.max_samples=40 before the target" in out.out
