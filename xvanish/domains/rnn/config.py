"""The keys of the RNN domain (:class:`RNNConfig`) and the memory model of one draw.

No ``from __future__ import annotations``: OmegaConf reads the annotations (xvanish.schema).
"""

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

from xvanish.core import require, require_choice, require_int, require_number
from xvanish.devices import require_device

from . import data as seqdata

__all__ = ["CELL_GATES", "DTYPES", "INITS", "RNNConfig", "draw_bytes"]

#: Cells and the number of H-sized blocks their weight matrices stack (torch's layout).
CELL_GATES: Dict[str, int] = {"rnn": 1, "lstm": 4, "gru": 3}
ACTIVATIONS = ("tanh", "relu", "linear")
#: init -> (default rho, whether rho may be set). ``pytorch`` and ``chrono`` fix their scale.
INITS: Dict[str, Tuple[Optional[float], bool]] = {
    "pytorch": (None, False),
    "orthogonal": (1.0, True),
    "normal": (1.0, True),
    "identity": (1.0, True),
    "chrono": (None, False),
}
DTYPES: Dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
VARY = ("init", "data")
RECORD = ("log", "all")
#: Residues back recorded one by one before the log-spaced ones (``record=log``).
DENSE_RECORD = 32
#: Log-spaced positions beyond :data:`DENSE_RECORD` (``record=log``).
LOG_RECORD_POINTS = 24


@dataclass
class RNNConfig:
    """Keys of the RNN domain (= ``conf/domain/rnn.yaml`` = keyword arguments of ``sampler``).

    Attributes:
        cell: ``rnn`` (Elman), ``lstm`` or ``gru``, with torch.nn's equations and layout.
        activation: φ of ``cell=rnn``: ``tanh``, ``relu`` or ``linear`` (gated cells use
            torch's sigmoid/tanh; anything but the default ``tanh`` is refused for them).
        hidden: hidden size H.
        seq_len: residues per window (the natural sweep axis); a multiple of ``kmer``.
        kmer: residues per token (1, 2, 3; non-overlapping k-mers, 20^k tokens).
        embed: embedding size (rows ~ N(0, 1), nn.Embedding's init); 0 = one-hot tokens.
        init: ``pytorch`` (torch's own: every weight and bias U(±1/√H)), ``orthogonal``
            (recurrent blocks ρ·Haar-orthogonal), ``normal`` (recurrent W_ij ~ N(0, ρ/H)),
            ``identity`` (recurrent blocks ρ·I, Le et al. 2015), ``chrono`` (LSTM/GRU:
            Tallec & Ollivier 2018 gate biases). Input weights are torch's U(±1/√H) for
            every init; biases are torch's for pytorch/chrono and zero otherwise.
        rho: scale of the recurrent matrix: gain of orthogonal/identity, σw² of normal;
            None = 1; refused for pytorch/chrono, whose scale is fixed.
        forget_bias: added to the LSTM forget-gate bias (lstm only).
        input_scale: the cell's input is input_scale × (embedding row or one-hot).
        data: ``proteome`` (the shipped real sequences), ``uniform`` (i.i.d. residues at
            the proteome's amino-acid frequencies) or a path to a protein FASTA file.
        vary: ``init`` (each draw a new initialisation and new windows) or ``data`` (one
            initialisation from ``init_seed``; only the windows are drawn).
        init_seed: seed of the shared initialisation when ``vary=data``.
        batch: windows per draw (the loss sums over them; groups pool them).
        record: ``log`` (every residue up to 32 back, then 24 log-spaced positions) or
            ``all`` (every token).
        dtype: ``float32`` or ``float64`` (compute and gradients).
        device: ``cpu`` or ``cuda[:k]``.
        memory_limit_gb: working memory allowed; draws are computed in chunks that fit,
            and a config whose single draw does not fit is refused.
    """

    cell: str = "rnn"
    activation: str = "tanh"
    hidden: int = 128
    seq_len: int = 200
    kmer: int = 1
    embed: int = 32
    init: str = "pytorch"
    rho: Optional[float] = None
    forget_bias: float = 0.0
    input_scale: float = 1.0
    data: str = "proteome"
    vary: str = "init"
    init_seed: int = 0
    batch: int = 1
    record: str = "log"
    dtype: str = "float32"
    device: str = "cpu"
    memory_limit_gb: float = 4.0

    def __post_init__(self) -> None:
        require_choice("cell", self.cell, CELL_GATES)
        require_choice("activation", self.activation, ACTIVATIONS)
        require(
            self.cell == "rnn" or self.activation == "tanh",
            "activation",
            self.activation,
            f"applies to cell=rnn only; cell={self.cell} has torch's fixed sigmoid/tanh gates (leave tanh)",
        )
        require_int("hidden", self.hidden, minimum=1)
        require_int("kmer", self.kmer, minimum=1, maximum=3)
        require_int("seq_len", self.seq_len, minimum=self.kmer)
        require(
            self.seq_len % self.kmer == 0,
            "seq_len",
            self.seq_len,
            f"must be a multiple of kmer={self.kmer} (non-overlapping {self.kmer}-mer tokens)",
        )
        require_int("embed", self.embed, minimum=0)
        require_choice("init", self.init, INITS)
        require(
            self.init != "chrono" or self.cell != "rnn",
            "init",
            self.init,
            "chrono sets gate biases: needs cell=lstm or gru",
        )
        require_number("rho", self.rho, 0, strict=True, allow_none=True)
        require(
            self.rho is None or INITS[self.init][1],
            "rho",
            self.rho,
            f"init={self.init} fixes the recurrent scale; leave rho null or use init=orthogonal/normal/identity",
        )
        require_number("forget_bias", self.forget_bias)
        require(
            self.forget_bias == 0 or self.cell == "lstm",
            "forget_bias",
            self.forget_bias,
            f"only an LSTM has a forget gate (cell={self.cell}); leave 0",
        )
        require_number("input_scale", self.input_scale, 0)
        require(
            isinstance(self.data, str) and bool(self.data),
            "data",
            self.data,
            "must be proteome, uniform or a path to a protein FASTA file",
        )
        require_choice("vary", self.vary, VARY)
        require_int("init_seed", self.init_seed, minimum=0)
        require_int("batch", self.batch, minimum=1)
        require_choice("record", self.record, RECORD)
        require_choice("dtype", self.dtype, DTYPES)
        require_device("device", self.device)
        require_number("memory_limit_gb", self.memory_limit_gb, 0, strict=True)
        need = draw_bytes(self)
        require(
            need <= self.memory_limit_gb * 1e9,
            "memory_limit_gb",
            self.memory_limit_gb,
            f"one draw needs {need / 1e9:.3g} GB (seq_len={self.seq_len} x hidden={self.hidden} x "
            f"batch={self.batch}, vocabulary {self.vocabulary}); lower them or raise memory_limit_gb",
        )
        if self.data != "uniform":  # reads the FASTA's lengths once (cached per file version)
            sequences = seqdata.load(self.data)
            name, longest = sequences.longest()
            require(
                self.seq_len <= longest,
                "seq_len",
                self.seq_len,
                f"longer than every sequence in data={self.data}: the longest is {name} with {longest} residues",
            )

    @property
    def tokens(self) -> int:
        """Time steps T of one window (seq_len / kmer)."""
        return self.seq_len // self.kmer

    @property
    def vocabulary(self) -> int:
        """Number of distinct tokens, 20^kmer."""
        return len(seqdata.ALPHABET) ** self.kmer

    @property
    def input_size(self) -> int:
        """Size of the cell's input vector: ``embed``, or the vocabulary for one-hot tokens."""
        return self.embed if self.embed > 0 else self.vocabulary

    @property
    def gates(self) -> int:
        return CELL_GATES[self.cell]

    @property
    def rho_value(self) -> float:
        """ρ in force (1 when ``rho`` is None)."""
        return 1.0 if self.rho is None else float(self.rho)

    def recorded_steps(self) -> Tuple[int, ...]:
        """Token steps j back from the last token whose gradients are returned (residues back
        d = kmer·j): every residue up to 32 back, then log-spaced (``record=log``), or all."""
        last = self.tokens - 1
        if self.record == "all":
            return tuple(range(last + 1))
        dense = {j for j in range(last + 1) if self.kmer * j <= DENSE_RECORD}
        far = self.kmer * last
        if far > DENSE_RECORD:
            spaced = [
                round(d / self.kmer)
                for d in torch.logspace(
                    math.log10(DENSE_RECORD), math.log10(far), LOG_RECORD_POINTS, dtype=torch.float64
                ).tolist()
            ]
            dense.update(j for j in spaced if 0 <= j <= last)
        return tuple(sorted(dense))


def draw_bytes(config: RNNConfig) -> int:
    """Estimated working memory of one draw: its parameters (drawn and gradients), the saved
    activations of every step (inputs, projections, gates, states and their gradients), and
    the returned groups. A model, not a measurement: a safety factor of 1.5 is included."""
    item = torch.empty((), dtype=DTYPES[config.dtype]).element_size()
    gh, hid, inp = config.gates * config.hidden, config.hidden, config.input_size
    params = gh * (hid + inp) + 2 * gh + hid + (config.vocabulary * config.embed)
    per_step = config.batch * (2 * inp + 4 * gh + 3 * gh + 6 * hid)
    return int(1.5 * item * (3 * params + config.tokens * per_step))
