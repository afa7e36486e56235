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
from urllib.parse import urlsplit

from govmatrix.backup.layout import PG_USER, BackupLayout
from govmatrix.hsm import memory
from govmatrix.materialise import write_file


class BackupError(RuntimeError):
    pass


def _postgres_ids() -> tuple[int, int]:
    entry = pwd.getpwnam(PG_USER)
    return entry.pw_uid, entry.pw_gid


def _check_s3(layout: BackupLayout, uid: int, gid: int) -> None:
    """What pgBackRest needs of an s3 repository, said before it fails less clearly."""
    if urlsplit(layout.s3_endpoint).scheme != "https":
        raise BackupError(
            f"backup.repository.endpoint of '{layout.stanza}' is {layout.s3_endpoint}: "
            "pgBackRest speaks only HTTPS to an S3-compatible store; give an https:// endpoint "
            "(with ca_file if the store's certificate comes from a private CA)"
        )
    ca_file = layout.s3_ca_file
    if ca_file is None:
        return
    if not ca_file.is_file():
        raise BackupError(
            f"backup.repository.ca_file of '{layout.stanza}' names {ca_file}, which does not "
            "exist; put the CA certificate of the object store there"
        )
    st = ca_file.stat()
    readable = st.st_uid == uid or st.st_mode & 0o004 or (st.st_gid == gid and st.st_mode & 0o040)
    if not readable:
        raise BackupError(
            f"backup.repository.ca_file {ca_file} is not readable by the postgres user, "
            f"which runs pgBackRest; chmod o+r {ca_file} (it is a certificate, not a secret)"
        )
    _check_reachable(ca_file, uid, gid)


def install(layout: BackupLayout, passphrase: str, s3_credentials: dict[str, str]) -> bool:
    """Write pgbackrest.conf (no secrets) and the in-memory include; True if the conf changed."""
    uid, gid = _postgres_ids()
    if layout.department.backup.repository.type == "s3":
        _check_s3(layout, uid, gid)
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
    """pgBackRest as the postgres user (a plain setuid in the child: no PAM, no runuser, so
    it works inside the sandbox of the on-prem backup units)."""
    uid, gid = _postgres_ids()
    proc = subprocess.run(
        [*layout.pgbackrest_command().split(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        user=uid,
        group=gid,
        extra_groups=[],
        cwd="/",
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupError(
            f"pgbackrest {args[0]} for '{layout.stanza}' failed ({proc.returncode}): "
            + " | ".join(detail[-5:])
            + _hint(layout, proc.stderr + proc.stdout)
        )
    return proc.stdout


def _hint(layout: BackupLayout, output: str) -> str:
    if "unable to find hostname" in output and "in certificate" in output:
        # pgBackRest 2.45 matches the endpoint only against the certificate's DNS names.
        return (
            f" (pgBackRest checks '{layout.s3_endpoint_host}' against the DNS names of the "
            "store's certificate only, never its IP addresses: give the endpoint by a host name "
            "that the certificate lists)"
        )
    if "unable to verify certificate" in output:
        return (
            " (the object store's certificate is not signed by a trusted CA: set "
            "backup.repository.ca_file to the CA that signs it)"
        )
    return ""


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
