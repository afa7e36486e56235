"""Helpers shared by the benchmarks (run as scripts: this folder is on sys.path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def demo_status(estate: Path, root: Path) -> dict[str, Any]:
    """`govmatrix demo status --json` of a running demo; exits if it is not running."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "govmatrix.cli",
            "demo",
            "status",
            "--json",
            "--estate",
            str(estate),
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    data: dict[str, Any] = json.loads(proc.stdout or "{}")
    if not data.get("running"):
        raise SystemExit("the demo is not running: start it with 'govmatrix demo up'")
    return data


def pct(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (no interpolation): an observed value."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def govmatrix(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """`govmatrix ARGS` in a subprocess of this interpreter; exits with its output on failure."""
    proc = subprocess.run(
        [sys.executable, "-m", "govmatrix.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise SystemExit(f"govmatrix {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def scratch_dir(prefix: str) -> Path:
    """A new directory under /var/tmp that PostgreSQL's user can traverse: restored clusters
    run as postgres, so they cannot live under a private temporary directory."""
    import uuid

    path = Path("/var/tmp") / f"{prefix}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    path.chmod(0o755)
    return path


def demo_backup_layout(root: Path, dept_id: str) -> Any:
    """The BackupLayout of a demo department (paths only: no HSM is opened)."""
    from govmatrix.demo.backups import backup_layout
    from govmatrix.demo.layout import Layout
    from govmatrix.estate import load_estate

    layout = Layout(root.resolve())
    estate = load_estate(layout.estate_copy)
    return backup_layout(layout, estate, estate.department(dept_id))


def live_db(root: Path, dept_id: str, dbname: str = "synapse") -> Any:
    """A connection to a demo department's live PostgreSQL, as postgres (local trust)."""
    import psycopg

    return psycopg.connect(
        host=str(root / dept_id / "pgsocket"), user="postgres", dbname=dbname, autocommit=True
    )


async def fresh_user(http: Any, admin_token: str, server_name: str, prefix: str) -> str:
    """A new user with message rate limits lifted (admin API); returns its access token.
    `http` is an httpx.AsyncClient on the department's client URL."""
    import uuid
    from urllib.parse import quote

    user = f"@{prefix}-{uuid.uuid4().hex[:8]}:{server_name}"
    auth = {"Authorization": f"Bearer {admin_token}"}
    (
        await http.put(
            f"/_synapse/admin/v2/users/{quote(user)}",
            headers=auth,
            json={"password": uuid.uuid4().hex},
        )
    ).raise_for_status()
    (
        await http.post(
            f"/_synapse/admin/v1/users/{quote(user)}/override_ratelimit",
            headers=auth,
            json={"messages_per_second": 0, "burst_count": 0},
        )
    ).raise_for_status()
    login = await http.post(f"/_synapse/admin/v1/users/{quote(user)}/login", headers=auth, json={})
    login.raise_for_status()
    return str(login.json()["access_token"])
