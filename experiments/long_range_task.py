"""Can a model *learn* a dependency Δ residues back? Training on real protein windows.

Each example is a window of real protein (the shipped proteome) of Δ + 1 residues; its
label is whether the first residue, Δ positions before the last one, belongs to a fixed
half of the amino acids (a set whose proteome frequency is as close to 1/2 as possible, so
the classes are balanced; the test set is drawn from other windows). Nothing else in the
window carries the label, so a model can only solve it by carrying that residue's identity
over Δ steps — the gradient that teaches it has to reach Δ residues back. The labelled
residue opens the window (the task of Hochreiter & Schmidhuber 1997, experiment 2): with
residues before it as well, a model would also have to count to find it, and the task
would measure counting as much as memory.

Models are the variants of ``conf/experiment/long_range_task.yaml`` (hidden 64, embedding
32), initialised exactly as the RNN domain draws them (``RNNSampler.draw_parameters``),
then trained with Adam (lr 3e-3, batch 64, gradient norm clipped at 1) for a fixed budget
of 1,000 updates per Δ. Reported
per model: test accuracy at each Δ, and the largest Δ learnt to ≥ 90% test accuracy
(a Δ is tried only while the model still learns the previous one). The literature: a plain
RNN stalls beyond a few tens of steps (Bengio et al. 1994; Hochreiter & Schmidhuber 1997),
gated cells — especially with a forget-gate bias or chrono init (Gers et al. 2000; Tallec
& Ollivier 2018) — go much further.

A Hydra app (config ``experiments/conf/long_range_task.yaml``: seed, model, deltas,
updates, batch, lr, threshold, figure). A run writes ``long_range_task.json`` and
``rnn_long_range.png`` into Hydra's output dir (``outputs/<date>/<time>/``); a multirun
writes them per job (``multirun/<date>/<time>/<job>/``), then :class:`CombineJobs`
(``on_multirun_end``) combines the jobs' files into one ``long_range_task.json`` and one
figure (every seed overlaid) at the sweep root and prints the largest Δ per model and seed:

    python experiments/long_range_task.py                                      # seed 0, all models, ~4 min on 2 cores
    python experiments/long_range_task.py model=[lstm_chrono,rnn_default] seed=1
    python experiments/long_range_task.py -m seed=0,1,2 hydra/launcher=joblib  # one job per seed, in parallel
    python experiments/long_range_task.py -m seed=0,1,2 hydra/launcher=joblib figure=docs/figures/rnn_long_range_seeds.png

(``-m model=lstm_chrono,rnn_default`` is one job per model.) Bad input — an unknown model,
seed < 0, deltas empty or not increasing integers >= 1, updates < 1, batch odd or < 2,
lr <= 0, threshold outside (0, 1], an output or sweep dir that already holds results — ends with one line ``error: <key>=<value>: <what is
allowed>`` on stderr and exit code 2 before any training, as ``python -m xvanish`` does; a
multirun checks every job's config before the first job starts (:class:`CheckEveryJob`).

``python -m xvanish experiment=long_range_task`` measures the same models' gradient at
each residue back (state/<d>) at the same window lengths, to set beside what they learn.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import hydra  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from hydra.core.config_store import ConfigStore  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.experimental.callback import Callback  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from xvanish import cli  # noqa: E402
from xvanish.core import (  # noqa: E402
    ConfigError,
    is_int,
    is_number,
    require,
    require_int,
    require_number,
    streams,
)
from xvanish.domains import rnn  # noqa: E402
from xvanish.domains.rnn import data as seqdata  # noqa: E402
from xvanish.report.callback import find_jobs, job_info  # noqa: E402
from xvanish.report.outputs import replace_atomic, write_json_atomic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
#: What a run (and a multirun's sweep root) holds.
RESULT_NAME = "long_range_task.json"
FIGURE_NAME = "rnn_long_range.png"
#: The keys of long_range_task.json besides the results (a multirun's jobs may differ in them).
SETTINGS = ("deltas", "updates", "batch", "lr", "threshold", "label_residues")


@dataclass
class LongRangeConfig:
    """The types of experiments/conf/long_range_task.yaml (its values and comments are there)."""

    seed: int = 0
    model: Any = "all"
    deltas: list[int] = field(default_factory=lambda: [5, 10, 20, 40, 80, 160, 320])
    updates: int = 1000
    batch: int = 64
    lr: float = 3e-3
    threshold: float = 0.9
    figure: str | None = None


ConfigStore.instance().store(name="long_range_task_schema", node=LongRangeConfig)


def balanced_half(frequencies: np.ndarray) -> np.ndarray:
    """A boolean mask over the 20 amino acids whose total frequency is closest to 1/2
    (exhaustive over 2^19 subsets containing residue 0: deterministic)."""
    subsets = np.arange(1 << 19, dtype=np.int64)
    bits = ((subsets[:, None] >> np.arange(19)) & 1).astype(bool)
    totals = frequencies[0] + bits @ frequencies[1:]
    best = bits[int(np.argmin(np.abs(totals - 0.5)))]
    return np.concatenate([[True], best])


def examples(sequences, half: np.ndarray, delta: int, count: int, rng: np.random.Generator):
    """``count`` windows [count, Δ + 1] labelled half[first residue, Δ before the last],
    balanced exactly (equal numbers of each class): from batches of 4·count windows, the
    first ones of each class in window order until each has count // 2, then shuffled."""
    length, wanted = delta + 1, count // 2
    chosen: dict[bool, list[np.ndarray]] = {True: [], False: []}
    have = {True: 0, False: 0}
    while min(have.values()) < wanted:
        windows = seqdata.windows(sequences, length, 4 * count, rng)
        labels = half[windows[:, -1 - delta]]
        for label, members in ((True, labels), (False, ~labels)):
            taken = windows[np.flatnonzero(members)[: wanted - have[label]]]
            chosen[label].append(taken)
            have[label] += len(taken)
    x = np.concatenate(chosen[True] + chosen[False])
    y = np.array([1] * wanted + [0] * wanted)
    order = rng.permutation(len(y))
    return torch.as_tensor(x[order]), torch.as_tensor(y[order], dtype=torch.float32)


@dataclass
class TaskData:
    """The windows of one (seed, Δ): ``x``/``y`` the training batches in update order, then
    the test set. They depend on the seed and Δ alone: every model trains and is tested on them."""

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def task_seeds(seed: int, delta: int) -> list[int]:
    """The (data, init, test) seeds of one (seed, Δ)."""
    return streams(seed * 1_000_003 + delta, 3)


def task_data(sequences, half: np.ndarray, delta: int, seed: int, updates: int, batch: int) -> TaskData:
    """The training (``updates`` batches of ``batch``) and test (1,000) windows of (seed, Δ)."""
    data_seed, _, test_seed = task_seeds(seed, delta)
    x, y = examples(sequences, half, delta, batch * updates, np.random.default_rng(data_seed))
    x_test, y_test = examples(sequences, half, delta, 1000, np.random.default_rng(test_seed))
    return TaskData(x, y, x_test, y_test)


class Classifier(torch.nn.Module):
    """Embedding → torch.nn recurrent module (the domain's init) → linear readout of h_T."""

    def __init__(self, keys: dict, seed: int) -> None:
        super().__init__()
        sampler = rnn.sampler(**keys)
        cfg = sampler.config
        params = sampler.draw_parameters([seed])
        self.embedding = torch.nn.Embedding(cfg.vocabulary, cfg.embed)
        self.recurrent = MODULES[cfg.cell](cfg.embed, cfg.hidden, batch_first=True)
        self.readout = torch.nn.Linear(cfg.hidden, 1)
        with torch.no_grad():
            self.embedding.weight.copy_(params["embedding"][0])
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.recurrent, f"{name}_l0").copy_(params[name][0])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.recurrent(self.embedding(tokens))
        return self.readout(out[:, -1]).squeeze(-1)


def train(keys: dict, delta: int, data: TaskData, seed: int, updates: int, batch: int, lr: float) -> float:
    """Test accuracy after ``updates`` Adam steps on the balanced batches of ``data``
    (:func:`task_data` of the same seed and Δ)."""
    init_seed = task_seeds(seed, delta)[1]
    torch.manual_seed(init_seed)  # nothing else random is drawn in torch here
    model = Classifier({**keys, "seq_len": delta + 1}, init_seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for step in range(updates):
        part = slice(step * batch, (step + 1) * batch)
        optimiser.zero_grad()
        loss_fn(model(data.x[part]), data.y[part]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # exploding RNNs stay trainable
        optimiser.step()
    with torch.no_grad():
        return float(((model(data.x_test) > 0).float() == data.y_test).float().mean())


def load_models() -> tuple[dict, list[dict]]:
    """The domain keys every model shares (trained in float32) and the variants, from
    conf/experiment/long_range_task.yaml: the models the measurement experiment measures."""
    config = yaml.safe_load((ROOT / "conf" / "experiment" / "long_range_task.yaml").read_text())
    base = {k: v for k, v in config["domain"].items() if k in ("hidden", "embed", "dtype")}
    base["dtype"] = "float32"
    return base, config["variants"]


def check(cfg: DictConfig, variants: list[dict]) -> list[dict]:
    """The variants ``cfg.model`` chooses, after checking every key of ``cfg``.

    Raises:
        ConfigError: for the first bad key, before any work.
    """
    names = [variant["name"] for variant in variants]
    model = OmegaConf.to_container(cfg.model) if OmegaConf.is_config(cfg.model) else cfg.model
    chosen = model.split(",") if isinstance(model, str) else model
    chosen = names if chosen == ["all"] else chosen
    require(isinstance(chosen, list) and len(chosen) > 0 and all(name in names for name in chosen), "model", model,
            "must be all, a model or a list [a,b] of models from: " + ", ".join(names))
    require_int("seed", cfg.seed, minimum=0)
    deltas = list(cfg.deltas)
    require(len(deltas) > 0 and all(is_int(d) and d >= 1 for d in deltas)
            and all(a < b for a, b in itertools.pairwise(deltas)), "deltas", deltas,
            "must be a non-empty list of increasing integers >= 1")
    require_int("updates", cfg.updates, minimum=1)
    require(is_int(cfg.batch) and cfg.batch >= 2 and cfg.batch % 2 == 0, "batch", cfg.batch,
            "must be an even integer >= 2 (the classes are balanced)")
    require_number("lr", cfg.lr, 0, strict=True)
    require(is_number(cfg.threshold) and 0 < cfg.threshold <= 1, "threshold", cfg.threshold,
            "must be a number in (0, 1]")
    return [variants[names.index(name)] for name in dict.fromkeys(chosen)]


def plot(results: list[dict], names: list[str], threshold: float, updates: Any, path: Path) -> None:
    """Test accuracy against Δ: one colour per model (its place in ``names``), one line per result."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    labelled = set()
    for result in sorted(results, key=lambda r: names.index(r["model"])):
        ax.plot([int(d) for d in result["accuracy"]], list(result["accuracy"].values()), "o-",
                color=f"C{names.index(result['model'])}",
                label=None if result["model"] in labelled else result["model"])
        labelled.add(result["model"])
    ax.axhline(threshold, color="k", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("Δ: residues between the labelled residue and the end of the window")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"long-range task on real protein windows ({updates} Adam updates)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    replace_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)


def run(cfg: DictConfig, out: Path, figure: Path) -> dict:
    """Check ``cfg``, train every chosen model for ``cfg.seed``; write long_range_task.json
    into ``out`` and the figure to ``figure``.

    Raises:
        ConfigError: bad input, before any training.
    """
    base, variants = load_models()
    chosen = check(cfg, variants)
    require(not (out / RESULT_NAME).exists(), "output directory", str(out),
            f"already holds {RESULT_NAME}; results are never overwritten: choose another hydra.run.dir")
    seed, deltas, threshold = cfg.seed, list(cfg.deltas), cfg.threshold
    sequences = seqdata.load("proteome")
    half = balanced_half(sequences.frequencies())
    label_residues = "".join(a for a, h in zip(seqdata.ALPHABET, half) if h)
    print("label residues:", label_residues, f"(proteome frequency {sequences.frequencies()[half].sum():.3f})")
    results = [{"model": variant["name"], "seed": seed, "largest_delta": 0, "accuracy": {}} for variant in chosen]
    start = time.perf_counter()
    # Δ by Δ: one Δ's windows are built once for every model still learning (and only one
    # Δ's are held at a time); each model's numbers are those of training it alone.
    for delta in deltas:
        learning = [(variant, result) for variant, result in zip(chosen, results)
                    if all(a >= threshold for a in result["accuracy"].values())]
        if not learning:
            break
        data = task_data(sequences, half, delta, seed, cfg.updates, cfg.batch)
        for variant, result in learning:
            accuracy = train({**base, **variant["domain"]}, delta, data, seed, cfg.updates, cfg.batch, cfg.lr)
            result["accuracy"][delta] = accuracy
            if accuracy >= threshold:
                result["largest_delta"] = delta
        print(f"seed {seed} Δ={delta}: " + "  ".join(f"{variant['name']} {result['accuracy'][delta]:.3f}"
                                                   for variant, result in learning)
              + f"   ({time.perf_counter() - start:.0f} s)", flush=True)
    for result in results:
        print(f"seed {seed} {result['model']:>20}: largest Δ at ≥ {threshold:.0%}: {result['largest_delta']:4d}   "
              + "  ".join(f"Δ={d}: {a:.3f}" for d, a in result["accuracy"].items()), flush=True)
    summary = {"results": results, "deltas": deltas, "updates": cfg.updates, "batch": cfg.batch, "lr": cfg.lr,
               "threshold": threshold, "label_residues": label_residues}
    write_json_atomic(summary, out / RESULT_NAME)
    plot(results, [v["name"] for v in variants], threshold, cfg.updates, figure)
    print("figure:", figure)
    return summary


# --------------------------------------------------------------------------- multirun


class CheckEveryJob(cli.CheckEveryJob):
    """Before a multirun starts any job, :func:`check` every job's config (a bad seed in
    the last job stops the sweep before the first trains), and refuse a sweep dir that
    already holds results (the combined file would mix in the old jobs)."""

    def check_job(self, job_cfg: DictConfig) -> None:
        check(job_cfg, load_models()[1])

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        old = sorted(sweep_dir.rglob(RESULT_NAME)) if sweep_dir.is_dir() else []
        if old:
            print(f"error: hydra.sweep.dir={sweep_dir}: already holds {len(old)} {RESULT_NAME} "
                  "(results are never overwritten or mixed): choose another sweep dir", file=sys.stderr)
            raise SystemExit(cli.EXIT_BAD_INPUT)
        super().on_multirun_start(config, **kwargs)


def combine(sweep_dir: Path, figure: Path | None = None) -> dict | None:
    """Combine the jobs' long_range_task.json under ``sweep_dir`` into one at the sweep root
    (each result with its ``job``; the settings at the top where all jobs share them), draw
    every result in one figure (``figure``, default the sweep root's rnn_long_range.png) and
    print per model the largest Δ per seed.

    Returns:
        The combined summary, or None when no job left results.
    """
    results, jobs, missing = [], [], []
    for job in map(job_info, find_jobs(sweep_dir)):
        path = job["dir"] / RESULT_NAME
        if not path.exists():
            missing.append(str(job["dir"].relative_to(sweep_dir)))
            continue
        summary = json.loads(path.read_text())
        jobs.append({"job": job["job"], "dir": str(job["dir"].relative_to(sweep_dir)), "overrides": job["overrides"],
                     **{key: summary[key] for key in SETTINGS}})
        results += [{"job": job["job"], **result} for result in summary["results"]]
    if not jobs:
        print(f"multirun: no job under {sweep_dir} left {RESULT_NAME}; nothing to combine", file=sys.stderr)
        return None
    shared = {key: jobs[0][key] for key in SETTINGS if all(job[key] == jobs[0][key] for job in jobs)}
    combined = {"results": results, **shared, "sweep_dir": str(sweep_dir), "jobs": jobs, "missing": missing}
    write_json_atomic(combined, sweep_dir / RESULT_NAME)
    names = [variant["name"] for variant in load_models()[1]]
    names += sorted({result["model"] for result in results} - set(names))  # models no longer configured
    figure = figure or sweep_dir / FIGURE_NAME
    plot(results, names, shared.get("threshold", 0.9), shared.get("updates", "per job"), figure)
    print(format_table(sorted(results, key=lambda r: names.index(r["model"])), shared.get("threshold")))
    print(f"multirun: {len(jobs)} jobs combined in {sweep_dir / RESULT_NAME}; figure: {figure}")
    if missing:
        print("multirun: jobs without results: " + ", ".join(missing), file=sys.stderr)
    return combined


def format_table(results: list[dict], threshold: float | None) -> str:
    """Per model (and per job where one model and seed ran in several jobs), the largest Δ per seed."""
    seeds = sorted({result["seed"] for result in results})
    rows: dict[str, dict[int, int]] = {}
    for result in results:
        row = rows.setdefault(result["model"], {})
        if result["seed"] in row:  # the same model and seed in another job (a sweep over lr, ...)
            row = rows.setdefault(f"{result['model']} (job {result['job']})", {})
        row[result["seed"]] = result["largest_delta"]
    at = f"{threshold:.0%}" if threshold is not None else "each job's threshold"
    width = max(len(name) for name in rows)
    lines = [f"largest Δ learnt to ≥ {at}, seeds " + " / ".join(map(str, seeds))]
    lines += [f"  {name:<{width}}  " + " / ".join(str(row.get(seed, "-")) for seed in seeds) for name, row in rows.items()]
    return "\n".join(lines)


class CombineJobs(Callback):
    """``hydra.callbacks.combine`` in experiments/conf/long_range_task.yaml: :func:`combine`
    at the end of a multirun, from the jobs' files on disk (joblib runs jobs in other processes)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        combine(Path(str(config.hydra.sweep.dir)), None if config.figure is None else Path(config.figure))


# --------------------------------------------------------------------------- entry point


@hydra.main(version_base="1.3", config_path=str(Path(__file__).resolve().parent / "conf"),
            config_name="long_range_task")
def _hydra_task(cfg: DictConfig) -> None:
    """One job: every chosen model for one seed, in Hydra's output dir (a single run's
    figure goes to ``figure`` when given; a multirun job's stays in its dir)."""
    hydra_cfg = HydraConfig.get()
    out = Path(hydra_cfg.runtime.output_dir)
    single = hydra_cfg.mode != RunMode.MULTIRUN and cfg.figure is not None
    try:
        run(cfg, out, Path(cfg.figure) if single else out / FIGURE_NAME)
    except ConfigError as error:
        if os.environ.get("LONG_RANGE_TRACEBACK") == "1":
            raise
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(cli.EXIT_BAD_INPUT) from None


def main() -> None:
    """Run Hydra, turning bad input into one line on stderr and exit code 2, as ``python -m
    xvanish`` does (Hydra re-raises its composition errors under HYDRA_FULL_ERROR=1 and
    :func:`xvanish.cli.describe_error` writes them as one line). Anything else is a bug of
    the script: its traceback is shown."""
    previous = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    os.environ["LONG_RANGE_TRACEBACK"] = "1" if previous == "1" else "0"  # read by the jobs (joblib: other processes)
    try:
        _hydra_task()
    except Exception as error:
        if previous == "1" or not cli.is_bad_input(error):
            raise
        print(f"error: {cli.describe_error(error)}", file=sys.stderr)
        sys.exit(cli.EXIT_BAD_INPUT)
    finally:
        os.environ.pop("LONG_RANGE_TRACEBACK", None)
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous


if __name__ == "__main__":
    main()
