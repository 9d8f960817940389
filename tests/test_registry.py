from importlib.metadata import EntryPoint

import pytest

from xvanish import ConfigError, available_domains, get_domain
from xvanish import registry


def test_builtin_domains_are_installed():
    assert {"mlp", "vqc"} <= set(available_domains())


def test_unknown_domain_lists_what_is_installed():
    with pytest.raises(ConfigError, match=r"domain='nope': unknown domain; installed: .*mlp.*vqc"):
        get_domain("nope")


def test_third_party_entry_point_is_found(monkeypatch):
    point = EntryPoint(name="toy", value="toy_domain:DOMAIN", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point] if group == registry.ENTRY_POINT_GROUP else [])
    assert "toy" in available_domains()
    assert get_domain("toy").name == "toy"
