"""The GAN config: the keys of ``conf/domain/gan.yaml``, validated all at once.

Every check — types, ranges and the rules between keys (``wgan`` needs ``objective=wgan_gp``,
the toy's generator is never pre-trained) — happens here, so the planner can check a whole
sweep by constructing configs, before any data is loaded or any network trained.
"""

# No ``from __future__ import annotations``: OmegaConf reads the dataclass annotations.
from dataclasses import dataclass
from typing import List, Optional

import torch

from xvanish.core import require, require_choice, require_int, require_memory, require_number
from xvanish.devices import require_device

from .data import DATASETS
from .nets import ACTIVATIONS

__all__ = ["DATA", "DTYPES", "GANConfig", "LOSSES", "OBJECTIVES", "OBJECTIVE_LOSSES"]

#: Real data sets (docs/gan.md): ``toy`` a segment, ``gaussians8`` eight modes on a circle,
#: ``digits`` scikit-learn's 1,797 bundled 8×8 images.
DATA = ("toy", "gaussians8", "digits")

#: How D is trained: ``gan`` cross-entropy (Goodfellow et al. 2014); ``wgan_gp`` a critic
#: with the gradient penalty (Gulrajani et al. 2017).
OBJECTIVES = ("gan", "wgan_gp")

#: Generator losses measured, and the objective each one needs.
LOSSES = {"saturating": "gan", "nonsaturating": "gan", "wgan": "wgan_gp"}

#: The losses measured when ``losses`` is null.
OBJECTIVE_LOSSES = {"gan": ["saturating", "nonsaturating"], "wgan_gp": ["wgan"]}

#: Training in float16/bfloat16 is not offered: Adam's second moments underflow there.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class GANConfig:
    """Keys of the GAN domain (= ``conf/domain/gan.yaml`` = keyword arguments of :func:`sampler`).

    Attributes:
        data: ``toy`` | ``gaussians8`` | ``digits`` (:data:`DATA`).
        gap: distance the generator's outputs are shifted away from where they would be:
            for ``toy`` the height of the generator's line above the real segment (disjoint
            supports when > 0); for the others a fixed shift by ``gap`` along the second
            axis (``gaussians8``) or along the all-ones direction (``digits``, every pixel
            by gap/8). The natural sweep axis.
        noise: σ of the instance noise added to D's real and fake inputs, in training and
            in the measurement (Arjovsky & Bottou 2017, section 3).
        d_steps: the largest number k of discriminator steps; checkpoints at 0, 1, 3, 10,
            30, … and ``d_steps``.
        d_hidden: width of D's hidden layers.
        d_depth: number of D's hidden layers (2: 2-64-64-1 on the toy).
        d_activation: D's hidden activation (:data:`~.nets.ACTIVATIONS`).
        d_lr: D's Adam learning rate (positive, finite).
        d_beta1: Adam's β₁ for D (DCGAN's 0.5).
        d_beta2: Adam's β₂ for D.
        g_hidden: width of G's hidden layers.
        g_depth: number of G's hidden layers (0: G affine in z).
        g_activation: G's hidden activation.
        z_dim: dimension of the latent z ~ U[−1, 1]^z_dim.
        g_pretrain: steps of ordinary GAN training (one D step, one non-saturating G step)
            before G is frozen; D is then drawn afresh (Arjovsky & Bottou's protocol).
        g_lr: G's Adam learning rate during pre-training.
        objective: ``gan`` | ``wgan_gp`` (:data:`OBJECTIVES`).
        gp_lambda: weight λ of the gradient penalty (``wgan_gp``; Gulrajani et al.: 10).
        losses: generator losses measured (:data:`LOSSES`); null = the objective's own
            (``gan``: saturating, nonsaturating; ``wgan_gp``: wgan).
        batch: generated (and real) samples per draw, per step and per measurement.
        dtype: ``float32`` | ``float64``.
        device: ``cpu`` or ``cuda[:k]``.
        memory_limit_gb: working memory allowed (:meth:`memory_need`); a config whose single
            draw does not fit is refused, and so is a run whose draws do not
            (``measure.n_samples``), before anything is allocated.
    """

    data: str = "toy"
    gap: float = 1.0
    noise: float = 0.0
    d_steps: int = 1000
    d_hidden: int = 64
    d_depth: int = 2
    d_activation: str = "leaky_relu"
    d_lr: float = 1e-3
    d_beta1: float = 0.5
    d_beta2: float = 0.999
    g_hidden: int = 16
    g_depth: int = 1
    g_activation: str = "tanh"
    z_dim: int = 1
    g_pretrain: int = 0
    g_lr: float = 1e-3
    objective: str = "gan"
    gp_lambda: float = 10.0
    losses: Optional[List[str]] = None
    batch: int = 64
    dtype: str = "float32"
    device: str = "cpu"
    memory_limit_gb: float = 4.0

    def __post_init__(self) -> None:
        require_choice("data", self.data, DATA)
        require_number("gap", self.gap, 0)
        require_number("noise", self.noise, 0)
        require_int("d_steps", self.d_steps, minimum=0)
        require_int("d_hidden", self.d_hidden, minimum=1)
        require_int("d_depth", self.d_depth, minimum=0)
        require_choice("d_activation", self.d_activation, ACTIVATIONS)
        for key in ("d_lr", "g_lr"):
            require_number(key, getattr(self, key), 0, strict=True)
        for key in ("d_beta1", "d_beta2"):
            value = getattr(self, key)
            require_number(key, value, 0)
            require(value < 1, key, value, "must be a finite number in [0, 1)")
        require_int("g_hidden", self.g_hidden, minimum=1)
        require_int("g_depth", self.g_depth, minimum=0)
        require_choice("g_activation", self.g_activation, ACTIVATIONS)
        require_int("z_dim", self.z_dim, minimum=1)
        require_int("g_pretrain", self.g_pretrain, minimum=0)
        require(
            self.data != "toy" or self.g_pretrain == 0,
            "g_pretrain",
            self.g_pretrain,
            "data=toy keeps G on the line y = gap (disjoint supports, D* known): must be 0",
        )
        require_choice("objective", self.objective, OBJECTIVES)
        require_number("gp_lambda", self.gp_lambda, 0)
        if self.losses is not None:
            losses = list(self.losses)
            require(
                len(losses) > 0 and all(isinstance(loss, str) for loss in losses) and len(set(losses)) == len(losses),
                "losses",
                self.losses,
                "must be null or a non-empty list of distinct names from " + ", ".join(LOSSES),
            )
            for loss in losses:
                require_choice("losses", loss, LOSSES)
                require(
                    LOSSES[loss] == self.objective,
                    "losses",
                    self.losses,
                    f"{loss} groups need objective={LOSSES[loss]} (objective={self.objective}); "
                    f"with objective={self.objective} use {OBJECTIVE_LOSSES[self.objective]} or null",
                )
        require_int("batch", self.batch, minimum=1)
        require_choice("dtype", self.dtype, DTYPES)
        require_device("device", self.device)
        require_number("memory_limit_gb", self.memory_limit_gb, 0, strict=True)
        require_memory(
            self.memory_need(1),
            self.memory_limit_gb,
            f"one draw (D {self.d_depth} x {self.d_hidden}, G {self.g_depth} x {self.g_hidden}, "
            f"z_dim={self.z_dim}, batch={self.batch}, d_steps={self.d_steps})",
        )

    def memory_need(self, n: int) -> int:
        """Bytes ``sample(n)`` needs, from the sizes (a model with a safety factor of 1.5).

        Per draw: D's and G's parameters with their gradients and Adam's two moments; the
        activations of the real and generated batches through D and G with their gradients
        (twice over for the penalty's double backward); G's Jacobian propagated for
        Theorem 2.4 (batch × data dim × widest layer); and the generator gradients returned
        at every checkpoint (at most 2 per decade of ``d_steps``, plus 2).
        """
        item = DTYPES[self.dtype].itemsize
        dim = DATASETS[self.data].dim
        d_sizes = [dim] + [self.d_hidden] * self.d_depth + [1]
        g_sizes = [self.z_dim] + [self.g_hidden] * self.g_depth + [dim]

        def n_params(sizes: List[int]) -> int:
            return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))

        checkpoints = 2 * len(str(self.d_steps)) + 2
        per_draw = (
            4 * (n_params(d_sizes) + n_params(g_sizes))
            + self.batch * 12 * (2 * sum(d_sizes) + sum(g_sizes))
            + self.batch * dim * max(g_sizes)
            + checkpoints * (len(self.measured_losses) * n_params(g_sizes) + 4)
        )
        return int(1.5 * item * n * per_draw)

    @property
    def measured_losses(self) -> List[str]:
        """The generator losses measured (``losses`` or the objective's own)."""
        return list(self.losses) if self.losses is not None else list(OBJECTIVE_LOSSES[self.objective])
