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
            assert len(config["app_service_config_files"]) == 1, item.name


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
