"""xvanish: measure how gradient signals vanish or explode as models grow.

One measurement API for every domain::

    from xvanish import measure, sweep, fit_decay
    from xvanish.domains import mlp

    df = sweep(mlp.sampler, "depth", [4, 8, 16, 32], n_samples=128, seed=0, activation="tanh")
    print(fit_decay(df))
"""

from xvanish.core import ConfigError, Domain, GradientBatch, Sampler, measure, point_seed, sweep
from xvanish.fit import fit_decay
from xvanish.registry import available_domains, get_domain

__all__ = [
    "ConfigError", "Domain", "GradientBatch", "Sampler", "available_domains", "fit_decay",
    "get_domain", "measure", "point_seed", "sweep",
]
__version__ = "0.1.0"
