"""Tamper evidence of the archive, on a copy of a department's archive database and of its
outside checkpoint log (the live archive is append-only and stays untouched)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from govmatrix.demo.system import wait_for
from tests.e2e.archive_helpers import PG_BIN, config, config_path, superuser, verify
from tests.e2e.clients import client
from tests.e2e.conftest import Demo, run

pytestmark = pytest.mark.e2e
DEPT = "hm-treasury"


@pytest.fixture
def copy(demo: Demo, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A scratch copy: database archive_copy_<n> and a config pointing at a copied log."""

    async def traffic() -> None:
        c = client(demo, DEPT, "alice")
        room = await c.room_create(name="tamper test")
        for i in range(5):
            await c.room_send(
                room.room_id, "m.room.message", {"msgtype": "m.text", "body": f"t{i}"}
            )
        await c.close()

    run(traffic())
    cfg = config(demo, DEPT)
    log = Path(cfg["checkpoint_log"])
    with superuser(demo, DEPT) as conn:

        def head_signed() -> bool:
            head = conn.execute("SELECT max(seq) FROM archive_events").fetchone()[0]
            signed = conn.execute("SELECT max(head_seq) FROM archive_checkpoints").fetchone()[0]
            return bool(head) and signed == head

        wait_for(head_signed, "the archive to receive the events and sign its head", 60)
    name = f"archive_copy_{int(time.time() * 1000)}"
    socket = Path(demo.status["root"]) / DEPT / "pgsocket"
    with superuser(demo, DEPT, "postgres") as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dump = subprocess.run(
        [str(PG_BIN / "pg_dump"), "-h", str(socket), "-U", "postgres", "archive"],
        capture_output=True,
        check=True,
    )
    subprocess.run(
        [str(PG_BIN / "psql"), "-q", "-h", str(socket), "-U", "postgres", "-d", name],
        input=dump.stdout,
        capture_output=True,
        check=True,
    )
    shutil.copy(log, tmp_path / "checkpoints.jsonl")
    cfg["checkpoint_log"] = str(tmp_path / "checkpoints.jsonl")
    copied = tmp_path / "archive.yaml"
    copied.write_text(yaml.safe_dump(cfg))
    dsn = f"host={socket} port=5432 user=postgres dbname={name}"
    try:
        yield copied, dsn
    finally:
        with superuser(demo, DEPT, "postgres") as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _as_superuser_bypassing_triggers(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # superuser: triggers off
        for statement in statements:
            conn.execute(statement)


def test_live_archive_verifies(demo: Demo) -> None:
    result = verify(config_path(demo, DEPT))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "archive intact" in result.stdout


def test_copy_verifies_before_tampering(copy: tuple[Path, str]) -> None:
    cfg, dsn = copy
    result = verify(cfg, dsn)
    assert result.returncode == 0, result.stdout + result.stderr


def test_modified_row_is_named(copy: tuple[Path, str]) -> None:
    cfg, dsn = copy
    with psycopg.connect(dsn) as conn:
        seq, event_id = conn.execute(
            "SELECT seq, event_id FROM archive_events WHERE type = 'm.room.message'"
            " ORDER BY seq LIMIT 1"
        ).fetchone()
    _as_superuser_bypassing_triggers(
        dsn,
        f"UPDATE archive_events SET event = jsonb_set(event, '{{content,body}}', '\"forged\"')"
        f" WHERE seq = {seq}",
    )
    result = verify(cfg, dsn)
    assert result.returncode == 1
    assert f"first bad: row seq={seq} event_id={event_id}" in result.stderr, result.stderr


def test_deleted_row_is_named(copy: tuple[Path, str]) -> None:
    cfg, dsn = copy
    with psycopg.connect(dsn) as conn:
        seq = conn.execute("SELECT min(seq) + 2 FROM archive_events").fetchone()[0]
    _as_superuser_bypassing_triggers(dsn, f"DELETE FROM archive_events WHERE seq = {seq}")
    result = verify(cfg, dsn)
    assert result.returncode == 1
    assert f"first bad: row seq={seq}" in result.stderr, result.stderr


def test_removed_checkpoint_signature_fails(copy: tuple[Path, str]) -> None:
    cfg, dsn = copy
    _as_superuser_bypassing_triggers(
        dsn,
        "UPDATE archive_checkpoints SET signature = ''"
        " WHERE head_seq = (SELECT max(head_seq) FROM archive_checkpoints)",
    )
    result = verify(cfg, dsn)
    assert result.returncode == 1
    assert "signature does not verify" in result.stderr, result.stderr


def test_truncated_tail_with_its_checkpoints_is_caught_by_the_outside_log(
    copy: tuple[Path, str],
) -> None:
    cfg, dsn = copy
    with psycopg.connect(dsn) as conn:
        head = conn.execute("SELECT max(seq) FROM archive_events").fetchone()[0]
    cut = head - 3
    _as_superuser_bypassing_triggers(
        dsn,
        f"DELETE FROM archive_events WHERE seq > {cut}",
        f"DELETE FROM archive_checkpoints WHERE head_seq > {cut}",
    )
    result = verify(cfg, dsn)
    assert result.returncode == 1, result.stdout
    assert "checkpoint log line" in result.stderr, result.stderr
    assert "rows were removed" in result.stderr or "missing from the database" in result.stderr


def test_service_role_cannot_change_and_owner_is_refused(demo: Demo) -> None:
    with superuser(demo, DEPT) as conn:
        for role in ("archive", "archive_owner"):
            conn.execute(f"SET ROLE {role}")
            for statement in (
                "UPDATE archive_events SET body = 'x' WHERE seq = 1",
                "DELETE FROM archive_events WHERE seq = 1",
                "TRUNCATE archive_events",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
            conn.execute("RESET ROLE")
        assert conn.execute("SELECT count(*) FROM archive_events WHERE seq = 1").fetchone()[0] == 1


@pytest.fixture
def audited(demo: Demo) -> None:
    """At least one access-log entry in the live archive before it is copied."""
    import httpx

    cfg = config(demo, DEPT)
    officer = Path(cfg["officer_token_path"]).read_text().strip()
    base = f"http://{cfg['listen']['address']}:{cfg['listen']['port']}"
    with httpx.Client(base_url=base, timeout=30) as http:
        http.post(
            "/api/v1/search",
            json={"case": "AUDIT-TEST", "terms": "anything"},
            headers={"Authorization": f"Bearer {officer}"},
        ).raise_for_status()


def test_altered_access_log_entry_is_named(audited: None, copy: tuple[Path, str]) -> None:
    cfg, dsn = copy
    with psycopg.connect(dsn) as conn:
        seq = conn.execute("SELECT max(seq) FROM archive_access_log").fetchone()[0]
    _as_superuser_bypassing_triggers(
        dsn, f"UPDATE archive_access_log SET case_ref = 'SOMETHING-ELSE' WHERE seq = {seq}"
    )
    result = verify(cfg, dsn)
    assert result.returncode == 1
    assert f"access log seq={seq}" in result.stderr, result.stderr
