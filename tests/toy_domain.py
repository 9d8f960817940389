"""A tiny numpy domain with a known answer, for testing the core without any framework.

Each draw has `depth` groups ``layer/<l>`` of `width` independent N(0, decay^(depth-l))
entries, an ``input`` group of variance decay^depth, and a cost N(0, 1). The theory is
exact for the layers; ``input`` carries its variance as a ``bound`` (it is also an upper
bound) so that the core's handling of bounds is exercised.
"""

import dataclasses

import numpy as np

from xvanish.core import (
    COST,
    Domain,
    GradientBatch,
    bound,
    exact,
    group,
    make_config,
    require,
    require_int,
    require_memory,
)

BUILT = []  # every sampler built, so tests can count factory calls


@dataclasses.dataclass
class ToyConfig:
    depth: int = 4
    width: int = 3
    decay: float = 0.5
    kind: str = "plain"
    memory_limit_gb: float = 1.0

    def __post_init__(self):
        require_int("depth", self.depth, minimum=1)
        require(self.decay > 0, "decay", self.decay, "must be > 0")
        require_memory(self.memory_need(1), self.memory_limit_gb, f"one draw (depth={self.depth})")

    def memory_need(self, n):
        """float64 values of n draws: depth·width layer entries and width input entries."""
        return 8 * n * (self.depth + 1) * self.width


class ToySampler:
    domain = "toy"

    def __init__(self, config: ToyConfig):
        self.config = config
        self.calls = 0
        BUILT.append(self)

    def groups(self):
        depth = self.config.depth
        return [group(f"layer/{l}", l) for l in range(1, depth + 1)] + [group("input"), COST]

    def sample(self, n, seed):
        self.calls += 1
        rng = np.random.default_rng(seed)
        depth, width, decay = self.config.depth, self.config.width, self.config.decay
        scales = decay ** ((depth - np.arange(1, depth + 1)) / 2)
        # one row of numbers per draw, in one call: draw i does not depend on n (prefix-stable);
        # no `start` keyword, so core's fallback for such plugins is exercised too
        numbers = rng.standard_normal((n, (depth + 1) * width + 1))
        layers = numbers[:, : depth * width].reshape(n, depth, width) * scales[None, :, None]
        grads = {f"layer/{l}": layers[:, l - 1] for l in range(1, depth + 1)}
        grads["input"] = numbers[:, depth * width : -1] * decay ** (depth / 2)
        return GradientBatch(grads, cost=numbers[:, -1])

    def theory_var(self):
        depth, decay = self.config.depth, self.config.decay
        return {f"layer/{l}": exact(decay ** (depth - l)) for l in range(1, depth + 1)} | {"input": bound(decay**depth)}

    def info(self):
        return {"built_as": "toy"}


def sampler(**kwargs):
    return ToySampler(make_config(ToyConfig, **kwargs))


DOMAIN = Domain(
    name="toy",
    config=ToyConfig,
    factory=sampler,
    natural_axis="depth",
    headline_group="input",
    description="known-answer test domain",
    small={"depth": 2},
    oversized={"width": 1 << 30},
)
