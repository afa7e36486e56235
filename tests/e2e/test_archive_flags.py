"""Suspicious-activity flags: deleting one's own messages in bulk right after sending them,
and hiding history, are flagged and readable by a records officer and on the host."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from govmatrix.demo.system import wait_for
from tests.e2e.archive_helpers import config, config_path, flags_cli
from tests.e2e.conftest import Demo

pytestmark = pytest.mark.e2e
DEPT = "cabinet-office"


def test_bulk_deletion_and_hidden_history_are_flagged(demo: Demo) -> None:
    threshold = config(demo, DEPT)["flags"]["bulk_redactions"]
    user, token = demo.fresh_user(DEPT, "shredder")
    auth = {"Authorization": f"Bearer {token}"}
    with demo.http(DEPT) as client:
        room = client.post(
            "/_matrix/client/v3/createRoom", json={"name": "flags"}, headers=auth
        ).json()["room_id"]
        sent = []
        for n in range(threshold):
            sent.append(
                client.put(
                    f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
                    json={"msgtype": "m.text", "body": f"embarrassing {n}"},
                    headers=auth,
                ).json()["event_id"]
            )
        for event_id in sent:
            client.put(
                f"/_matrix/client/v3/rooms/{quote(room)}/redact/{quote(event_id)}/"
                f"{uuid.uuid4().hex}",
                json={},
                headers=auth,
            ).raise_for_status()
        client.put(
            f"/_matrix/client/v3/rooms/{quote(room)}/state/m.room.history_visibility/",
            json={"history_visibility": "joined"},
            headers=auth,
        ).raise_for_status()
    cfg = config(demo, DEPT)
    officer = Path(cfg["officer_token_path"]).read_text().strip()
    base = f"http://{cfg['listen']['address']}:{cfg['listen']['port']}"
    deadline = time.monotonic() + 60
    mine: list[dict[str, object]] = []
    with httpx.Client(base_url=base, timeout=30) as http:
        while time.monotonic() < deadline:
            flags: list[dict[str, object]] = []
            after = 0
            while True:
                page = http.get(
                    "/api/v1/flags",
                    params={"case": "AUDIT-2026-3", "after": after, "limit": 200},
                    headers={"Authorization": f"Bearer {officer}"},
                ).json()
                flags += page["flags"]
                if page["next"] is None:
                    break
                after = page["next"]
            mine = [f for f in flags if f["user_id"] == user]
            rules = [f["rule"] for f in mine]
            if rules.count("deleted_soon_after_sending") == threshold and "history_hidden" in rules:
                break
            time.sleep(1)
    rules = [f["rule"] for f in mine]
    assert rules.count("deleted_soon_after_sending") == threshold, rules
    assert rules.count("bulk_redactions") == 1, rules
    assert rules.count("history_hidden") == 1, rules
    cli = flags_cli(demo, DEPT)
    assert cli.returncode == 0, cli.stderr
    assert sum(1 for f in json.loads(cli.stdout) if f["user_id"] == user) == len(mine)


def _wait_archived(demo: Demo, user: str) -> None:
    from tests.e2e.archive_helpers import superuser

    with superuser(demo, DEPT) as conn:
        wait_for(
            lambda: (
                conn.execute(
                    "SELECT 1 FROM archive_events WHERE sender = %s AND type = 'm.room.message'",
                    (user,),
                ).fetchone()
                is not None
            ),
            f"a message of {user} to reach the archive",
            30,
        )


def test_deactivation_of_an_active_account_is_flagged(demo: Demo) -> None:
    user, token = demo.fresh_user(DEPT, "leaver")
    auth = {"Authorization": f"Bearer {token}"}
    admin = {"Authorization": f"Bearer {demo.admin(DEPT)['access_token']}"}
    with demo.http(DEPT) as client:
        room = client.post(
            "/_matrix/client/v3/createRoom", json={"name": "last words"}, headers=auth
        ).json()["room_id"]
        client.put(
            f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
            json={"msgtype": "m.text", "body": "clearing my desk"},
            headers=auth,
        ).raise_for_status()
        _wait_archived(demo, user)  # the account goes only once its words are kept
        client.post(
            f"/_synapse/admin/v1/deactivate/{quote(user)}", headers=admin, json={"erase": False}
        ).raise_for_status()
    deadline = time.monotonic() + 60
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline and not found:
        cli = flags_cli(demo, DEPT)
        found = [
            f
            for f in json.loads(cli.stdout)
            if f["user_id"] == user and f["rule"] == "deactivated_while_active"
        ]
        time.sleep(1)
    assert found, "deactivating an account with recent messages raised no flag"
    # The archive still answers for the leaver's words.
    search = subprocess.run(
        [
            sys.executable,
            "-m",
            "govmatrix.cli",
            "archive",
            "search",
            "--config",
            str(config_path(demo, DEPT)),
            "--case",
            "INQ-LEAVER",
            "--sender",
            user,
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert search.returncode == 0, search.stderr
    assert any(r["body"] == "clearing my desk" for r in json.loads(search.stdout))
