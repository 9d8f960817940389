"""The ``module`` domain (any torch model) against independent numbers.

* a naive reference written here from the documented draw (one ``nn.Module`` per draw from
  the factory under the draw's seed, ``retain_grad`` on block outputs, ``loss.backward()``),
  sharing only the random numbers with the sampler: both the vmap and the loop path equal
  it to 1e-10 (relative to the group's largest entry) in float64;
* a linear model whose gradient variances have closed forms, with a Monte Carlo bound;
* the fallback (dropout: vmap refuses forward randomness), custom inputs and losses,
  global random state left alone, forward order of parameters, chosen modules;
* every kind of bad input as one ConfigError naming its key, and exit code 2 on the CLI.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import module_factories
import numpy as np
import pytest
import torch
import yaml

from xvanish import measure, plan, sweep
from xvanish.core import ConfigError, OuterProduct
from xvanish.domains import module
from xvanish.domains.module import build, paths
from xvanish.fit import fit_decay
from xvanish.plan import Variant

TESTS = Path(__file__).resolve().parents[1]
EXPERIMENTS = TESTS.parent / "conf" / "experiment"
RESNET = "xvanish.examples.resnet:residual_mlp"
ENCODER = "xvanish.examples.transformer:encoder"
SMALL_ENCODER = {"d_model": 8, "nhead": 2, "dim_feedforward": 16}

#: Tolerance of the float64 comparisons with the naive reference (relative to the group's
#: largest |entry|): the paths differ only in summation order (bmm vs mm, batched reductions).
TOL = 1e-10

CASES = {
    "resnet": dict(model=RESNET, depth=3, width=6, inputs=[3, 6]),
    "resnet_batchnorm_scaled": dict(
        model=RESNET, depth=3, width=6, inputs=[3, 6], kwargs={"norm": "batchnorm", "branch_scale": "sqrt_depth"}
    ),
    "post_ln": dict(model=ENCODER, depth=2, kwargs=SMALL_ENCODER, inputs=[2, 3, 8]),
    "pre_ln": dict(model=ENCODER, depth=2, kwargs={**SMALL_ENCODER, "norm_first": True}, inputs=[2, 3, 8]),
    "resnet_vary_data": dict(model=RESNET, depth=3, width=6, inputs=[3, 6], vary="data", init_seed=7),
    # One input row per draw: the vmap path returns each nn.Linear weight gradient as an OuterProduct.
    "resnet_one_input": dict(model=RESNET, depth=3, width=6, inputs=[1, 6]),
    "pre_ln_one_token": dict(model=ENCODER, depth=2, kwargs={**SMALL_ENCODER, "norm_first": True}, inputs=[1, 1, 8]),
}


def _reference(sampler, n, seed):
    """Every draw by hand: the factory under the draw's seed, ``loss.backward()``, retained grads."""
    cfg = sampler.config
    factory = paths._resolve("model", cfg.model)
    drawn = sampler.draw(n, seed)
    seeds = drawn["init_seeds"]
    out = {}
    with torch.random.fork_rng(devices=[]):
        for i in range(n):
            torch.manual_seed(seeds[i if len(seeds) > 1 else 0])
            model = factory(**cfg.factory_keywords()).double().train(cfg.train)
            outputs = {}
            for name in sampler._probe.acts:

                def keep(mod, args, output, name=name, outputs=outputs):
                    output.retain_grad()
                    outputs[name] = output

                model.get_submodule(name).register_forward_hook(keep)
            x = drawn["inputs"][i].clone().requires_grad_()
            loss = (model(x) * drawn["readout"][i]).sum()
            loss.backward()
            rows = {f"param/{k}": p.grad.reshape(-1) for k, p in model.named_parameters()}
            rows.update({f"act/{k}": v.grad.reshape(-1) for k, v in outputs.items()})
            rows["input"] = x.grad.reshape(-1)
            rows["cost"] = loss.detach().reshape(1)
            for key, row in rows.items():
                out.setdefault(key, []).append(row)
    return {key: torch.stack(rows) for key, rows in out.items()}


def _assert_close(batch, reference):
    got = {**batch.grads, "cost": batch.cost[:, None]}
    assert set(got) == set(reference)
    for key, want in reference.items():
        have = _dense(got[key]).reshape(want.shape)
        assert have.dtype == torch.float64
        scale = want.abs().max().item()
        assert (have - want).abs().max().item() <= TOL * max(scale, 1e-300), key


def _dense(values):
    return values.materialize() if isinstance(values, OuterProduct) else values


@pytest.mark.parametrize("batching", ["vmap", "loop"])
@pytest.mark.parametrize("case", list(CASES))
def test_both_paths_equal_a_naive_per_draw_loop(case, batching):
    sampler = module.sampler(**CASES[case], dtype="float64", batching=batching)
    batch = sampler.sample(4, seed=11)
    assert sampler.info()["path"] == batching
    _assert_close(batch, _reference(sampler, 4, 11))


def test_vmap_keeps_weight_gradients_of_layers_fed_one_row_as_outer_products():
    """Each block's nn.Linear gets one row: its weight gradient is (∂L/∂output) ⊗ input, never built."""
    batch = module.sampler(**CASES["resnet_one_input"], batching="vmap").sample(4, 1)
    weights = [key for key in batch.grads if key.startswith("param/") and key.endswith(".weight")]
    assert len(weights) == 4 and all(isinstance(batch.grads[key], OuterProduct) for key in weights)
    assert not isinstance(
        module.sampler(**CASES["resnet"], batching="vmap").sample(4, 1).grads[weights[0]], OuterProduct
    )  # three rows: a sum of outer products, computed densely


def test_linear_called_with_a_keyword_is_measured_densely_on_both_paths():
    """A hook sees no positional input of fc(input=x): the layer is not factored, and both
    paths equal the plain autograd reference to 1e-10 in float64."""
    kw = dict(model="module_factories:keyword_linear", inputs=[4], dtype="float64")
    for batching in ("vmap", "loop"):
        sampler = module.sampler(**kw, batching=batching)
        batch = sampler.sample(4, 2)
        assert not isinstance(batch.grads["param/fc.weight"], OuterProduct)
        _assert_close(batch, _reference(sampler, 4, 2))


@pytest.mark.parametrize(
    "model, keywords, rerun",
    [
        (RESNET, dict(depth=3, width=6, inputs=[3, 6], kwargs={"norm": "batchnorm"}), True),
        (ENCODER, dict(depth=2, kwargs=SMALL_ENCODER, inputs=[2, 3, 8]), True),
        ("module_factories:custom_init", dict(inputs=[2, 4]), False),
        ("module_factories:constant_parameter", dict(inputs=[2, 4]), False),
        ("module_factories:failing_reset", dict(inputs=[2, 4]), False),
    ],
)
def test_each_stacked_draw_is_the_factory_s_own_initialisation(model, keywords, rerun):
    """Draw i of the stack equals the factory called under draw i's seed, bit for bit, both when
    rerunning the modules' initialisers reproduces the factory and when each draw is built."""
    sampler = module.sampler(model=model, **keywords, dtype="float64")
    seeds = sampler.draw_seeds(3, 5)
    factory = paths._resolve("model", model)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seeds[0])
        first = factory(**sampler.config.factory_keywords())
        rows = {name: torch.empty((2, *t.shape), dtype=t.dtype) for name, t in build._state_tensors(first).items()}
        assert build._Replay(first).safely_reproduces(seeds[0], rows) is rerun
        _, params, others = sampler.stack(seeds)
        stacked = {**params, **others}
        for i, seed in enumerate(seeds):
            torch.manual_seed(seed)
            fresh = build._state_tensors(factory(**sampler.config.factory_keywords()).double())
            assert set(fresh) == set(stacked)
            assert all(torch.equal(stacked[name][i], t) for name, t in fresh.items())


def test_auto_uses_vmap_and_matches_the_loop_path():
    kw = dict(CASES["resnet_batchnorm_scaled"], dtype="float64")
    auto, loop = module.sampler(**kw), module.sampler(**kw, batching="loop")
    a, b = auto.sample(5, 3), loop.sample(5, 3)
    assert auto.info()["path"] == "vmap" and "vmap_failed" not in auto.info()
    for key in a.grads:
        assert torch.allclose(a.grads[key], b.grads[key], rtol=0, atol=TOL * b.grads[key].abs().max().item())


def test_linear_model_matches_its_closed_form():
    """f(x) = W x, W [2, 4] ~ U(±1/2) (nn.Linear's init), one draw = 3 inputs x ~ N(0, 1) and a
    readout a ~ N(0, 1/2) per output entry, L = Σ a ⊙ Wx:

    * ∂L/∂W_jk = Σ_b a_bj x_bk: Var = 3 · (1/2) · 1 = 1.5;
    * ∂L/∂x_bk = Σ_j a_bj W_jk: Var = 2 · (1/2) · E[W²] = 1/12;
    * L: Var = 3·2 · (1/2) · E[(Wx)²] = 3 · 4/12 = 1.

    Bound: every entry is a sum of products of independent zero-mean factors with kurtosis
    ≤ 9, so the relative standard error of a pooled variance over n draws is at most
    √(8/n) even if all entries of a draw were perfectly correlated; 4 of those at n = 4000
    is 0.18.
    """
    n = 4000
    rows = measure(module.sampler(model="module_factories:linear", inputs=[3, 4], dtype="float64"), n, seed=5)
    var = dict(zip(rows["group"], rows["var"]))
    bound = 4 * math.sqrt(8 / n)
    for group, exact in {"param/weight": 1.5, "input": 1 / 12, "cost": 1.0}.items():
        assert abs(var[group] / exact - 1) < bound, (group, var[group], exact)


def test_dropout_falls_back_to_the_seeded_loop():
    kw = dict(model="module_factories:dropout", inputs=[2, 4])
    sampler = module.sampler(**kw)
    first = sampler.sample(6, 1)
    info = sampler.info()
    assert info["path"] == "loop" and "random" in info["vmap_failed"].lower()
    again = module.sampler(**kw).sample(6, 1)
    assert all(torch.equal(first.grads[k], again.grads[k]) for k in first.grads)
    assert (first.grads["act/fc"] == 0).any()  # dropout ran: half the units get no gradient
    with pytest.raises(ConfigError, match="batching"):
        module.sampler(**kw, batching="vmap").sample(6, 1)


def test_custom_inputs_and_loss_with_integer_tokens():
    kw = dict(
        model="module_factories:tokens",
        inputs="module_factories:token_batch",
        loss="module_factories:cross_entropy",
        dtype="float64",
    )
    vmapped, looped = module.sampler(**kw), module.sampler(**kw, batching="loop")
    a, b = vmapped.sample(4, 2), looped.sample(4, 2)
    assert vmapped.info()["path"] == "vmap"
    names = [g.name for g in vmapped.groups()]
    assert "input" not in names and names[:3] == ["act/blocks.0", "act/blocks.1", "act/blocks.2"]
    for key in a.grads:
        assert torch.allclose(a.grads[key], b.grads[key], rtol=0, atol=TOL)
    # The loss by hand for draw 0: cross-entropy of the model under draw 0's seed.
    drawn = vmapped.draw(4, 2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(drawn["init_seeds"][0])
        model = module_factories.tokens().double()
    ids, targets = (part[0] for part in drawn["inputs"])
    assert a.cost[0].item() == pytest.approx(torch.nn.functional.cross_entropy(model(ids), targets).item(), abs=1e-12)


def test_global_random_state_is_left_alone():
    sampler = module.sampler(**CASES["resnet"], dtype="float64")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = sampler.sample(3, 4)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(999)  # another global state: same numbers
    second = sampler.sample(3, 4)
    assert all(torch.equal(first.grads[k], second.grads[k]) for k in first.grads)


def test_draw_i_does_not_depend_on_n():
    sampler = module.sampler(**CASES["resnet"], dtype="float64")
    assert sampler.draw_seeds(3, 8) == sampler.draw_seeds(10, 8)[:3]


def test_groups_follow_the_forward_pass():
    sampler = module.sampler(**CASES["post_ln"])
    groups = sampler.groups()
    names = [g.name for g in groups]
    assert names[:2] == ["act/layers.0", "act/layers.1"] and names[-2:] == ["input", "cost"]
    params = [g for g in groups if g.name.startswith("param/")]
    order = [g.name.removeprefix("param/layers.0.") for g in params[:12]]
    # Post-LN: attention (out_proj used functionally inside nn.MultiheadAttention), norm1,
    # feed-forward, norm2; then layer 1.
    assert (
        order.index("self_attn.out_proj.weight")
        < order.index("norm1.weight")
        < order.index("linear1.weight")
        < order.index("linear2.weight")
        < order.index("norm2.weight")
    )
    # One family per role across the blocks, positioned by block number.
    linear2 = [g for g in params if g.family == "param/layers.*.linear2.weight"]
    assert [(g.name, g.position) for g in linear2] == [
        ("param/layers.0.linear2.weight", 1.0),
        ("param/layers.1.linear2.weight", 2.0),
    ]
    pre = [g for g in module.sampler(**CASES["pre_ln"]).groups() if g.name.startswith("param/")]
    pre_names = [g.name for g in pre]
    assert pre_names.index("param/layers.0.norm1.weight") < pre_names.index("param/layers.0.self_attn.in_proj_weight")
    # Outside the blocks: single groups without a position.
    assert [(g.name, g.family, g.position) for g in pre[-2:]] == [
        ("param/norm.weight", "param/norm.weight", None),
        ("param/norm.bias", "param/norm.bias", None),
    ]


def test_model_without_blocks_orders_parameters_by_first_use():
    groups = module.sampler(
        model="module_factories:tokens",
        inputs="module_factories:token_batch",
        loss="module_factories:cross_entropy",
        acts=["Embedding"],
    ).groups()
    assert [g.name for g in groups if g.family == "act"] == ["act/embed"]
    blocks = [(g.family, g.position) for g in groups if g.name.startswith("param/blocks.")]
    assert blocks[0] == ("param/blocks.*.weight", 1.0) and blocks[-1] == ("param/blocks.*.bias", 3.0)
    flat = module.sampler(model="module_factories:linear", inputs=[2, 4]).groups()
    assert [(g.name, g.family, g.position) for g in flat[:1]] == [("param/weight", "param", 1.0)]


def test_acts_by_type_name_or_path():
    sampler = module.sampler(**CASES["resnet"], acts=["Linear"])
    acts = [g.name for g in sampler.groups() if g.family == "act"]
    assert acts == ["act/embed", "act/blocks.0.fc", "act/blocks.1.fc", "act/blocks.2.fc"]
    assert module.sampler(**CASES["resnet"], acts=["blocks.1"]).groups()[0].name == "act/blocks.1"


def test_count_from_output_keeps_the_last_block_name_across_depths():
    names = {
        depth: [g.name for g in module.sampler(**dict(CASES["pre_ln"], depth=depth), count_from="output").groups()]
        for depth in (2, 3)
    }
    for depth, groups in names.items():
        assert "param/layers.-1.linear2.weight" in groups and f"act/layers.-{depth}" == groups[0]
        assert "param/norm.weight" in groups  # outside the blocks: unchanged
    sampler = module.sampler(**CASES["pre_ln"], count_from="output", dtype="float64")
    plain = module.sampler(**CASES["pre_ln"], dtype="float64")
    a, b = sampler.sample(3, 1), plain.sample(3, 1)
    assert torch.equal(a.grads["param/layers.-1.linear2.weight"], b.grads["param/layers.1.linear2.weight"])


def test_sweep_over_depth_fits_the_per_block_profile():
    infos = []
    df = sweep(
        module.sampler,
        "depth",
        [2, 3, 4],
        n_samples=16,
        seed=0,
        model=RESNET,
        width=8,
        inputs=[2, 8],
        on_point=lambda done: infos.append(done.info),
    )
    assert [info["path"] for info in infos] == ["vmap"] * 3  # what summary.json records per point
    assert set(df["scale"]) == {2, 3, 4} and (df["nonfinite_frac"] == 0).all()
    fits = fit_decay(df)
    assert ((fits["kind"] == "profile") & (fits["group"] == "act") & (fits["scale"] == 4)).any()
    assert ((fits["kind"] == "scale") & (fits["group"] == "input")).any()


@pytest.mark.parametrize("name", ["transformer_ln", "resnet_depth"])
def test_shipped_experiments_plan_every_point(name):
    """Every point of every variant is a valid config (each builds its model once, nothing sampled)."""
    config = yaml.safe_load((EXPERIMENTS / f"{name}.yaml").read_text())
    variants = [Variant(v["name"], v.get("domain", {})) for v in config["variants"]]
    run = plan(
        "module",
        config["sweep"]["param"],
        config["sweep"]["values"],
        n_samples=config["measure"]["n_samples"],
        seed=config["measure"]["seed"],
        fixed=config["domain"],
        variants=variants,
    )
    assert len(run.points) == len(variants) * len(config["sweep"]["values"])
    assert config["report"]["group"] in [g.name for g in run.groups(len(run.points) - 1)]


# --- bad input: one line naming the key -------------------------------------------------------------

BAD = [
    ({"model": "no_such_package_xyz.nets:make"}, "model", "cannot import"),
    ({"model": "not an import path"}, "model", "import path"),
    ({"model": "module_factories:missing"}, "model", "no attribute"),
    ({"model": "module_factories:NOT_CALLABLE"}, "model", "not callable"),
    ({"model": "module_factories:raises"}, "model", "raised RuntimeError: out of ideas"),
    ({"model": "module_factories:not_a_module"}, "model", "not a torch.nn.Module"),
    ({"model": "module_factories:no_params"}, "model", "no trainable parameters"),
    ({"model": "module_factories:fixed", "depth": 4}, "depth", "does not accept keyword depth"),
    ({"model": "module_factories:linear", "kwargs": {"bogus": 1}}, "kwargs.bogus", "does not accept"),
    ({"model": RESNET, "depth": 3, "kwargs": {"depth": 2}}, "kwargs.depth", "give it once"),
    ({"model": RESNET, "depth": 0}, "depth", ">= 1"),
    ({"model": "module_factories:linear", "inputs": [3, 5]}, "inputs", "forward failed"),
    ({"model": "module_factories:linear", "inputs": []}, "inputs", "shape"),
    ({"model": "module_factories:linear", "inputs": "module_factories:wrong_rows"}, "inputs", "tensor [n, ...]"),
    (
        {
            "model": "module_factories:tokens",
            "inputs": "module_factories:token_batch",
            "loss": "module_factories:per_token_loss",
        },
        "loss",
        "one floating value per draw",
    ),
    ({"model": "module_factories:linear", "inputs": [3, 4], "acts": ["LSTM"]}, "acts", "no module"),
    ({"vary": "both"}, "vary", "must be one of"),
    ({"batching": "jit"}, "batching", "must be one of"),
    ({"dtype": "float16"}, "dtype", "must be one of"),
    ({"count_from": "middle"}, "count_from", "must be one of"),
    ({"no_such_key": 1}, "no_such_key", "unknown key"),
]


@pytest.mark.parametrize("keywords, key, words", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_one_line_naming_the_key(keywords, key, words):
    with pytest.raises(ConfigError) as caught:
        module.sampler(**keywords)
    assert caught.value.key == key and words in str(caught.value) and "\n" not in str(caught.value)


def test_cli_bad_model_exits_2_with_one_line_and_no_results(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "xvanish",
            "domain=module",
            "domain.model=module_factories:no_params",
            "sweep.values=[2,4]",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: domain.model=") and "no trainable parameters" in lines[0]
    assert not (tmp_path / "results.csv").exists() and not (tmp_path / "summary.json").exists()


def test_yaml_default_model_runs_as_configured():
    """The domain's own defaults (conf/domain/module.yaml) build and sample."""
    sampler = module.sampler(depth=2, width=8, inputs=[2, 8])
    batch = sampler.sample(3, 0)
    assert np.isfinite(batch.cost.numpy()).all() and sampler.theory_var() == {}


def test_blocks_are_positioned_from_one_in_forward_order():
    """Position contract: act/<block> sits at 1, 2, … in the order the blocks run, so the
    per-block profile (and a power law in position) starts at the first block."""
    sampler = module.sampler(**module.DOMAIN.small)
    acts = [g for g in sampler.groups() if g.family == "act"]
    assert [g.position for g in acts] == [float(k) for k in range(1, len(acts) + 1)]
    assert len(acts) >= 2
