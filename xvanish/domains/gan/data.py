"""Real data and where the generator's outputs are shifted (``gap``).

* ``toy``: the segment {(t, 0): t ∈ [−1, 1]}, t uniform; the generator's last layer puts
  every sample on the line y = gap (its y row of weights and its y bias are zero, then
  ``gap`` is added): disjoint supports for gap > 0, and the optimal discriminator is known,
  D* = 1 on the segment and 0 on the line, with ∇ₓD* = 0 on both (Arjovsky & Bottou 2017,
  Theorem 2.1).
* ``gaussians8``: eight Gaussians (σ = 0.02) at radius 2, equally spaced in angle
  (Metz et al. 2017, unrolled GANs); the generator's outputs are shifted by ``gap`` along y.
* ``digits``: scikit-learn's 1,797 bundled 8×8 digit images (no download), pixels 0…16
  mapped to [−1, 1]; the generator ends in tanh, and its outputs are shifted by ``gap``
  along the all-ones direction (every pixel by gap/8: a Euclidean distance of gap).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from xvanish.core import ConfigError
from xvanish.draws import DrawStream

__all__ = ["DATASETS", "Dataset", "load_digits"]

Tensor = torch.Tensor

#: Radius and standard deviation of the eight Gaussians.
RING_RADIUS, RING_STD = 2.0, 0.02


@functools.lru_cache(maxsize=1)
def load_digits() -> Tensor:
    """The 1,797 digit images ``[1797, 64]`` in float64, pixels mapped from 0…16 to [−1, 1].

    Raises:
        ConfigError: when scikit-learn (which ships the images) is not installed.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:  # an optional dependency: one line, not a traceback
        raise ConfigError("data", "digits", f"needs scikit-learn (pip install scikit-learn): {error}") from None
    return torch.as_tensor(sklearn_digits().data, dtype=torch.float64) / 8.0 - 1.0


@functools.lru_cache(maxsize=4)
def _digits_as(dtype: torch.dtype, device: torch.device) -> Tensor:
    """The images in the sampler's dtype and device, converted once (not at every step)."""
    return load_digits().to(dtype=dtype, device=device)


@dataclass(frozen=True)
class Dataset:
    """A real data set and the generator's output layout.

    Attributes:
        dim: dimension of a sample.
        output: activation of the generator's last layer.
        on_line: the generator's y row is zeroed (the toy: outputs on the line y = gap).
    """

    name: str
    dim: int
    output: str = "linear"
    on_line: bool = False

    def shift(self, gap: float, dtype: torch.dtype, device: torch.device) -> Tensor:
        """The constant ``gap·e`` added to every generated sample, ``[dim]``."""
        e = torch.zeros(self.dim, dtype=dtype, device=device)
        if self.name == "digits":
            e += 1.0 / math.sqrt(self.dim)
        else:
            e[1] = 1.0
        return gap * e

    def sample(self, stream: DrawStream, batch: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """``[n, batch, dim]`` real samples of the stream's draws (each draw its own rows)."""
        if self.name == "toy":
            t = stream.uniform((batch, 1), -1.0, 1.0, dtype)
            return torch.cat([t, torch.zeros_like(t)], dim=2)
        if self.name == "gaussians8":
            mode = stream.integers(8, (batch,))
            angle = mode.to(dtype) * (2 * math.pi / 8)
            centre = RING_RADIUS * torch.stack([torch.cos(angle), torch.sin(angle)], dim=2)
            return centre + RING_STD * stream.normal((batch, 2), dtype)
        images = _digits_as(dtype, device)
        return images[stream.integers(images.shape[0], (batch,))]


DATASETS = {
    "toy": Dataset("toy", 2, on_line=True),
    "gaussians8": Dataset("gaussians8", 2),
    "digits": Dataset("digits", 64, output="tanh"),
}
