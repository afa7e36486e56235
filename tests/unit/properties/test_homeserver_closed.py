"""Every homeserver: registration closed, no guests, no URL previews, and the admin API is
never routed publicly by nginx."""

import pytest

from tests.unit.properties.renders import files_named, homeservers

pytestmark = pytest.mark.unit


def test_registration_closed() -> None:
    for item, config in homeservers():
        assert config["enable_registration"] is False, f"{item.name}: registration open"
        assert config["allow_guest_access"] is False, f"{item.name}: guests allowed"
        assert config["url_preview_enabled"] is False, f"{item.name}: URL previews on"


def test_synapse_listeners_never_public() -> None:
    for item, config in homeservers():
        for listener in config["listeners"]:
            assert listener.get("tls", False) is False  # absent: plain HTTP
            for address in listener["bind_addresses"]:
                if item.target == "kubernetes":
                    continue  # pod network; NetworkPolicies decide who connects
                assert address.startswith("127."), f"{item.name}: Synapse binds {address}"


def test_admin_api_restricted_in_every_nginx_site() -> None:
    for item in files_named(".conf"):
        # The portal's own nginx (Kubernetes) serves no Matrix API at all.
        if item.path.endswith((".proxy.conf", "identity/portal-nginx.conf")):
            continue
        text = item.file.text
        start = text.index("location ^~ /_synapse/admin {")
        block = text[start : text.index("}", start)]
        assert "deny all;" in block, f"{item.name}: admin API not denied by default"
        assert "allow 0.0.0.0/0" not in block and "allow all" not in block, item.name
