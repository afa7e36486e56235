"""The migration seam: every old version has a step, and steps run in order."""

import pytest

from govmatrix.estate import migrations
from govmatrix.estate.schema import SCHEMA_VERSION

pytestmark = pytest.mark.unit


def test_registry_is_complete() -> None:
    migrations.check_registry()


def test_current_version_needs_no_steps() -> None:
    data, applied = migrations.migrate({"version": SCHEMA_VERSION, "estate": {}})
    assert applied == [] and data["version"] == SCHEMA_VERSION


def test_steps_apply_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # A rename from a hypothetical version 1 to 2, to prove the machinery end to end.
    def rename(data: dict) -> dict:
        data = dict(data)
        data["renamed"] = data.pop("old")
        return data

    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(migrations, "MIGRATIONS", {1: rename})
    data, applied = migrations.migrate({"version": 1, "old": "x"})
    assert applied == [2]
    assert data == {"version": 2, "renamed": "x"}


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot migrate"):
        migrations.migrate({"version": 99})
