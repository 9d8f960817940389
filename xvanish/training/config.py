"""The training keys (``train.*``): optimizer, learning rate, clipping, steps to train and to log."""

# No ``from __future__ import annotations``: OmegaConf reads these annotations (schema.py).
from dataclasses import dataclass
from typing import List, Optional

from xvanish.core import is_int, require, require_choice, require_int, require_number

__all__ = ["CLIPS", "OPTIMIZER_NAMES", "TrainConfig", "default_log_steps"]

#: The optimizers :mod:`xvanish.training.optim` implements (batched over runs).
OPTIMIZER_NAMES = ("sgd", "momentum", "adam", "adamw", "rmsprop")
#: Gradient clipping: none, per-run global norm (torch's clip_grad_norm_), per-entry value.
CLIPS = ("none", "norm", "value")


def default_log_steps(train_steps: int) -> List[int]:
    """1, 3, 10, 30, 100, … up to ``train_steps``, and ``train_steps`` itself (half-decades)."""
    steps, decade = [], 1
    while decade <= train_steps:
        steps.extend(s for s in (decade, 3 * decade) if s <= train_steps)
        decade *= 10
    return sorted(set(steps) | {int(train_steps)})


@dataclass
class TrainConfig:
    """Keys of a training run (``train.*`` on the command line; docs/training.md).

    Attributes:
        optimizer: one of :data:`OPTIMIZER_NAMES`; ``None`` = no training (measure at init).
        lr: learning rate (> 0).
        momentum: heavy-ball coefficient of ``momentum`` (torch.optim.SGD's).
        beta1, beta2: Adam/AdamW moment decays; ``beta2`` is also RMSprop's α.
        eps: added to √v in Adam, AdamW and RMSprop (torch's placement).
        weight_decay: L2 (coupled) for sgd/momentum/adam/rmsprop, decoupled for adamw;
            ``None`` = torch's default (0.01 for adamw, 0 otherwise).
        clip: one of :data:`CLIPS`.
        clip_at: the norm (``clip=norm``) or value (``clip=value``) bound (> 0).
        train_steps: updates T per run (≥ 1).
        log_steps: updates t ∈ [1, T] at which rows are recorded; ``None`` =
            :func:`default_log_steps`.
        batch_size: examples per minibatch of each run (≥ 1).
        task: the domain's training task; ``default`` = the domain's own (mlp: digits,
            rnn: long_range, module: the user's loss).
    """

    optimizer: Optional[str] = None
    lr: float = 1e-3
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: Optional[float] = None
    clip: str = "none"
    clip_at: float = 1.0
    train_steps: int = 1000
    log_steps: Optional[List[int]] = None
    batch_size: int = 32
    task: str = "default"

    def __post_init__(self) -> None:
        if self.optimizer is not None:
            require_choice("train.optimizer", self.optimizer, OPTIMIZER_NAMES)
        require_number("train.lr", self.lr, 0, strict=True)
        require_number("train.momentum", self.momentum, 0)
        require(self.momentum < 1, "train.momentum", self.momentum, "must be a finite number in [0, 1)")
        for key in ("beta1", "beta2"):
            value = getattr(self, key)
            require_number(f"train.{key}", value, 0)
            require(value < 1, f"train.{key}", value, "must be a finite number in [0, 1)")
        require_number("train.eps", self.eps, 0)
        require_number("train.weight_decay", self.weight_decay, 0, allow_none=True)
        require_choice("train.clip", self.clip, CLIPS)
        require_number("train.clip_at", self.clip_at, 0, strict=True)
        require_int("train.train_steps", self.train_steps, minimum=1)
        if self.log_steps is not None:
            steps = list(self.log_steps)
            require(
                len(steps) > 0
                and all(is_int(s) and 1 <= s <= self.train_steps for s in steps)
                and len(set(steps)) == len(steps),
                "train.log_steps",
                steps,
                f"must be distinct integers in [1, train.train_steps={self.train_steps}]",
            )
        require_int("train.batch_size", self.batch_size, minimum=1)
        require(isinstance(self.task, str) and len(self.task) > 0, "train.task", self.task, "must be a task name")

    @property
    def steps_logged(self) -> List[int]:
        """The logged updates, sorted."""
        return sorted(self.log_steps) if self.log_steps is not None else default_log_steps(self.train_steps)

    @property
    def decay(self) -> float:
        """The weight decay in force (torch's default when ``weight_decay`` is None)."""
        if self.weight_decay is not None:
            return float(self.weight_decay)
        return 0.01 if self.optimizer == "adamw" else 0.0
