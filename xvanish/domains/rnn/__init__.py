"""RNN protein-sequence models: how far back a residue's gradient reaches.

A recurrent model (torch's Elman RNN, LSTM or GRU, unrolled by hand: :mod:`.cells`) reads
a window of ``seq_len`` residues of a real protein (or i.i.d. residues, or the user's
FASTA file: :mod:`.data`), one token per ``kmer`` residues. Its loss is a per-draw random
linear readout of the last hidden state, L = aᵀh_T with a ~ N(0, I/H), so the gradient at
each step is what reaches back from the end of the window (Bengio, Simard & Frasconi 1994;
Hochreiter 1991; Pascanu, Mikolov & Bengio 2013).

Groups of one draw (d = residues before the last residue, a multiple of ``kmer``, so
k-mer runs overlay 1-letter runs on one axis; every residue up to 32 back, then 24
log-spaced positions, or every token with ``record=all``):

* ``state/<d>``: ∂L/∂h at the token ending d residues before the last, ``[n, batch·H]``;
* ``cell/<d>``: ∂L/∂c of an LSTM's cell state there;
* ``input/<d>``: ∂L/∂x of that token's input vector (embedding row × input_scale, or
  one-hot), ``[n, batch·I]``;
* ``initial``: ∂L/∂h_0 of the zero state before the window (seq_len residues back; the
  headline across a seq_len sweep);
* ``weight/recurrent``, ``weight/input``: ∂L/∂W_hh and ∂L/∂W_ih summed over time (what
  an optimiser sees), in torch's layout;
* ``cost``: L.

Each draw is a fresh initialisation and fresh windows (``vary=init``), or one shared
initialisation and fresh windows (``vary=data``). All draws and all steps go through one
forward pass (one batched product per step) that keeps every state, and one backward
pass through time written out per cell (:func:`.cells.bptt`), which gives ∂L/∂h_t for
every t — not T backward passes. Theory (:mod:`.theory`): exact
for linear orthogonal/identity RNNs, mean field (asymptotic) for tanh/relu RNNs, a
spectral bound for identity-initialised nonlinear RNNs; none for LSTM/GRU.

Example:
    >>> from xvanish import sweep
    >>> from xvanish.domains import rnn
    >>> rows = sweep(rnn.sampler, "seq_len", [50, 100], n_samples=32, seed=0, hidden=32)  # doctest: +SKIP
"""

from xvanish.core import Domain, make_config

from .config import RNNConfig
from .sampling import RNNSampler

__all__ = ["DOMAIN", "RNNConfig", "RNNSampler", "sampler"]


def sampler(**kwargs: object) -> RNNSampler:
    """Build an RNN sampler from domain keys (see :class:`RNNConfig`); cheap: the data are
    read when :meth:`RNNSampler.sample` first needs them.

    Raises:
        ConfigError: for an unknown key or a bad value (one line naming key and value).
    """
    return RNNSampler(make_config(RNNConfig, **kwargs))


DOMAIN = Domain(
    name="rnn",
    config=RNNConfig,
    factory=sampler,
    natural_axis="seq_len",
    headline_group="initial",
    description="RNN/LSTM/GRU over real protein windows: dL/dh at each residue back from the end",
    small={"cell": "lstm", "hidden": 4, "seq_len": 12, "embed": 3},
    oversized={"hidden": 1 << 20},
)
