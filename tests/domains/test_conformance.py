"""Every domain passes the same conformance suite (xvanish.testing), like a PennyLane device."""

import pytest

from xvanish import get_domain
from xvanish.testing import check_domain

import toy_domain

SMALL = {
    "mlp": {"depth": 3, "width": 4},
    "vqc": {"n_qubits": 3, "n_layers": 2},
}


def test_toy_domain_conforms():
    check_domain(toy_domain.DOMAIN, small={"depth": 2})


@pytest.mark.parametrize("name", [pytest.param("mlp"), pytest.param("vqc", marks=pytest.mark.vqc)])
def test_builtin_domain_conforms(name):
    check_domain(get_domain(name), small=SMALL[name])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_mlp_keeps_dtype(dtype):
    check_domain(get_domain("mlp"), small={**SMALL["mlp"], "dtype": dtype})
