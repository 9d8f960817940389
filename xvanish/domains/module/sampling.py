"""The module sampler: every draw's gradients through one vmap, or the per-draw loop."""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from xvanish.core import (
    COST,
    ConfigError,
    GradientBatch,
    Group,
    OuterProduct,
    Theory,
    group,
    make_config,
    require_int,
    require_memory,
    streams,
)

from xvanish.draws import stream_rows

from .blocks import _from_output, _in_block, _weight_of
from .build import DTYPES, _build, _call_factory, _cpu_rng_restored, _prepare, _Replay, _state_tensors, _trainable
from .config import ModuleConfig
from .hooks import _Taps
from .inputs import _draw_inputs, _index, _model_input, _with_input
from .probe import _Probe

Tensor = torch.Tensor


def _attention_kernel() -> contextlib.AbstractContextManager:
    """Scaled dot-product attention on its math kernel, in both paths.

    The CPU flash kernel has no vmap batching rule (functorch would loop over the draws,
    4x slower at 32 layers); the math kernel is plain matmul and softmax. Both paths use
    it so they run the same arithmetic.
    """
    return sdpa_kernel(SDPBackend.MATH)


class ModuleSampler:
    """Per-draw gradients of a user's ``nn.Module`` at initialisation (see the module docstring).

    Attributes:
        domain: ``"module"``.
        config: the validated :class:`ModuleConfig`.
    """

    domain = "module"

    def __init__(self, config: ModuleConfig) -> None:
        self.config = config
        self._factory = config._callables["model"]  # resolved by ModuleConfig (not a config key)
        self._probe: _Probe = config._probe  # set by ModuleConfig.__post_init__ (not a config key)
        self._dtype = DTYPES[config.dtype]
        self._path: Optional[str] = None if config.batching == "auto" else config.batching
        self._fallback = ""

    def groups(self) -> List[Group]:
        """``act/<module>``, ``param/<name>`` (each in forward order), ``input`` if any, cost.

        * ``act``: one family, positions 1, 2, … in forward order (the per-block profile).
        * ``param`` inside the blocks: one family per parameter role across the blocks
          (``param/layers.*.linear2.weight``), position = the block's number from the input
          (1 … L), so each weight's profile along depth is fitted like the MLP's per-layer
          rate; parameters outside the blocks (embedding, final norm) are single groups
          without a position. A model without a block container: family ``param``,
          position = order of first use in the forward pass.

        The act family comes first: it is the profile reports show by default.
        """
        probe = self._probe
        out = [group(self._label(f"act/{name}"), k) for k, name in enumerate(probe.acts, start=1)]
        for k, name in enumerate(probe.params, start=1):
            label = self._label(f"param/{name}")
            where = _in_block(name, probe.blocks)
            if probe.blocks is None:
                out.append(Group(label, "param", float(k)))
            elif where is None:
                out.append(group(label))
            else:
                prefix = f"{probe.blocks[0]}." if probe.blocks[0] else ""
                out.append(Group(label, f"param/{prefix}*{where[1]}", float(where[0] + 1)))
        if probe.input_grad:
            out.append(group("input"))
        return out + [COST]

    def _label(self, key: str) -> str:
        """A group's name: ``family/<module path>``, blocks numbered as ``count_from`` says."""
        if self.config.count_from == "input" or "/" not in key:
            return key
        family, _, name = key.partition("/")
        return f"{family}/{_from_output(name, self._probe.blocks)}"

    def info(self) -> Dict[str, Any]:
        """Which path computed the draws (``vmap`` or ``loop``; why the loop, after a fallback)."""
        info: Dict[str, Any] = {
            "batching": self.config.batching,
            "path": self._path or "not run yet",
            "n_params": self._probe.n_params,
        }
        if self._fallback:
            info["vmap_failed"] = self._fallback
        return info

    def theory_var(self) -> Dict[str, Theory]:
        """Empty: an arbitrary model has no closed-form gradient variance (never a fake value)."""
        return {}

    # -- random draws --
    # seed -> core.streams -> 4 streams: initialisation seeds (one per draw, the i-th
    # independent of n), inputs, readout, forward randomness (dropout, loop path only).
    def draw_seeds(self, n: int, seed: int, start: int = 0) -> List[int]:
        """The seed the factory runs under for each draw (``vary=init``), or ``[init_seed]``."""
        if self.config.vary == "data":
            return [int(self.config.init_seed)]
        return streams(streams(seed, 4)[0], start + n)[start:]

    def draw(self, n: int, seed: int, start: int = 0) -> Dict[str, Any]:
        """The inputs and readout :meth:`sample` uses for ``(n, seed, start)`` (for checks):
        draws start … start+n−1, each the same in every call that includes it.

        Returns:
            ``inputs`` (tensor ``[n, ...]`` or tuple), ``readout`` ``[n, *output]`` (None with a
            custom loss) and ``init_seeds`` (:meth:`draw_seeds`).
        """
        require_int("n", n, minimum=1)
        require_int("start", start, minimum=0)
        _, data_seed, readout_seed, _ = streams(seed, 4)
        readout = None
        if self.config.loss is None:
            shape = self._probe.output_shape
            generator = torch.Generator().manual_seed(readout_seed)
            readout = stream_rows(
                lambda out: out.normal_(generator=generator), list(shape), start, n, self._dtype
            ) / math.sqrt(shape[-1] if shape else 1)
        return {
            "inputs": _draw_inputs(self.config, n, data_seed, start),
            "readout": readout,
            "init_seeds": self.draw_seeds(n, seed, start),
        }

    def _loss(self, output: Tensor, batch: Any, readout: Optional[Tensor]) -> Tensor:
        if readout is not None:
            return (output * readout).sum()
        return self.config._callables["loss"](output, batch).reshape(())

    # -- the two paths --
    def sample(self, n: int, seed: int, start: int = 0) -> GradientBatch:
        """Gradients of ``n`` draws: ``vmap`` where the model allows it, else the per-draw loop.

        Args:
            n: number of draws (>= 1).
            seed: seed of this call's random streams.
            start: the first draw: draws start … start+n−1 of the seed's streams.

        Returns:
            ``param/<name>`` ``[n, numel]`` (on the vmap path an :class:`OuterProduct` for the
            weight of an ``nn.Linear`` fed one row), ``act/<module>`` ``[n, numel]``, ``input`` and the
            cost of each draw, in the config's dtype.

        Raises:
            ConfigError: ``batching=vmap`` and the model cannot run under ``torch.func.vmap``.
        """
        require_int("n", n, minimum=1)
        require_memory(
            self.config.memory_need(n),
            self.config.memory_limit_gb,
            f"{n} draws",
            key="measure.n_samples",
            value=n,
            lower="use fewer draws or a smaller model",
        )
        drawn = self.draw(n, seed, start)
        forward_seeds = streams(streams(seed, 4)[3], start + n)[start:]
        if self._path in (None, "vmap"):
            try:
                batch = self.vmap_gradients(drawn)
                self._path = "vmap"
                return self._labelled(batch)
            except ConfigError:
                raise
            except Exception as error:  # the model does not run under vmap: say so, use the loop
                if self.config.batching == "vmap":
                    raise ConfigError(
                        "batching",
                        "vmap",
                        "the model does not run under torch.func.vmap "
                        f"({type(error).__name__}: {_first_line(error)}); use auto or loop",
                    ) from None
                self._fallback = f"{type(error).__name__}: {_first_line(error)}"
                self._path = "loop"
        return self._labelled(self.loop_gradients(drawn, forward_seeds))

    def _labelled(self, batch: GradientBatch) -> GradientBatch:
        return GradientBatch(grads={self._label(k): v for k, v in batch.grads.items()}, cost=batch.cost)

    def stack(self, seeds: List[int]) -> Tuple[nn.Module, Dict[str, Tensor], Dict[str, Tensor]]:
        """A template module and every draw's initialisation stacked ``[m, ...]``.

        Draw i is the factory's model built under ``seeds[i]`` (:meth:`draw_seeds`). The
        factory is called once, for the first draw; the other draws rerun that instance's
        own initialisers under their seeds (:class:`_Replay`), writing straight into the
        stack, when doing so for the first draw reproduces the factory exactly. Otherwise
        each draw's model is built by the factory, copied into the stack and dropped.

        Returns:
            The template (the first draw's model), the trainable parameters and the other
            tensors (buffers, frozen parameters), each ``[m, ...]``, in the config's dtype.
        """
        with _cpu_rng_restored(), torch.no_grad():
            torch.default_generator.manual_seed(seeds[0])
            template = _call_factory(self._factory, self.config)
            tensors = _state_tensors(template)
            stacked = {name: torch.empty((len(seeds), *t.shape), dtype=t.dtype) for name, t in tensors.items()}
            replay = _Replay(template) if len(seeds) > 1 else None
            if replay is not None and replay.safely_reproduces(seeds[0], stacked):
                try:
                    for i, seed in enumerate(seeds[1:], start=1):
                        replay.run(seed, {name: rows[i] for name, rows in stacked.items()})
                finally:
                    replay.restore()
            else:
                for i, seed in enumerate(seeds):
                    if i > 0:
                        torch.default_generator.manual_seed(seed)
                        tensors = _state_tensors(_call_factory(self._factory, self.config))
                    for name, t in tensors.items():
                        stacked[name][i].copy_(t)
        template = _prepare(template, self.config)
        trainable = _trainable(template)
        stacked = {name: rows.to(self._dtype) if rows.is_floating_point() else rows for name, rows in stacked.items()}
        return (
            template,
            {name: rows for name, rows in stacked.items() if name in trainable},
            {name: rows for name, rows in stacked.items() if name not in trainable},
        )

    def vmap_gradients(
        self, drawn: Dict[str, Any], stacked: Optional[Tuple[nn.Module, Dict[str, Tensor], Dict[str, Tensor]]] = None
    ) -> GradientBatch:
        """Every draw in one ``vmap(grad(functional_call))`` (see the module docstring).

        Args:
            drawn: :meth:`draw`'s result.
            stacked: the initialisations as :meth:`stack` gives them (built here when None;
                the benchmark passes them to time the gradients alone).
        """
        probe = self._probe
        inputs, readout = drawn["inputs"], drawn["readout"]
        n = _model_input(inputs).shape[0]
        template, params, buffers = stacked if stacked is not None else self.stack(drawn["init_seeds"])
        shared = self.config.vary == "data"
        if shared:
            # Buffers may be updated in place (batch-norm running statistics): one copy per draw.
            buffers = {name: b.expand(n, *b.shape[1:]).clone() for name, b in buffers.items()}
            params = {name: p[0] for name, p in params.items()}
        # A factored layer's weight is not differentiated: its gradient is the outer product of
        # the gradient at the layer's output (a tap, like an act's) and its input, never built.
        factored = {_weight_of(layer): layer for layer in probe.factored}
        tap_shapes = {**probe.factored, **probe.act_shapes}
        taps = _Taps(template, list(tap_shapes), keep_inputs=tuple(probe.factored))
        zeros = {name: torch.zeros(shape, dtype=self._dtype) for name, shape in tap_shapes.items()}

        def one_draw(p: Dict[str, Tensor], b: Dict[str, Tensor], batch: Any, r: Optional[Tensor]):
            # b is an argument, not a closure: batch norm updates its running statistics in
            # place, which grad allows for its inputs but not for captured tensors.
            def loss_of(p: Dict[str, Tensor], tap: Dict[str, Tensor], x: Any, b: Dict[str, Tensor]):
                taps.values = tap
                try:
                    output = functional_call(template, {**p, **b}, (x,))
                finally:
                    taps.values = None
                value = self._loss(output, _with_input(batch, x), r)
                return value, (value, dict(taps.inputs))

            x = _model_input(batch)
            differentiated = {name: t for name, t in p.items() if name not in factored}
            fixed = {**b, **{name: p[name] for name in factored}}
            argnums = (0, 1, 2) if probe.input_grad else (0, 1)
            grads, (value, layer_inputs) = grad(loss_of, argnums=argnums, has_aux=True)(differentiated, zeros, x, fixed)
            if not probe.input_grad:  # vmap returns tensors only: a placeholder for the input's (token ids)
                grads = (*grads, value.new_zeros(()))
            return (*grads, value, layer_inputs)

        in_dims = (None if shared else 0, 0, 0, None if readout is None else 0)
        try:
            with warnings.catch_warnings(), _attention_kernel():
                # Ops without a batching rule run through functorch's per-draw fallback:
                # correct, slower, and not something a user can act on.
                warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
                g_params, g_taps, g_input, cost, layer_inputs = vmap(one_draw, in_dims=in_dims, randomness="error")(
                    params, buffers, inputs, readout
                )
        finally:
            taps.remove()
        out: Dict[str, Any] = {
            f"param/{name}": OuterProduct(
                g_taps[factored[name]].reshape(n, -1), layer_inputs[factored[name]].reshape(n, -1)
            )
            if name in factored
            else g_params[name].reshape(n, -1)
            for name in probe.params
        }
        out.update({f"act/{name}": g_taps[name].reshape(n, -1) for name in probe.acts})
        if probe.input_grad:
            out["input"] = g_input.reshape(n, -1)
        return GradientBatch(grads=out, cost=cost.detach().reshape(n))

    def loop_gradients(self, drawn: Dict[str, Any], forward_seeds: List[int]) -> GradientBatch:
        """One model and one ``loss.backward()`` per draw: the plain way, and the fallback.

        Draw i's model is built under its own seed (:meth:`draw_seeds`), exactly as the vmap
        path builds it; forward randomness (dropout) runs under ``forward_seeds[i]``.
        """
        probe = self._probe
        inputs, readout = drawn["inputs"], drawn["readout"]
        n = _model_input(inputs).shape[0]
        seeds = drawn["init_seeds"]
        shared = self.config.vary == "data"
        grads: Dict[str, Tensor] = {}
        cost = torch.empty(n, dtype=self._dtype)
        with _cpu_rng_restored():
            model, initial = None, None
            for i in range(n):
                if model is None or not shared:
                    torch.default_generator.manual_seed(seeds[0 if shared else i])
                    model = _build(self._factory, self.config)
                    initial = {k: v.clone() for k, v in model.state_dict().items()} if shared else None
                else:
                    model.load_state_dict(initial)  # the same initialisation, buffers too, for every draw
                    model.zero_grad(set_to_none=True)
                batch = _index(inputs, i)
                x = _model_input(batch)
                if probe.input_grad:
                    x = x.detach().clone().requires_grad_()
                taps = _Taps(model, list(probe.acts))
                taps.values = {
                    name: torch.zeros(probe.act_shapes[name], dtype=self._dtype, requires_grad=True)
                    for name in probe.acts
                }
                torch.default_generator.manual_seed(forward_seeds[i])
                try:
                    with _attention_kernel():
                        output = model(x)
                finally:
                    taps.remove()
                value = self._loss(output, _with_input(batch, x), None if readout is None else readout[i])
                value.backward()
                params = _trainable(model)
                rows = {f"param/{name}": params[name].grad for name in probe.params}
                rows.update({f"act/{name}": tap.grad for name, tap in taps.values.items()})
                if probe.input_grad:
                    rows["input"] = x.grad
                for key, g in rows.items():
                    if key not in grads:
                        like = (
                            params[key[6:]]
                            if key.startswith("param/")
                            else (taps.values[key[4:]] if key.startswith("act/") else x)
                        )
                        grads[key] = torch.zeros((n, like.numel()), dtype=self._dtype)
                    if g is not None:  # None: unused in the forward pass, the gradient is zero
                        grads[key][i] = g.reshape(-1)
                cost[i] = value.detach()
        return GradientBatch(grads=grads, cost=cost)


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else ""


def sampler(**kwargs: Any) -> ModuleSampler:
    """Build a module sampler from domain keys (see :class:`ModuleConfig`).

    Raises:
        ConfigError: for an unknown key or a bad value (the message names key and value).
    """
    return ModuleSampler(make_config(ModuleConfig, **kwargs))
