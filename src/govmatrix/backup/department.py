"""One department's backups as a whole: set up, back up, restore, on a given layout."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govmatrix import secretref
from govmatrix.backup import passphrases, pgbackrest, restic
from govmatrix.backup.layout import BackupLayout
from govmatrix.backup.pgbackrest import BackupError
from govmatrix.hsm.plan import HsmPlan


def _secret(ref: str | None, what: str) -> str:
    if ref is None:
        raise BackupError(f"{what} is not set in the estate")
    try:
        return secretref.read(ref, what)
    except secretref.SecretRefError as exc:
        raise BackupError(str(exc)) from None


@dataclass
class BackupReport:
    kind: str
    database: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class DepartmentBackup:
    def __init__(self, layout: BackupLayout, hsm: HsmPlan | None):
        self.layout = layout
        self.hsm = hsm

    @property
    def is_s3(self) -> bool:
        return self.layout.department.backup.repository.type == "s3"

    def s3_credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """S3 credentials for pgBackRest (config keys) and restic (environment)."""
        if not self.is_s3:
            return {}, {}
        repo = self.layout.department.backup.repository
        key = _secret(repo.access_key, "backup.repository.access_key")
        secret = _secret(repo.secret_key, "backup.repository.secret_key")
        return (
            {"repo1-s3-key": key, "repo1-s3-key-secret": secret},
            {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret},
        )

    def passphrase(self, repository: str) -> str:
        return passphrases.open_passphrase(self.hsm, self.layout.sealed_dir, repository)

    def prepare(self) -> None:
        """Passphrases, pgBackRest's config and in-memory include. Before PostgreSQL starts:
        its archive_command reads them."""
        passphrases.ensure(self.hsm, self.layout.sealed_dir)
        pg_s3, _ = self.s3_credentials()
        pgbackrest.install(self.layout, self.passphrase("pgbackrest"), pg_s3)

    def ready(self) -> DepartmentBackup:
        """Prepared for a command: after a reboot (tmpfs emptied) or with the department
        down, which is when restores are needed most."""
        if not self.layout.cipher_include.exists():
            self.prepare()
        return self

    def initialise(self) -> bool:
        """Stanza and restic repository, then a first full backup if there is none, so
        point-in-time recovery works from the start. True if a backup was taken."""
        _, restic_env = self.s3_credentials()
        pgbackrest.ensure_stanza(self.layout)
        restic.ensure_repository(self.layout, self.passphrase("restic"), restic_env)
        if pgbackrest.backups(self.layout):
            return False
        self.backup("full")
        return True

    def backup(self, kind: str) -> BackupReport:
        started = dt.datetime.now(dt.UTC)
        _, restic_env = self.s3_credentials()
        report = BackupReport(kind)
        self.ready()
        report.database = pgbackrest.backup(self.layout, kind)
        report.files = restic.backup(self.layout, self.passphrase("restic"), restic_env)
        report.seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
        return report

    def files_backup(self) -> dict[str, Any]:
        _, restic_env = self.s3_credentials()
        return restic.backup(self.layout, self.passphrase("restic"), restic_env)

    def restore_database(self, into: Path, to: dt.datetime | None) -> None:
        pgbackrest.restore(self.ready().layout, into, to)

    def restore_files(self, into: Path, before: dt.datetime | None) -> dict[str, Any]:
        """The newest restic snapshot taken at or before `before` (or the newest)."""
        _, restic_env = self.s3_credentials()
        password = self.passphrase("restic")
        snaps = restic.snapshots(self.layout, password, restic_env)
        if before is not None:
            snaps = [s for s in snaps if dt.datetime.fromisoformat(s["time"]) <= before]
        if not snaps:
            raise BackupError(f"no file snapshot of '{self.layout.stanza}' to restore")
        chosen = snaps[-1]
        restic.restore(self.layout, password, chosen["short_id"], into, restic_env)
        return chosen
