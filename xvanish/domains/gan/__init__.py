"""GAN discriminator saturation: the generator's gradient as the discriminator wins.

Arjovsky & Bottou (2017, "Towards principled methods for training generative adversarial
networks") freeze a generator G, train a discriminator D against it for k steps, and
watch the generator's gradient: under the minimax ("saturating") loss log(1 − D(G(z))) it
vanishes as D approaches the optimal D* (Theorem 2.4: ‖∇‖ < M ε/(1 − ε)); under −log D
it grows and gets noisier; with instance noise (their section 3) or a Wasserstein critic
with gradient penalty (Gulrajani et al. 2017) it stays of order one. This domain measures
all of it across n independent (G, D) pairs trained as one batched network.

Modules:

* :mod:`.config` — :class:`GANConfig`, the keys of ``conf/domain/gan.yaml``;
* :mod:`.data` — the real data sets (:data:`DATASETS`: toy, gaussians8, digits);
* :mod:`.nets` — n MLPs as one batched network, per-sample Jacobian norms;
* :mod:`.sampling` — :class:`GANSampler` (training, checkpoints, the bound), :func:`sampler`.

Example:
    >>> from xvanish import measure
    >>> from xvanish.domains import gan
    >>> rows = measure(gan.sampler(gap=1.0, d_steps=1000), n_samples=64, seed=0)  # doctest: +SKIP
"""

from xvanish.core import Domain

from .config import DATA, DTYPES, LOSSES, OBJECTIVE_LOSSES, OBJECTIVES, GANConfig
from .data import DATASETS, load_digits
from .sampling import DOMAIN_NAME, GANSampler, Networks, checkpoints, sampler, theorem_2_4_bound

__all__ = [
    "DATA",
    "DATASETS",
    "DOMAIN",
    "DTYPES",
    "GANConfig",
    "GANSampler",
    "LOSSES",
    "Networks",
    "OBJECTIVES",
    "OBJECTIVE_LOSSES",
    "checkpoints",
    "load_digits",
    "sampler",
    "theorem_2_4_bound",
]

DOMAIN = Domain(
    name=DOMAIN_NAME,
    config=GANConfig,
    factory=sampler,
    natural_axis="gap",
    headline_group="saturating/1000",
    description="GAN: the generator's gradient vs discriminator steps, saturating / -log D / WGAN-GP "
    "(Arjovsky & Bottou 2017)",
    small={"d_steps": 3, "d_hidden": 8, "g_hidden": 4, "batch": 4},
    oversized={"d_hidden": 1 << 20},
)
