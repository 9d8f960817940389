"""``xvanish.monitor``: gradient and update statistics recorded inside a user's own training loop."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from xvanish.core import COST, GradientBatch, group, measure, require, require_int
from xvanish.stats import DrawSums
from xvanish.training.loop import FAMILIES, RecordedStep

__all__ = ["BLOCKS", "Monitor", "monitor"]

#: A tensor's entries are split into this many contiguous blocks, the monitor's draws.
BLOCKS = 16


@dataclass
class _Log:
    """Per-draw sums of one logged step: family -> stat -> one float64 array ``[blocks]`` per tensor."""

    step: int
    sums: dict[str, dict[str, list[np.ndarray]]]
    loss: float | None
    rms: np.ndarray  # RMS of θ_{t−1} of every tensor, in the order of the size classes


@dataclass(frozen=True)
class _SizeClass:
    """Tensors of one size k, reduced together as ``[P, blocks, length]`` (zero-padded)."""

    members: tuple[int, ...]
    size: int
    blocks: int
    length: int

    @property
    def pad(self) -> int:
        return self.blocks * self.length - self.size


@dataclass
class Monitor:
    """Records ``grad/<name>``, ``update/<name>`` and ``rel_update/<name>`` of every trainable
    parameter at update 1 and every ``every``-th update (docs/training.md, "Your own loop").

    One model gives no independent draws, so each tensor's entries are split into
    :data:`BLOCKS` contiguous blocks of equal length, the last one shorter (a weight's
    rows stay together; 35 entries make 12 blocks of 3; fewer than 16 entries, one block each) and the blocks are the draws: the interval is across
    blocks of one model, not across seeds. Call :meth:`step` after every ``optimizer.step()``.

    Example:
        >>> mon = monitor(model, optimizer, every=10)  # doctest: +SKIP
        >>> for x, y in batches:  # doctest: +SKIP
        ...     optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step()
        ...     mon.step(loss)
        >>> mon.write("runs/mine")  # results.csv, summary.json, plot.png  # doctest: +SKIP
    """

    model: torch.nn.Module
    optimizer: Any = None
    every: int = 10
    t: int = 0
    logs: list[_Log] = field(default_factory=list)
    _names: list[str] = field(default_factory=list)
    _params: list[torch.Tensor] = field(default_factory=list)
    _snapshot: list[torch.Tensor] | None = None  # θ before the next logged update, per size class
    _classes: list[_SizeClass] = field(default_factory=list)
    _started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        require(
            isinstance(self.model, torch.nn.Module), "model", type(self.model).__name__, "must be a torch.nn.Module"
        )
        require_int("every", self.every, minimum=1)
        named = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
        require(
            len(named) > 0,
            "model",
            type(self.model).__name__,
            "has no trainable parameters: a monitor needs at least one",
        )
        self._names, self._params = [n for n, _ in named], [p for _, p in named]
        by_size: dict[int, list[int]] = {}
        for index, p in enumerate(self._params):
            by_size.setdefault(p.numel(), []).append(index)
        for size, members in by_size.items():
            length = -(-size // min(BLOCKS, size))  # then as many blocks as leave none empty
            self._classes.append(_SizeClass(tuple(members), size, -(-size // length), length))
        self._snapshot = self._copy()  # θ₀, for the first update

    def _copy(self) -> list[torch.Tensor]:
        """θ of every size class, stacked ``[P, k]`` (one copy per class)."""
        return [torch.stack([self._params[i].detach().reshape(-1) for i in cls.members]) for cls in self._classes]

    def _logged(self, t: int) -> bool:
        return t == 1 or t % self.every == 0

    def step(self, loss: Any = None) -> None:
        """Count one update; on a logged update record its gradient and Δθ (call after
        ``optimizer.step()``; ``loss``, optional, is recorded as the group ``cost``)."""
        self.t += 1
        if self._logged(self.t):
            self._record(loss)
        self._snapshot = self._copy() if self._logged(self.t + 1) else None

    @torch.no_grad()
    def _record(self, loss: Any) -> None:
        # Tensors of one size are stacked, gradient and update together, and reduced as
        # [2, P, blocks, length]: a handful of dense reductions per size instead of several
        # small calls per tensor (a 20-layer MLP has 42 tensors in three sizes). Block sums
        # in the parameters' dtype (float32: ~1e-6 relative, far inside the intervals), then
        # float64; blocks with a non-finite entry are summed again over the finite entries.
        sums: dict[str, dict[str, list[np.ndarray]]] = {"grad": {}, "update": {}}
        rms = []
        for cls, before in zip(self._classes, self._snapshot):
            params = [self._params[i] for i in cls.members]
            grads = torch.stack(
                [p.grad.reshape(-1) if p.grad is not None else torch.zeros(cls.size, dtype=p.dtype) for p in params]
            )
            x = torch.stack([grads, torch.stack([p.detach().reshape(-1) for p in params]) - before])
            if cls.pad:
                x = torch.nn.functional.pad(x, (0, cls.pad))
            x = x.view(2, len(params), cls.blocks, cls.length)
            reduced = (
                torch.stack(
                    [
                        x.sum(3),
                        torch.linalg.vecdot(x, x, dim=3),
                        x.abs().sum(3),
                        torch.count_nonzero(x, dim=3).to(x.dtype),
                        before.square().mean(1).sqrt().expand(2, cls.blocks, -1).transpose(1, 2),
                    ]
                )
                .double()
                .numpy()
            )
            count = np.full(reduced.shape[1:], float(cls.length))
            count[..., -1] -= cls.pad
            stats = {
                "total": reduced[0],
                "total_sq": reduced[1],
                "total_abs": reduced[2],
                "zeros": count - reduced[3],
                "count": count,
                "nonfinite": np.zeros_like(count),
            }
            if not np.isfinite(reduced[1]).all():  # padding is a finite zero: out of nonfinite
                finite = torch.isfinite(x)
                clean = torch.where(finite, x, 0.0).double()
                nonfinite = (~finite).sum(3).double().numpy()
                stats.update(
                    total=clean.sum(3).numpy(),
                    total_sq=clean.square().sum(3).numpy(),
                    total_abs=clean.abs().sum(3).numpy(),
                    count=count - nonfinite,
                    nonfinite=nonfinite,
                )
            for key, value in stats.items():
                for k, family in enumerate(("grad", "update")):
                    sums[family].setdefault(key, []).extend(value[k])
            rms.append(reduced[4, 0, :, 0])
        self.logs.append(_Log(self.t, sums, None if loss is None else float(loss), np.concatenate(rms)))

    def _draw_sums(self, log: _Log, family: str, row: int, index: int) -> DrawSums:
        """One tensor's :class:`DrawSums` (``row`` in the log's class order) for a family;
        ``rel_update`` is the update's divided by the tensor's RMS weight before the step
        (undefined, so counted non-finite, for a tensor at exactly 0)."""
        source = log.sums["grad" if family == "grad" else "update"]
        parts = {key: source[key][row] for key in source}
        size = self._params[index].numel()
        if family == "rel_update":
            r = log.rms[row]
            if r > 0:
                parts.update(
                    total=parts["total"] / r, total_sq=parts["total_sq"] / r**2, total_abs=parts["total_abs"] / r
                )
            else:
                blank = np.zeros_like(parts["count"])
                parts.update(
                    total=blank,
                    total_sq=blank,
                    total_abs=blank,
                    zeros=blank,
                    nonfinite=parts["count"] + parts["nonfinite"],
                    count=blank,
                )
        # entries per draw on average (blocks differ by the padding): zero_frac and
        # nonfinite_frac are then fractions of the tensor's entries
        return DrawSums(**parts, size=size / len(parts["count"]))  # type: ignore[arg-type]

    def rows(self) -> pd.DataFrame:
        """Every logged step's rows in the results.csv schema, ``scale`` = ``step``; one
        :func:`xvanish.core.measure` per step and block count."""
        require(len(self.logs) > 0, "monitor", self.t, "has logged no step yet: call step() after optimizer.step()")
        has_cost = all(log.loss is not None for log in self.logs)
        frames = []
        for log in self.logs:
            for number, cls in enumerate(self._classes):
                first = sum(len(c.members) for c in self._classes[:number])
                declared, grads = [], {}
                for family in FAMILIES:
                    for offset, index in enumerate(cls.members):
                        spec = group(f"{family}/{self._names[index]}", float(index + 1))
                        declared.append(spec)
                        grads[spec.name] = self._draw_sums(log, family, first + offset, index)
                with_cost = has_cost and number == 0
                recorded = RecordedStep(
                    "monitor",
                    None,
                    declared + ([COST] if with_cost else []),
                    GradientBatch(grads=grads, cost=np.full(cls.blocks, log.loss) if with_cost else None),
                )
                frame = measure(recorded, cls.blocks, 0, scale_name="step", scale=log.step)
                frame["n_params"] = np.where(frame["group"] == "cost", 1, cls.size)
                frame.insert(frame.columns.get_loc("group"), "step", log.step)
                frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        order = {name: i for i, name in enumerate(g.name for g in self.groups())}
        out = out.sort_values(["step", "group"], key=lambda c: c.map(order) if c.name == "group" else c, kind="stable")
        out["seconds"] = np.nan
        out["model"] = type(self.model).__name__
        if self.optimizer is not None:
            out["optimizer"] = type(self.optimizer).__name__
        return out.reset_index(drop=True)

    def groups(self) -> list:
        """The groups of every logged step: the three families over the tensors in model order, then cost."""
        specs = [group(f"{family}/{name}", float(i + 1)) for family in FAMILIES for i, name in enumerate(self._names)]
        return specs + [COST]

    def write(self, out_dir: str | os.PathLike[str], plot: bool = True) -> dict[str, Any]:
        """results.csv, summary.json and plot.png (headline: the first tensor's rel_update)."""
        from xvanish.training.outputs import write_outputs

        config = {
            "every": self.every,
            "steps": self.t,
            "blocks": BLOCKS,
            "optimizer": None if self.optimizer is None else repr(self.optimizer).splitlines()[0],
        }
        return write_outputs(
            self.rows(),
            out_dir,
            domain="monitor",
            group=f"rel_update/{self._names[0]}",
            config=config,
            wall_seconds=time.perf_counter() - self._started,
            plot=plot,
        )


def monitor(model: torch.nn.Module, optimizer: Any = None, every: int = 10) -> Monitor:
    """A :class:`Monitor` of ``model``'s trainable parameters: ``mon.step()`` after ``optimizer.step()``.

    Raises:
        ConfigError: ``model`` has no trainable parameter, or ``every`` < 1.
    """
    return Monitor(model, optimizer, every)
