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


def test_private_ranges_opened_only_for_peers_address_blocks() -> None:
    """Synapse refuses private addresses by default; a render opens exactly loopback for the
    demo plus the address blocks of the peers and partners the department allows."""
    all_estates = estates()
    graphs = {name: build(e) for name, e in all_estates.items()}
    for item, config in homeservers():
        estate = all_estates[item.estate]
        fed = graphs[item.estate].departments[item.department.id]
        expected = ["127.0.0.0/8"] if item.target == "demo" else []
        for peer in fed.peers:
            expected += [b for b in estate.department(peer).address_blocks if b not in expected]
        for partner_id in fed.partners:
            partner = estate.partner(partner_id)
            assert partner is not None
            expected += [b for b in partner.address_blocks if b not in expected]
        assert config.get("ip_range_whitelist", []) == expected, item.name
        own = set(item.department.address_blocks) - set(expected)
        assert not own & set(config.get("ip_range_whitelist", [])), f"{item.name}: opens itself"
