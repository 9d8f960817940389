"""The RNN sampler: fresh initialisations and fresh protein windows, one batched pass each."""

from __future__ import annotations

import math
import threading
import typing
from dataclasses import fields
from typing import Dict, List, Optional

import numpy as np
import torch

from xvanish import reduce
from xvanish.core import COST, GradientBatch, Group, Theory, draw_slices, group, require, require_int, streams
from xvanish.devices import on_threads
from xvanish.stats import DrawSums

from . import data as seqdata
from . import theory as rnn_theory
from .cells import BPTT, Workspace, bptt
from .config import DTYPES, RNNConfig, draw_bytes

__all__ = ["CACHE_BYTES", "RNNSampler", "SUMS_BYTES_PER_GROUP"]

#: Recurrent weights of one block of draws that are run through all steps together.
CACHE_BYTES = 4 << 20

#: Memory of one group's per-draw sums: :class:`~xvanish.stats.DrawSums`'s array fields,
#: float64 each (the scalar fields are per group, not per draw).
SUMS_BYTES_PER_GROUP = np.dtype(np.float64).itemsize * sum(
    1 for f in fields(DrawSums) if typing.get_type_hints(DrawSums)[f.name] is np.ndarray
)

Tensor = torch.Tensor


def _haar(out: Tensor, gen: torch.Generator, gain: float) -> Tensor:
    """Haar-orthogonal [..., H, H] blocks scaled by ``gain`` (signs of R's diagonal moved
    into Q: Mezzadri 2007), filled into ``out``."""
    q, r = torch.linalg.qr(out.normal_(generator=gen))
    return out.copy_(q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2) * gain)


class RNNSampler:
    """Gradients of a recurrent model over protein windows (see :mod:`xvanish.domains.rnn`)."""

    domain = "rnn"

    def __init__(self, config: RNNConfig) -> None:
        self.config = config
        self._dtype = DTYPES[config.dtype]
        self._device = torch.device(config.device)
        self._steps = config.recorded_steps()
        self._theory: Optional[Dict[str, Theory]] = None
        self._sequences: Optional[seqdata.SequenceSet] = None
        self._chunks = 1

    # -- declaration --
    def positions(self) -> List[int]:
        """Recorded residues back d = kmer·j, in increasing order."""
        return [self.config.kmer * j for j in self._steps]

    def groups(self) -> List[Group]:
        """``state/<d>``, ``cell/<d>`` (LSTM), ``input/<d>``, ``initial`` (∂L/∂h_0, the zero
        state before the window: seq_len residues back), ``weight/recurrent``,
        ``weight/input``, cost; d = residues before the last residue."""
        d = self.positions()
        out = [group(f"state/{x}", x) for x in d]
        if self.config.cell == "lstm":
            out += [group(f"cell/{x}", x) for x in d]
        out += [group(f"input/{x}", x) for x in d]
        return [*out, group("initial"), group("weight/recurrent"), group("weight/input"), COST]

    # -- random draws --
    def _draw_dtype(self) -> torch.dtype:
        return torch.float64 if self._dtype == torch.float64 else torch.float32

    def _fill_draw(self, gen: torch.Generator, params: Dict[str, Tensor], i: int) -> None:
        """Draw model i's parameters from its own generator (torch's layout and order)."""
        cfg = self.config
        hidden, gates, bound = cfg.hidden, cfg.gates, 1.0 / math.sqrt(cfg.hidden)
        params["weight_ih"][i].uniform_(-bound, bound, generator=gen)
        w_hh = params["weight_hh"][i]
        if cfg.init in ("pytorch", "chrono"):
            w_hh.uniform_(-bound, bound, generator=gen)
        elif cfg.init == "normal":
            w_hh.normal_(0.0, math.sqrt(cfg.rho_value / hidden), generator=gen)
        elif cfg.init == "orthogonal":
            _haar(w_hh.view(gates, hidden, hidden), gen, cfg.rho_value)
        else:  # identity
            w_hh.copy_(cfg.rho_value * torch.eye(hidden, dtype=w_hh.dtype, device=w_hh.device).repeat(gates, 1))
        if cfg.init in ("pytorch", "chrono"):
            params["bias_ih"][i].uniform_(-bound, bound, generator=gen)
            params["bias_hh"][i].uniform_(-bound, bound, generator=gen)
        if cfg.init == "chrono":
            # Tallec & Ollivier 2018: keep-gate bias log U(1, T_max − 1), T_max = tokens.
            span = max(cfg.tokens - 2.0, 0.0)
            keep = torch.log1p(torch.rand(hidden, generator=gen, dtype=w_hh.dtype, device=w_hh.device) * span)
            b_ih, b_hh = params["bias_ih"][i], params["bias_hh"][i]
            if cfg.cell == "lstm":  # gates i, f, g, o: b_f = keep, b_i = −keep
                b_ih[hidden : 2 * hidden], b_hh[hidden : 2 * hidden] = keep, 0.0
                b_ih[:hidden], b_hh[:hidden] = -keep, 0.0
            else:  # gru gates r, z, n; torch's z keeps the old state
                b_ih[hidden : 2 * hidden], b_hh[hidden : 2 * hidden] = keep, 0.0
        if cfg.cell == "lstm" and cfg.forget_bias:
            params["bias_ih"][i][hidden : 2 * hidden] += cfg.forget_bias
        if cfg.embed > 0:
            params["embedding"][i].normal_(generator=gen)  # nn.Embedding's N(0, 1)
        params["readout"][i].normal_(0.0, math.sqrt(1.0 / hidden), generator=gen)

    def draw_parameters(self, seeds: List[int]) -> Dict[str, Tensor]:
        """The parameters of one model per seed, stacked on a leading dimension.

        Each model comes from its own generator seeded by its seed, so model i does not
        depend on how many are drawn or how they are chunked.
        """
        cfg = self.config
        gh, m = cfg.gates * cfg.hidden, len(seeds)
        options = dict(dtype=self._draw_dtype(), device=self._device)
        params = {
            "weight_ih": torch.empty((m, gh, cfg.input_size), **options),
            "weight_hh": torch.empty((m, gh, cfg.hidden), **options),
            "bias_ih": torch.zeros((m, gh), **options),
            "bias_hh": torch.zeros((m, gh), **options),
            "embedding": torch.empty((m, cfg.vocabulary if cfg.embed else 0, cfg.embed), **options),
            "readout": torch.empty((m, cfg.hidden), **options),
        }

        def fill(part: slice) -> None:
            for i in range(part.start, part.stop):
                self._fill_draw(torch.Generator(device=self._device).manual_seed(seeds[i]), params, i)

        # each draw has its own generator: the draws can be filled on several threads
        on_threads(fill, draw_slices(m, -(-m // torch.get_num_threads())), self._device)
        return {k: v.to(self._dtype) for k, v in params.items()}

    def _sequence_set(self) -> seqdata.SequenceSet:
        if self._sequences is None:  # heavy work belongs in sample(): read on first use
            self._sequences = seqdata.load(self.config.data)
        return self._sequences

    def draw_windows(self, seeds: List[int]) -> np.ndarray:
        """Residue windows [len(seeds), batch, seq_len] (int64), one generator per draw."""
        cfg = self.config
        sequences = self._sequence_set()
        out = np.empty((len(seeds), cfg.batch, cfg.seq_len), dtype=np.int64)
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(seed)
            if cfg.data == "uniform":
                out[i] = seqdata.uniform_windows(sequences.frequencies(), cfg.seq_len, cfg.batch, rng)
            else:
                out[i] = seqdata.windows(sequences, cfg.seq_len, cfg.batch, rng)
        return out

    def draw(self, n: int, seed: int) -> Dict[str, object]:
        """The parameters and windows :meth:`sample` uses for ``(n, seed)``.

        Draw i's seeds are ``streams(streams(seed, n)[i], 2)``: (parameters, window);
        ``vary=data`` shares one model drawn from ``init_seed``.
        """
        require_int("n", n, minimum=1)
        return self._draw_seeded(self._draw_seeds(n, seed))

    @staticmethod
    def _draw_seeds(n: int, seed: int, start: int = 0) -> List[List[int]]:
        return [streams(s, 2) for s in streams(seed, start + n)[start:]]

    def _shared_parameters(self) -> Optional[Dict[str, Tensor]]:
        """``vary=data``'s one model (from ``init_seed``); None for ``vary=init``."""
        if self.config.vary == "init":
            return None
        return self.draw_parameters([streams(self.config.init_seed, 1)[0]])

    def _draw_seeded(self, per_draw: List[List[int]], shared: Optional[Dict[str, Tensor]] = None) -> Dict[str, object]:
        """Parameters and windows of the draws ``per_draw``; ``shared``: ``vary=data``'s
        model when the caller has drawn it already (drawn here when None)."""
        if self.config.vary == "init":
            params = self.draw_parameters([s[0] for s in per_draw])
        else:
            params = self._shared_parameters() if shared is None else shared
        return {**params, "windows": self.draw_windows([s[1] for s in per_draw])}

    # -- model --
    def inputs(self, params: Dict[str, Tensor], windows: np.ndarray) -> Tensor:
        """The cell inputs x [n, B, T, I]: input_scale × embedding rows (or one-hot tokens)."""
        cfg = self.config
        tokens = torch.as_tensor(seqdata.tokenize(windows, cfg.kmer), device=self._device)
        n = tokens.shape[0]
        if cfg.embed > 0:
            table = params["embedding"].expand(n, -1, -1)
            x = torch.gather(table, 1, tokens.reshape(n, -1, 1).expand(-1, -1, cfg.embed))
            x = x.reshape(*tokens.shape, cfg.embed)
        else:
            x = torch.nn.functional.one_hot(tokens, cfg.vocabulary).to(self._dtype)
        return x * cfg.input_scale

    def gradients(self, params: Dict[str, Tensor], windows: np.ndarray) -> Dict[str, Tensor]:
        """One forward and one backward pass for the draws of ``windows`` [n, B, seq_len].

        Returns:
            group name -> [n, k] values (``cost`` -> [n]), dense, in the config's dtype.
        """
        cfg = self.config
        n, steps = windows.shape[0], cfg.tokens
        x = self.inputs(params, windows)
        shared = params["weight_hh"].shape[0] == 1
        itemsize = params["weight_hh"].element_size()
        # Draws in blocks whose recurrent weights stay in cache for all T steps: reading
        # every draw's W_hh from memory at every step is what makes a naive batch slow.
        block = n if shared else max(1, CACHE_BYTES // (params["weight_hh"][0].numel() * itemsize))
        back = {steps - j: j for j in self._steps}  # t of h_{T−j} -> j
        input_steps = sorted(back)
        readout = params["readout"].expand(n, -1)
        # every block writes its results into the buffers for all draws
        results = BPTT.empty(cfg.cell, x, params["weight_hh"], len(input_steps))
        workspaces = threading.local()  # one per thread, reused by its blocks

        def run_block(part: slice) -> None:
            if not hasattr(workspaces, "work"):
                workspaces.work = Workspace()
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            weights = (params[k] if shared else params[k][part] for k in names)
            bptt(
                cfg.cell,
                x[part],
                *weights,
                readout[part],
                input_steps,
                cfg.activation,
                out=results.draws(part),
                workspace=workspaces.work,
            )

        # Blocks are independent models: run them on torch's threads in parallel (per-step
        # products are too small to split).
        on_threads(run_block, draw_slices(n, block), self._device)

        out: Dict[str, Tensor] = {}
        for j in self._steps:
            out[f"state/{cfg.kmer * j}"] = results.states[steps - j].reshape(n, -1)
        if results.cells is not None:
            for j in self._steps:
                out[f"cell/{cfg.kmer * j}"] = results.cells[steps - j].reshape(n, -1)
        for k, t in enumerate(input_steps):
            out[f"input/{cfg.kmer * back[t]}"] = results.inputs[k].reshape(n, -1)
        out["initial"] = results.states[0].reshape(n, -1)
        out["weight/recurrent"] = results.weight_hh.reshape(n, -1)
        out["weight/input"] = results.weight_ih.reshape(n, -1)
        out["cost"] = results.cost
        return out

    def sample(self, n: int, seed: int, start: int = 0) -> GradientBatch:
        """Gradients of ``n`` draws (fresh model and window each), computed together.

        All draws and all steps go through one forward and one backward pass. When n draws
        would exceed ``memory_limit_gb`` they are drawn and computed in chunks that fit, and
        each chunk's groups are reduced to per-draw sums before the next chunk is computed
        (the numbers do not depend on the chunking: each draw has its own random streams).

        Args:
            n: number of draws (>= 1).
            seed: seed of this call's random streams.
            start: the first draw: draws start … start+n−1 of the seed's streams.

        Returns:
            A :class:`GradientBatch` with ``state/<d>`` [n, batch·H], ``cell/<d>`` (LSTM),
            ``input/<d>`` [n, batch·I], ``weight/recurrent`` [n, G·H·H], ``weight/input``
            [n, G·H·I] in the config's dtype, and the cost of each draw; when the draws were
            computed in several chunks (``info()["chunks"]``), every group comes as its
            :class:`~xvanish.stats.DrawSums` instead.

        Raises:
            ConfigError: ``measure.n_samples`` when even the per-draw sums of n draws exceed
                ``memory_limit_gb`` (checked before anything is allocated).
        """
        require_int("n", n, minimum=1)
        require_int("start", start, minimum=0)
        cfg = self.config
        parts = draw_slices(n, cfg.memory_limit_gb * 1e9 // draw_bytes(cfg))
        sums_bytes = n * len(self.groups()) * SUMS_BYTES_PER_GROUP
        require(
            len(parts) == 1 or sums_bytes <= cfg.memory_limit_gb * 1e9,
            "measure.n_samples",
            n,
            f"even the per-draw sums of {n} draws take {sums_bytes / 1e9:.3g} GB "
            f"({len(self.groups())} groups), more than memory_limit_gb={cfg.memory_limit_gb}; "
            f"use fewer draws, record=log or raise the limit",
        )
        self._chunks = len(parts)
        per_draw = self._draw_seeds(n, seed, start)
        shared = self._shared_parameters()  # vary=data: one model for every chunk, drawn once
        costs: List[Tensor] = []

        def chunk_gradients():
            for part in parts:
                drawn = self._draw_seeded(per_draw[part], shared)
                grads = self.gradients(drawn, drawn.pop("windows"))
                costs.append(grads.pop("cost"))
                yield grads

        if len(parts) == 1:
            grads = next(chunk_gradients())
        else:  # only one chunk of dense gradients alive at a time
            grads = reduce.chunked_group_sums(chunk_gradients())
        return GradientBatch(grads=grads, cost=torch.cat(costs))

    def theory_var(self) -> Dict[str, Theory]:
        """Closed-form variances where they exist (kinds: :mod:`.theory`); none for LSTM/GRU."""
        if self.config.cell != "rnn":
            return {}
        if self._theory is None:
            self._theory = rnn_theory.rnn_theory(self.config, list(self._steps))
        return dict(self._theory)

    def info(self) -> Dict[str, object]:
        """What the sampler resolved: tokens, recorded positions, data size, memory, chunks."""
        cfg = self.config
        info: Dict[str, object] = {
            "tokens": cfg.tokens,
            "input_size": cfg.input_size,
            "recorded": len(self._steps),
            "memory_bytes_per_draw": draw_bytes(cfg),
            "chunks": self._chunks,
        }
        if self._sequences is not None:
            info.update(
                data_records=self._sequences.records,
                data_segments=len(self._sequences.segments),
                data_residues=int(self._sequences.lengths.sum()),
            )
        if cfg.cell == "rnn" and cfg.init != "identity":
            chis = rnn_theory.chi_trajectory(
                cfg.tokens, rnn_theory.weight_var(cfg.init, cfg.rho_value), rnn_theory.input_drive(cfg), cfg.activation
            )
            info["meanfield_rate_per_residue"] = float(np.log(chis[-1]) / cfg.kmer)
        return info
