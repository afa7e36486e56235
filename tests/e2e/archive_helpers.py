"""Reach a demo department's archive as an operator would on the host: its database over
the cluster's private socket, its process through supervisord, its config file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

from tests.e2e.conftest import Demo

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def superuser(demo: Demo, dept_id: str, dbname: str = "archive") -> psycopg.Connection[Any]:
    socket = Path(demo.status["root"]) / dept_id / "pgsocket"
    return psycopg.connect(
        host=str(socket), port=5432, user="postgres", dbname=dbname, autocommit=True
    )


def config_path(demo: Demo, dept_id: str) -> Path:
    return Path(demo.status["root"]) / dept_id / "config" / "archive" / "archive.yaml"


def config(demo: Demo, dept_id: str) -> dict[str, Any]:
    return dict(yaml.safe_load(config_path(demo, dept_id).read_text()))


def supervisorctl(demo: Demo, *args: str) -> str:
    conf = Path(demo.status["root"]) / "supervisord.conf"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("supervisorctl")), "-c", str(conf), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout + proc.stderr


def archive_pid(demo: Demo, dept_id: str) -> int:
    out = supervisorctl(demo, "pid", f"archive-{dept_id}").strip()
    return int(out)


def verify(config_file: Path, dsn: str | None = None) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable,
        "-m",
        "govmatrix.cli",
        "archive",
        "verify",
        "--config",
        str(config_file),
    ]
    if dsn:
        args += ["--dsn", dsn]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=300)


def archived_ids(demo: Demo, dept_id: str, room_ids: list[str]) -> list[str]:
    with superuser(demo, dept_id) as conn:
        rows = conn.execute(
            "SELECT event_id FROM archive_events WHERE room_id = ANY(%s)", (room_ids,)
        ).fetchall()
    return [r[0] for r in rows]


def flags_cli(demo: Demo, dept_id: str) -> subprocess.CompletedProcess[str]:
    """`govmatrix archive flags --json` on the host, as an operator reads them."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "govmatrix.cli",
            "archive",
            "flags",
            "--config",
            str(config_path(demo, dept_id)),
            "--json",
        ],
        capture_output=True,
        text=True,
    )


def officer_api(demo: Demo, dept_id: str) -> tuple[httpx.Client, str]:
    """The archive's records-officer API, and the officer's credential as the operator hands
    it over (it lives in a 0600 file)."""
    cfg = config(demo, dept_id)
    officer = Path(cfg["officer_token_path"]).read_text().strip()
    base = f"http://{cfg['listen']['address']}:{cfg['listen']['port']}"
    return httpx.Client(base_url=base, timeout=30), officer
