"""Every archived homeserver keeps redacted content and never purges history; the archive
is registered with a non-exclusive namespace of all local users."""

import re

import pytest

from tests.unit.properties.renders import homeservers, items

pytestmark = pytest.mark.unit


def test_records_kept() -> None:
    for item, config in homeservers():
        assert config["retention"] == {"enabled": False}, f"{item.name}: retention purge on"
        assert config["forget_rooms_on_leave"] is False, item.name
        if item.department.archive.enabled:
            assert config["redaction_retention_period"] is None, f"{item.name}: redactions purged"
            assert config["experimental_features"]["msc2815_enabled"] is True, item.name
        registrations = [p.rsplit("/", 1)[-1] for p in config["app_service_config_files"]]
        expected = (
            ["operator.yaml", "archive.yaml"]
            if item.department.archive.enabled
            else ["operator.yaml"]
        )
        assert registrations == expected, item.name


def test_archive_registration_covers_all_local_users() -> None:
    for item in items():
        if not item.path.endswith("appservices/archive.yaml"):
            continue
        reg = item.parsed()
        (users,) = reg["namespaces"]["users"]
        assert users["exclusive"] is False, f"{item.name}: exclusive namespace"
        pattern = re.compile(users["regex"])
        server = item.department.server_name
        assert pattern.fullmatch(f"@alice:{server}"), f"{item.name}: misses local users"
        assert not pattern.fullmatch(f"@alice:x{server}"), f"{item.name}: matches other servers"
        assert item.file.secret, f"{item.name}: holds tokens but is not marked secret"


def test_operator_service_claims_nothing_and_receives_nothing() -> None:
    """The operator service only lends its token to govmatrix's tools: no users, rooms or
    aliases of its own, and no URL, so Synapse pushes it no events."""
    for item in items():
        if not item.path.endswith("appservices/operator.yaml"):
            continue
        reg = item.parsed()
        assert reg["url"] is None, item.name
        assert reg["namespaces"] == {"users": [], "aliases": [], "rooms": []}, item.name
        assert reg["sender_localpart"] == "_govmatrix_operator", item.name
        assert reg["as_token"] == "@@secret:operator_as_token@@", item.name
        assert item.file.secret, f"{item.name}: holds tokens but is not marked secret"
