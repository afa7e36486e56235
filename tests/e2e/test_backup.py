"""Backups of the running demo, with real pgBackRest, restic, SoftHSM2, PostgreSQL and
Synapse: restores to a point in time get exactly what was committed by then, the drill
proves a backup and fails loudly on a damaged one, and no unsealed passphrase or signing
key ever reaches persistent disk."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from govmatrix.backup import scratch
from tests.e2e.conftest import ESTATE, Demo, demo_args, govmatrix

pytestmark = pytest.mark.e2e

DEPT = "home-office"


def backup_args(*args: str) -> list[str]:
    return ["backup", *args, "--estate", str(ESTATE), "--root", demo_args()[-1]]


def send(demo: Demo, token: str, room_id: str, body: str) -> None:
    with demo.http(DEPT) as http:
        http.put(
            f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{uuid.uuid4().hex}",
            headers={"Authorization": f"Bearer {token}"},
            json={"msgtype": "m.text", "body": body},
        ).raise_for_status()


@pytest.fixture
def restores(demo: Demo) -> Iterator[Path]:
    """Restores go under the demo root: PostgreSQL (as postgres) must reach them, and the
    scan for unsealed secrets below covers them."""
    path = Path(demo.status["root"]) / "test-restores" / uuid.uuid4().hex[:8]
    path.parent.mkdir(exist_ok=True)
    path.parent.chmod(0o755)
    yield path


def restored_bodies(into: Path, room_id: str) -> list[str]:
    """Start the restored cluster (as the restore left it) and read the room's messages."""
    with (
        scratch.started(into / "postgres", into / "socket-check", into / "check.log") as cluster,
        cluster.connect("synapse") as conn,
    ):
        rows = conn.execute(
            """SELECT ej.json FROM events e JOIN event_json ej USING (event_id)
               WHERE e.room_id = %s AND e.type = 'm.room.message'
               ORDER BY e.stream_ordering""",
            (room_id,),
        ).fetchall()
    return [json.loads(str(row[0]))["content"]["body"] for row in rows]


@pytest.fixture(scope="module")
def room(demo: Demo) -> Iterator[tuple[str, str]]:
    _, token = demo.fresh_user(DEPT, "backup")
    with demo.http(DEPT) as http:
        response = http.post(
            "/_matrix/client/v3/createRoom",
            headers={"Authorization": f"Bearer {token}"},
            json={"name": "backups", "preset": "private_chat"},
        )
        response.raise_for_status()
    yield token, str(response.json()["room_id"])


def test_point_in_time_restore_gets_exactly_the_first_batch(
    demo: Demo, room: tuple[str, str], restores: Path
) -> None:
    token, room_id = room
    first = [f"before-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    second = [f"after-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    for body in first:
        send(demo, token, room_id, body)
    govmatrix(*backup_args("run", DEPT, "--type", "incr"))
    time.sleep(1.5)
    between = dt.datetime.now(dt.UTC)
    time.sleep(1.5)
    for body in second:
        send(demo, token, room_id, body)
    # A backup switches and archives the WAL segment holding the second batch.
    govmatrix(*backup_args("run", DEPT, "--type", "incr"))

    at_time = restores / "at-time"
    govmatrix(*backup_args("restore", DEPT, "--to", between.isoformat(), "--into", str(at_time)))
    assert restored_bodies(at_time, room_id) == first
    report = json.loads((at_time / "restore.json").read_text())
    assert report["one_time_keys_dropped"] >= 0
    assert (at_time / "files").is_dir()

    latest = restores / "latest"
    govmatrix(*backup_args("restore", DEPT, "--to", "latest", "--into", str(latest)))
    assert restored_bodies(latest, room_id) == first + second


def test_archive_timeout_bounds_what_can_be_lost(
    demo: Demo, room: tuple[str, str], restores: Path
) -> None:
    """Without any backup run, WAL archiving alone makes a message recoverable once
    archive_timeout (30 s in the demo estate) has passed; the RPO benchmark measures it."""
    token, room_id = room
    body = f"unbacked-{uuid.uuid4().hex[:6]}"
    written = time.monotonic()
    send(demo, token, room_id, body)
    into = restores / "rpo"
    # Poll with real restores: each takes a few seconds, and the first one to hold the
    # message gives an upper bound for this sample.
    while True:
        govmatrix(*backup_args("restore", DEPT, "--to", "latest", "--into", str(into)))
        if body in restored_bodies(into, room_id):
            break
        assert time.monotonic() - written < 180, "message not recoverable after 180 s"
        subprocess.run(["rm", "-rf", str(into)], check=True)
        time.sleep(5)
    print(f"recoverable {time.monotonic() - written:.1f} s after it was written")


def test_drill_passes_on_a_healthy_backup(demo: Demo) -> None:
    govmatrix(*backup_args("run", DEPT, "--type", "diff"))
    proc = govmatrix(*backup_args("drill", DEPT))
    assert "PASSED" in proc.stdout
    report_dir = sorted((Path(demo.status["root"]) / DEPT / "drills").iterdir())[-1]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["passed"] is True
    assert report["media"]["mismatched"] == 0
    assert report["source"]["events"] > 0
    assert report["synapse"]["result"].startswith("healthy, serving the live server's")
    assert (report_dir / "report.txt").read_text().startswith(f"Restore drill of {DEPT}: PASSED")


def _upload(demo: Demo, token: str, data: bytes) -> None:
    with demo.http(DEPT) as http:
        http.post(
            "/_matrix/media/v3/upload",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/octet-stream",
            },
            content=data,
        ).raise_for_status()


def with_backup(root: Path, dept: str, expression: str) -> str:
    """Evaluate `expression` on the department's DepartmentBackup `b` in a new process: a
    PKCS#11 module is initialised once per process, with the demo's SoftHSM2 config."""
    code = (
        "from pathlib import Path\n"
        "from govmatrix.backup import restic\n"
        "from govmatrix.demo.backups import department_backup\n"
        "from govmatrix.demo.layout import Layout\n"
        "from govmatrix.estate import load_estate\n"
        f"layout = Layout(Path({str(root)!r}))\n"
        "est = load_estate(layout.estate_copy)\n"
        f"b = department_backup(layout, est, est.department({dept!r}))\n"
        f"print({expression})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def _pack_of(demo: Demo, blob: str) -> Path:
    """The restic pack file that holds `blob`, found with restic itself."""
    import re

    root = Path(demo.status["root"])
    out = with_backup(
        root,
        DEPT,
        "restic.run(b.layout, b.passphrase('restic'), 'find', '--show-pack-id', "
        f"'--blob', {blob!r})",
    )
    match = re.search(r"belongs to pack ([0-9a-f]{64})", out)
    assert match, out
    pack = match.group(1)
    path = root / "backups" / DEPT / "restic" / "data" / pack[:2] / pack
    assert path.exists(), path
    return path


def test_drill_fails_with_a_clear_report_when_media_in_the_repository_is_corrupted(
    demo: Demo,
) -> None:
    import hashlib

    _, token = demo.fresh_user(DEPT, "media")
    data = os.urandom(300_000)  # one restic chunk: its blob id is the file's SHA-256
    _upload(demo, token, data)
    govmatrix(*backup_args("run", DEPT, "--type", "incr"))
    pack = _pack_of(demo, hashlib.sha256(data).hexdigest())
    original = pack.read_bytes()
    damaged = bytearray(original)
    for offset in range(len(damaged) // 3, len(damaged) // 3 + 64):
        damaged[offset] ^= 0xFF
    os.chmod(pack, 0o600)
    pack.write_bytes(bytes(damaged))
    try:
        proc = govmatrix(*backup_args("drill", DEPT), check=False)
    finally:
        pack.write_bytes(original)
    assert proc.returncode == 1, proc.stdout
    assert "FAILED" in proc.stdout
    report_dir = sorted((Path(demo.status["root"]) / DEPT / "drills").iterdir())[-1]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["passed"] is False
    assert any("file backup does not restore" in p for p in report["problems"]), report


def test_without_the_hsm_the_repository_does_not_open(demo: Demo) -> None:
    pin_file = Path(demo.status["root"]) / "hsm" / "pins" / f"{DEPT}.pin"
    good = pin_file.read_text()
    pin_file.write_text("00000000\n")
    try:
        proc = govmatrix(*backup_args("list", DEPT), check=False)
    finally:
        pin_file.write_text(good)
    assert proc.returncode == 1
    assert "wrong PIN for token 'home-office'" in proc.stderr.replace("\n", " ")
    assert govmatrix(*backup_args("list", DEPT)).returncode == 0


def test_no_unsealed_passphrase_or_signing_key_on_persistent_disk(demo: Demo) -> None:
    """Run after the backups and restores above. The values are read where they may be:
    memory-backed storage, or unsealed by the HSM in a separate process."""
    root = Path(demo.status["root"])
    from govmatrix.render.targets import demo_memory_dir

    needles: dict[str, bytes] = {}
    for dept in ("cabinet-office", "home-office", "hm-treasury"):
        memory = Path(demo_memory_dir(str(root), dept))
        seed = (memory / "signing.key").read_text().split()[2]
        needles[f"{dept} signing key"] = seed.encode()
        cipher = (Path(f"{memory}.backup") / "cipher.conf").read_text()
        needles[f"{dept} pgbackrest passphrase"] = (
            cipher.split("repo1-cipher-pass=")[1].split()[0].encode()
        )
        restic_pass = with_backup(root, dept, "b.passphrase('restic')")
        needles[f"{dept} restic passphrase"] = restic_pass.encode()
    assert all(len(v) >= 32 for v in needles.values()), needles.keys()
    found = []
    scanned = 0
    for base in (root, Path("/tmp"), Path("/var/tmp")):
        for directory, _, files in os.walk(base):
            if "/proc" in directory:
                continue
            for name in files:
                path = Path(directory) / name
                if path.is_symlink() or not path.is_file():
                    continue
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                scanned += 1
                found += [f"{what} in {path}" for what, needle in needles.items() if needle in data]
    assert scanned > 100
    assert found == []
