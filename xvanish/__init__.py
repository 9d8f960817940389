"""xvanish: measure how gradient signals vanish or explode as models grow.

One measurement API for every domain::

    from xvanish import measure, sweep, fit_decay
    from xvanish.domains import mlp

    df = sweep(mlp.sampler, "depth", [4, 8, 16, 32], n_samples=128, seed=0, activation="tanh")
    print(fit_decay(df))
"""

from xvanish.core import (
    ConfigError,
    Domain,
    GradientBatch,
    Group,
    OuterProduct,
    Sampler,
    Theory,
    asymptotic,
    bound,
    exact,
    measure,
    point_seed,
    streams,
)
from xvanish.fit import fit_decay
from xvanish.plan import Plan, PointDone, Variant, plan, sweep
from xvanish.registry import available_domains, get_domain

__all__ = [
    "ConfigError",
    "Domain",
    "GradientBatch",
    "Group",
    "OuterProduct",
    "Plan",
    "PointDone",
    "Sampler",
    "Theory",
    "Variant",
    "asymptotic",
    "available_domains",
    "bound",
    "exact",
    "fit_decay",
    "get_domain",
    "measure",
    "plan",
    "point_seed",
    "streams",
    "sweep",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``xvanish.monitor`` without importing torch with ``import xvanish``."""
    if name == "monitor":
        from xvanish.training.monitor import monitor

        return monitor
    raise AttributeError(f"module 'xvanish' has no attribute {name!r}")
