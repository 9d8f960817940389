"""The conformance suite every domain passes, built-in or third-party.

Like PennyLane's device test suite, a plugin author runs it on their own domain::

    from xvanish.testing import check_domain
    check_domain(get_domain("mydomain"))          # uses DOMAIN.small

It checks the contract of :mod:`xvanish.core`: the factory's keywords are the config
dataclass's fields, the batch has the documented shapes, the same seed gives the same
numbers bit for bit and another seed other numbers, draws are prefix-stable (the first k
draws of ``sample(n, seed)`` are ``sample(k, seed)``, and ``sample(n − k, seed, start=k)``
its other draws where ``sample`` takes ``start``), a ``dtype`` key is kept in the
returned tensors, the theory hook names only existing groups with positive finite values,
``groups()`` declares exactly what ``sample`` returns, theory values are typed
(:class:`~xvanish.core.Theory`), and ``measure`` turns the batch into rows of the results
schema. Each :class:`~xvanish.core.Domain` carries the small config it is checked with.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from xvanish.core import (
    RESULT_COLUMNS,
    THEORY_KINDS,
    ConfigError,
    Domain,
    GradientBatch,
    Group,
    Theory,
    is_numeric_text,
    measure,
    takes_start,
)
from xvanish.stats import DrawSums

__all__ = ["check_domain", "check_memory_guard", "check_prefix_stable", "check_sampler"]

#: Tolerance of the prefix check, in units of the dtype's machine epsilon: a batch of n draws
#: may sum in another order than a batch of k (blocked matrix products), so draw i agrees to
#: rounding, not bit for bit (a GAN's float32 training over a few steps: ~3 eps).
PREFIX_EPS = 1000
_EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}


def _dtype_name(values: Any) -> str:
    return str(getattr(values, "dtype", "")).replace("torch.", "")


def _to_numpy(values: Any) -> np.ndarray:
    """A group value as a comparable numpy array (OuterProduct materialised, DrawSums stacked)."""
    if isinstance(values, DrawSums):
        return np.stack([values.count, values.total, values.total_sq, values.total_abs, values.zeros, values.nonfinite])
    if hasattr(values, "materialize"):
        values = values.materialize()
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def _rows(values: Any) -> int:
    if isinstance(values, DrawSums):
        return values.n
    return int((values.left if hasattr(values, "materialize") else values).shape[0])


def _draw_rows(values: Any, rows: slice) -> np.ndarray:
    """Draws ``rows`` of a group as a comparable array (DrawSums: their unshifted per-draw sums)."""
    if isinstance(values, DrawSums):
        return np.stack(
            [
                values.count,
                values.total + values.shift * values.count,
                values.unshifted_sq(),
                values.total_abs,
                values.zeros,
                values.nonfinite,
            ]
        )[:, rows].T
    return _to_numpy(values)[rows]


def _assert_same_draws(got: Any, want: Any, what: str, eps: float) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    finite = np.isfinite(want)
    assert np.array_equal(finite, np.isfinite(got)), f"{what}: non-finite entries differ"
    scale = float(np.abs(want[finite]).max()) if finite.any() else 0.0
    tol = min(PREFIX_EPS * eps, 1e-3)  # half precision: at most one unit in its last place
    assert np.allclose(got[finite], want[finite], rtol=tol, atol=tol * scale), (
        f"{what}: largest difference {np.abs(got[finite] - want[finite]).max():.3g} (scale {scale:.3g})"
    )


def check_prefix_stable(sampler: Any, n: int = 5, k: int = 2, seed: int = 1234) -> None:
    """Draw i of ``sample(n, seed)`` must not depend on n (DESIGN.md; adaptive precision adds draws).

    ``sample(k, seed)`` must equal the first k draws of ``sample(n, seed)`` and, where
    ``sample`` takes ``start``, ``sample(n − k, seed, start=k)`` the other n − k, every group
    and the cost, to :data:`PREFIX_EPS` machine epsilons of the group's dtype (relative to
    the group's largest entry).

    Raises:
        AssertionError: naming the group and the draws that differ.
    """
    full = sampler.sample(n, seed)
    parts = [(slice(0, k), sampler.sample(k, seed), "sample(k)")]
    if takes_start(sampler):
        parts.append((slice(k, n), sampler.sample(n - k, seed, start=k), "sample(n-k, start=k)"))
    for rows, batch, call in parts:
        for group, values in full.grads.items():
            dense = values.left if hasattr(values, "materialize") else values
            eps = _EPS.get(_dtype_name(dense), _EPS["float64"])  # DrawSums are float64
            _assert_same_draws(
                _draw_rows(batch.grads[group], slice(None)),
                _draw_rows(values, rows),
                f"group {group!r}: {call} is not draws {rows.start}..{rows.stop - 1} of sample(n)",
                eps,
            )
        if full.cost is not None:
            _assert_same_draws(
                _to_numpy(batch.cost),
                _to_numpy(full.cost)[rows],
                f"cost: {call} is not draws {rows.start}..{rows.stop - 1} of sample(n)",
                _EPS.get(_dtype_name(full.cost), _EPS["float64"]),
            )


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

    declared = list(sampler.groups())
    assert declared and all(isinstance(g, Group) for g in declared), "groups() must list core.Group objects"
    names = [g.name for g in declared]
    assert len(set(names)) == len(names), f"groups() repeats a name: {names}"
    for spec in declared:
        assert spec.position is None or math.isfinite(spec.position), f"group {spec.name!r}: position must be finite"
        # DESIGN.md: a positioned group is named family/<position>; where the name ends in
        # a number, that number is the position (a shifted axis is a silent error in fits).
        suffix = spec.name.rpartition("/")[2]
        if spec.position is not None and is_numeric_text(suffix):
            assert float(suffix) == spec.position, (
                f"group {spec.name!r} declares position {spec.position}, its name says {suffix}"
            )

    batch = sampler.sample(n, seed)
    assert isinstance(batch, GradientBatch), "sample() must return a GradientBatch"
    assert len(batch.grads) > 0, "a batch needs at least one group"
    assert "cost" not in batch.grads, "cost values belong in GradientBatch.cost"
    returned = list(batch.grads) + (["cost"] if batch.cost is not None else [])
    assert set(returned) == set(names), f"sample() returned {sorted(returned)}, groups() declared {sorted(names)}"
    has_dtype = "dtype" in {f.name for f in dataclasses.fields(config)}
    for group, values in batch.grads.items():
        assert _rows(values) == n, f"group {group!r} has {_rows(values)} draws, want {n}"
        if isinstance(values, DrawSums):
            continue
        shape = tuple(values.shape) if not hasattr(values, "materialize") else tuple(values.materialize().shape)
        assert len(shape) == 2 and shape[0] == n and shape[1] >= 1, f"group {group!r} has shape {shape}, want [{n}, k]"
        if has_dtype:
            dense = values.left if hasattr(values, "materialize") else values
            assert _dtype_name(dense) == str(config.dtype), (
                f"group {group!r} came back as {_dtype_name(dense)}, config.dtype={config.dtype}"
            )
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
    check_prefix_stable(sampler, n=n, k=max(1, n // 2), seed=seed)

    theory = sampler.theory_var()
    assert isinstance(theory, Mapping)
    for group, value in theory.items():
        assert group in names, f"theory_var names {group!r}, which groups() does not declare"
        assert isinstance(value, Theory) and value.kind in THEORY_KINDS, (
            f"theory_var[{group!r}] = {value!r} must be a core.Theory (exact/asymptotic/bound)"
        )
        assert math.isfinite(value.value) and value.value > 0, (
            f"theory_var[{group!r}] = {value!r} must be finite and > 0"
        )

    rows = measure(sampler, n, seed)
    assert list(rows.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    assert list(rows["group"]) == names, f"measure gave groups {list(rows['group'])}, declared {names}"
    assert rows["nonfinite_frac"].between(0, 1).all()
    return batch


def check_domain(domain: Domain, small: Mapping[str, Any] | None = None, n: int = 5) -> None:
    """Check a registered :class:`~xvanish.core.Domain` and one small sampler of it.

    The factory must accept exactly the config dataclass's fields (all with defaults), the
    natural axis must be one of them, and an unknown keyword must raise ConfigError.

    Args:
        domain: the domain.
        small: keyword overrides for a small, fast sampler; default ``domain.small``.
        n: draws per batch.
    """
    small = dict(domain.small if small is None else small)
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
    check_memory_guard(domain, small)
    check_sampler(domain.factory, n=n, **small)


#: Most the process may grow while a domain refuses its ``oversized`` config (bytes): far
#: below any allocation of an oversized config, far above the bookkeeping of refusing it.
GUARD_GROWTH = 256 << 20


def check_memory_guard(domain: Domain, small: Mapping[str, Any] | None = None) -> None:
    """The domain refuses a config that needs more memory than its ``memory_limit_gb``.

    ``domain.oversized`` (keyword overrides on top of ``small``) names such a config; its
    dataclass and its factory must both raise a :class:`ConfigError` that names
    ``memory_limit_gb``, before allocating it (the process grows by less than
    :data:`GUARD_GROWTH`).

    Raises:
        AssertionError: the domain declares no ``oversized`` config or no ``memory_limit_gb``
            key, or accepts the config, or allocates before refusing it.
    """
    import resource

    fields = [f.name for f in dataclasses.fields(domain.config)]
    assert domain.oversized is not None, (
        f"domain {domain.name} declares no memory guard: give its config a memory_limit_gb key, refuse in the "
        "dataclass a config whose memory need (from the sizes) exceeds it, and set Domain.oversized to keyword "
        "overrides that do (docs/core.md)"
    )
    assert "memory_limit_gb" in fields, f"domain {domain.name} has no memory_limit_gb key"
    keywords = {**dict(domain.small if small is None else small), **dict(domain.oversized)}
    for build in (domain.config, domain.factory):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes
        try:
            build(**keywords)
        except ConfigError as error:
            assert "memory_limit_gb" in str(error), f"{domain.name} refused {keywords} for another reason: {error}"
        else:
            raise AssertionError(f"domain {domain.name} accepted {keywords}, which needs more than its memory limit")
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
        assert grown < GUARD_GROWTH, f"domain {domain.name} grew by {grown / 1e6:.0f} MB before refusing {keywords}"
