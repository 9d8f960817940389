"""Gradients during training: R runs trained at once, rows at logged steps, and ``monitor``."""

from xvanish.training.config import CLIPS, OPTIMIZER_NAMES, TrainConfig, default_log_steps

__all__ = ["CLIPS", "OPTIMIZER_NAMES", "TrainConfig", "default_log_steps", "monitor", "train"]


def __getattr__(name: str):
    """``monitor`` and ``train`` import torch: only when asked for."""
    if name == "monitor":
        from xvanish.training.monitor import monitor

        return monitor
    if name == "train":
        from xvanish.training.loop import train

        return train
    raise AttributeError(f"module 'xvanish.training' has no attribute {name!r}")
