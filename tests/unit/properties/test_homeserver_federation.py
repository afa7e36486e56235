"""Every homeserver: a non-empty allow-list that starts with itself, no trusted key servers,
and the estate CA first in its federation trust list."""

import pytest

from govmatrix.estate.federation import build
from tests.unit.properties.renders import estates, homeservers

pytestmark = pytest.mark.unit


def test_allow_list_is_self_plus_mutual_peers() -> None:
    graphs = {name: build(e) for name, e in estates().items()}
    for item, config in homeservers():
        expected = list(graphs[item.estate].departments[item.department.id].whitelist)
        whitelist = config.get("federation_domain_whitelist")
        assert whitelist, f"{item.name}: federation_domain_whitelist is empty or unset"
        assert whitelist[0] == item.department.server_name, f"{item.name}: self not first"
        assert whitelist == expected, f"{item.name}: whitelist differs from the federation graph"


def test_no_trusted_key_servers_and_certificates_verified() -> None:
    for item, config in homeservers():
        assert config["trusted_key_servers"] == [], f"{item.name}: trusts a key server"
        assert config["federation_verify_certificates"] is True, f"{item.name}: no cert checks"
        ca_list = config["federation_custom_ca_list"]
        assert ca_list and ca_list[0].endswith("/ca.crt"), f"{item.name}: estate CA not first"


def test_loopback_whitelisted_only_in_demo() -> None:
    for item, config in homeservers():
        if item.target == "demo":
            assert config["ip_range_whitelist"] == ["127.0.0.0/8"], item.name
        else:
            assert "ip_range_whitelist" not in config, f"{item.name}: opens private ranges"
