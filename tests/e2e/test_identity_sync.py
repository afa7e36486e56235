"""Leavers lose access the same day: the demo's department directory (real slapd), its
homeserver (real Synapse) and `govmatrix identity sync`, with the guard.

Every person here signs in through the department's portal (real LemonLDAP::NG): the
first SSO login creates their account, and Synapse records their entryUUID under the
`oidc-directory` provider (user_external_ids), which is how the sync finds them. Their
session is that login's token. A token from the admin login API would not do: it is the
admin's token puppeting the user, and Synapse does not end it when the user is deactivated
(docs/identity.md).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ldap3
import pytest
import yaml

from govmatrix.demo.system import wait_for
from govmatrix.identity import slapd
from govmatrix.identity.sso_login import SsoLoginError
from govmatrix.identity.sso_login import login as sso_login
from tests.e2e.archive_helpers import flags_cli, officer_api, superuser
from tests.e2e.conftest import Demo

pytestmark = pytest.mark.e2e
DEPT = "cabinet-office"
STAYERS = 12  # one leaver among them stays under the default 10% guard


def identity(demo: Demo) -> dict[str, Any]:
    return dict(demo.department(DEPT)["identity"])


@pytest.fixture(scope="module")
def directory(demo: Demo) -> Iterator[ldap3.Connection]:
    d = identity(demo)["directory"]
    conn = slapd.connect(d["url"], d["admin_dn"], d["admin_password"])
    yield conn
    conn.unbind()


class Person:
    def __init__(self, user_id: str, token: str, dn: str, uid: str, password: str):
        self.user_id, self.token, self.dn = user_id, token, dn
        self.uid, self.password = uid, password


def link_person(demo: Demo, directory: ldap3.Connection, prefix: str) -> Person:
    """A directory person, signed in once through the department's portal: that first SSO
    login creates their Matrix account and links it to their entryUUID."""
    base_dn = identity(demo)["directory"]["base_dn"]
    uid = f"{prefix}-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    dn = slapd.ensure_person(
        directory, base_dn, slapd.Person(uid, f"{prefix.title()} Test", f"{uid}@x.test", password)
    )
    session = sso_login(
        demo.department(DEPT)["client_url"], uid, password, verify=str(demo.ca_file)
    )
    return Person(session.user_id, session.access_token, dn, uid, password)


@pytest.fixture(scope="module")
def stayers(demo: Demo, directory: ldap3.Connection) -> list[Person]:
    return [link_person(demo, directory, "stayer") for _ in range(STAYERS)]


def sync(demo: Demo, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cfg = config or Path(identity(demo)["sync_config"])
    return subprocess.run(
        [sys.executable, "-m", "govmatrix.cli", "identity", "sync", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
    )


def summary(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def whoami(demo: Demo, person: Person) -> int:
    with demo.http(DEPT) as client:
        return client.get(
            "/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {person.token}"},
        ).status_code


def loses_access(demo: Demo, person: Person) -> None:
    """Every session ends: the token is refused (with Synapse workers, a worker may answer
    from its token cache until replication reaches it, so wait a little)."""
    wait_for(lambda: whoami(demo, person) == 401, f"{person.user_id}'s token to be refused", 15)


def user_state(demo: Demo, user_id: str) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {demo.admin(DEPT)['access_token']}"}
    with demo.http(DEPT) as client:
        return dict(client.get(f"/_synapse/admin/v2/users/{quote(user_id)}", headers=admin).json())


def say(demo: Demo, person: Person, room: str | None, body: str) -> str:
    auth = {"Authorization": f"Bearer {person.token}"}
    with demo.http(DEPT) as client:
        if room is None:
            room = client.post(
                "/_matrix/client/v3/createRoom", json={"name": body}, headers=auth
            ).json()["room_id"]
        client.put(
            f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
            json={"msgtype": "m.text", "body": body},
            headers=auth,
        ).raise_for_status()
    return room


def archived(demo: Demo, sql: str, *params: object) -> bool:
    with superuser(demo, DEPT) as conn:
        return conn.execute(sql, params).fetchone() is not None


def flags_of(demo: Demo, user_id: str) -> list[str]:
    proc = flags_cli(demo, DEPT)
    assert proc.returncode == 0, proc.stderr
    return [f["rule"] for f in json.loads(proc.stdout) if f["user_id"] == user_id]


def test_a_leaver_loses_access_and_their_messages_stay_in_the_archive(
    demo: Demo, directory: ldap3.Connection, stayers: list[Person]
) -> None:
    leaver = link_person(demo, directory, "leaver")
    words = f"handover notes {uuid.uuid4().hex}"
    room = say(demo, leaver, None, words)
    wait_for(
        lambda: archived(demo, "SELECT 1 FROM archive_events WHERE body = %s", words),
        "the leaver's message to reach the archive",
        30,
    )

    slapd.lock(directory, leaver.dn)
    proc = sync(demo)

    assert proc.returncode == 0, proc.stderr
    result = summary(proc)
    assert (result["leavers"], result["deactivated"], result["refused"]) == (1, 1, None)
    assert result["linked"] >= STAYERS + 1
    loses_access(demo, leaver)
    assert user_state(demo, leaver.user_id)["deactivated"] is True
    assert all(whoami(demo, p) == 200 for p in stayers)
    # Locked in the directory: the portal refuses a new login.
    with pytest.raises(SsoLoginError):
        sso_login(
            demo.department(DEPT)["client_url"],
            leaver.uid,
            leaver.password,
            verify=str(demo.ca_file),
        )
    # Synapse takes a deactivated user out of their rooms; the archive records the leave.
    wait_for(
        lambda: archived(
            demo,
            "SELECT 1 FROM archive_events WHERE sender = %s AND room_id = %s"
            " AND type = 'm.room.member' AND event->'content'->>'membership' = 'leave'",
            leaver.user_id,
            room,
        ),
        "the leaver's leave to reach the archive",
        60,
    )
    # Appservice transactions are delivered in order: once a later message is archived,
    # the archive has finished with the leave, including its deactivation rule.
    marker = f"after the leaver {uuid.uuid4().hex}"
    say(demo, stayers[0], None, marker)
    wait_for(
        lambda: archived(demo, "SELECT 1 FROM archive_events WHERE body = %s", marker),
        "a later message to reach the archive",
        30,
    )
    assert archived(demo, "SELECT 1 FROM archive_events WHERE body = %s", words)
    # An inquiry years later: the records officer's case search still finds them.
    http, officer = officer_api(demo, DEPT)
    with http:
        found = http.post(
            "/api/v1/search",
            json={"case": "INQ-LEAVER-1", "terms": words.split()[-1], "sender": leaver.user_id},
            headers={"Authorization": f"Bearer {officer}"},
        )
    assert found.status_code == 200, found.text
    assert [hit["body"] for hit in found.json()["results"]] == [words]
    assert archived(
        demo,
        "SELECT 1 FROM archive_deactivation_reasons WHERE user_id = %s AND reason = %s"
        " AND recorded_by = 'govmatrix identity sync'",
        leaver.user_id,
        "disabled in the directory",
    )
    assert "deactivated_while_active" not in flags_of(demo, leaver.user_id)

    report = Path(result["report"])
    assert stat.S_IMODE(os.stat(report).st_mode) == 0o640
    recorded = json.loads(report.read_text())
    assert recorded["deactivated"] == [leaver.user_id]
    assert recorded["leavers"][0]["reason"] == "disabled in the directory"

    # The sync acts as the operator service (no login: password login is off) and logs no
    # one out: the seeding's admin session stays valid.
    with demo.http(DEPT) as client:
        operator = client.get(
            "/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {demo.admin(DEPT)['access_token']}"},
        )
    assert operator.status_code == 200, operator.text

    again = sync(demo)  # idempotent: nobody left to deactivate
    assert again.returncode == 0, again.stderr
    assert (summary(again)["leavers"], summary(again)["deactivated"]) == (0, 0)


def test_someone_removed_from_the_directory_is_a_leaver_and_a_dry_run_changes_nothing(
    demo: Demo, directory: ldap3.Connection, stayers: list[Person]
) -> None:
    gone = link_person(demo, directory, "removed")
    slapd.remove(directory, gone.dn)

    dry = sync(demo, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (summary(dry)["leavers"], summary(dry)["deactivated"]) == (1, 0)
    assert whoami(demo, gone) == 200

    real = sync(demo)
    assert real.returncode == 0, real.stderr
    assert summary(real)["deactivated"] == 1
    recorded = json.loads(Path(summary(real)["report"]).read_text())
    assert recorded["leavers"] == [
        {
            "user_id": gone.user_id,
            "subject": recorded["leavers"][0]["subject"],
            "reason": "left the directory",
        }
    ]
    loses_access(demo, gone)


def test_the_guard_refuses_a_mass_deactivation_until_forced(
    demo: Demo, directory: ldap3.Connection, stayers: list[Person]
) -> None:
    # Lock more than 10% of the linked people, however many earlier tests linked: a
    # department's team leaves at once, or a filter went wrong.
    linked = summary(sync(demo, "--dry-run"))["linked"]
    count = max(3, (linked + 9) // 9)
    many = [link_person(demo, directory, "team") for _ in range(count)]
    for person in many:
        slapd.lock(directory, person.dn)

    refused = sync(demo)
    assert refused.returncode == 2, refused.stderr
    assert "more than the estate's limit of 10%" in refused.stderr
    assert summary(refused)["deactivated"] == 0
    assert all(whoami(demo, p) == 200 for p in many)

    forced = sync(demo, "--force")
    assert forced.returncode == 0, forced.stderr
    assert summary(forced)["deactivated"] == count
    assert "forced past the guard" in forced.stderr
    recorded = json.loads(Path(summary(forced)["report"]).read_text())
    assert recorded["forced"] is True and "limit of 10%" in recorded["guard_overridden"]
    for person in many:
        loses_access(demo, person)
    assert archived(
        demo,
        "SELECT 1 FROM archive_deactivation_reasons WHERE user_id = %s"
        " AND recorded_by = 'govmatrix identity sync (forced past the guard)'",
        many[0].user_id,
    )


def test_a_directory_that_answers_with_nobody_empties_nothing(
    demo: Demo, directory: ldap3.Connection, stayers: list[Person], tmp_path: Path
) -> None:
    # A wrong base DN: the bind works, the search finds no people.
    suffix = identity(demo)["directory"]["base_dn"].split(",", 1)[1]
    empty = f"ou=empty-{uuid.uuid4().hex[:6]},{suffix}"
    directory.add(empty, ["top", "organizationalUnit"], {"ou": empty.split(",")[0][3:]})
    cfg = yaml.safe_load(Path(identity(demo)["sync_config"]).read_text())
    cfg["directory"]["base_dn"] = empty
    wrong = tmp_path / "sync.yaml"
    wrong.write_text(yaml.safe_dump(cfg))

    for args in ((), ("--force",)):
        proc = sync(demo, *args, config=wrong)
        assert proc.returncode == 2, proc.stderr
        assert "returned no people" in proc.stderr
        assert summary(proc)["deactivated"] == 0
    assert all(whoami(demo, p) == 200 for p in stayers)


def test_a_wrong_bind_password_is_an_error_that_names_the_setting(
    demo: Demo, stayers: list[Person], tmp_path: Path
) -> None:
    cfg = yaml.safe_load(Path(identity(demo)["sync_config"]).read_text())
    (tmp_path / "pw").write_text("not-the-password\n")
    cfg["directory"]["bind_password"] = f"file:{tmp_path / 'pw'}"
    wrong = tmp_path / "sync.yaml"
    wrong.write_text(yaml.safe_dump(cfg))

    proc = sync(demo, config=wrong)
    assert proc.returncode == 1
    assert "refused the bind" in proc.stderr and "bind_password" in proc.stderr
    assert all(whoami(demo, p) == 200 for p in stayers)
