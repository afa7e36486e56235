"""Searchable, not browsable: the records-officer API of a department's archive."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.archive_helpers import config, officer_api, superuser
from tests.e2e.conftest import Demo

pytestmark = pytest.mark.e2e
DEPT = "cabinet-office"


def archive_api(demo: Demo) -> tuple[httpx.Client, str]:
    return officer_api(demo, DEPT)


def audit_count(demo: Demo) -> int:
    with superuser(demo, DEPT) as conn:
        return int(conn.execute("SELECT count(*) FROM archive_access_log").fetchone()[0])


def test_refusals(demo: Demo) -> None:
    http, officer = archive_api(demo)
    auth = {"Authorization": f"Bearer {officer}"}
    with http:
        assert http.post("/api/v1/search", json={"case": "FOI-1", "terms": "x"}).status_code == 401
        wrong = http.post(
            "/api/v1/search",
            json={"case": "FOI-1", "terms": "x"},
            headers={"Authorization": "Bearer nope"},
        )
        assert wrong.status_code == 403
        no_case = http.post("/api/v1/search", json={"terms": "budget"}, headers=auth)
        assert no_case.status_code == 422
        before = audit_count(demo)
        browsing = http.post("/api/v1/search", json={"case": "FOI-2026-7"}, headers=auth)
        assert browsing.status_code == 400
        assert browsing.json()["errcode"] == "M_BROWSING_REFUSED"
        blank = http.post(
            "/api/v1/search", json={"case": "FOI-2026-7", "terms": "   "}, headers=auth
        )
        assert blank.status_code == 400
        assert audit_count(demo) == before + 2, "refused searches must be audited too"
        # The homeserver's token is not an officer's token.
        hs = Path(config(demo, DEPT)["hs_token_path"]).read_text().strip()
        assert (
            http.post(
                "/api/v1/search",
                json={"case": "FOI-1", "terms": "x"},
                headers={"Authorization": f"Bearer {hs}"},
            ).status_code
            == 403
        )


@pytest.mark.parametrize("field", ["sender", "room", "terms"])
def test_text_postgresql_cannot_store_is_refused_not_a_server_error(demo: Demo, field: str) -> None:
    """A NUL reached PostgreSQL and gave 500 once (found by test_archive_fuzz)."""
    http, officer = archive_api(demo)
    value = {"sender": "@a\u0000:x.test", "room": "!r\u0000:x.test", "terms": "a\u0000b"}[field]
    body = {"case": "FOI-2026-9", "terms": "budget", field: value}
    with http:
        answer = http.post(
            "/api/v1/search", json=body, headers={"Authorization": f"Bearer {officer}"}
        )
    assert answer.status_code == 422, answer.text


def test_search_finds_paginates_and_audits(demo: Demo) -> None:
    word = f"zeppelin{uuid.uuid4().hex[:8]}"
    user, token = demo.fresh_user(DEPT, "witness")
    with demo.http(DEPT) as client:
        room = client.post(
            "/_matrix/client/v3/createRoom",
            json={"name": "inquiry"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["room_id"]
        for n in range(3):
            client.put(
                f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
                json={"msgtype": "m.text", "body": f"note {n} about {word}"},
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status()
    http, officer = archive_api(demo)
    auth = {"Authorization": f"Bearer {officer}", "X-Records-Officer": "j.bloggs"}
    with http:
        deadline = time.monotonic() + 60
        while True:
            found = http.post(
                "/api/v1/search", json={"case": "INQ-2026-01", "terms": word}, headers=auth
            ).json()
            if found["count"] == 3 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert found["count"] == 3, found
        assert {r["sender"] for r in found["results"]} == {user}
        before = audit_count(demo)
        first = http.post(
            "/api/v1/search", headers=auth, json={"case": "INQ-2026-01", "terms": word, "limit": 2}
        ).json()
        assert first["count"] == 2 and first["next"] is not None
        second = http.post(
            "/api/v1/search",
            headers=auth,
            json={"case": "INQ-2026-01", "terms": word, "limit": 2, "after": first["next"]},
        ).json()
        assert second["count"] == 1 and second["next"] is None
        by_sender = http.post(
            "/api/v1/search", headers=auth, json={"case": "INQ-2026-01", "sender": user}
        ).json()
        assert by_sender["count"] >= 3
    assert audit_count(demo) == before + 3
    with superuser(demo, DEPT) as conn:
        officer_name, case_ref, outcome = conn.execute(
            "SELECT officer, case_ref, outcome FROM archive_access_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert (officer_name, case_ref, outcome) == ("j.bloggs", "INQ-2026-01", "answered")


def test_no_endpoint_lists_everything(demo: Demo) -> None:
    http, _ = archive_api(demo)
    with http:
        paths = set(http.get("/openapi.json").json()["paths"])
    assert paths == {
        "/_matrix/app/v1/transactions/{txn_id}",
        "/_matrix/app/v1/users/{user_id}",
        "/_matrix/app/v1/rooms/{alias}",
        "/_matrix/app/v1/ping",
        "/api/v1/search",
        "/api/v1/media/{sha256}",
        "/api/v1/flags",
        "/healthz",
    }, "a new endpoint needs a deliberate decision: the archive must not become browsable"


def _voice_note() -> bytes:
    """A real (short, silent) WAV recording, as a voice note would carry."""
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 8000)
    return buffer.getvalue()


def test_image_and_voice_note_retrievable_by_hash(demo: Demo) -> None:
    import hashlib

    from govmatrix.demo.pictures import png

    word = f"dossier{uuid.uuid4().hex[:8]}"
    files = {
        "image": (png(30, 20, (120, 0, 60)), "image/png", "m.image"),
        "voice": (_voice_note(), "audio/wav", "m.audio"),
    }
    _, token = demo.fresh_user(DEPT, "recorder")
    auth = {"Authorization": f"Bearer {token}"}
    with demo.http(DEPT) as client:
        room = client.post(
            "/_matrix/client/v3/createRoom", json={"name": "media"}, headers=auth
        ).json()["room_id"]
        for name, (data, mime, msgtype) in files.items():
            mxc = client.post(
                "/_matrix/media/v3/upload",
                content=data,
                params={"filename": name},
                headers={**auth, "Content-Type": mime},
            ).json()["content_uri"]
            content = {
                "msgtype": msgtype,
                "body": f"{word} {name}",
                "url": mxc,
                "info": {"mimetype": mime, "size": len(data)},
            }
            if msgtype == "m.audio":
                content["org.matrix.msc3245.voice"] = {}
            client.put(
                f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
                json=content,
                headers=auth,
            ).raise_for_status()
    http, officer = archive_api(demo)
    officer_auth = {"Authorization": f"Bearer {officer}"}
    with http:
        deadline = time.monotonic() + 60
        while True:
            found = http.post(
                "/api/v1/search", json={"case": "FOI-MEDIA-1", "terms": word}, headers=officer_auth
            ).json()
            if (
                found["count"] == 2 and all(r["media"] for r in found["results"])
            ) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert found["count"] == 2, found
        for result in found["results"]:
            name = result["body"].split()[-1]
            (sha,) = result["media"]
            got = http.get(
                f"/api/v1/media/{sha}", params={"case": "FOI-MEDIA-1"}, headers=officer_auth
            )
            assert got.status_code == 200, got.text
            assert got.content == files[name][0], f"{name}: bytes differ from what was sent"
            assert hashlib.sha256(got.content).hexdigest() == sha
        assert http.get(f"/api/v1/media/{sha}", params={"case": "FOI-MEDIA-1"}).status_code == 401
        missing = http.get(
            "/api/v1/media/" + "0" * 64, params={"case": "FOI-MEDIA-1"}, headers=officer_auth
        )
        assert missing.status_code == 404
