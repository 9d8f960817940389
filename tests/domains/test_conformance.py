"""Every installed domain passes the same conformance suite (xvanish.testing), like a PennyLane
device, from the small config its Domain carries: no per-domain list here."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from xvanish import available_domains, get_domain
from xvanish.testing import check_domain

import toy_domain

CONF = Path(__file__).resolve().parents[2] / "conf" / "domain"


def test_toy_domain_conforms():
    check_domain(toy_domain.DOMAIN)


@pytest.mark.parametrize("name", available_domains())
def test_installed_domain_conforms(name):
    check_domain(get_domain(name))


@pytest.mark.parametrize("name", [p.stem for p in sorted(CONF.glob("*.yaml"))])
def test_yaml_defaults_equal_the_config_dataclass(name):
    """The dataclass holds the defaults; the YAML repeats them for readers: they must agree."""
    text = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    text.pop("defaults", None)
    fields = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(get_domain(name).config)
    }
    assert text == fields


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_mlp_keeps_dtype(dtype):
    domain = get_domain("mlp")
    check_domain(domain, small={**domain.small, "dtype": dtype})


@pytest.mark.parametrize("name", ["mlp", "rnn", "gan", "vqc"])
def test_unavailable_cuda_is_one_config_error(name):
    """Every torch domain uses the one device check: on a machine without CUDA a cuda device is
    a ConfigError naming the key (a CPU-only torch raises AssertionError underneath)."""
    import torch

    from xvanish import ConfigError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=r"device='cuda': CUDA is not available"):
        get_domain(name).factory(device="cuda")
