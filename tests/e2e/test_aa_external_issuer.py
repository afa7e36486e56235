"""External identity against a real issuer: a department ('agency') whose identity is
`external` signs people in at another department's bundled provider ('ministry': real
LemonLDAP::NG on its own real slapd), as it would at Entra ID or ProConnect.

This needs an estate of its own (two departments, archive and backups off to keep it
small), brought up with the real `govmatrix demo up` in its own state directory. The demo
gives departments loopback addresses by their place in the estate, so this estate cannot
run beside the shared one. The file's name sorts before every other end-to-end test, so
it runs, and resets its estate, before the shared demo starts; should a kept shared demo
be up (GOVMATRIX_E2E_KEEP), the module takes it down first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from govmatrix.identity import AUTH_PROVIDER, slapd
from govmatrix.identity.sso_login import SsoLoginError, login
from govmatrix.materialise import write_file
from tests.e2e.conftest import ESTATE, STATE, Demo, demo_args, govmatrix

pytestmark = pytest.mark.e2e

ROOT = Path(f"{STATE}-external-issuer")
PROVIDER, CLIENT = "ministry", "agency"
CLIENT_ID = "agency-messaging"


def _estate(secret: Path) -> dict[str, object]:
    shared = yaml.safe_load(ESTATE.read_text())["estate"]["defaults"]["synapse"]
    reference = f"file:{secret}"
    return {
        "version": 1,
        "estate": {
            "name": "shared-provider",
            "pki": {"mode": "internal-ca"},
            "defaults": {
                "synapse": shared,
                "archive": {"enabled": False},
                "backup": {"enabled": False},
            },
        },
        "departments": [
            {
                "id": PROVIDER,
                "name": "Ministry",
                "server_name": "ministry.gov.test",
                "target": "demo",
                "identity": {
                    "provider": "bundled",
                    "clients": [
                        {
                            "client_id": CLIENT_ID,
                            "name": "Agency messaging",
                            "redirect_uris": [
                                "https://agency.gov.test/_synapse/client/oidc/callback"
                            ],
                            "client_secret": reference,
                        }
                    ],
                },
            },
            {
                "id": CLIENT,
                "name": "Agency",
                "server_name": "agency.gov.test",
                "target": "demo",
                "identity": {
                    "provider": "external",
                    "issuer": "https://auth.ministry.gov.test",
                    "client_id": CLIENT_ID,
                    "client_secret": reference,
                },
            },
        ],
    }


@pytest.fixture(scope="module")
def estate(artifact_mirror: Path) -> Iterator[Demo]:
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests run the demo, which needs root (CI runs as root)")
    # A kept shared demo would hold the same loopback addresses (a no-op when none runs).
    govmatrix(*demo_args("down"))
    # Beside the state directory, not in it: `demo reset` wipes that.
    inputs = Path(f"{ROOT}-inputs")
    inputs.mkdir(mode=0o700, exist_ok=True)
    # Issued once and given to both sides, as an operator would with a real issuer's secret.
    secret = inputs / "agency-oidc-client-secret"
    if not secret.exists():
        write_file(secret, uuid.uuid4().hex + uuid.uuid4().hex, 0o600)
    estate_file = inputs / "estate.yml"
    estate_file.write_text(yaml.safe_dump(_estate(secret), sort_keys=False))
    args = {"estate": estate_file, "root": ROOT}
    govmatrix(*demo_args("up", **args), "--artifacts", str(artifact_mirror))
    try:
        yield Demo(**args)
    finally:
        if not os.environ.get("GOVMATRIX_E2E_KEEP"):
            govmatrix(*demo_args("reset", **args), check=False)


def _people(estate: Demo) -> dict[str, str]:
    people = estate.department(PROVIDER)["identity"]["directory"]["people"]
    return {p["uid"]: p["password"] for p in people}


def _login(estate: Demo, user: str, password: str) -> tuple[str, str]:
    result = login(
        estate.department(CLIENT)["client_url"], user, password, verify=str(estate.ca_file)
    )
    return result.user_id, result.access_token


def _admin_get(estate: Demo, path: str) -> dict[str, object]:
    auth = {"Authorization": f"Bearer {estate.admin(CLIENT)['access_token']}"}
    with estate.http(CLIENT) as client:
        answer = client.get(path, headers=auth)
    answer.raise_for_status()
    return dict(answer.json())


def test_the_client_department_offers_the_providers_sign_in_only(estate: Demo) -> None:
    identity = estate.department(CLIENT)["identity"]
    assert identity["provider"] == "external"
    assert identity["issuer"] == "https://auth.ministry.gov.test"
    assert identity["provider_department"] == PROVIDER
    with estate.http(CLIENT) as client:
        flows = client.get("/_matrix/client/v3/login").json()["flows"]
    [sso] = [f for f in flows if f["type"] == "m.login.sso"]
    assert [p["id"] for p in sso["identity_providers"]] == [AUTH_PROVIDER]
    assert "m.login.password" not in {f["type"] for f in flows}
    # No provider of its own: its host name has no portal.
    with (
        httpx.Client(verify=str(estate.ca_file), timeout=10) as http,
        pytest.raises(httpx.ConnectError),
    ):
        http.get("https://auth.agency.gov.test/")


def test_a_seeded_person_signs_in_with_the_providers_directory_account(estate: Demo) -> None:
    user_id, token = _login(estate, "bob", _people(estate)["bob"])
    # Seeding linked the agency's bob to the ministry directory's bob (by entryUUID).
    assert user_id == estate.user(CLIENT, "bob")["user_id"]
    assert user_id.endswith(":agency.gov.test")
    with estate.http(CLIENT) as client:
        whoami = client.get(
            "/_matrix/client/v3/account/whoami", headers={"Authorization": f"Bearer {token}"}
        )
    assert whoami.json()["user_id"] == user_id


def test_a_new_person_in_the_providers_directory_gets_an_account(estate: Demo) -> None:
    directory = estate.department(PROVIDER)["identity"]["directory"]
    conn = slapd.connect(directory["url"], directory["admin_dn"], directory["admin_password"])
    uid, password = f"secondee-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    slapd.ensure_person(
        conn,
        directory["base_dn"],
        slapd.Person(uid, "Sam Secondee", f"{uid}@gov.test", password),
    )
    conn.unbind()

    user_id, token = _login(estate, uid, password)

    assert user_id == f"@{uid}:agency.gov.test"
    with estate.http(CLIENT) as client:
        profile = client.get(
            f"/_matrix/client/v3/profile/{quote(user_id)}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert profile.json()["displayname"] == "Sam Secondee"
    user = _admin_get(estate, f"/_synapse/admin/v2/users/{quote(user_id)}")
    [external] = user["external_ids"]  # type: ignore[misc]
    assert external["auth_provider"] == AUTH_PROVIDER
    uuid.UUID(external["external_id"])  # the provider's subject: the entryUUID


def test_a_wrong_password_at_the_provider_gets_no_token(estate: Demo) -> None:
    with pytest.raises(SsoLoginError, match="no login token"):
        _login(estate, "bob", "not-bobs-password")
