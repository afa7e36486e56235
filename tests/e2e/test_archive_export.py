"""Case exports: a bundle that verifies offline and shows any change."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from govmatrix.demo.pictures import png
from govmatrix.demo.system import wait_for
from tests.e2e.archive_helpers import config_path, superuser
from tests.e2e.conftest import Demo

pytestmark = pytest.mark.e2e
DEPT = "home-office"


def archive_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "govmatrix.cli", "archive", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def bundle(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    word = f"quango{uuid.uuid4().hex[:8]}"
    _, token = demo.fresh_user(DEPT, "exporter")
    auth = {"Authorization": f"Bearer {token}"}
    with demo.http(DEPT) as http:
        room = http.post(
            "/_matrix/client/v3/createRoom", json={"name": "case"}, headers=auth
        ).json()["room_id"]
        sent = []
        for n in range(3):
            sent.append(
                http.put(
                    f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
                    json={"msgtype": "m.text", "body": f"{word} item {n}"},
                    headers=auth,
                ).json()["event_id"]
            )
        image = png(20, 20, (0, 90, 200))
        mxc = http.post(
            "/_matrix/media/v3/upload",
            content=image,
            params={"filename": "a.png"},
            headers={**auth, "Content-Type": "image/png"},
        ).json()["content_uri"]
        sent.append(
            http.put(
                f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
                json={"msgtype": "m.image", "body": f"{word} chart", "url": mxc},
                headers=auth,
            ).json()["event_id"]
        )
    with superuser(demo, DEPT) as conn:

        def archived() -> bool:
            have = conn.execute(
                "SELECT count(*) FROM archive_events WHERE event_id = ANY(%s)", (sent,)
            ).fetchone()[0]
            media = conn.execute(
                "SELECT count(*) FROM archive_event_media WHERE event_id = ANY(%s)", (sent,)
            ).fetchone()[0]
            return bool(have == 4 and media == 1)

        wait_for(archived, "the four events and the image to reach the archive", 60)
    out = tmp_path_factory.mktemp("exports") / "FOI-2026-0042"
    result = archive_cli(
        "export",
        "--config",
        str(config_path(demo, DEPT)),
        "--case",
        "FOI-2026-0042",
        "--terms",
        word,
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_bundle_contents_and_offline_verification(bundle: Path) -> None:
    names = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()}
    assert {
        "events.jsonl",
        "transcript.html",
        "manifest.json",
        "manifest.sig",
        "chain-proof.json",
    } <= names
    assert len(list((bundle / "media").iterdir())) == 1
    assert len((bundle / "events.jsonl").read_text().splitlines()) == 4
    transcript = (bundle / "transcript.html").read_text()
    assert "item 0" in transcript and "media/" in transcript
    result = archive_cli("verify-export", str(bundle))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "export intact: 4 events" in result.stdout


def test_changed_event_is_caught(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(bundle), str(copy)], check=True)
    events = (copy / "events.jsonl").read_text().replace("item 1", "item 9")
    (copy / "events.jsonl").write_text(events)
    result = archive_cli("verify-export", str(copy))
    assert result.returncode == 1
    assert "events.jsonl: SHA-256 differs" in result.stderr


def test_changed_media_and_wrong_key_are_caught(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(bundle), str(copy)], check=True)
    picture = next((copy / "media").iterdir())
    picture.write_bytes(picture.read_bytes() + b"x")
    result = archive_cli("verify-export", str(copy))
    assert result.returncode == 1 and "SHA-256 differs" in result.stderr
    other_key = "A" * 43 + "="
    pinned = archive_cli("verify-export", str(bundle), "--key", other_key)
    assert pinned.returncode == 1 and "another key" in pinned.stderr


def test_export_without_terms_or_sender_is_refused(demo: Demo, tmp_path: Path) -> None:
    result = archive_cli(
        "export",
        "--config",
        str(config_path(demo, DEPT)),
        "--case",
        "FOI-1",
        "--out",
        str(tmp_path / "x"),
    )
    assert result.returncode == 2
    assert "browsing is refused" in result.stderr
