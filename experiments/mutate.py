"""Mutation check of the test suite: plant plausible bugs, run the relevant tests, list survivors.

Each mutation is a small semantic change that would alter published numbers or break a
promise of the output contract (a theory trajectory shifted by one layer, positions
counted from 0, resume that ignores the config, a dropped small-sample factor…). For each
one the tree is copied to a temporary directory, the change is applied there (the source
tree is never touched), and the tests named for it run against the copy. A mutation the
tests do not fail on *survives*: the suite has a blind spot there.

    python experiments/mutate.py              # all mutations, a table at the end
    python experiments/mutate.py -k bonett    # those whose name contains "bonett"
    make mutate

Every future domain adds its own entries (a one-step shift of its positions, an error in
its theory) to MUTATIONS. Not part of CI: each mutation re-runs some tests (minutes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    """One planted bug.

    Attributes:
        name: short identifier.
        effect: what it would do to results.
        path: file to change, relative to the repository root.
        find: the exact text to replace (must occur exactly once).
        replace: what to put instead.
        tests: pytest arguments that must fail on the mutant.
    """

    name: str
    effect: str
    path: str
    find: str
    replace: str
    tests: tuple[str, ...]


MUTATIONS: list[Mutation] = [
    # --- statistics and fits
    Mutation(
        "bonett_factor_removed",
        "Laplace coverage at n = 20 drops below the documented 0.889",
        "xvanish/stats.py",
        "half = n / (n - z) * t * relative",
        "half = t * relative",
        ("tests/test_stats.py",),
    ),
    Mutation(
        "inf_averaged_in",
        "±inf entries enter the moments instead of being counted",
        "xvanish/stats.py",
        "    finite = np.isfinite(values)\n    shift =",
        "    finite = ~np.isnan(values)\n    shift =",
        ("tests/test_stats.py",),
    ),
    Mutation(
        "shift_ignored_in_mean_square",
        "mean_sq wrong whenever the sums are taken about a shift",
        "xvanish/stats.py",
        "return self.total_sq + 2 * c * self.total + c * c * self.count",
        "return self.total_sq",
        ("tests/test_stats.py",),
    ),
    Mutation(
        "profile_interval_ols",
        "profile rate CIs several times too narrow (layers share draws)",
        "xvanish/fit.py",
        "        if replicates is not None:\n            lo, hi =",
        "        if False:\n            lo, hi =",
        ("tests/test_fit.py",),
    ),
    Mutation(
        "bound_fitted_as_rate",
        "a series of ceilings reported as a predicted theory_rate",
        "xvanish/fit.py",
        'not rows["theory_kind"].isin(PREDICTION_KINDS).all()',
        "False",
        ("tests/test_core.py",),
    ),
    # --- seeds, planning, resume, writing
    Mutation(
        "point_seed_ignores_key",
        "a width sweep and a depth sweep share random streams",
        "xvanish/core.py",
        "spawn_key=(_stable_hash(param, value),)",
        "spawn_key=(_stable_hash(value),)",
        ("tests/test_core.py",),
    ),
    Mutation(
        "resume_ignores_config",
        "a rerun with a changed key silently reuses old rows",
        "xvanish/resume.py",
        "    for key, value in columns.items():\n        if key not in earlier.columns:",
        "    for key, value in {}.items():\n        if key not in earlier.columns:",
        ("tests/test_core.py",),
    ),
    Mutation(
        "resume_ignores_n_samples",
        "a rerun with more draws reuses the small-sample rows",
        "xvanish/resume.py",
        'match &= pd.to_numeric(earlier["n_samples"], errors="coerce") == n_samples',
        "match &= True",
        ("tests/test_core.py",),
    ),
    Mutation(
        "results_written_at_the_end",
        "a killed sweep loses every finished point",
        "xvanish/plan.py",
        "            if csv_path is not None:\n                text = results_text(",
        "            if csv_path is not None and done == len(self.points):\n                text = results_text(",
        ("tests/test_core.py",),
    ),
    Mutation(
        "existing_results_overwritten",
        "a rerun into the same directory silently replaces results",
        "xvanish/plan.py",
        '    require(\n        resume,\n        "output directory"',
        '    require(\n        True,\n        "output directory"',
        ("tests/test_core.py",),
    ),
    Mutation(
        "resume_trusts_partial_points",
        "a results.csv cut inside a point is resumed with half its groups",
        "xvanish/resume.py",
        "    if missing:\n",
        "    if False:\n",
        ("tests/test_resume.py",),
    ),
    Mutation(
        "resume_ignores_content_hash",
        "edited numbers in results.csv are reused without a word",
        "xvanish/resume.py",
        "    if stored != {digest}:",
        "    if False:",
        ("tests/test_resume.py",),
    ),
    Mutation(
        "folder_not_locked",
        "two runs in one output folder both write it",
        "xvanish/folder.py",
        "                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
        "                pass",
        ("tests/test_folder.py",),
    ),
    Mutation(
        "interval_bonett_centre",
        "a variance outside its own interval at few draws of many entries",
        "xvanish/stats.py",
        "    centre = np.minimum(relative**2 / 2, half / 2)",
        "    centre = math.log(n / (n - z))",
        ("tests/test_stats.py",),
    ),
    # --- deep MLPs
    Mutation(
        "mlp_positions_from_0",
        "profile fits shift, x_min moves, the power-law fit silently drops",
        "xvanish/domains/mlp.py",
        'group(f"preact/{l}", l)',
        'group(f"preact/{l}", l - 1)',
        ("tests/domains/test_mlp.py",),
    ),
    Mutation(
        "meanfield_shifted_by_a_layer",
        "theory of preact/l off by 0.66x (tanh 1.5/0.05), 0.20x (input_scale 3)",
        "xvanish/domains/mlp.py",
        "for l, v in enumerate(traj.delta_ms, start=1)}",
        "for l, v in enumerate(list(traj.delta_ms[1:]) + list(traj.delta_ms[-1:]), start=1)}",
        ("tests/domains/test_mlp.py",),
    ),
    Mutation(
        "factored_zeros_ignore_underflow",
        "weight-gradient zero fractions miss products that round to 0",
        "xvanish/reduce.py",
        "half_subnormal = ",
        "half_subnormal = 0.0 * ",
        ("tests/test_reduce.py",),
    ),
    # --- RNN
    Mutation(
        "rnn_positions_shifted",
        "memory lengths and per-residue rates read one residue off",
        "xvanish/domains/rnn/sampling.py",
        'out = [group(f"state/{x}", x) for x in d]',
        'out = [group(f"state/{x}", x + 1) for x in d]',
        ("tests/domains/test_rnn.py",),
    ),
    Mutation(
        "rnn_exact_theory_one_step_off",
        "orthogonal linear RNN theory rho^(2j) used for j + 1",
        "xvanish/domains/rnn/theory.py",
        "            state = rho ** (2 * j) / hidden",
        "            state = rho ** (2 * (j + 1)) / hidden",
        ("tests/domains/test_rnn.py",),
    ),
    Mutation(
        "rnn_meanfield_chi_off_by_one",
        "mean-field input-gradient theory uses the neighbouring step's chi",
        "xvanish/domains/rnn/theory.py",
        "INPUT_WEIGHT_VAR * chis[t - 1] / sigma_w2",
        "INPUT_WEIGHT_VAR * chis[t] / sigma_w2",
        ("tests/domains/test_rnn.py",),
    ),
    # --- GAN
    Mutation(
        "gan_checkpoints_shifted",
        "gradients reported at the wrong discriminator step",
        "xvanish/domains/gan/sampling.py",
        'return [group(f"{family}/{k}", k) for family in self.families',
        'return [group(f"{family}/{k}", k + 1) for family in self.families',
        ("tests/domains/test_gan.py",),
    ),
    Mutation(
        "gan_bound_without_jacobian",
        "Theorem 2.4 bound drops the generator Jacobian norm M",
        "xvanish/domains/gan/sampling.py",
        "    m = jacobian_sq.mean(dim=1).sqrt()",
        "    m = torch.ones_like(jacobian_sq.mean(dim=1))",
        ("tests/domains/test_gan.py",),
    ),
    # --- Lie-algebraic circuit theory
    Mutation(
        "lie_ideals_lumped",
        "Var[C] summed over one lumped algebra instead of per ideal (THEORY 5b pitfall)",
        "xvanish/theory/lie/predict.py",
        "        var_cost += p_rho * p_obs / dim\n",
        "        var_cost += p_rho * p_obs / alg.dim\n",
        ("tests/theory/test_lie.py",),
    ),
    Mutation(
        "lie_gradient_dim_not_squared",
        "Var[dC] divided by dim instead of dim^2",
        "xvanish/theory/lie/predict.py",
        "adjoint_norm_squared(h, rows, keys, n) / dim**2",
        "adjoint_norm_squared(h, rows, keys, n) / dim",
        ("tests/theory/test_lie.py",),
    ),
    # --- module probe
    Mutation(
        "module_block_positions_from_0",
        "per-block profiles start at 0: power-law fits drop",
        "xvanish/domains/module/sampling.py",
        "for k, name in enumerate(probe.acts, start=1)]",
        "for k, name in enumerate(probe.acts, start=0)]",
        ("tests/domains/test_module.py",),
    ),
]


def _copy_tree(destination: Path) -> None:
    """Copy the working tree (tracked and untracked, not ignored) to ``destination``."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run_mutation(mutation: Mutation, workdir: Path) -> tuple[str, float]:
    """Apply one mutation to a fresh copy and run its tests: ``killed`` or ``SURVIVED``."""
    if workdir.exists():
        shutil.rmtree(workdir)
    _copy_tree(workdir)
    path = workdir / mutation.path
    text = path.read_text()
    count = text.count(mutation.find)
    if count != 1:
        return f"not applied (text found {count}×)", 0.0
    path.write_text(text.replace(mutation.find, mutation.replace))
    # The copy must be what the tests import: put it first on the path.
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    check = subprocess.run(
        [sys.executable, "-c", "import xvanish; print(xvanish.__file__)"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if str(workdir) not in check.stdout:
        return f"not applied (imported {check.stdout.strip()})", 0.0
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    # pytest: 0 all passed (the mutant survived), 1 some test failed (killed).
    outcome = {0: "SURVIVED", 1: "killed"}.get(proc.returncode, f"error (pytest exit {proc.returncode})")
    return outcome, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="run only mutations whose name contains this")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.k in m.name]
    rows = []
    with tempfile.TemporaryDirectory(prefix="xvanish-mutate-") as tmp:
        # Control: the same tests on an unmutated copy must pass, or a "kill" means nothing.
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        control = Mutation("control (no mutation)", "", "xvanish/__init__.py", "__version__", "__version__", tests)
        outcome, seconds = run_mutation(control, Path(tmp) / "tree")
        print(f"{control.name:<34} {'passes' if outcome == 'SURVIVED' else outcome:<10} {seconds:6.1f} s", flush=True)
        if outcome != "SURVIVED":
            print("the unmutated tests do not pass in the copy: fix that first")
            return 2
        for mutation in chosen:
            outcome, seconds = run_mutation(mutation, Path(tmp) / "tree")
            rows.append((mutation, outcome, seconds))
            print(f"{mutation.name:<34} {outcome:<10} {seconds:6.1f} s", flush=True)
    print()
    print("| planted bug | what it does to results | tests | outcome |")
    print("|---|---|---|---|")
    for mutation, outcome, seconds in rows:
        print(f"| `{mutation.name}` | {mutation.effect} | {' '.join(mutation.tests)} | {outcome} ({seconds:.0f} s) |")
    survivors = [m.name for m, outcome, _ in rows if outcome != "killed"]
    print(
        f"\n{len(rows) - len(survivors)} of {len(rows)} killed"
        + (f"; not killed: {', '.join(survivors)}" if survivors else "")
    )
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
