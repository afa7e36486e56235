"""No rendered file holds a secret value, and only files marked secret hold placeholders."""

import pytest

from govmatrix.render import required_secrets
from govmatrix.render.secrets import fill
from govmatrix.render.targets import target_for
from govmatrix.secretgen import generate_all
from tests.unit.properties.renders import estates, homeservers, items

pytestmark = pytest.mark.unit

INLINE_KEYS = (
    "macaroon_secret_key",
    "registration_shared_secret",
    "form_secret",
    "worker_replication_secret",
    "password",
)


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_homeserver_reads_every_secret_from_a_file() -> None:
    for item, config in homeservers():
        leaked = _keys(config) & set(INLINE_KEYS)
        assert not leaked, f"{item.name}: inline secret keys {leaked}"
        assert config["database"]["args"]["passfile"].endswith("synapse/pgpass"), item.name


def test_placeholders_only_in_secret_files() -> None:
    for item in items():
        if item.file.secret:
            assert item.file.placeholders, f"{item.name}: marked secret but holds no secret"
        else:
            assert not item.file.placeholders, f"{item.name}: placeholder in a non-secret file"


def test_generated_values_reach_only_secret_files() -> None:
    by_dept: dict[tuple[str, str, str], list] = {}
    for item in items():
        by_dept.setdefault((item.estate, item.target, item.department.id), []).append(item)
    for group in by_dept.values():
        first = group[0]
        dept = first.department
        target = target_for(first.target, estates()[first.estate], dept)
        values = generate_all(required_secrets(dept, target))
        for item in group:
            text = fill(item.file.text, values) if item.file.secret else item.file.text
            for name, value in values.items():
                if value in text:
                    assert item.file.secret, f"{item.name}: contains the value of {name}"
