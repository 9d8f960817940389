"""One instance and one draw, run when a config is checked: what the model exposes to measurement."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

import torch
from torch import nn

from xvanish.core import ConfigError, require

from .blocks import _block_container, _chosen_modules, _weight_of
from .build import _build, _cpu_rng_restored, _trainable
from .hooks import _FirstUse, _Taps
from .inputs import _draw_inputs, _index, _model_input

if TYPE_CHECKING:
    from .config import ModuleConfig

Tensor = torch.Tensor

#: Seed of the instance built to check a config (independent of every run seed).
PROBE_SEED = 0


@dataclass(frozen=True)
class _Probe:
    """What one instance and one draw revealed (see :func:`_probe`).

    Attributes:
        params: trainable parameter names in order of first use in the forward pass.
        acts: module paths with ``act`` groups, in forward order.
        act_shapes: each one's output shape for one draw.
        output_shape: the model's output shape for one draw.
        input_grad: the model's input is floating point (an ``input`` group).
        n_params: trainable parameter entries.
        blocks: path and length of the block container (largest ModuleList/Sequential), or None.
        factored: ``nn.Linear`` modules whose weight gradient is one outer product — called
            once, on one row, no forward hook of their own, the weight used nowhere else — by
            path, with their output shape: the gradient is (∂L/∂output) ⊗ input, kept as an
            :class:`OuterProduct` by the vmap path.
    """

    params: Tuple[str, ...]
    acts: Tuple[str, ...]
    act_shapes: Dict[str, Tuple[int, ...]]
    output_shape: Tuple[int, ...]
    input_grad: bool
    n_params: int
    blocks: Optional[Tuple[str, int]]
    factored: Dict[str, Tuple[int, ...]]
    activation_entries: int = 0


def _probe(factory: Callable[..., Any], config: ModuleConfig) -> _Probe:
    """Build one instance, run one draw forward through the loss; every failure is a ConfigError."""
    with _cpu_rng_restored():
        torch.default_generator.manual_seed(PROBE_SEED)
        model = _build(factory, config)
        params = _trainable(model)
        require(len(params) > 0, "model", config.model, "the model has no trainable parameters: nothing to measure")
        batch = _index(_draw_inputs(config, 2, PROBE_SEED), 0)
        taps = _Taps(model, _chosen_modules(model, config.acts))
        linears = {
            name: m
            for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and type(m).forward is nn.Linear.forward
        }
        linear_calls = _Taps(model, list(linears), keep_inputs=tuple(linears))
        recorder = _FirstUse({id(p): name for name, p in params.items()})
        try:
            with recorder:
                output = model(_model_input(batch))
        except Exception as error:  # the model rejected the inputs
            raise ConfigError(
                "inputs",
                config.inputs,
                f"the model's forward failed on one draw's inputs: {type(error).__name__}: {error}",
            ) from None
        finally:
            taps.remove()
            linear_calls.remove()
        if config.loss is None:
            require(
                isinstance(output, Tensor) and output.is_floating_point(),
                "loss",
                None,
                f"the model returns {type(output).__name__}, not a floating tensor: give "
                "loss=package.module:function mapping (output, batch) to one value per draw",
            )
            value = (output * torch.randn_like(output)).sum()
        else:
            try:
                value = config._callables["loss"](output, batch)
            except Exception as error:  # the user's loss
                raise ConfigError("loss", config.loss, f"raised {type(error).__name__}: {error}") from None
            require(
                isinstance(value, Tensor) and value.numel() == 1 and value.is_floating_point(),
                "loss",
                config.loss,
                "must return one floating value per draw (a scalar tensor); returned "
                + (f"shape {list(value.shape)}" if isinstance(value, Tensor) else type(value).__name__),
            )
        require(value.requires_grad, "loss", config.loss, "does not depend on the model's parameters")
    if config.acts is not None:
        require(
            len(taps.seen) > 0,
            "acts",
            config.acts,
            "no module of these types or paths returns a tensor in the forward pass; types in the model: "
            + ", ".join(sorted({type(m).__name__ for m in model.modules()})),
        )
    order = list(recorder.order) + [name for name in params if name not in recorder.order]
    factored = {}
    for name, linear in linears.items():
        weight = _weight_of(name)
        # A forward hook of the model's own could change the output after F.linear, and the
        # gradient at the changed output would no longer be the weight's.
        if (
            weight in params
            and params[weight] is linear.weight
            and recorder.uses.get(weight) == 1
            and linear_calls.calls.get(name) == 1
            and name in linear_calls.inputs
            and linear_calls.inputs[name].numel() == linear.in_features
            and not linear._forward_hooks
        ):
            factored[name] = linear_calls.shapes[name]
    x = _model_input(batch)
    container = _block_container(model)
    return _Probe(
        params=tuple(order),
        acts=tuple(taps.seen),
        act_shapes=dict(taps.shapes),
        output_shape=tuple(output.shape) if isinstance(output, Tensor) else (),
        input_grad=isinstance(x, Tensor) and x.is_floating_point(),
        n_params=sum(p.numel() for p in params.values()),
        blocks=None if container is None else (container[0], len(container[1])),
        factored=factored,
        activation_entries=sum(math.prod(shape) for shape in taps.shapes.values())
        + (output.numel() if isinstance(output, Tensor) else 0)
        + sum(p.numel() for p in (batch if isinstance(batch, tuple) else (batch,)) if isinstance(p, Tensor)),
    )
