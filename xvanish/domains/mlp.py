"""Deep MLPs: how the backpropagated signal fades with depth at initialisation.

Model (width N, every layer N×N, input dimension N), for one initialisation and one input
x ∈ R^N:

* plain:     h^1 = W^1 x + b^1,  h^l = W^l φ(h^{l−1}) + b^l              (l = 2..L)
* residual:  h^1 = W^1 x + b^1,  h^l = h^{l−1} + W^l φ(h^{l−1}) + b^l    (l = 2..L)
* ``norm`` (no learnable affine, ε = 1e−5, biased variances, as PyTorch's defaults):

  - ``layernorm_pre``: each block's input is normalised over the N features before φ:
    h^l = [h^{l−1} +] W^l φ(LN(h^{l−1})) + b^l for l ≥ 2; layer 1 is the plain embedding.
  - ``layernorm_post``: the block output is normalised after adding W·+b (and the skip):
    h^l = LN([h^{l−1} +] W^l u^l + b^l) for every l, u^1 = x, u^l = φ(h^{l−1}).
  - ``batchnorm``: W^l u^l is normalised per feature over the ``batch`` inputs of the
    same initialisation, then the bias is added: h^l = [h^{l−1} +] BN(W^l u^l) + b^l.

* loss per initialisation: L = Σ_b Σ_i a_i φ(h^L_{b,i}) over its ``batch`` inputs, with a
  random readout a ~ N(0, 1/N) drawn per initialisation. Each draw has its own loss;
  summing the n independent losses and differentiating once gives every draw's exact
  gradient (no cross terms between draws; THEORY.md §1 warns about summing losses over
  different samples of one model).

Gradient groups of one draw (positions l = 1..L counted from the input):

* ``preact/<l>``: δ^l = ∂L/∂h^l of the ``batch`` inputs pooled, ``[n, batch·N]``
  (the mean-field quantity; ``preact/1`` is the signal that reaches the first layer);
* ``weight/<l>``: ∂L/∂W^l, ``N²`` entries per draw (what an optimiser sees; = δ^l u^lᵀ
  summed over the batch, so it carries the forward signal too and can hide the decay,
  THEORY.md §1). With one input per draw it is returned as the outer-product factors
  (δ^l, u^l) (:class:`~xvanish.core.OuterProduct`, never materialised: its statistics come
  from the factors, :mod:`xvanish.reduce`); with several, as per-draw sums
  (:class:`~xvanish.stats.DrawSums`) built a block of draws at a time;
* ``input``: ∂L/∂x, ``[n, batch·N]``, position None (it is no layer);
* cost: the n losses.

Initialisations (all layers are square, fan_in = fan_out = N; effective σw² = N·Var(W_ij),
the value the mean-field theory uses):

=============  ===============================================  ==========
init           W_ij                                             σw²
=============  ===============================================  ==========
normal         N(0, weight_var/N)                               weight_var
uniform        U(−1/√N, 1/√N) (Glorot & Bengio 2010 "standard")  1/3
xavier         N(0, 2/(fan_in+fan_out)) (Glorot & Bengio 2010)  1
he             N(0, 2/fan_in) (He et al. 2015)                  2
lecun          N(0, 1/fan_in) (LeCun et al. 1998)               1
orthogonal     √weight_var · Haar-orthogonal (Saxe et al. 2014)  weight_var
=============  ===============================================  ==========

Biases are N(0, bias_var) for every init. ``weight_var`` left at ``None`` means the init's
own value (1 for normal/orthogonal); a value that contradicts a fixed-variance init is
refused rather than silently ignored.

Sampling: every draw is an independent initialisation with its own inputs and readout
(``vary="init"``), or one initialisation drawn from ``init_seed`` is shared and only the
inputs vary (``vary="data"``: the spread an SGD step sees). The n draws are computed
together: parameters carry a leading draw dimension, every layer is one batched product
for all draws (``torch.bmm``; with one input per draw a broadcast multiply-and-sum,
faster for matrix-vector products on CPU), and one ``torch.autograd.grad`` call gives
δ^l, ∂L/∂(W^l u^l) and ∂L/∂x of every draw (no weight requires a gradient). Random numbers
come from torch generators derived from ``seed`` (and ``init_seed``) through
:func:`xvanish.core.streams`, one stream per layer. When the weights of all draws would
exceed :data:`WEIGHT_MEMORY`, the layers are streamed instead (same numbers, bounded
memory; :meth:`MLPSampler.sample`).

Precision: computation and returned gradients are in ``dtype``. Random draws are made in
float64 for ``dtype=float64`` and in float32 otherwise, then rounded to ``dtype``: the same
seed gives the same network in float16, bfloat16 and float32, so their gradients differ only
by precision. Every tensor is stored in ``dtype``; PyTorch's CPU kernels accumulate sums and
matrix products of float16/bfloat16 in float32 before rounding (as GPU tensor cores do).

Example:
    >>> from xvanish import measure
    >>> from xvanish.domains import mlp
    >>> rows = measure(mlp.sampler(depth=20, width=64, activation="tanh"), n_samples=64, seed=0)  # doctest: +SKIP
"""

import math
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F

from xvanish import reduce
from xvanish.devices import on_threads, require_device
from xvanish.core import (
    COST,
    Domain,
    GradientBatch,
    Group,
    OuterProduct,
    Theory,
    asymptotic,
    draw_slices,
    group,
    make_config,
    require,
    require_choice,
    require_int,
    require_memory,
    require_number,
    streams,
)
from xvanish.draws import padded_rows, stream_rows
from xvanish.theory import meanfield

__all__ = ["ACTIVATIONS", "DOMAIN", "DTYPES", "INITS", "MLPConfig", "MLPSampler", "NORMS", "sampler"]

Tensor = torch.Tensor

#: ε of layer and batch normalisation (PyTorch's default).
NORM_EPS = 1e-5

#: Activations (torch), the same functions as :data:`xvanish.theory.meanfield.ACTIVATIONS`.
ACTIVATIONS: Dict[str, Callable[[Tensor], Tensor]] = {
    "linear": lambda h: h,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda h: F.leaky_relu(h, negative_slope=meanfield.LEAKY_RELU_SLOPE),
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,  # exact erf form, as the theory's
}
assert set(ACTIVATIONS) == set(meanfield.ACTIVATIONS), "torch and mean-field activation tables differ"

DTYPES: Dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


# --- initialisations ------------------------------------------------------------------------
# Each init fills a preallocated [m, N, N] block in place from its own generator.


def _fill_gaussian(out: Tensor, gen: torch.Generator, weight_var: float) -> None:
    out.normal_(0.0, math.sqrt(weight_var / out.shape[-1]), generator=gen)


def _fill_uniform(out: Tensor, gen: torch.Generator, weight_var: float) -> None:
    bound = 1.0 / math.sqrt(out.shape[-1])  # U(−1/√fan_in, 1/√fan_in); σw² fixed at 1/3
    out.uniform_(-bound, bound, generator=gen)


def _fill_orthogonal(out: Tensor, gen: torch.Generator, weight_var: float) -> None:
    # Haar measure: Q of a Gaussian matrix's QR with the signs of R's diagonal moved into Q
    # (Mezzadri 2007, "How to generate random matrices from the classical compact groups").
    q, r = torch.linalg.qr(out.normal_(generator=gen))
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    out.copy_(q * signs.unsqueeze(-2) * math.sqrt(weight_var))


@dataclass(frozen=True)
class InitScheme:
    """A weight initialisation.

    Attributes:
        fill: ``fill(out, generator, weight_var)`` fills ``out`` [..., N, N] in place with
            weights of N·Var(W_ij) = weight_var.
        fixed_weight_var: the σw² this init always has, or None when ``weight_var`` sets it.
    """

    fill: Callable[[Tensor, torch.Generator, float], None]
    fixed_weight_var: Optional[float]


INITS: Dict[str, InitScheme] = {
    "normal": InitScheme(_fill_gaussian, None),
    "uniform": InitScheme(_fill_uniform, 1.0 / 3.0),
    "xavier": InitScheme(_fill_gaussian, 1.0),
    "he": InitScheme(_fill_gaussian, 2.0),
    "lecun": InitScheme(_fill_gaussian, 1.0),
    "orthogonal": InitScheme(_fill_orthogonal, None),
}

#: σw² of the free-variance inits when ``weight_var`` is None.
DEFAULT_WEIGHT_VAR = 1.0


# --- normalisations ---------------------------------------------------------------------------


def _identity(h: Tensor) -> Tensor:
    return h


# Activations are laid out [n, N, batch] (columns are examples): features on dim 1, the
# batch of one draw on dim 2.


def _normalise(h: Tensor, dim: int) -> Tensor:
    """(h − mean)/sqrt(biased var + ε) along ``dim``; no affine."""
    centred = h - h.mean(dim=dim, keepdim=True)
    return centred * torch.rsqrt(centred.square().mean(dim=dim, keepdim=True) + NORM_EPS)


def _layer_norm(h: Tensor) -> Tensor:
    """Normalise over the N features of each example (as nn.LayerNorm without affine)."""
    return _normalise(h, dim=1)


def _batch_norm(z: Tensor) -> Tensor:
    """Normalise each feature over the batch of each draw (as nn.BatchNorm1d in training mode)."""
    return _normalise(z, dim=2)


class _BroadcastMatvec(torch.autograd.Function):
    """W·u for u [n, N, 1] as a broadcast multiply and a sum over the input features.

    For one input per draw this beats bmm (a batch of tiny GEMVs: CPU batched GEMM pays
    ~5 µs per tiny matrix). The explicit backward gives ∂L/∂u = Wᵀδ as one multiply and
    sum; ∂L/∂W = δ·uᵀ is formed only when asked for: the sampler returns it as the
    outer-product factors (δ, u) and :mod:`xvanish.reduce` takes its statistics from them.
    """

    @staticmethod
    def forward(ctx, weight: Tensor, u: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(weight, u)
        return _multiply_sum(weight, u.transpose(1, 2), dim=2).unsqueeze(2)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor]]:  # type: ignore[override]
        weight, u = ctx.saved_tensors
        grad_weight = grad * u.transpose(1, 2) if ctx.needs_input_grad[0] else None
        grad_u = _multiply_sum(weight, grad, dim=1).unsqueeze(2) if ctx.needs_input_grad[1] else None
        return grad_weight, grad_u


#: Most entries of the product a broadcast matvec forms at once (1 MiB of float32): the
#: draws are multiplied a block at a time, so the temporary stays in cache (forward +
#: backward 1.3-1.9x faster than one [n, N, N] temporary at n = 256, N = 64) and wide
#: layers never form a temporary the size of their weights. Same numbers bit for bit.
MATVEC_BLOCK = 1 << 18


def _multiply_sum(weight: Tensor, vector: Tensor, dim: int) -> Tensor:
    """``(weight * vector).sum(dim)`` for [n, N, N] weights, MATVEC_BLOCK entries at a time."""
    n, rows = weight.shape[0], max(1, MATVEC_BLOCK // weight[0].numel())
    if rows >= n:
        return (weight * vector).sum(dim=dim)
    return torch.cat([(weight[part] * vector[part]).sum(dim=dim) for part in draw_slices(n, rows)])


def _broadcast_matvec(weight: Tensor, u: Tensor) -> Tensor:
    """W·u for u [n, N, 1] (see :class:`_BroadcastMatvec`)."""
    return _BroadcastMatvec.apply(weight, u)


@dataclass(frozen=True)
class NormScheme:
    """Where a normalisation acts in a layer (see the module docstring).

    Attributes:
        pre: applied to h^{l−1} before φ (layers l ≥ 2).
        linear: applied to W^l u^l before the bias is added.
        post: applied to the layer's output h^l.
        needs_batch: normalises over the batch of inputs (needs batch ≥ 2).
    """

    pre: Callable[[Tensor], Tensor] = _identity
    linear: Optional[Callable[[Tensor], Tensor]] = None
    post: Callable[[Tensor], Tensor] = _identity
    needs_batch: bool = False


NORMS: Dict[str, NormScheme] = {
    "none": NormScheme(),
    "batchnorm": NormScheme(linear=_batch_norm, needs_batch=True),
    "layernorm_pre": NormScheme(pre=_layer_norm),
    "layernorm_post": NormScheme(post=_layer_norm),
}

VARY = ("init", "data")


# --- config -----------------------------------------------------------------------------------


@dataclass
class MLPConfig:
    """Keys of the MLP domain (= ``conf/domain/mlp.yaml`` = keyword arguments of :func:`sampler`).

    Attributes:
        depth: number of N×N weight layers L (≥ 1).
        width: N, also the input dimension (≥ 1).
        activation: one of :data:`ACTIVATIONS`.
        init: one of :data:`INITS` (table in the module docstring).
        weight_var: σw² for ``normal`` (W ~ N(0, σw²/N)) and ``orthogonal`` (gain²); None
            means the init's own value; must agree with a fixed-variance init.
        bias_var: σb², biases ~ N(0, σb²) for every init.
        residual: add the skip connection h^{l−1} for l ≥ 2.
        norm: one of :data:`NORMS`.
        input_scale: inputs x ~ N(0, input_scale²) (1: standardised; 1e4: raw dollar
            amounts, which saturate sigmoid/tanh).
        dtype: compute and gradient dtype, one of :data:`DTYPES`.
        batch: inputs per initialisation (≥ 1; ≥ 2 for batchnorm).
        vary: ``init`` (each draw its own initialisation) or ``data`` (one initialisation
            from ``init_seed``, only the inputs drawn).
        init_seed: seed of the shared initialisation when ``vary=data``.
        device: ``cpu`` or ``cuda`` / ``cuda:<k>``.
        memory_limit_gb: working memory allowed (:meth:`memory_need`); a config whose single
            draw does not fit is refused, and so is a run whose draws do not
            (``measure.n_samples``), before anything is allocated.
    """

    depth: int = 16
    width: int = 64
    activation: str = "tanh"
    init: str = "xavier"
    weight_var: Optional[float] = None
    bias_var: float = 0.0
    residual: bool = False
    norm: str = "none"
    input_scale: float = 1.0
    dtype: str = "float32"
    batch: int = 1
    vary: str = "init"
    init_seed: int = 0
    device: str = "cpu"
    memory_limit_gb: float = 4.0

    def __post_init__(self) -> None:
        require_int("depth", self.depth, minimum=1)
        require_int("width", self.width, minimum=1)
        require_choice("activation", self.activation, ACTIVATIONS)
        require_choice("init", self.init, INITS)
        require_number("weight_var", self.weight_var, 0, strict=True, allow_none=True)
        fixed = INITS[self.init].fixed_weight_var
        if fixed is not None and self.weight_var is not None:
            require(
                math.isclose(float(self.weight_var), fixed, rel_tol=1e-12),
                "weight_var",
                self.weight_var,
                f"init={self.init} fixes sigma_w^2 = {fixed:.6g}; leave weight_var null or use "
                "init=normal/orthogonal to choose it",
            )
        require_number("bias_var", self.bias_var, 0)
        require(isinstance(self.residual, bool), "residual", self.residual, "must be true or false")
        require_choice("norm", self.norm, NORMS)
        require_number("input_scale", self.input_scale, 0, strict=True)
        require_choice("dtype", self.dtype, DTYPES)
        require_int("batch", self.batch, minimum=1)
        require(
            not NORMS[self.norm].needs_batch or self.batch >= 2,
            "batch",
            self.batch,
            f"norm={self.norm} normalises over the batch: must be an integer >= 2",
        )
        require_choice("vary", self.vary, VARY)
        require_int("init_seed", self.init_seed, minimum=0)
        require_device("device", self.device)
        require_number("memory_limit_gb", self.memory_limit_gb, 0, strict=True)
        require_memory(self.memory_need(1), self.memory_limit_gb, f"one draw ({self._sizes()})")

    def _sizes(self) -> str:
        return f"depth={self.depth} x width={self.width}^2, batch={self.batch}, {self.dtype}"

    def memory_need(self, n: int) -> int:
        """Bytes ``sample(n)`` needs, from the sizes (a model with a safety factor of 1.5).

        Per draw and layer the forward pass keeps u, W·u and h and the backward pass forms
        their gradients (8·batch·N values with the activation's own); the weights are the
        draws' L·N² values, drawn in float32 and cast (both alive), unless they exceed
        :data:`WEIGHT_MEMORY`: then they are streamed a block of draws at a time
        (:data:`STREAM_BLOCK`, at least one layer of up to 16 draws).
        """
        item = DTYPES[self.dtype].itemsize
        drawn = 8 if self.dtype == "float64" else 4
        layer = self.width**2
        m = n if self.vary == "init" else 1
        weights = m * self.depth * layer * (drawn + item)
        if self.vary == "init" and m * self.depth * layer * drawn > WEIGHT_MEMORY:
            step = 16 // math.gcd(16, layer)
            weights = max(STREAM_BLOCK, step * layer * drawn) * (drawn + item) // drawn
        activations = n * self.depth * 8 * self.batch * self.width * item
        return int(1.5 * (weights + activations + MATVEC_BLOCK * item))

    @property
    def effective_weight_var(self) -> float:
        """σw² = N·Var(W_ij) of the chosen init (what the mean-field theory uses)."""
        fixed = INITS[self.init].fixed_weight_var
        if fixed is not None:
            return fixed
        return DEFAULT_WEIGHT_VAR if self.weight_var is None else float(self.weight_var)


# --- sampler ----------------------------------------------------------------------------------

#: Most bytes of random weights a ``sample()`` call holds at once. Below it every layer of
#: every draw is drawn up front and one forward and one backward serve all draws; above it
#: (deep, wide, many draws: depth 20, width 1024, 256 draws is 21 GB of float32 weights)
#: the layers are streamed (see :meth:`MLPSampler.sample`). Same numbers either way.
WEIGHT_MEMORY = 1 << 30

#: Largest block of one layer's weights (bytes) drawn at once when streaming.
STREAM_BLOCK = 1 << 28

#: Largest block of dense weight gradients (entries) formed at once for ``batch >= 2``.
WEIGHT_GRAD_BLOCK = 1 << 21


@dataclass
class _Parameters:
    """Weights [L, m, N, N], biases [L, m, N], readout [m, N]; m = n, or 1 when shared."""

    weights: Tensor
    biases: Tensor
    readout: Tensor


@dataclass
class _Layer:
    """One layer's forward pass: its input u, its W·u product m and its output h."""

    u: Tensor
    m: Tensor
    h: Tensor


class MLPSampler:
    """Per-draw gradients of a deep MLP at initialisation (see the module docstring).

    Attributes:
        domain: ``"mlp"``.
        config: the validated :class:`MLPConfig`.
    """

    domain = "mlp"

    def __init__(self, config: MLPConfig) -> None:
        self.config = config
        self._dtype = DTYPES[config.dtype]
        # Draws in float32 (float64 for float64 runs) then rounded: same network at every
        # low precision for the same seed.
        self._draw_dtype = torch.float64 if self._dtype == torch.float64 else torch.float32
        self._device = torch.device(config.device)
        self._phi = ACTIVATIONS[config.activation]
        self._norm = NORMS[config.norm]
        self._theory: Optional[Dict[str, Theory]] = None
        # One input per draw makes every layer a batch of matrix-vector products: memory-
        # bound, and CPU batched GEMM pays ~5 µs per tiny matrix (3.4x slower than a
        # broadcast multiply-and-sum at n = 256, N = 64). Several inputs make real GEMMs: bmm.
        self._matmul = _broadcast_matvec if config.batch == 1 else torch.bmm

    def groups(self) -> List[Group]:
        """``preact/<l>``, ``weight/<l>`` (l = 1..L, position l), ``input`` and the cost."""
        layers = range(1, self.config.depth + 1)
        return [
            *(group(f"preact/{l}", l) for l in layers),
            *(group(f"weight/{l}", l) for l in layers),
            group("input"),
            COST,
        ]

    # -- random draws --
    # Random streams: seed -> core.streams -> L + 2 torch generators: stream l draws layer
    # l's weights (all draws, in order), stream L the readout, stream L + 1 the inputs; layer
    # l's biases come from a child of stream l (core.streams(stream_l, 1)). Each generator
    # serves one call, filled over padded rows (xvanish.draws), so draw i does not depend on
    # n (prefix-stable; start > 0 draws and drops the rows before start). Layers are drawn
    # in parallel threads (torch releases the GIL; one generator's draws are sequential, and
    # at width 64 the Gaussian draws are most of a measure() call), and a layer's numbers
    # do not depend on the depth.
    def _generators(self, seed: int) -> List[torch.Generator]:
        return [
            torch.Generator(device=self._device).manual_seed(state) for state in streams(seed, self.config.depth + 2)
        ]

    def _bias_generators(self, seed: int) -> List[torch.Generator]:
        return [
            torch.Generator(device=self._device).manual_seed(streams(state, 1)[0])
            for state in streams(seed, self.config.depth)
        ]

    def _fill_weights(self, out: Tensor, generator: torch.Generator) -> Tensor:
        INITS[self.config.init].fill(out, generator, self.config.effective_weight_var)
        return out

    def _draw_parameters(self, seed: int, m: int, start: int = 0) -> _Parameters:
        cfg = self.config
        depth, width = cfg.depth, cfg.width
        generators, bias_generators = self._generators(seed), self._bias_generators(seed)
        options = dict(dtype=self._draw_dtype, device=self._device)
        rows = padded_rows(start + m, width * width)
        weights = torch.empty((depth, rows, width, width), **options)  # layer slices are contiguous
        biases = torch.empty((depth, padded_rows(start + m, width), width), **options)

        def draw_layer(layer: int) -> None:
            self._fill_weights(weights[layer], generators[layer])
            biases[layer].normal_(0.0, math.sqrt(cfg.bias_var), generator=bias_generators[layer])

        on_threads(draw_layer, range(depth), self._device)
        readout = self._draw_readout(generators, m, start)
        draws = slice(start, start + m)
        return _Parameters(weights[:, draws].to(self._dtype), biases[:, draws].to(self._dtype), readout.to(self._dtype))

    def _draw_readout(self, generators: List[torch.Generator], m: int, start: int = 0) -> Tensor:
        width, gen = self.config.width, generators[self.config.depth]
        return stream_rows(
            lambda out: out.normal_(0.0, math.sqrt(1.0 / width), generator=gen),
            (width,),
            start,
            m,
            self._draw_dtype,
            self._device,
        )

    def _draw_inputs(self, seed: int, n: int, start: int = 0) -> Tensor:
        cfg = self.config
        gen = self._generators(seed)[-1]
        x = stream_rows(
            lambda out: out.normal_(0.0, float(cfg.input_scale), generator=gen),
            (cfg.batch, cfg.width),
            start,
            n,
            self._draw_dtype,
            self._device,
        )
        return x.to(self._dtype)

    def draw(self, n: int, seed: int, start: int = 0) -> Dict[str, Tensor]:
        """The random numbers :meth:`sample` uses for ``(n, seed, start)``, in the config's dtype.

        Args:
            n: number of draws.
            seed: the seed given to :meth:`sample`.
            start: the first draw (draws start … start+n−1 of the seed's streams).

        Returns:
            ``weights`` [L, m, N, N], ``biases`` [L, m, N], ``readout`` [m, N] with m = n
            (``vary=init``) or 1 (``vary=data``: one initialisation from ``init_seed``), and
            ``inputs`` [n, batch, N].
        """
        require_int("n", n, minimum=1)
        require_int("start", start, minimum=0)
        if self.config.vary == "init":
            params = self._draw_parameters(seed, n, start)
        else:
            params = self._draw_parameters(self.config.init_seed, 1)
        return {
            "weights": params.weights,
            "biases": params.biases,
            "readout": params.readout,
            "inputs": self._draw_inputs(seed, n, start),
        }

    # -- model --
    def _input(self, index: int, h: Optional[Tensor], x: Tensor) -> Tensor:
        """u^l: x for the first layer (index 0), else φ of the previous pre-activations."""
        return x if index == 0 else self._phi(self._norm.pre(h))

    def _output(self, index: int, m: Tensor, bias: Tensor, h: Optional[Tensor]) -> Tensor:
        """h^l from m = W^l·u^l, the biases [n, N] and the previous pre-activations h."""
        norm = self._norm
        z = (m if norm.linear is None else norm.linear(m)) + bias.unsqueeze(2)
        if self.config.residual and index > 0:
            z = h + z
        return norm.post(z)

    def _layer(self, index: int, weight: Tensor, bias: Tensor, h: Optional[Tensor], x: Tensor) -> _Layer:
        """Layer ``index`` (0-based) for weights [n, N, N], biases [n, N] and the previous
        pre-activations h [n, N, batch] (None for the first layer, fed x [n, N, batch]).

        Column layout, m = W·u: ∂L/∂W = (∂L/∂m)·uᵀ in W's own row-major order.
        """
        u = self._input(index, h, x)
        m = self._matmul(weight, u)
        return _Layer(u, m, self._output(index, m, bias, h))

    def _cost(self, h_last: Tensor, readout: Tensor) -> Tensor:
        return (self._phi(h_last) * readout.unsqueeze(2)).sum(dim=(1, 2))

    def _weight_group(self, grad_m: Tensor, u: Tensor, materialize: bool) -> object:
        """∂L/∂W^l = (∂L/∂m)·uᵀ per draw: outer-product factors for one input per draw; for
        several, dense sums reduced a block of draws at a time (``materialize``: dense)."""
        n, width = u.shape[0], u.shape[1]
        if self.config.batch == 1:
            product = OuterProduct(grad_m[:, :, 0], u[:, :, 0])
            return product.materialize() if materialize else product
        if materialize:
            return torch.bmm(grad_m, u.transpose(1, 2)).reshape(n, -1)
        rows = max(1, WEIGHT_GRAD_BLOCK // (width * width))
        return reduce.chunked_sums(torch.bmm(grad_m[part], u[part].transpose(1, 2)) for part in draw_slices(n, rows))

    def _batch(
        self, preact_grads: List[Tensor], weight_groups: List[object], input_grad: Tensor, cost: Tensor
    ) -> GradientBatch:
        n = input_grad.shape[0]
        out: Dict[str, object] = {}
        for layer, g in enumerate(preact_grads, start=1):
            out[f"preact/{layer}"] = g.transpose(1, 2).reshape(n, -1)  # example-major, as input
        for layer, value in enumerate(weight_groups, start=1):
            out[f"weight/{layer}"] = value
        out["input"] = input_grad.reshape(n, -1)
        return GradientBatch(grads=out, cost=cost.detach())

    def sample(self, n: int, seed: int, start: int = 0) -> GradientBatch:
        """Gradients of ``n`` draws, computed as one batch.

        Below :data:`WEIGHT_MEMORY` of random weights this is ``gradients(draw(n, seed))``.
        Above it (``vary=init`` only) the layers are streamed: the forward pass draws one
        layer at a time (a block of draws at a time, from the layer's own stream, so the
        numbers are the same) and keeps only the activations; the backward pass restores
        each layer's generator state, draws its weights again and recomputes the layer
        under autograd. Memory is then one block of weights, at the cost of drawing twice.

        Args:
            n: number of draws (initialisations for ``vary=init``, input batches for
                ``vary=data``), >= 1.
            seed: seed of this call's random streams (inputs, and parameters for
                ``vary=init``).
            start: the first draw: draws start … start+n−1 of the seed's streams (draw i
                is the same in every call that includes it).

        Returns:
            A :class:`GradientBatch` with ``preact/<l>`` [n, batch·N], ``weight/<l>``
            (l = 1..L; an :class:`OuterProduct` of (δ, u) for ``batch = 1``, else
            :class:`DrawSums` reduced a block of draws at a time), ``input`` [n, batch·N]
            and the cost of each draw, in the config's dtype.
        """
        require_int("n", n, minimum=1)
        require_int("start", start, minimum=0)
        cfg = self.config
        require_memory(
            cfg.memory_need(n),
            cfg.memory_limit_gb,
            f"{n} draws ({cfg._sizes()})",
            key="measure.n_samples",
            value=n,
            lower="use fewer draws or smaller sizes",
        )
        itemsize = torch.empty((), dtype=self._draw_dtype).element_size()
        if cfg.vary == "init" and cfg.depth * n * cfg.width**2 * itemsize > WEIGHT_MEMORY:
            return self._sample_streamed(n, seed, start)
        return self.gradients(self.draw(n, seed, start))

    def gradients(self, drawn: Dict[str, Tensor], materialize: bool = False) -> GradientBatch:
        """One forward and one backward pass for all draws of ``drawn`` (see :meth:`draw`).

        Args:
            drawn: ``weights`` [L, m, N, N], ``biases`` [L, m, N], ``readout`` [m, N] with
                m = n or 1 (shared), and ``inputs`` [n, batch, N], in the config's dtype.
            materialize: return every ``weight/<l>`` as a dense ``[n, N²]`` tensor (for
                checks; memory n·L·N²).

        Returns:
            The :class:`GradientBatch` (see :meth:`sample`).
        """
        n = drawn["inputs"].shape[0]
        # vary=data: m = 1, expanded to n with a stride-0 draw dimension (no copies).
        weights = [w.expand(n, -1, -1) for w in drawn["weights"].unbind(0)]
        biases = [b.expand(n, -1) for b in drawn["biases"].unbind(0)]
        x = drawn["inputs"].detach().requires_grad_()
        with torch.enable_grad():
            layers: List[_Layer] = []
            for index, (weight, bias) in enumerate(zip(weights, biases)):
                layers.append(self._layer(index, weight, bias, layers[-1].h if layers else None, x.transpose(1, 2)))
            cost = self._cost(layers[-1].h, drawn["readout"].expand(n, -1))
            # Draws are independent, so d(Σ_i L_i)/dθ_i = dL_i/dθ_i exactly. No weight
            # requires a gradient: ∂L/∂W^l is formed from (∂L/∂m^l, u^l) below, if at all.
            grads = torch.autograd.grad(cost.sum(), [*(l.m for l in layers), *(l.h for l in layers), x])
        depth = self.config.depth
        grad_ms, preact_grads = grads[:depth], list(grads[depth : 2 * depth])
        weight_groups = [self._weight_group(g, layer.u.detach(), materialize) for g, layer in zip(grad_ms, layers)]
        return self._batch(preact_grads, weight_groups, grads[-1], cost)

    def _sample_streamed(self, n: int, seed: int, start: int = 0) -> GradientBatch:
        """:meth:`sample` one layer at a time, drawing each layer's weights twice (see there)."""
        cfg = self.config
        width, depth = cfg.width, cfg.depth
        generators, bias_generators = self._generators(seed), self._bias_generators(seed)
        x = self._draw_inputs(seed, n, start).transpose(1, 2)  # [n, N, batch]
        # Blocks of draws whose entry count is a multiple of 16 (the last one padded): torch's
        # CPU normal_ fills 16 values at a time, so drawing block after block gives the
        # numbers of one call. Blocks cover draws 0 … start+n−1; the rows before start are
        # drawn (to advance the generator) and dropped.
        itemsize = torch.empty((), dtype=self._draw_dtype).element_size()
        step = padded_rows(1, width * width)
        rows = max(step, STREAM_BLOCK // (width * width * itemsize) // step * step)
        parts = draw_slices(start + n, rows)
        # One buffer for every block (fresh memory would page-fault the whole weight size
        # twice over); each block is used up before the next one is drawn into it. (Drawing
        # the next block in a second thread meanwhile was slower on the shared 2-core
        # machine: the OpenMP threads of the products then wait for a busy core.)
        buffer = torch.empty(
            (min(rows, padded_rows(start + n, width * width)), width, width),
            dtype=self._draw_dtype,
            device=self._device,
        )

        def weight_blocks(layer: int, state: Tensor) -> Iterator[Tuple[slice, Tensor]]:
            generators[layer].set_state(state)
            for part in parts:
                block = self._fill_weights(
                    buffer[: padded_rows(part.stop - part.start, width * width)], generators[layer]
                )
                first, last = max(part.start, start), part.stop
                if first < last:  # the block's draws from start on, at their places in this call
                    yield (
                        slice(first - start, last - start),
                        block[first - part.start : last - part.start].to(self._dtype),
                    )

        states, biases, hs = [], [], []
        h: Optional[Tensor] = None
        with torch.no_grad():
            for layer in range(depth):
                states.append(generators[layer].get_state())
                u = self._input(layer, h, x)
                m = torch.cat([self._matmul(w, u[part]) for part, w in weight_blocks(layer, states[-1])])
                gen = bias_generators[layer]
                bias = stream_rows(
                    lambda out: out.normal_(0.0, math.sqrt(cfg.bias_var), generator=gen),
                    (width,),
                    start,
                    n,
                    self._draw_dtype,
                    self._device,
                )
                biases.append(bias.to(self._dtype))
                h = self._output(layer, m, biases[-1], h)
                hs.append(h)
            readout = self._draw_readout(generators, n, start).to(self._dtype)
        with torch.enable_grad():
            h_last = hs[-1].detach().requires_grad_()
            cost = self._cost(h_last, readout)
            delta = torch.autograd.grad(cost.sum(), h_last)[0]
        preact_grads: List[Optional[Tensor]] = [None] * depth
        weight_groups: List[object] = [None] * depth
        for layer in reversed(range(depth)):
            preact_grads[layer] = delta
            source = x if layer == 0 else hs[layer - 1]
            grad_ms, grad_sources, us = [], [], []
            for part, w in weight_blocks(layer, states[layer]):
                with torch.enable_grad():
                    previous = source[part].detach().requires_grad_()
                    again = self._layer(layer, w, biases[layer][part], None if layer == 0 else previous, previous)
                    grad_m, grad_source = torch.autograd.grad(again.h, [again.m, previous], delta[part])
                grad_ms.append(grad_m)
                grad_sources.append(grad_source)
                us.append(again.u.detach())
            weight_groups[layer] = self._weight_group(torch.cat(grad_ms), torch.cat(us), materialize=False)
            delta = torch.cat(grad_sources)
        return self._batch(preact_grads, weight_groups, delta.transpose(1, 2), cost)

    def theory_var(self) -> Dict[str, Theory]:
        """Mean-field variance of every group's entries, for plain networks (asymptotic).

        Uses :func:`xvanish.theory.meanfield.trajectory` with the init's effective σw²,
        E[x²] = input_scale² and E[a²] = 1/N (Schoenholz et al. 2017 along the actual q^l):
        exact in the limit of infinite width, hence ``asymptotic``. ``weight/<l>`` only for
        ``batch = 1``: with several inputs per initialisation ∂L/∂W^l sums correlated
        per-input terms that this single-input theory does not cover. Residual or
        normalised networks get no prediction (empty dict). For ``vary=data`` the numbers
        are still the ensemble prediction (averaged over initialisations too); one fixed
        initialisation scatters around it.
        """
        cfg = self.config
        if cfg.residual or cfg.norm != "none":
            return {}
        if self._theory is None:
            traj = meanfield.trajectory(
                cfg.depth,
                cfg.effective_weight_var,
                float(cfg.bias_var),
                cfg.activation,
                input_var=float(cfg.input_scale) ** 2,
                readout_var=1.0 / cfg.width,
            )
            theory = {f"preact/{l}": asymptotic(v) for l, v in enumerate(traj.delta_ms, start=1)}
            if cfg.batch == 1:
                theory.update({f"weight/{l}": asymptotic(v) for l, v in enumerate(traj.weight_ms, start=1)})
            theory["input"] = asymptotic(traj.input_ms)
            self._theory = theory
        return dict(self._theory)


def sampler(**kwargs: object) -> MLPSampler:
    """Build an MLP sampler from domain keys (see :class:`MLPConfig`).

    Raises:
        ConfigError: for an unknown key or a bad value (the message names key and value).
    """
    return MLPSampler(make_config(MLPConfig, **kwargs))


DOMAIN = Domain(
    name="mlp",
    config=MLPConfig,
    factory=sampler,
    natural_axis="depth",
    headline_group="preact/1",
    description="deep MLP at initialisation: backpropagated signal and weight gradients per layer",
    small={"depth": 3, "width": 4},
    oversized={"width": 1 << 20},
)
