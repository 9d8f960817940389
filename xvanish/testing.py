"""The conformance suite every domain passes, built-in or third-party.

Like PennyLane's device test suite, a plugin author runs it on their own domain::

    from xvanish.testing import check_domain
    check_domain(get_domain("mydomain"), small={"n_units": 3})

It checks the contract of :mod:`xvanish.core`: the factory's keywords are the config
dataclass's fields, the batch has the documented shapes, the same seed gives the same
numbers bit for bit and another seed other numbers, a ``dtype`` key is kept in the
returned tensors, the theory hook names only existing groups with positive finite values,
and ``measure`` turns the batch into rows of the results schema.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from xvanish.core import RESULT_COLUMNS, ConfigError, Domain, GradientBatch, _to_numpy, measure

__all__ = ["check_domain", "check_sampler"]


def _dtype_name(values: Any) -> str:
    return str(getattr(values, "dtype", "")).replace("torch.", "")


def check_sampler(factory: Any, n: int = 5, seed: int = 1234, **kwargs: Any) -> GradientBatch:
    """Build ``factory(**kwargs)`` and check one sampler against the contract.

    Args:
        factory: a domain factory (``xvanish.domains.mlp.sampler``).
        n: draws per batch (small).
        seed: seed of the first batch; ``seed + 1`` is used for the "different seed" check.
        **kwargs: small sizes for a fast check.

    Returns:
        The first batch, for further checks by the caller.

    Raises:
        AssertionError: describing the first broken rule.
    """
    sampler = factory(**kwargs)
    assert isinstance(getattr(sampler, "domain", None), str) and sampler.domain, "sampler.domain must be a name"
    config = sampler.config
    assert dataclasses.is_dataclass(config), "sampler.config must be a dataclass instance"
    for key, value in kwargs.items():
        if isinstance(value, (int, float, str, bool)):
            assert getattr(config, key) == value, f"config.{key} is {getattr(config, key)!r}, built with {value!r}"

    batch = sampler.sample(n, seed)
    assert isinstance(batch, GradientBatch), "sample() must return a GradientBatch"
    assert len(batch.grads) > 0, "a batch needs at least one group"
    for group, values in batch.grads.items():
        assert group in batch.positions, f"group {group!r} has no positions entry (use None)"
        shape = tuple(values.shape)
        assert len(shape) == 2 and shape[0] == n and shape[1] >= 1, f"group {group!r} has shape {shape}, want [{n}, k]"
        if "dtype" in {f.name for f in dataclasses.fields(config)}:
            assert _dtype_name(values) == str(config.dtype), \
                f"group {group!r} came back as {_dtype_name(values)}, config.dtype={config.dtype}"
    assert "cost" not in batch.grads, "cost values belong in GradientBatch.cost"
    if batch.cost is not None:
        assert tuple(batch.cost.shape) == (n,), f"cost has shape {tuple(batch.cost.shape)}, want [{n}]"

    again = sampler.sample(n, seed)
    other = sampler.sample(n, seed + 1)
    differs = False
    for group, values in batch.grads.items():
        first, repeat = _to_numpy(values), _to_numpy(again.grads[group])
        assert np.array_equal(first, repeat, equal_nan=True), f"group {group!r}: same seed gave different numbers"
        differs |= not np.array_equal(first, _to_numpy(other.grads[group]), equal_nan=True)
    assert differs, "a different seed gave identical gradients"

    theory = sampler.theory_var()
    assert isinstance(theory, Mapping)
    for group, value in theory.items():
        assert group in batch.grads or (group == "cost" and batch.cost is not None), \
            f"theory_var names {group!r}, which the batch does not have"
        assert math.isfinite(value) and value > 0, f"theory_var[{group!r}] = {value!r} must be finite and > 0"

    rows = measure(sampler, n, seed)
    assert list(rows.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    expected_groups = len(batch.grads) + (batch.cost is not None)
    assert len(rows) == expected_groups, f"measure gave {len(rows)} rows for {expected_groups} groups"
    assert rows["nonfinite_frac"].between(0, 1).all()
    return batch


def check_domain(domain: Domain, small: Mapping[str, Any], n: int = 5) -> None:
    """Check a registered :class:`~xvanish.core.Domain` and one small sampler of it.

    The factory must accept exactly the config dataclass's fields (all with defaults), the
    natural axis must be one of them, and an unknown keyword must raise ConfigError.
    """
    fields = {f.name: f for f in dataclasses.fields(domain.config)}
    for name, field in fields.items():
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        assert has_default, f"config field {name!r} needs a default (YAML and factory share them)"
    assert domain.natural_axis in fields, f"natural axis {domain.natural_axis!r} is not a config key"
    signature = inspect.signature(domain.factory)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    if not takes_any:
        assert set(signature.parameters) == set(fields), "factory keywords must equal config fields"
    try:
        domain.factory(**{"no_such_key_xyz": 1})
    except ConfigError as error:
        assert "no_such_key_xyz" in str(error)
    else:
        raise AssertionError("an unknown key must raise ConfigError")
    check_sampler(domain.factory, n=n, **small)
