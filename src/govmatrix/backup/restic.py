"""restic for a department's files: media, sealed keys, rendered config (with the
application-service registrations) and the archive's media.

The password goes to restic in its environment, opened from the HSM for this one command;
it is never written to a file. So do an s3 repository's access keys (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, from `DepartmentBackup._s3`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from govmatrix.backup.layout import BackupLayout
from govmatrix.backup.pgbackrest import BackupError


def _env(password: str, s3_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))}
    env.update(s3_env)
    env["RESTIC_PASSWORD"] = password
    env.setdefault("RESTIC_CACHE_DIR", "/var/cache/govmatrix-restic")
    return env


def repository_options(layout: BackupLayout) -> list[str]:
    """How restic reaches an s3 repository: path-style URLs like pgBackRest's (so any
    S3-compatible store works without wildcard DNS), the estate's region, and the store's
    private CA when it has one. The access keys come from the environment (`s3_env`)."""
    repo = layout.department.backup.repository
    if repo.type != "s3":
        return []
    options = ["--option", "s3.bucket-lookup=path"]
    if repo.region:
        options += ["--option", f"s3.region={repo.region}"]
    if layout.s3_ca_file is not None:
        options += ["--cacert", str(layout.s3_ca_file)]
    return options


def run(
    layout: BackupLayout,
    password: str,
    *args: str,
    s3_env: dict[str, str] | None = None,
    timeout: float = 3600,
) -> str:
    command = ["restic", "--repo", layout.restic_repo, *repository_options(layout), *args]
    proc = subprocess.run(
        command,
        env=_env(password, s3_env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupError(
            f"restic {args[0]} for '{layout.stanza}' failed ({proc.returncode}): "
            + " | ".join(detail[-5:])
        )
    return proc.stdout


def ensure_repository(layout: BackupLayout, password: str, s3_env: dict[str, str]) -> bool:
    """`restic init` once; True if created now."""
    if layout.department.backup.repository.type == "local":
        repo = Path(layout.restic_repo)
        if (repo / "config").exists():
            return False
        repo.parent.mkdir(parents=True, exist_ok=True)
    else:
        try:
            run(layout, password, "cat", "config", s3_env=s3_env)
            return False
        except BackupError:
            pass
    run(layout, password, "init", s3_env=s3_env)
    return True


def backup(layout: BackupLayout, password: str, s3_env: dict[str, str]) -> dict[str, Any]:
    paths = [str(p) for p in layout.files if p.exists()]
    out = run(
        layout,
        password,
        "backup",
        "--json",
        "--tag",
        f"department={layout.stanza}",
        *paths,
        s3_env=s3_env,
    )
    summary = [json.loads(line) for line in out.splitlines() if '"message_type":"summary"' in line]
    if not summary:
        raise BackupError(f"restic backup for '{layout.stanza}' printed no summary")
    result: dict[str, Any] = summary[-1]
    return result


def snapshots(layout: BackupLayout, password: str, s3_env: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        run(layout, password, "snapshots", "--json", s3_env=s3_env)
    )
    return found


def restore(
    layout: BackupLayout, password: str, snapshot: str, into: Path, s3_env: dict[str, str]
) -> None:
    into.mkdir(parents=True, exist_ok=True)
    run(layout, password, "restore", snapshot, "--target", str(into), s3_env=s3_env)


def forget(layout: BackupLayout, password: str, s3_env: dict[str, str]) -> None:
    """Keep as many daily snapshots as pgBackRest keeps differential backups."""
    keep = str(layout.department.backup.retention.diff)
    run(layout, password, "forget", "--prune", "--keep-daily", keep, s3_env=s3_env)
