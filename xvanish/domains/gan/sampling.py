"""The GAN sampler: n (G, D) pairs trained as one batched network, measured at checkpoints.

Protocol (Arjovsky & Bottou 2017, section 2.2 and Fig. 2): each draw has its own generator
G (random, optionally pre-trained ``g_pretrain`` steps, then frozen), its own discriminator
D drawn afresh, its own data, latents and noise. D is trained k = 1 … ``d_steps`` steps
against the frozen G with Adam; at the checkpoints k ∈ {0, 1, 3, 10, 30, …, d_steps} the
generator's gradient is taken under each loss, on a fresh batch of ``batch`` latents:

* ``saturating/<k>``: ∇_θ (1/B) Σ_b log(1 − D(G(z_b)))   (Goodfellow et al. 2014, minimax);
* ``nonsaturating/<k>``: ∇_θ −(1/B) Σ_b log D(G(z_b))     (the "−log D trick");
* ``wgan/<k>``: ∇_θ −(1/B) Σ_b c(G(z_b))                  (critic c, ``objective=wgan_gp``);

each ``[n, P]`` over G's P parameters. Diagnostics, one value per draw: ``dfake/<k>`` (mean
D(G(z)), or the critic's mean), ``dreal/<k>``, and for ``gan`` ``jsd/<k>`` (the JSD
estimate log 2 + V(D, G)/2 from D's value function V, which → log 2 as D → D* on disjoint
supports) and ``eps/<k>`` (ε of Theorem 2.4: sup |D| + sup ‖∇ₓD‖ over the generated
points, where D* = 0 and ∇ₓD* = 0 when the supports are disjoint); for ``wgan_gp``
``w1/<k>`` (E c(real) − E c(fake), the critic's Wasserstein-1 estimate).

With ``noise`` σ > 0 every input of D — real and generated, in training and in the
measurement — gets independent N(0, σ²I) noise added (their section 3).

The n draws are one batched network (:mod:`.nets`): stacked parameters, one
``torch.baddbmm`` per layer, one backward pass and one ``torch.optim.Adam`` step for all
draws per discriminator step; summing the draws' losses gives each draw's own gradient
exactly (no term couples two draws). D's parameters live in one flat tensor during
training (one fused Adam kernel), and for ``objective=gan`` its backward pass is
written by hand (:class:`~.nets.Backprop`, buffers allocated once, no graph);
``wgan_gp``'s gradient penalty is differentiated twice, by autograd.

Random streams (``core.streams(seed, 8)``): 0 D's init, 1 G's init, 2 real data, 3 latents
of training, 4 instance noise of training, 5 the measurements (checkpoint k seeds its own
stream from this one and k, so its batch does not depend on ``d_steps``), 6 the
pre-training D's init, 7 the gradient penalty's interpolation weights. Each is a
:class:`~xvanish.draws.DrawStream`: every call (one step's latents, say) has its own
generator, so draw i is the same for every n (prefix-stable: ``sample(n, seed, start)``
gives draws start … start+n−1 of one stream). Changing ``noise`` or ``gap`` leaves every
other stream as it was: a sweep over them is a paired design.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from xvanish.core import GradientBatch, Group, Theory, bound, group, make_config, require_int, require_memory, streams
from xvanish.draws import DrawStream

from .config import DTYPES, GANConfig
from .data import DATASETS
from .nets import MLP, Backprop, flat, init_mlp, jacobian_sq_norms, pack, views

__all__ = ["DOMAIN_NAME", "DTraining", "GANSampler", "Networks", "checkpoints", "sampler", "theorem_2_4_bound"]

Tensor = torch.Tensor

DOMAIN_NAME = "gan"
LOG2 = math.log(2.0)

#: Generator losses per sample from D's logit f, in forms that stay finite as D → 0 or 1:
#: log(1 − σ(f)) = logsigmoid(−f) and −log σ(f) = −logsigmoid(f) (their derivatives in f
#: are −D and −(1 − D): the ratio D/(1 − D) of THEORY.md §4).
GENERATOR_LOSSES = {
    "saturating": lambda f: F.logsigmoid(-f),
    "nonsaturating": lambda f: -F.logsigmoid(f),
    "wgan": lambda f: -f,
}

#: Stream indices of :func:`xvanish.core.streams` (module docstring).
D_INIT, G_INIT, REAL, LATENT, NOISE, MEASURE, PRE_D_INIT, ALPHA = range(8)
N_STREAMS = 8


def checkpoints(d_steps: int) -> list[int]:
    """0, 1, 3, 10, 30, 100, … below ``d_steps``, then ``d_steps`` (log-spaced, 1-3-10)."""
    points, decade = [0], 1
    while decade < d_steps:
        points += [k for k in (decade, 3 * decade) if k < d_steps]
        decade *= 10
    return points + ([d_steps] if d_steps > 0 else [])


def theorem_2_4_bound(eps: Tensor, jacobian_sq: Tensor) -> Tensor:
    """Arjovsky & Bottou (2017), Theorem 2.4: ‖∇_θ E log(1 − D(G(z)))‖ < M ε / (1 − ε).

    Per draw, from ε [n] and ‖J_θ G(z_b)‖²_F [n, B] with M² = mean_b ‖J_θ G(z_b)‖²_F.
    The batch gradient is (1/B) Σ_b −J_bᵀ ∇ₓD_b / (1 − D_b), so with ε ≥ sup_b D_b and
    ε ≥ sup_b ‖∇ₓD_b‖ its norm is at most ε/(1−ε) · mean_b ‖J_b‖_F ≤ M ε/(1 − ε)
    (Cauchy–Schwarz): the theorem holds exactly for the batch, with the theorem's
    ε = sup|D − D*| + sup‖∇ₓD − ∇ₓD*‖ taken over the generated points and D* = 0 there.

    Returns:
        The bound per draw ``[n]``; +inf where ε ≥ 1 (the theorem says nothing there).
    """
    m = jacobian_sq.mean(dim=1).sqrt()
    value = m * eps / (1 - eps)
    return torch.where(eps < 1, value, torch.full_like(value, math.inf))


@dataclass
class Networks:
    """The n draws' networks: D's and G's stacked parameters (see :mod:`.nets`)."""

    d: list[Tensor]
    g: list[Tensor]


@dataclass
class DTraining:
    """Every draw's D under training (:meth:`GANSampler.d_training`).

    Attributes:
        params: D's stacked parameters, views of one flat tensor that ``optimizer`` updates.
        grads: their gradients, views of the flat tensor's ``.grad``.
        optimizer: one Adam over the flat tensor.
        backprop: D's hand-written backward pass (``objective=gan``); None for ``wgan_gp``,
            whose gradient penalty is differentiated twice by autograd.
        targets: the cross-entropy targets of the rows [real…, generated…] ``[2·batch, 1]``
            (``objective=gan``, with ``backprop``); None for ``wgan_gp``.
    """

    params: list[Tensor]
    grads: list[Tensor]
    optimizer: torch.optim.Adam
    backprop: Backprop | None
    targets: Tensor | None


@dataclass
class _Checkpoint:
    """What one checkpoint measured: group name -> ``[n, k]`` values, and the bound per draw."""

    values: dict[str, Tensor]
    bound: Tensor | None = None
    norm: Tensor | None = None


@dataclass
class _Run:
    """State of the last :meth:`GANSampler.sample` call, for ``theory_var`` and ``info``."""

    n: int
    bounds: dict[int, Tensor] = field(default_factory=dict)
    norms: dict[int, Tensor] = field(default_factory=dict)
    diverged: int = 0
    diverged_at: int | None = None


class GANSampler:
    """Samples the generator's gradients of n independently trained (G, D) pairs.

    Built from a validated :class:`~.config.GANConfig`; cheap (no data, no networks):
    loading the digits and training happen in :meth:`sample`.

    Example:
        >>> from xvanish import measure
        >>> from xvanish.domains import gan
        >>> rows = measure(gan.sampler(gap=1.0, d_steps=1000), n_samples=64, seed=0)  # doctest: +SKIP
    """

    domain = DOMAIN_NAME

    def __init__(self, config: GANConfig) -> None:
        self.config = config
        self.dataset = DATASETS[config.data]
        self.dtype = DTYPES[config.dtype]
        self.device = torch.device(config.device)
        cfg = config
        self.d_net = MLP([self.dataset.dim] + [cfg.d_hidden] * cfg.d_depth + [1], cfg.d_activation)
        self.g_net = MLP(
            [cfg.z_dim] + [cfg.g_hidden] * cfg.g_depth + [self.dataset.dim], cfg.g_activation, self.dataset.output
        )
        self.losses = cfg.measured_losses
        self.checkpoints = checkpoints(cfg.d_steps)
        self._run: _Run | None = None

    # -- declaration --------------------------------------------------------------------------
    @property
    def families(self) -> list[str]:
        """Group families in order: the losses, then the diagnostics."""
        diagnostics = ["dfake", "dreal"] + (["jsd", "eps"] if self.config.objective == "gan" else ["w1"])
        return self.losses + diagnostics

    def groups(self) -> list[Group]:
        """``<family>/<k>`` for every family and checkpoint k (position k)."""
        return [group(f"{family}/{k}", k) for family in self.families for k in self.checkpoints]

    # -- random numbers and networks ----------------------------------------------------------
    def generators(self, seed: int, n: int, start: int = 0) -> list[DrawStream]:
        """One stream per role (module docstring), for draws start … start+n−1."""
        return [DrawStream(s, start, n, self.device) for s in streams(seed, N_STREAMS)]

    def latents(self, stream: DrawStream) -> Tensor:
        """``[n, batch, z_dim]`` latents z ~ U[−1, 1] (bounded: G's support is compact, as the
        theorems assume)."""
        return stream.uniform((self.config.batch, self.config.z_dim), -1.0, 1.0, self.dtype)

    def _noise(self, stream: DrawStream, like: Tensor) -> Tensor:
        return self.config.noise * stream.normal(like.shape[1:], self.dtype)

    def _real(self, stream: DrawStream) -> Tensor:
        return self.dataset.sample(stream, self.config.batch, self.dtype, self.device)

    def init_networks(self, gens: list[DrawStream]) -> Networks:
        """Fresh D and G for the streams' draws (G's y row zeroed on the toy: outputs on the line y = gap)."""
        d = init_mlp(self.d_net.sizes, gens[D_INIT], self.dtype, self.device)
        g = init_mlp(self.g_net.sizes, gens[G_INIT], self.dtype, self.device)
        if self.dataset.on_line:
            g[-2][:, 1, :] = 0.0
            g[-1][:, 1] = 0.0
        return Networks(d, g)

    def step_inputs(self, gens: list[DrawStream]) -> dict[str, Tensor]:
        """The random numbers of one discriminator step: ``real``, ``z`` and, when used,
        ``noise_real``, ``noise_fake`` (σ·N(0, I)) and ``alpha`` (interpolation weights)."""
        out = {"real": self._real(gens[REAL]), "z": self.latents(gens[LATENT])}
        if self.config.noise > 0:
            out["noise_real"] = self._noise(gens[NOISE], out["real"])
            out["noise_fake"] = self._noise(gens[NOISE], out["real"])
        if self.config.objective == "wgan_gp":
            out["alpha"] = gens[ALPHA].uniform((self.config.batch, 1), 0.0, 1.0, self.dtype)
        return out

    def generate(self, g: list[Tensor], z: Tensor) -> Tensor:
        """G(z) + gap·e for every draw, ``[n, B, dim]``."""
        return self.g_net.forward(g, z) + self.dataset.shift(float(self.config.gap), self.dtype, self.device)

    # -- training -----------------------------------------------------------------------------
    def noisy(self, fake: Tensor, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """D's real and generated inputs of one step: instance noise added when there is some."""
        real = inputs["real"] + inputs["noise_real"] if "noise_real" in inputs else inputs["real"]
        return real, fake + inputs["noise_fake"] if "noise_fake" in inputs else fake

    def d_loss(self, d: list[Tensor], fake: Tensor, inputs: dict[str, Tensor]) -> Tensor:
        """The critic's loss per draw ``[n]`` (``wgan_gp``) on one step's inputs and the
        (fixed) generated samples.

        E c(x_fake) − E c(x_real) + λ E(‖∇ₓ c(x̂)‖ − 1)², x̂ = αx_real + (1−α)x_fake, the
        penalty's gradient per sample and flattened over every input dimension (Gulrajani
        et al. 2017, Algorithm 1). ``gan``'s loss has no autograd form here: its gradient is
        written by hand in :meth:`d_step`.
        """
        real, fake = self.noisy(fake, inputs)
        f = self.d_net.logits(d, torch.cat([real, fake], dim=1))
        f_real, f_fake = f[:, : real.shape[1]], f[:, real.shape[1] :]
        alpha = inputs["alpha"]
        mixed = (alpha * real + (1 - alpha) * fake).detach().requires_grad_()
        critic = self.d_net.forward(d, mixed).sum()
        (slope,) = torch.autograd.grad(critic, mixed, create_graph=True)
        penalty = (slope.flatten(start_dim=2).norm(dim=2) - 1).square().mean(dim=1)
        return f_fake.mean(dim=1) - f_real.mean(dim=1) + self.config.gp_lambda * penalty

    def g_loss(self, f_fake: Tensor) -> Tensor:
        """The pre-training generator's loss per draw from D's logits on G(z) ``[n, B]``:
        the non-saturating −E log D for ``gan``, −E c for ``wgan_gp``."""
        name = "nonsaturating" if self.config.objective == "gan" else "wgan"
        return GENERATOR_LOSSES[name](f_fake).mean(dim=1)

    def optimizer(self, params: list[Tensor], lr: float) -> torch.optim.Adam:
        """One Adam for all draws (elementwise, so it is n independent Adams).

        ``fused``: one kernel per tensor instead of a chain of foreach ops — the same
        update (tests hold it to per-draw ``torch.optim.Adam`` defaults to 1e-10 in
        float64).
        """
        return torch.optim.Adam(params, lr=lr, betas=(self.config.d_beta1, self.config.d_beta2), fused=True)

    def d_training(self, d: list[Tensor]) -> DTraining:
        """Every draw's D, starting from the parameters ``d``, ready for :meth:`d_step`.

        The parameters are copied into one flat tensor, so Adam's step is one fused kernel
        over all layers and draws.
        """
        buffer, params = pack(d)
        buffer.grad = torch.zeros_like(buffer)
        grads = views(buffer.grad, d)
        batch = self.config.batch
        backprop, targets = None, None
        if self.config.objective == "gan":
            backprop = Backprop(self.d_net, params, grads, 2 * batch)
            targets = torch.cat(
                [
                    torch.ones(batch, 1, dtype=self.dtype, device=self.device),
                    torch.zeros(batch, 1, dtype=self.dtype, device=self.device),
                ]
            )
        return DTraining(params, grads, self.optimizer([buffer], self.config.d_lr), backprop, targets)

    def d_step(self, g: list[Tensor], training: DTraining, inputs: dict[str, Tensor]) -> None:
        """One Adam step of every draw's D against its frozen G (parameters ``g``)."""
        with torch.no_grad():
            fake = self.generate(g, inputs["z"])
        if training.backprop is None:
            d = [p.detach().requires_grad_() for p in training.params]  # leaves sharing the flat tensor
            grads = torch.autograd.grad(self.d_loss(d, fake, inputs).sum(), d)
            with torch.no_grad():
                for grad, value in zip(training.grads, grads):
                    grad.copy_(value)
        else:
            with torch.no_grad():
                f = training.backprop.forward(torch.cat(self.noisy(fake, inputs), dim=1))
                # D's loss per draw, −E log D(x_real) − E log(1 − D(x_fake)) =
                # softplus(−f_real).mean + softplus(f_fake).mean over the B rows of each half;
                # its ∂/∂f is (σ(f) − target)/B (target 1 for real rows, 0 for generated).
                training.backprop.backward(torch.sigmoid(f).sub_(training.targets).div_(self.config.batch))
        training.optimizer.step()

    def pretrain(self, gens: list[DrawStream]) -> Networks:
        """G and D trained together ``g_pretrain`` steps (one D step, one G step on fresh
        latents), then a fresh D: the networks the measured training starts from."""
        cfg = self.config
        nets = self.init_networks(gens)
        if cfg.g_pretrain == 0:
            return nets
        pre_d = self.d_training(init_mlp(self.d_net.sizes, gens[PRE_D_INIT], self.dtype, self.device))
        g = [p.clone().requires_grad_() for p in nets.g]
        g_opt = self.optimizer(g, cfg.g_lr)
        for _ in range(cfg.g_pretrain):
            self.d_step(g, pre_d, self.step_inputs(gens))
            z = self.latents(gens[LATENT])
            g_opt.zero_grad(set_to_none=True)
            self.g_loss(self.d_net.logits(pre_d.params, self.generate(g, z))).sum().backward()
            g_opt.step()
        return Networks(nets.d, [p.detach() for p in g])

    # -- measurement --------------------------------------------------------------------------
    def measurement_inputs(self, seed_stream: int, k: int, n: int, start: int = 0) -> dict[str, Tensor]:
        """The fresh batch of checkpoint k for draws start … start+n−1: from its own stream
        (seeded by the measurement stream and k)."""
        # Stream k of the measurement seed: the i-th of core.streams does not depend on how many
        # are asked for, so checkpoint k's batch does not depend on d_steps.
        stream = DrawStream(streams(seed_stream, k + 1)[k], start, n, self.device)
        out = {"z": self.latents(stream), "real": self._real(stream)}
        if self.config.noise > 0:
            out["noise_fake"] = self._noise(stream, out["real"])
            out["noise_real"] = self._noise(stream, out["real"])
        return out

    def measure_at(self, nets: Networks, inputs: dict[str, Tensor]) -> _Checkpoint:
        """Every group of one checkpoint (without the ``/<k>``), from D and G as they are now."""
        cfg = self.config
        d = [p.detach() for p in nets.d]
        g = [p.detach().requires_grad_() for p in nets.g]
        with torch.enable_grad():
            fake = self.generate(g, inputs["z"])
            x_fake = fake + inputs["noise_fake"] if "noise_fake" in inputs else fake
            f = self.d_net.logits(d, x_fake)
            # One vector–Jacobian product per loss, summed over draws (each draw's own gradient).
            values: dict[str, Tensor] = {}
            for loss in self.losses:
                grads = torch.autograd.grad(GENERATOR_LOSSES[loss](f).mean(dim=1).sum(), g, retain_graph=True)
                values[loss] = flat(grads)
            slope = None
            if cfg.objective == "gan":
                (slope,) = torch.autograd.grad(f.sum(), x_fake)
        with torch.no_grad():
            real = inputs["real"] + inputs["noise_real"] if "noise_real" in inputs else inputs["real"]
            f_real = self.d_net.logits(d, real)
            if cfg.objective == "wgan_gp":
                values["dfake"] = f.detach().mean(dim=1, keepdim=True)
                values["dreal"] = f_real.mean(dim=1, keepdim=True)
                values["w1"] = values["dreal"] - values["dfake"]
                return _Checkpoint(values)
            d_fake = torch.sigmoid(f.detach())
            values["dfake"] = d_fake.mean(dim=1, keepdim=True)
            values["dreal"] = torch.sigmoid(f_real).mean(dim=1, keepdim=True)
            value = F.logsigmoid(f_real).mean(dim=1) + F.logsigmoid(-f.detach()).mean(dim=1)
            values["jsd"] = (LOG2 + value / 2).unsqueeze(1)
            # ∇ₓD = σ'(f) ∇ₓf = D(1 − D) ∇ₓf
            grad_d = d_fake * (1 - d_fake) * slope.flatten(start_dim=2).norm(dim=2)
            eps = d_fake.amax(dim=1) + grad_d.amax(dim=1)
            values["eps"] = eps.unsqueeze(1)
            limit = theorem_2_4_bound(eps, jacobian_sq_norms(self.g_net, [p.detach() for p in g], inputs["z"]))
            norm = None
            if "saturating" in values:
                norm = values["saturating"].norm(dim=1)
            return _Checkpoint(values, limit, norm)

    def sample(self, n: int, seed: int, start: int = 0) -> GradientBatch:
        """Train every draw's D ``d_steps`` steps and measure at the checkpoints.

        Args:
            n: number of draws (each its own G, D, data, latents and noise), >= 1.
            seed: seed of the random streams (module docstring).
            start: the first draw: draws start … start+n−1 of the seed's streams (draw i
                is the same in every call that includes it).

        Returns:
            A :class:`~xvanish.core.GradientBatch`: ``<loss>/<k>`` ``[n, P]`` over G's P
            parameters and the diagnostics ``[n, 1]``, in the config's dtype. A draw whose
            training diverged has non-finite values (counted in ``nonfinite_frac``, and in
            :meth:`info`), never an exception.
        """
        require_int("n", n, minimum=1)
        require_int("start", start, minimum=0)
        cfg = self.config
        require_memory(
            cfg.memory_need(n),
            cfg.memory_limit_gb,
            f"{n} draws",
            key="measure.n_samples",
            value=n,
            lower="use fewer draws or smaller networks",
        )
        gens = self.generators(seed, n, start)
        measure_stream = streams(seed, N_STREAMS)[MEASURE]
        begin = self.pretrain(gens)
        training = self.d_training(begin.d)
        nets = Networks(training.params, begin.g)
        run = _Run(n)
        grads: dict[str, Tensor] = {}
        due = set(self.checkpoints)
        for k in range(self.config.d_steps + 1):
            if k in due:
                point = self.measure_at(nets, self.measurement_inputs(measure_stream, k, n, start))
                for family, value in point.values.items():
                    grads[f"{family}/{k}"] = value
                finite = torch.stack([v.isfinite().all(dim=1) for v in point.values.values()]).all(dim=0)
                if run.diverged_at is None and not bool(finite.all()):
                    run.diverged_at = k
                run.diverged = max(run.diverged, int((~finite).sum()))
                if point.bound is not None:
                    run.bounds[k] = point.bound
                if point.norm is not None:
                    run.norms[k] = point.norm
            if k < self.config.d_steps:
                self.d_step(nets.g, training, self.step_inputs(gens))
        self._run = run
        return GradientBatch(grads={g.name: grads[g.name] for g in self.groups()})

    # -- theory and info ----------------------------------------------------------------------
    def last_bounds(self) -> dict[int, Tensor]:
        """Theorem 2.4's bound per draw ``[n]`` at each checkpoint of the last :meth:`sample`
        call (+inf where vacuous; empty for ``wgan_gp`` or before sampling)."""
        return {} if self._run is None else dict(self._run.bounds)

    @property
    def n_generator_params(self) -> int:
        """P, the number of G's parameters (entries of a loss group per draw)."""
        sizes = self.g_net.sizes
        return sum(fan_out * (fan_in + 1) for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))

    def theory_var(self) -> dict[str, Theory]:
        """Theorem 2.4 as a ceiling on the variance of ``saturating/<k>``'s entries (``bound``).

        For the draws of the last :meth:`sample` call (M and ε are properties of the trained
        D and of G at the measured points, not closed forms of the config): each draw's
        gradient obeys ‖g_i‖ ≤ B_i (:func:`theorem_2_4_bound`), and the pooled variance of
        the n·P entries is at most Σ g² / (nP − 1) ≤ Σ_i B_i² / (nP − 1). A checkpoint
        where some draw has ε ≥ 1 (the theorem is vacuous there: D still far from D*,
        typically k = 0) or a non-finite value gets no entry. Empty before the first sample.
        """
        if self._run is None or "saturating" not in self.losses:
            return {}
        total = self._run.n * self.n_generator_params
        out = {}
        for k, limit in self._run.bounds.items():
            if bool(limit.isfinite().all()) and total > 1:
                value = float(limit.double().square().sum()) / (total - 1)
                if value > 0:
                    out[f"saturating/{k}"] = bound(value)
        return out

    def info(self) -> dict:
        """The last :meth:`sample`: checkpoints, divergence, and Theorem 2.4 per checkpoint
        (draws where it is vacuous, the median and largest ratio measured ‖∇‖ / bound)."""
        cfg = self.config
        out: dict = {
            "checkpoints": list(self.checkpoints),
            "generator_params": self.n_generator_params,
            "losses": list(self.losses),
        }
        run = self._run
        if run is None:
            return out
        out.update(
            draws=run.n, diverged=run.diverged > 0, diverged_draws=run.diverged, diverged_by_step=run.diverged_at
        )
        if run.diverged:
            out["warning"] = (
                f"training diverged in {run.diverged} of {run.n} draws (non-finite D outputs by "
                f"step {run.diverged_at}; d_lr={cfg.d_lr:g}): counted in nonfinite_frac"
            )
        theorem = {}
        for k, limit in run.bounds.items():
            entry = {"vacuous_draws": int((~limit.isfinite()).sum())}
            if k in run.norms:
                ok = limit.isfinite() & run.norms[k].isfinite()
                if bool(ok.any()):
                    ratio = (run.norms[k][ok] / limit[ok]).double()
                    entry.update(
                        ratio_median=float(ratio.median()),
                        ratio_max=float(ratio.max()),
                        bound_median=float(limit[ok].double().median()),
                    )
            theorem[str(k)] = entry
        if theorem:
            out["theorem_2_4"] = theorem
        return out


def sampler(**kwargs: object) -> GANSampler:
    """Build a GAN sampler from domain keys (see :class:`~.config.GANConfig`); cheap.

    Raises:
        ConfigError: for an unknown key or a bad value (the message names key and value).
    """
    return GANSampler(make_config(GANConfig, **kwargs))
