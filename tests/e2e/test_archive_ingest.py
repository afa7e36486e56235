"""The archive loses nothing: not under SIGKILL, not when a message is redacted while the
archive is down, and a redaction never removes the original from the archive."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.archive_helpers import (
    archive_pid,
    archived_ids,
    config_path,
    superuser,
    supervisorctl,
    verify,
)
from tests.e2e.conftest import Demo

pytestmark = pytest.mark.e2e


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def synapse_event_ids(demo: Demo, dept_id: str, room_id: str) -> list[str]:
    """Every event of the room, as Synapse's admin API lists it."""
    admin = demo.admin(dept_id)["access_token"]
    ids: list[str] = []
    with demo.http(dept_id) as http:
        token = None
        while True:
            params: dict[str, str | int] = {"dir": "f", "limit": 1000}
            if token:
                params["from"] = token
            page = http.get(
                f"/_synapse/admin/v1/rooms/{quote(room_id)}/messages",
                headers=_auth(admin),
                params=params,
            ).json()
            ids += [e["event_id"] for e in page["chunk"]]
            if not page["chunk"] or not page.get("end") or page["end"] == token:
                return ids
            token = page["end"]


def wait_archived(
    demo: Demo, dept_id: str, rooms: list[str], expected: set[str], timeout: float
) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        got = archived_ids(demo, dept_id, rooms)
        if expected <= set(got) or time.monotonic() > deadline:
            return got
        time.sleep(1)


def test_nothing_lost_when_the_archive_is_killed_twice(demo: Demo) -> None:
    dept, total = "cabinet-office", 2000
    _, token = demo.fresh_user(dept, "archive-load")

    async def scenario() -> list[str]:
        ctx = demo.ssl_context()
        async with httpx.AsyncClient(
            base_url=demo.department(dept)["client_url"], verify=ctx, timeout=60
        ) as http:
            rooms = []
            for i in range(4):
                body = {"name": f"archive load {i}", "preset": "private_chat"}
                r = await http.post(
                    "/_matrix/client/v3/createRoom", headers=_auth(token), json=body
                )
                assert r.status_code == 200, r.text
                rooms.append(r.json()["room_id"])
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(total):
                queue.put_nowait(i)
            kills = {500, 1200}

            async def sender() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    if i in kills:
                        os.kill(archive_pid(demo, dept), signal.SIGKILL)
                    room = rooms[i % len(rooms)]
                    r = await http.put(
                        f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
                        headers=_auth(token),
                        json={"msgtype": "m.text", "body": f"load {i}"},
                    )
                    r.raise_for_status()

            await asyncio.gather(*(sender() for _ in range(6)))
            return rooms

    rooms = asyncio.run(scenario())
    expected = {e for room in rooms for e in synapse_event_ids(demo, dept, room)}
    assert len(expected) >= total
    got = wait_archived(demo, dept, rooms, expected, timeout=240)
    assert len(got) == len(set(got)), "an event was archived twice"
    missing = expected - set(got)
    assert not missing, (
        f"{len(missing)} events never reached the archive, e.g. {sorted(missing)[:3]}"
    )
    assert set(got) == expected
    result = verify(config_path(demo, dept))
    assert result.returncode == 0, result.stdout + result.stderr


def _send_and_redact(demo: Demo, dept: str, text: str) -> tuple[str, str]:
    _, token = demo.fresh_user(dept, "redactor")
    with demo.http(dept) as http:
        room = http.post(
            "/_matrix/client/v3/createRoom", headers=_auth(token), json={"name": "redaction"}
        ).json()["room_id"]
        event_id = http.put(
            f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
            headers=_auth(token),
            json={"msgtype": "m.text", "body": text},
        ).json()["event_id"]
        redaction = http.put(
            f"/_matrix/client/v3/rooms/{quote(room)}/redact/{quote(event_id)}/{uuid.uuid4().hex}",
            headers=_auth(token),
            json={"reason": "deleted by sender"},
        ).json()["event_id"]
    return event_id, redaction


def _archived(
    demo: Demo, dept: str, event_id: str, redaction: str, timeout: float = 120
) -> tuple[str, bool]:
    deadline = time.monotonic() + timeout
    with superuser(demo, dept) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT body, recovered FROM archive_events WHERE event_id = %s", (event_id,)
            ).fetchone()
            red = conn.execute(
                "SELECT redacts FROM archive_events WHERE event_id = %s", (redaction,)
            ).fetchone()
            if row and red:
                assert red[0] == event_id
                return row[0], row[1]
            time.sleep(1)
    raise AssertionError(f"{event_id} and its redaction did not both reach the archive")


def test_redaction_keeps_the_original(demo: Demo) -> None:
    text = f"minister's note {uuid.uuid4()}"
    event_id, redaction = _send_and_redact(demo, "home-office", text)
    body, _ = _archived(demo, "home-office", event_id, redaction)
    assert body == text


def test_redacted_while_archive_down_is_recovered(demo: Demo) -> None:
    dept = "home-office"
    assert "stopped" in supervisorctl(demo, "stop", f"archive-{dept}")
    try:
        text = f"deleted while nobody watched {uuid.uuid4()}"
        event_id, redaction = _send_and_redact(demo, dept, text)
    finally:
        assert "started" in supervisorctl(demo, "start", f"archive-{dept}")
    body, recovered = _archived(demo, dept, event_id, redaction, timeout=180)
    assert body == text, "the archive kept the pruned event, not the original"
    assert recovered, "expected Synapse to resend the event pruned, and the archive to recover it"


def test_encrypted_events_are_kept_as_ciphertext_and_counted(demo: Demo) -> None:
    dept = "hm-treasury"
    _, token = demo.fresh_user(dept, "cipher")
    ciphertext = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": uuid.uuid4().hex * 4,
        "sender_key": "k" * 43,
        "session_id": "s" * 43,
        "device_id": "DEVICE",
    }
    with demo.http(dept) as http:
        room = http.post("/_matrix/client/v3/createRoom", headers=_auth(token), json={}).json()[
            "room_id"
        ]
        event_id = http.put(
            f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.encrypted/{uuid.uuid4().hex}",
            headers=_auth(token),
            json=ciphertext,
        ).json()["event_id"]
    deadline = time.monotonic() + 60
    with superuser(demo, dept) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT encrypted, event->'content' FROM archive_events WHERE event_id = %s",
                (event_id,),
            ).fetchone()
            if row:
                break
            time.sleep(0.5)
    assert row is not None, "the encrypted event never reached the archive"
    assert row[0] is True and row[1] == ciphertext
    result = verify(config_path(demo, dept))
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "events are encrypted" in text and " 0 events are encrypted" not in text
