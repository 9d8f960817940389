"""The GAN domain against independent numbers.

* a naive reference: one ``nn.Sequential`` D (and G) per draw, trained by its own
  ``torch.optim.Adam`` on the same random numbers, measured with plain autograd and
  ``torch.func.jacrev`` — the batched network must equal it to 1e-10 in float64; D's
  hand-written backward pass must equal autograd's to 1e-10 for every activation;
* the exact per-sample identity of THEORY.md §4: ∇ log(1 − D) = −D ∇f and ∇(−log D) =
  −(1 − D) ∇f, so saturating = D/(1 − D) × non-saturating;
* Theorem 2.4 (Arjovsky & Bottou 2017) as an inequality that must hold in every draw;
* the toy's closed form: with disjoint supports JSD → log 2 as D → D*; the profile of
  THEORY.md §4 (saturating falls, −log D grows, WGAN-GP stays of order one);
* bad input (one line, exit 2, no results), divergence (recorded, no crash), conformance.
"""

import json
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from xvanish import cli, measure
from xvanish.core import ConfigError
from xvanish.domains import gan
from xvanish.domains.gan import nets, sampling
from xvanish.draws import DrawStream
from xvanish.testing import check_domain


LOG2 = math.log(2.0)
F64 = torch.float64


# --- the reference: one nn.Module per draw ----------------------------------------------------

_NN_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "linear": nn.Identity}


def _module(net, params, i):
    """Draw i of a batched MLP as an nn.Sequential of nn.Linear (weights copied)."""
    layers = []
    count = len(net.sizes) - 1
    for j, (fan_in, fan_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:])):
        linear = nn.Linear(fan_in, fan_out, dtype=F64)
        with torch.no_grad():
            linear.weight.copy_(params[2 * j][i])
            linear.bias.copy_(params[2 * j + 1][i])
        layers += [linear, _NN_ACTIVATIONS[net.activation if j < count - 1 else net.output]()]
    return nn.Sequential(*layers)


def _pick(inputs, key, i):
    return inputs[key][i] if key in inputs else 0.0


def _reference_d_step(cfg, D, G, shift, inputs, i, opt):
    """One D step written from the papers: BCE (Goodfellow et al.) or WGAN-GP (Gulrajani et al.)."""
    real = inputs["real"][i] + _pick(inputs, "noise_real", i)
    with torch.no_grad():
        fake = G(inputs["z"][i]) + shift + _pick(inputs, "noise_fake", i)
    opt.zero_grad()
    if cfg.objective == "gan":
        f_real, f_fake = D(real).squeeze(-1), D(fake).squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(f_real, torch.ones_like(f_real)) + F.binary_cross_entropy_with_logits(
            f_fake, torch.zeros_like(f_fake)
        )
    else:
        alpha = inputs["alpha"][i]
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_()
        (slope,) = torch.autograd.grad(D(mixed).sum(), mixed, create_graph=True)
        loss = D(fake).mean() - D(real).mean() + cfg.gp_lambda * ((slope.norm(dim=1) - 1) ** 2).mean()
    loss.backward()
    opt.step()


def _jacobian_sq(G, z):
    """‖J_θ G(z_b)‖²_F per sample by torch.func.jacrev over G's parameters."""
    params = {name: p.detach() for name, p in G.named_parameters()}

    def one(z_b):
        jac = torch.func.jacrev(lambda p: torch.func.functional_call(G, p, (z_b,)))(params)
        return sum(j.square().sum() for j in jac.values())

    return torch.stack([one(z_b) for z_b in z])


def _reference_measure(s, D, G, shift, inputs, i):
    """All groups of one checkpoint for draw i (without ``/<k>``), plus Theorem 2.4's bound."""
    cfg = s.config
    g_params = list(G.parameters())
    x = G(inputs["z"][i]) + shift + _pick(inputs, "noise_fake", i)
    f = D(x).squeeze(-1)
    f_real = D(inputs["real"][i] + _pick(inputs, "noise_real", i)).squeeze(-1).detach()

    def grad(loss):
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, g_params, retain_graph=True)])

    out = {}
    if cfg.objective == "wgan_gp":
        out["wgan"] = grad(-f.mean())
        out["dfake"], out["dreal"] = f.detach().mean(), f_real.mean()
        out["w1"] = out["dreal"] - out["dfake"]
        return out, None
    d_fake = torch.sigmoid(f)
    out["saturating"] = grad(torch.log1p(-d_fake).mean())
    out["nonsaturating"] = grad(-torch.log(d_fake).mean())
    d_fake = d_fake.detach()
    out["dfake"], out["dreal"] = d_fake.mean(), torch.sigmoid(f_real).mean()
    out["jsd"] = LOG2 + 0.5 * (torch.log(torch.sigmoid(f_real)).mean() + torch.log1p(-d_fake).mean())
    slope = torch.func.vmap(torch.func.jacrev(lambda x_b: torch.sigmoid(D(x_b)).squeeze(-1)))(x.detach())
    eps = (d_fake.max() + slope.norm(dim=1).max()).detach()
    out["eps"] = eps
    m = _jacobian_sq(G, inputs["z"][i]).mean().sqrt().detach()
    return out, (m * eps / (1 - eps) if eps < 1 else torch.tensor(math.inf, dtype=F64))


def _reference_run(s, n, seed):
    """Every group of ``s.sample(n, seed)`` by a loop over draws, each its own nn.Modules and Adams.

    Shares only the random numbers with the sampler (drawn by its methods, in its order)."""
    cfg = s.config
    gens = s.generators(seed, n)
    start = s.init_networks(gens)
    pre_d = nets.init_mlp(s.d_net.sizes, gens[sampling.PRE_D_INIT], F64, torch.device("cpu"))
    pre_inputs = [(s.step_inputs(gens), s.latents(gens[sampling.LATENT])) for _ in range(cfg.g_pretrain)]
    steps = [s.step_inputs(gens) for _ in range(cfg.d_steps)]
    stream = sampling.streams(seed, sampling.N_STREAMS)[sampling.MEASURE]
    measured = {k: s.measurement_inputs(stream, k, n) for k in s.checkpoints}
    shift = s.dataset.shift(cfg.gap, F64, torch.device("cpu"))
    groups, bounds = {}, {}
    for i in range(n):
        G, D = _module(s.g_net, start.g, i), _module(s.d_net, start.d, i)
        betas = (cfg.d_beta1, cfg.d_beta2)
        if cfg.g_pretrain:
            D_pre = _module(s.d_net, pre_d, i)
            d_opt = torch.optim.Adam(D_pre.parameters(), lr=cfg.d_lr, betas=betas)
            g_opt = torch.optim.Adam(G.parameters(), lr=cfg.g_lr, betas=betas)
            for inputs, z in pre_inputs:
                _reference_d_step(cfg, D_pre, G, shift, inputs, i, d_opt)
                g_opt.zero_grad()
                f = D_pre(G(z[i]) + shift).squeeze(-1)
                (-F.logsigmoid(f).mean() if cfg.objective == "gan" else -f.mean()).backward()
                g_opt.step()
        opt = torch.optim.Adam(D.parameters(), lr=cfg.d_lr, betas=betas)
        for k in range(cfg.d_steps + 1):
            if k in measured:
                values, limit = _reference_measure(s, D, G, shift, measured[k], i)
                for family, value in values.items():
                    groups.setdefault(f"{family}/{k}", []).append(value.reshape(-1))
                if limit is not None:
                    bounds.setdefault(k, []).append(limit)
            if k < cfg.d_steps:
                _reference_d_step(cfg, D, G, shift, steps[k], i, opt)
    return {name: torch.stack(v) for name, v in groups.items()}, {k: torch.stack(v) for k, v in bounds.items()}


SMALL = dict(d_hidden=8, g_hidden=4, batch=5, dtype="float64")
REFERENCE_CASES = {
    "toy-gan-noise": dict(data="toy", noise=0.1, d_steps=12, d_lr=1e-2),
    "gaussians8-wgan-pretrained": dict(data="gaussians8", objective="wgan_gp", g_pretrain=3, d_steps=4, z_dim=2),
    "digits-gan-pretrained": dict(data="digits", g_pretrain=2, d_steps=3, z_dim=3, g_depth=2, gap=0.5),
}


@pytest.mark.parametrize("case", REFERENCE_CASES.values(), ids=REFERENCE_CASES.keys())
def test_batched_training_equals_a_loop_of_modules(case):
    """Batched network, one Adam for all draws == n nn.Modules with n Adams: 1e-10 (float64)."""
    s = gan.sampler(**SMALL, **case)
    batch = s.sample(3, seed=7)
    groups, bounds = _reference_run(s, 3, seed=7)
    assert set(batch.grads) == set(groups)
    for name, expected in groups.items():
        torch.testing.assert_close(batch.grads[name], expected, rtol=1e-10, atol=1e-12, msg=name)
    # theory_var: Σ_i B_i² / (nP − 1) from the reference bounds, where none is vacuous.
    theory = s.theory_var()
    for k, limit in bounds.items():
        if bool(limit.isfinite().all()):
            expected = float(limit.square().sum()) / (3 * s.n_generator_params - 1)
            assert theory[f"saturating/{k}"].kind == "bound"
            assert theory[f"saturating/{k}"].value == pytest.approx(expected, rel=1e-9)
        else:
            assert f"saturating/{k}" not in theory


@pytest.mark.parametrize("activation", sorted(nets.ACTIVATIONS))
@pytest.mark.parametrize("sizes, output", [([3, 5, 4, 1], "linear"), ([2, 1], "linear"), ([1, 6, 2], "tanh")])
def test_hand_written_backward_equals_autograd(activation, sizes, output):
    """nets.Backprop (D's training pass) == autograd through MLP.forward: outputs and every
    parameter gradient to 1e-10 in float64, also on a second call with updated parameters
    (its buffers are reused)."""
    net = nets.MLP(sizes, activation, output)
    generator = torch.Generator().manual_seed(0)
    params = nets.init_mlp(sizes, DrawStream(0, 0, 3), F64, torch.device("cpu"))
    grads = [torch.full_like(p, math.nan) for p in params]  # every entry must be overwritten
    backprop = nets.Backprop(net, params, grads, rows=7)
    for _ in range(2):
        x = torch.randn(3, 7, sizes[0], generator=generator, dtype=F64)
        weight = torch.randn(3, 7, sizes[-1], generator=generator, dtype=F64)  # loss = Σ weight · output
        leaves = [p.clone().requires_grad_() for p in params]
        expected_out = net.forward(leaves, x)
        expected = torch.autograd.grad((weight * expected_out).sum(), leaves)
        torch.testing.assert_close(backprop.forward(x), expected_out.detach(), rtol=1e-10, atol=0)
        backprop.backward(weight.clone())
        # atol: a gradient entry is a sum over rows summed in another order than autograd's, so one
        # that cancels to ~0 may differ by rounding of its summands (~1e-16), not by rtol of itself.
        for grad, value in zip(grads, expected):
            torch.testing.assert_close(grad, value, rtol=1e-10, atol=1e-12)
        for p in params:
            p.mul_(-1.5)


@pytest.mark.parametrize("data, g_depth", [("toy", 0), ("toy", 2), ("digits", 1)])
def test_jacobian_norms_equal_jacrev(data, g_depth):
    """‖J_θ G(z)‖²_F without forming J == the sum of squares of torch.func.jacrev's J (1e-12)."""
    s = gan.sampler(data=data, g_depth=g_depth, g_hidden=5, z_dim=3, dtype="float64", batch=4)
    gens = s.generators(3, 2)
    g = s.init_networks(gens).g
    z = s.latents(gens[sampling.LATENT])
    fast = nets.jacobian_sq_norms(s.g_net, g, z)
    for i in range(2):
        torch.testing.assert_close(fast[i], _jacobian_sq(_module(s.g_net, g, i), z[i]), rtol=1e-12, atol=0)


def test_saturating_is_d_over_one_minus_d_times_nonsaturating():
    """Per sample (batch = 1): ∇ log(1 − D) = D/(1 − D) · ∇(−log D), to 1e-10 (THEORY.md §4)."""
    s = gan.sampler(batch=1, d_steps=300, dtype="float64", d_lr=3e-3)
    grads = s.sample(4, seed=1).grads
    smallest = 1.0
    for k in s.checkpoints:
        d = grads[f"dfake/{k}"]
        smallest = min(smallest, float(d.min()))
        torch.testing.assert_close(
            grads[f"saturating/{k}"], d / (1 - d) * grads[f"nonsaturating/{k}"], rtol=1e-10, atol=0
        )
    assert smallest < 1e-3  # the identity was checked where D(G(z)) -> 0, not only at 1/2


@pytest.fixture(scope="module")
def toy_run():
    """Toy, disjoint supports, float64: 16 draws, D trained 300 steps."""
    s = gan.sampler(d_steps=300, dtype="float64", batch=16, d_lr=3e-3)
    rows = measure(s, 16, seed=0)
    return s, rows.set_index("group")


def test_theorem_2_4_holds_in_every_draw(toy_run):
    """‖∇_θ E log(1 − D(G(z)))‖ ≤ M ε/(1 − ε) per draw (an exact inequality for the batch)."""
    s, rows = toy_run
    batch = s.sample(16, seed=0)  # same seed: the draws measure() saw
    bounds = s.last_bounds()
    assert bool(bounds[300].isfinite().all()) and bool(bounds[100].isfinite().all())  # not vacuously true
    for k, limit in bounds.items():
        norm = batch.grads[f"saturating/{k}"].norm(dim=1)
        ok = limit.isfinite()
        assert bool((norm[ok] <= limit[ok] * (1 + 1e-12)).all()), k
    for name, value in s.theory_var().items():  # and the variance ceiling holds for the rows
        assert value.kind == "bound" and rows.loc[name, "var"] <= value.value


def test_toy_profile_matches_theory_section_4(toy_run):
    """THEORY.md §4: D(G(z)) → 0, the saturating gradient falls, the −log D one grows."""
    _, rows = toy_run
    rms = (rows["mean_sq"] * rows["n_params"]) ** 0.5
    assert rows.loc["dfake/0", "mean"] == pytest.approx(0.5, abs=0.05)
    assert rows.loc["dfake/300", "mean"] < 1e-2
    assert rms["saturating/300"] < 0.1 * max(rms[f"saturating/{k}"] for k in (0, 1, 3, 10, 30, 100))
    assert rms["nonsaturating/300"] > 10 * rms["nonsaturating/0"]


def test_jsd_tends_to_log2_on_disjoint_supports_and_noise_keeps_the_gradient():
    """Toy, gap 1: JSD estimate → log 2 (D → D*; it never exceeds log 2, as V(D) ≤ 0).
    Instance noise σ = 1 makes the noisy supports overlap: JSD stays well below log 2 and the
    saturating gradient does not vanish (Arjovsky & Bottou 2017, section 3)."""
    clean, noisy = (
        measure(gan.sampler(d_steps=1000, batch=32, noise=sigma), 8, seed=2).set_index("group") for sigma in (0.0, 1.0)
    )
    jsd = clean.loc["jsd/1000"]
    assert LOG2 - 0.01 < jsd["mean"] and jsd["mean"] + 3 * jsd["var"] ** 0.5 <= LOG2 + 1e-6
    assert noisy.loc["jsd/1000", "mean"] < LOG2 - 0.1
    assert noisy.loc["saturating/1000", "mean_sq"] > 100 * clean.loc["saturating/1000", "mean_sq"]


def test_wgan_gp_gradient_stays_of_order_one():
    """THEORY.md §4: the critic's generator gradient neither vanishes nor explodes."""
    rows = measure(gan.sampler(objective="wgan_gp", d_steps=100, batch=16), 8, seed=0).set_index("group")
    rms = (rows["mean_sq"] * rows["n_params"]) ** 0.5
    assert all(0.1 < rms[f"wgan/{k}"] < 10 for k in (30, 100))
    assert rows.loc["w1/100", "mean"] > 0  # the critic separates real from generated


def test_checkpoints_do_not_depend_on_d_steps():
    """Checkpoint k's numbers depend on (seed, k) only: d_steps = 10 and 30 agree bit for bit."""
    short, long = (gan.sampler(d_steps=d, batch=4).sample(3, seed=5).grads for d in (10, 30))
    assert sampling.checkpoints(30) == [0, 1, 3, 10, 30]
    assert sampling.checkpoints(1000) == [0, 1, 3, 10, 30, 100, 300, 1000] and sampling.checkpoints(0) == [0]
    for name, value in short.items():
        assert torch.equal(value, long[name]), name


def test_divergence_is_recorded_not_raised():
    s = gan.sampler(d_lr=1e30, d_steps=5, batch=4)
    rows = measure(s, 4, seed=0).set_index("group")
    assert rows.loc["dfake/5", "nonfinite_frac"] > 0
    info = s.info()
    assert info["diverged"] and info["diverged_draws"] > 0 and "diverged" in info["warning"]


def test_digits_are_scikit_learns_images():
    images = gan.load_digits()
    assert tuple(images.shape) == (1797, 64) and float(images.min()) == -1.0 and float(images.max()) == 1.0


BAD = {
    "data": (dict(data="mnist"), "data='mnist': must be one of toy, gaussians8, digits"),
    "objective": (dict(objective="lsgan"), "objective='lsgan': must be one of gan, wgan_gp"),
    "d_steps": (dict(d_steps=-1), "d_steps=-1: must be an integer >= 0"),
    "noise": (dict(noise=-0.1), "noise=-0.1: must be a finite number >= 0"),
    "gap": (dict(gap=-1.0), "gap=-1.0: must be a finite number >= 0"),
    "wgan without wgan_gp": (dict(losses=["wgan"]), "wgan groups need objective=wgan_gp"),
    "saturating with wgan_gp": (dict(objective="wgan_gp", losses=["saturating"]), "need objective=gan"),
    "lr zero": (dict(d_lr=0.0), "d_lr=0.0: must be a finite number > 0"),
    "lr inf": (dict(d_lr=math.inf), "d_lr=inf"),
    "lr nan": (dict(g_lr=math.nan), "g_lr=nan"),
    "lr text": (dict(d_lr="fast"), "d_lr='fast'"),
    "toy pretrain": (dict(g_pretrain=5), "data=toy keeps G on the line"),
    "beta": (dict(d_beta1=1.0), "d_beta1=1.0: must be a finite number in [0, 1)"),
    "unknown key": (dict(d_step=3), "d_step=3: unknown key"),
    "device": (dict(device="gpu"), "device='gpu': must be cpu or cuda[:k]"),
}


@pytest.mark.parametrize("kwargs, message", BAD.values(), ids=BAD.keys())
def test_bad_config_is_one_line(kwargs, message):
    with pytest.raises(ConfigError) as error:
        gan.sampler(**kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.fixture
def run_cli(run_main):
    """``python -m xvanish domain=gan …`` in this process; returns (exit code, stderr)."""

    def call(*args):
        code, out = run_main("domain=gan", "measure.n_samples=4", "domain.batch=4", *args)
        return code, out.err

    return call


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["domain.losses=[wgan]"], "domain.losses=['wgan']"),
        (["domain.d_lr=0"], "domain.d_lr=0"),
        (["sweep.values=[1,-1]"], "domain.gap=-1"),
        (["domain.data=mnist"], "domain.data='mnist'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_no_results(run_cli, tmp_path, args, fragment):
    code, err = run_cli("sweep.values=[1]", *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == cli.EXIT_BAD_INPUT and len(lines) == 1 and lines[0].startswith("error: ")
    assert fragment in lines[0] and "Traceback" not in err
    assert not any((tmp_path / name).exists() for name in ("results.csv", "summary.json", "plot.png"))


def test_cli_diverged_run_finishes_and_says_so(run_cli, tmp_path):
    code, _ = run_cli("sweep.values=[1]", "domain.d_lr=1e30", "domain.d_steps=3", "report.group=saturating/3")
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["nonfinite"]["count"] > 0
    info = summary["points"][0]["info"]
    assert info["diverged"] and info["diverged_draws"] > 0 and "diverged" in info["warning"]


def test_conformance_with_both_objectives():
    check_domain(gan.DOMAIN)
    check_domain(gan.DOMAIN, small={**gan.DOMAIN.small, "objective": "wgan_gp", "dtype": "float64"})


def test_groups_sit_at_their_discriminator_step():
    """Position contract: every loss and diagnostic group is at its checkpoint k, and the
    checkpoints are 0, 1, 3, 10, 30, ... up to d_steps (a shifted axis misplaces every curve)."""
    sampler = gan.sampler(d_steps=30)
    positioned = [g for g in sampler.groups() if g.position is not None]
    assert {g.position for g in positioned} == {0.0, 1.0, 3.0, 10.0, 30.0}
    assert all(g.name == f"{g.family}/{int(g.position)}" for g in positioned)
