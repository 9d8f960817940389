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
* ``weight/<l>``: ∂L/∂W^l, ``[n, N²]`` (what an optimiser sees; = δ^l u^lᵀ summed over the
  batch, so it carries the forward signal too and can hide the decay, THEORY.md §1);
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
for all draws (``torch.baddbmm``; with one input per draw a broadcast multiply-and-sum,
faster for matrix-vector products on CPU), and one ``torch.autograd.grad`` call gives
every gradient of every draw. Random numbers come from torch generators derived from
``seed`` (and ``init_seed``) through numpy's SeedSequence, one stream per layer.

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
import numbers
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from xvanish.core import Domain, GradientBatch, make_config, require, require_choice
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

    For one input per draw this beats bmm (a batch of tiny GEMVs). The explicit backward
    writes ∂L/∂W = δ·uᵀ as one contiguous outer product and ∂L/∂u = Wᵀδ as one multiply
    and sum, where autograd's generic mul backward multiplies stride-0 expanded gradients
    (1.6x slower per layer at width 64, n = 256; same numbers bit for bit).
    """

    @staticmethod
    def forward(ctx, weight: Tensor, u: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(weight, u)
        return (weight * u.transpose(1, 2)).sum(dim=2, keepdim=True)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        weight, u = ctx.saved_tensors
        return grad * u.transpose(1, 2), (weight * grad).sum(dim=1).unsqueeze(2)


def _broadcast_matvec(weight: Tensor, u: Tensor) -> Tensor:
    """W·u for u [n, N, 1] (see :class:`_BroadcastMatvec`)."""
    return _BroadcastMatvec.apply(weight, u)


def _broadcast_affine(weight: Tensor, u: Tensor, bias: Tensor) -> Tensor:
    return _broadcast_matvec(weight, u) + bias.unsqueeze(2)


def _bmm_affine(weight: Tensor, u: Tensor, bias: Tensor) -> Tensor:
    return torch.baddbmm(bias.unsqueeze(2), weight, u)


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

def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


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

    def __post_init__(self) -> None:
        require(_is_int(self.depth) and self.depth >= 1, "depth", self.depth, "must be an integer >= 1")
        require(_is_int(self.width) and self.width >= 1, "width", self.width, "must be an integer >= 1")
        require_choice("activation", self.activation, ACTIVATIONS)
        require_choice("init", self.init, INITS)
        require(self.weight_var is None or (_is_number(self.weight_var) and self.weight_var > 0),
                "weight_var", self.weight_var, "must be null or a finite number > 0")
        fixed = INITS[self.init].fixed_weight_var
        if fixed is not None and self.weight_var is not None:
            require(math.isclose(float(self.weight_var), fixed, rel_tol=1e-12), "weight_var", self.weight_var,
                    f"init={self.init} fixes sigma_w^2 = {fixed:.6g}; leave weight_var null or use "
                    "init=normal/orthogonal to choose it")
        require(_is_number(self.bias_var) and self.bias_var >= 0, "bias_var", self.bias_var,
                "must be a finite number >= 0")
        require(isinstance(self.residual, bool), "residual", self.residual, "must be true or false")
        require_choice("norm", self.norm, NORMS)
        require(_is_number(self.input_scale) and self.input_scale > 0, "input_scale", self.input_scale,
                "must be a finite number > 0")
        require_choice("dtype", self.dtype, DTYPES)
        require(_is_int(self.batch) and self.batch >= 1, "batch", self.batch, "must be an integer >= 1")
        require(not NORMS[self.norm].needs_batch or self.batch >= 2, "batch", self.batch,
                f"norm={self.norm} normalises over the batch: must be an integer >= 2")
        require_choice("vary", self.vary, VARY)
        require(_is_int(self.init_seed) and self.init_seed >= 0, "init_seed", self.init_seed,
                "must be an integer >= 0")
        require(isinstance(self.device, str) and (self.device == "cpu" or self.device.startswith("cuda")),
                "device", self.device, "must be cpu or cuda[:k]")
        if self.device.startswith("cuda"):
            require(torch.cuda.is_available(), "device", self.device,
                    "CUDA is not available on this machine (torch " + torch.__version__ + "); use cpu")
            try:
                torch.device(self.device)
            except RuntimeError:
                require(False, "device", self.device, "must be cpu or cuda[:k]")

    @property
    def effective_weight_var(self) -> float:
        """σw² = N·Var(W_ij) of the chosen init (what the mean-field theory uses)."""
        fixed = INITS[self.init].fixed_weight_var
        if fixed is not None:
            return fixed
        return DEFAULT_WEIGHT_VAR if self.weight_var is None else float(self.weight_var)


# --- sampler ----------------------------------------------------------------------------------

@dataclass
class _Parameters:
    """Weights [L, m, N, N], biases [L, m, N], readout [m, N]; m = n, or 1 when shared."""

    weights: Tensor
    biases: Tensor
    readout: Tensor


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
        self._theory: Optional[Dict[str, float]] = None
        # One input per draw makes every layer a batch of matrix-vector products: memory-
        # bound, and CPU batched GEMM pays ~5 µs per tiny matrix (3.4x slower than a
        # broadcast multiply-and-sum at n = 256, N = 64, whose backward also gives ∂L/∂W
        # as one elementwise outer product). Several inputs make real GEMMs: bmm.
        self._matmul = _broadcast_matvec if config.batch == 1 else torch.bmm
        self._affine = _broadcast_affine if config.batch == 1 else _bmm_affine

    # -- random draws --
    # Random streams: seed -> numpy SeedSequence -> L + 2 torch generators: stream l draws
    # layer l's weights and biases, stream L the readout, stream L + 1 the inputs. Layers
    # are then drawn in parallel threads (torch releases the GIL; one generator's draws are
    # sequential, and at width 64 the Gaussian draws are half of a sample() call), and a
    # layer's numbers do not depend on the depth.
    def _streams(self, seed: int) -> List[torch.Generator]:
        states = np.random.SeedSequence(int(seed)).generate_state(self.config.depth + 2, dtype=np.uint64)
        return [torch.Generator(device=self._device).manual_seed(int(state)) for state in states]

    def _draw_parameters(self, seed: int, m: int) -> _Parameters:
        cfg = self.config
        depth, width = cfg.depth, cfg.width
        fill, weight_var = INITS[cfg.init].fill, cfg.effective_weight_var
        bias_std = math.sqrt(cfg.bias_var)
        streams = self._streams(seed)
        options = dict(dtype=self._draw_dtype, device=self._device)
        weights = torch.empty((depth, m, width, width), **options)  # layer slices are contiguous
        biases = torch.empty((depth, m, width), **options)

        def draw_layer(layer: int) -> None:
            fill(weights[layer], streams[layer], weight_var)
            biases[layer].normal_(0.0, bias_std, generator=streams[layer])

        workers = min(torch.get_num_threads(), depth) if self._device.type == "cpu" else 1
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(draw_layer, range(depth)))  # list(): re-raise any error
        else:
            for layer in range(depth):
                draw_layer(layer)
        readout = torch.empty((m, width), **options).normal_(0.0, math.sqrt(1.0 / width), generator=streams[depth])
        return _Parameters(*(t.to(self._dtype) for t in (weights, biases, readout)))

    def _draw_inputs(self, seed: int, n: int) -> Tensor:
        cfg = self.config
        x = torch.empty((n, cfg.batch, cfg.width), dtype=self._draw_dtype, device=self._device)
        return x.normal_(0.0, float(cfg.input_scale), generator=self._streams(seed)[-1]).to(self._dtype)

    # -- model --
    def _forward(self, weights: List[Tensor], biases: List[Tensor], x: Tensor) -> List[Tensor]:
        """Pre-activations h^1..h^L, each [n, N, batch], from x [n, N, batch].

        Weights are [n, N, N] per layer, biases [n, N].

        Column layout, z = W·u: autograd's ∂L/∂W = δ·uᵀ then comes out contiguous in W's
        own row-major order (no transposed copy of the largest group).
        """
        cfg, norm = self.config, self._norm
        hs: List[Tensor] = []
        h: Optional[Tensor] = None
        for layer, (weight, bias) in enumerate(zip(weights, biases)):
            u = x if h is None else self._phi(norm.pre(h))
            if norm.linear is None:
                z = self._affine(weight, u, bias)
            else:
                z = norm.linear(self._matmul(weight, u)) + bias.unsqueeze(2)
            if cfg.residual and h is not None:
                z = h + z
            h = norm.post(z)
            hs.append(h)
        return hs

    def draw(self, n: int, seed: int) -> Dict[str, Tensor]:
        """The random numbers :meth:`sample` uses for ``(n, seed)``, in the config's dtype.

        Args:
            n: number of draws.
            seed: the seed given to :meth:`sample`.

        Returns:
            ``weights`` [L, m, N, N], ``biases`` [L, m, N], ``readout`` [m, N] with m = n
            (``vary=init``) or 1 (``vary=data``: one initialisation from ``init_seed``), and
            ``inputs`` [n, batch, N].
        """
        require(_is_int(n) and n >= 1, "n", n, "must be an integer >= 1")
        if self.config.vary == "init":
            params = self._draw_parameters(seed, n)
        else:
            params = self._draw_parameters(self.config.init_seed, 1)
        return {"weights": params.weights, "biases": params.biases, "readout": params.readout,
                "inputs": self._draw_inputs(seed, n)}

    def sample(self, n: int, seed: int) -> GradientBatch:
        """Gradients of ``n`` draws, computed as one batch: ``gradients(draw(n, seed))``.

        Args:
            n: number of draws (initialisations for ``vary=init``, input batches for
                ``vary=data``), >= 1.
            seed: seed of this call's torch.Generator (inputs, and parameters for
                ``vary=init``).

        Returns:
            A :class:`GradientBatch` with ``preact/<l>``, ``weight/<l>`` (l = 1..L),
            ``input`` and the cost of each draw, in the config's dtype.
        """
        return self.gradients(self.draw(n, seed))

    def gradients(self, drawn: Dict[str, Tensor]) -> GradientBatch:
        """One forward and one backward pass for all draws of ``drawn`` (see :meth:`draw`).

        Args:
            drawn: ``weights`` [L, m, N, N], ``biases`` [L, m, N], ``readout`` [m, N] with
                m = n or 1 (shared), and ``inputs`` [n, batch, N], in the config's dtype.

        Returns:
            The :class:`GradientBatch` (see :meth:`sample`).
        """
        cfg = self.config
        n = drawn["inputs"].shape[0]
        # Leaves per layer (views of one [L, m, N, N] draw): autograd then writes each
        # layer's gradient once instead of scattering into a full-size buffer per layer.
        leaves = [w.detach().requires_grad_() for w in drawn["weights"].unbind(0)]
        # vary=data: m = 1, expanded to n with a stride-0 draw dimension (no copies).
        weights = [w.expand(n, -1, -1) for w in leaves]
        biases = [b.expand(n, -1) for b in drawn["biases"].unbind(0)]
        readout = drawn["readout"].expand(n, -1)
        x = drawn["inputs"].detach().requires_grad_()
        with torch.enable_grad():
            hs = self._forward(weights, biases, x.transpose(1, 2))
            cost = (self._phi(hs[-1]) * readout.unsqueeze(2)).sum(dim=(1, 2))
            # Draws are independent, so d(Σ_i L_i)/dθ_i = dL_i/dθ_i exactly.
            grads = torch.autograd.grad(cost.sum(), [*weights, *hs, x])
        depth = cfg.depth
        weight_grads, preact_grads, input_grad = grads[:depth], grads[depth:2 * depth], grads[-1]
        out: Dict[str, Tensor] = {}
        positions: Dict[str, Optional[float]] = {}
        for layer, g in enumerate(preact_grads, start=1):
            out[f"preact/{layer}"] = g.transpose(1, 2).reshape(n, -1)  # example-major, as input
            positions[f"preact/{layer}"] = float(layer)
        for layer, g in enumerate(weight_grads, start=1):
            out[f"weight/{layer}"] = g.reshape(n, -1)
            positions[f"weight/{layer}"] = float(layer)
        out["input"] = input_grad.reshape(n, -1)
        positions["input"] = None
        return GradientBatch(grads=out, positions=positions, cost=cost.detach())

    def theory_var(self) -> Dict[str, float]:
        """Mean-field variance of every group's entries, for plain networks.

        Uses :func:`xvanish.theory.meanfield.trajectory` with the init's effective σw²,
        E[x²] = input_scale² and E[a²] = 1/N (Schoenholz et al. 2017 along the actual q^l).
        ``weight/<l>`` only for ``batch = 1``: with several inputs per initialisation
        ∂L/∂W^l sums correlated per-input terms that this single-input theory does not
        cover. Residual or normalised networks get no prediction (empty dict). For
        ``vary=data`` the numbers are still the ensemble prediction (averaged over
        initialisations too); one fixed initialisation scatters around it.
        """
        cfg = self.config
        if cfg.residual or cfg.norm != "none":
            return {}
        if self._theory is None:
            traj = meanfield.trajectory(cfg.depth, cfg.effective_weight_var, float(cfg.bias_var), cfg.activation,
                                        input_var=float(cfg.input_scale) ** 2, readout_var=1.0 / cfg.width)
            theory = {f"preact/{l}": float(v) for l, v in enumerate(traj.delta_ms, start=1)}
            if cfg.batch == 1:
                theory.update({f"weight/{l}": float(v) for l, v in enumerate(traj.weight_ms, start=1)})
            theory["input"] = traj.input_ms
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
)
