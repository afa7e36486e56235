"""Single sign-on through each department's own provider: real LemonLDAP::NG, real slapd,
real Synapse. A scripted client follows Synapse's redirect to the portal, posts the
directory person's credentials, comes back with the authorization code, and exchanges the
login token for a Matrix access token, as Element does."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import ldap3
import pytest

from govmatrix.identity import AUTH_PROVIDER, slapd
from govmatrix.identity.sso_login import SsoLoginError, login
from tests.e2e.conftest import Demo

pytestmark = pytest.mark.e2e


def directory_of(demo: Demo, dept_id: str) -> tuple[ldap3.Connection, str]:
    d = demo.department(dept_id)["identity"]["directory"]
    conn = slapd.connect(d["url"], d["admin_dn"], d["admin_password"])
    return conn, d["base_dn"]


def people_passwords(demo: Demo, dept_id: str) -> dict[str, str]:
    people = demo.department(dept_id)["identity"]["directory"]["people"]
    return {p["uid"]: p["password"] for p in people}


def base_url(demo: Demo, dept_id: str) -> str:
    return str(demo.department(dept_id)["client_url"])


def profile(demo: Demo, dept_id: str, token: str, user_id: str) -> dict[str, str]:
    with demo.http(dept_id) as client:
        answer = client.get(
            f"/_matrix/client/v3/profile/{quote(user_id)}",
            headers={"Authorization": f"Bearer {token}"},
        )
    answer.raise_for_status()
    return dict(answer.json())


@pytest.mark.parametrize("dept_id", ["cabinet-office", "home-office", "hm-treasury"])
def test_every_department_offers_its_own_sign_in_and_no_password_login(
    demo: Demo, dept_id: str
) -> None:
    issuer = demo.department(dept_id)["identity"]["issuer"]
    with demo.http(dept_id) as client:
        flows = client.get("/_matrix/client/v3/login").json()["flows"]
        password = client.post(
            "/_matrix/client/v3/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "bob"},
                "password": people_passwords(demo, dept_id)["bob"],
            },
        )
    [sso] = [f for f in flows if f["type"] == "m.login.sso"]
    # Element draws its "Sign in with ..." button from this provider list.
    assert [p["id"] for p in sso["identity_providers"]] == [AUTH_PROVIDER]
    assert "m.login.password" not in {f["type"] for f in flows}
    assert password.status_code in (400, 403) and "access_token" not in password.json()
    # The same person, through the portal.
    result = login(
        base_url(demo, dept_id),
        "bob",
        people_passwords(demo, dept_id)["bob"],
        verify=str(demo.ca_file),
    )
    assert result.user_id == demo.user(dept_id, "bob")["user_id"]
    with httpx.Client(verify=str(demo.ca_file), timeout=30) as http:
        discovery = http.get(f"{issuer}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == issuer
    assert discovery["authorization_endpoint"].startswith(issuer)


def test_a_seeded_person_signs_in_to_their_existing_account(demo: Demo) -> None:
    dept = "home-office"
    result = login(
        base_url(demo, dept),
        "alice",
        people_passwords(demo, dept)["alice"],
        verify=str(demo.ca_file),
    )
    assert result.user_id == demo.user(dept, "alice")["user_id"]  # linked by entryUUID
    with demo.http(dept) as client:
        rooms = client.get(
            "/_matrix/client/v3/joined_rooms",
            headers={"Authorization": f"Bearer {result.access_token}"},
        ).json()["joined_rooms"]
    assert rooms, "the seeded person's rooms come with the account"


def test_a_new_person_gets_an_account_named_after_the_directory(demo: Demo) -> None:
    dept = "cabinet-office"
    conn, base_dn = directory_of(demo, dept)
    uid = f"newstarter-{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex
    slapd.ensure_person(
        conn, base_dn, slapd.Person(uid, "Nadia Newstarter", f"{uid}@gov.test", password)
    )
    conn.unbind()

    result = login(base_url(demo, dept), uid, password, verify=str(demo.ca_file))

    server = demo.department(dept)["server_name"]
    assert result.user_id == f"@{uid}:{server}"
    assert profile(demo, dept, result.access_token, result.user_id)["displayname"] == (
        "Nadia Newstarter"
    )
    admin = {"Authorization": f"Bearer {demo.admin(dept)['access_token']}"}
    with demo.http(dept) as client:
        user = client.get(f"/_synapse/admin/v2/users/{quote(result.user_id)}", headers=admin)
    [external] = user.json()["external_ids"]
    assert external["auth_provider"] == AUTH_PROVIDER
    uuid.UUID(external["external_id"])  # the entryUUID, not the login name


def test_a_wrong_password_gets_no_token(demo: Demo) -> None:
    dept = "hm-treasury"
    with pytest.raises(SsoLoginError, match="no login token"):
        login(base_url(demo, dept), "bob", "not-bobs-password", verify=str(demo.ca_file))
    with pytest.raises(SsoLoginError, match="no login token"):
        login(base_url(demo, dept), "nobody-here", "whatever", verify=str(demo.ca_file))


def test_a_person_of_one_department_cannot_sign_in_at_another(demo: Demo) -> None:
    """Each portal reads its own directory: Cabinet Office's alice is unknown at Treasury's
    portal with her Cabinet Office password."""
    with pytest.raises(SsoLoginError):
        login(
            base_url(demo, "hm-treasury"),
            "alice",
            people_passwords(demo, "cabinet-office")["alice"],
            verify=str(demo.ca_file),
        )
