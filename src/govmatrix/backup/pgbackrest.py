"""pgBackRest for one department cluster: stanza, backups, info, and physical restores.

Commands run as the postgres user. The repository passphrase reaches pgBackRest through a
config include in memory-backed storage (`BackupLayout.memory_dir`), written when the
department starts: PostgreSQL's archive_command needs it for as long as WAL is archived.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

from govmatrix.backup.layout import PG_USER, BackupLayout
from govmatrix.hsm import memory
from govmatrix.materialise import write_file


class BackupError(RuntimeError):
    pass


def _postgres_ids() -> tuple[int, int]:
    entry = pwd.getpwnam(PG_USER)
    return entry.pw_uid, entry.pw_gid


def install(layout: BackupLayout, passphrase: str, s3_credentials: dict[str, str]) -> bool:
    """Write pgbackrest.conf (no secrets) and the in-memory include; True if the conf changed."""
    uid, gid = _postgres_ids()
    for directory in (layout.log_dir, layout.pgbackrest_repo):
        if layout.department.backup.repository.type == "s3" and directory == layout.pgbackrest_repo:
            continue
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, uid, gid)
        directory.chmod(0o750)
    changed = write_file(layout.config_file, layout.pgbackrest_conf(), 0o640)
    os.chown(layout.config_file, 0, gid)
    lines = ["[global]", f"repo1-cipher-pass={passphrase}"]
    lines += [f"{key}={value}" for key, value in sorted(s3_credentials.items())]
    memory.write(layout.cipher_include, ("\n".join(lines) + "\n").encode(), (uid, gid))
    memory.ensure_dir(layout.memory_dir, (uid, gid))
    return changed


def run(layout: BackupLayout, *args: str, timeout: float = 3600) -> str:
    command = ["runuser", "-u", PG_USER, "--", *layout.pgbackrest_command().split(), *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupError(
            f"pgbackrest {args[0]} for '{layout.stanza}' failed ({proc.returncode}): "
            + " | ".join(detail[-5:])
        )
    return proc.stdout


def info(layout: BackupLayout) -> dict[str, Any]:
    data = json.loads(run(layout, "info", "--output=json"))
    stanza: dict[str, Any] = next((s for s in data if s.get("name") == layout.stanza), {})
    return stanza


def ensure_stanza(layout: BackupLayout) -> bool:
    """stanza-create once; True if created now."""
    status = info(layout).get("status", {})
    if status.get("code") == 0:
        return False
    run(layout, "stanza-create")
    return True


def backups(layout: BackupLayout) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = info(layout).get("backup", [])
    return found


def backup(layout: BackupLayout, kind: str) -> dict[str, Any]:
    if kind not in ("full", "diff", "incr"):
        raise BackupError(f"unknown backup type '{kind}'; use full, diff or incr")
    run(layout, "backup", f"--type={kind}")
    return backups(layout)[-1]


def check(layout: BackupLayout) -> None:
    """Switch WAL and wait until the segment is in the repository (archive working)."""
    run(layout, "check")


def _check_reachable(path: Path, uid: int, gid: int) -> None:
    """PostgreSQL runs as postgres: every directory above the restore must let it through."""
    for parent in path.parents:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid == uid or st.st_mode & 0o001 or (st.st_gid == gid and st.st_mode & 0o010):
            continue
        raise BackupError(
            f"{parent} is not traversable by the postgres user, which restores and runs the "
            f"cluster; choose a restore directory elsewhere, or chmod o+x {parent}"
        )


def restore(layout: BackupLayout, into: Path, to: dt.datetime | None) -> None:
    """Physical restore of the whole cluster into an empty directory `into`."""
    uid, gid = _postgres_ids()
    if into.exists() and any(into.iterdir()):
        raise BackupError(f"{into} is not empty; restores go into a fresh location")
    _check_reachable(into, uid, gid)
    into.mkdir(parents=True, exist_ok=True)
    os.chown(into, uid, gid)
    into.chmod(0o700)
    target: list[str] = []  # default: replay every archived WAL segment (latest)
    if to is not None:
        stamp = to.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        target = ["--type=time", f"--target={stamp}", "--target-action=promote"]
    run(layout, "restore", f"--pg1-path={into}", *target)
