"""A residual MLP whose depth behaviour is set by two switches: branch scaling and batch norm.

Block l maps h to h + α·W_l φ(N(h)) + b_l (a pre-activation residual block, He et al. 2016,
"Identity mappings in deep residual networks"), with N = identity or ``nn.BatchNorm1d``
over the inputs of one draw, φ = ReLU and W_l, b_l a torch ``nn.Linear`` with its default
initialisation. The branch multiplier α is 1 (``branch_scale="none"``) or 1/√L
(``"sqrt_depth"``): with α = 1 the forward variance and the gradient reaching early blocks
grow geometrically with depth; with α = 1/√L they stay bounded as L → ∞ (Hayou et al. 2021,
"Stable ResNet"; Zhang et al. 2019 "Fixup" scale branches for the same reason).

Example:
    >>> from xvanish.examples.resnet import residual_mlp
    >>> model = residual_mlp(depth=4, width=8)
    >>> [name for name, _ in model.named_children()]
    ['embed', 'blocks']
"""

import math

import torch
from torch import nn

__all__ = ["BRANCH_SCALES", "NORMS", "ResidualBlock", "ResidualMLP", "residual_mlp"]

#: The branch multiplier α as a function of the depth L.
BRANCH_SCALES = {"none": lambda depth: 1.0, "sqrt_depth": lambda depth: 1.0 / math.sqrt(depth)}

#: Normalisation applied to each block's input before the activation.
NORMS = ("none", "batchnorm")


class ResidualBlock(nn.Module):
    """h ↦ h + α·fc(ReLU(norm(h))).

    Args:
        width: features in and out.
        alpha: branch multiplier α.
        norm: ``"none"`` or ``"batchnorm"`` (``nn.BatchNorm1d``, batch statistics in training mode).
    """

    def __init__(self, width: int, alpha: float, norm: str) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(width) if norm == "batchnorm" else nn.Identity()
        self.fc = nn.Linear(width, width)
        self.alpha = alpha

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.alpha * self.fc(torch.relu(self.norm(h)))


class ResidualMLP(nn.Module):
    """A linear embedding followed by ``depth`` :class:`ResidualBlock` in ``blocks``."""

    def __init__(self, depth: int, width: int, in_features: int, alpha: float, norm: str) -> None:
        super().__init__()
        self.embed = nn.Linear(in_features, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width, alpha, norm) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.embed(x))


def residual_mlp(
    depth: int = 16, width: int = 128, in_features: int | None = None, branch_scale: str = "none", norm: str = "none"
) -> ResidualMLP:
    """A freshly initialised :class:`ResidualMLP`.

    Args:
        depth: number of residual blocks L (>= 1).
        width: features of every block.
        in_features: input features (default ``width``).
        branch_scale: ``"none"`` (α = 1) or ``"sqrt_depth"`` (α = 1/√L).
        norm: ``"none"`` or ``"batchnorm"`` (needs at least 2 inputs per draw).

    Raises:
        ValueError: for an unknown ``branch_scale`` or ``norm``, or depth/width < 1.
    """
    if branch_scale not in BRANCH_SCALES:
        raise ValueError(f"branch_scale must be one of {', '.join(BRANCH_SCALES)}, got {branch_scale!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
    return ResidualMLP(
        depth, width, width if in_features is None else in_features, BRANCH_SCALES[branch_scale](depth), norm
    )
