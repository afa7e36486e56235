"""Where a department's backups, their configuration and their unsealed passphrases live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from govmatrix.estate.schema import Department
from govmatrix.render.environment import render_template

# pgBackRest and PostgreSQL both run as Debian's postgres user.
PG_USER = "postgres"


@dataclass(frozen=True)
class BackupLayout:
    department: Department
    stanza: str
    pgdata: Path
    pg_socket: Path
    pg_port: int
    config_file: Path  # pgbackrest.conf: no secrets (0640 root:postgres)
    memory_dir: Path  # tmpfs: the unsealed cipher passphrase, pgBackRest's lock files
    log_dir: Path
    repo_root: Path  # local repositories: <repo_root>/pgbackrest, <repo_root>/restic
    sealed_dir: Path  # sealed passphrases (and the sealed signing key) live here
    files: tuple[Path, ...]  # what restic backs up
    media_store: Path

    @property
    def pgbackrest_repo(self) -> Path:
        configured = self.department.backup.repository.path
        return (
            Path(configured) / self.stanza / "pgbackrest"
            if configured
            else self.repo_root / "pgbackrest"
        )

    @property
    def restic_repo(self) -> str:
        repo = self.department.backup.repository
        if repo.type == "s3":
            endpoint = (repo.endpoint or "https://s3.amazonaws.com").rstrip("/")
            return f"s3:{endpoint}/{repo.bucket}/{self.stanza}/restic"
        configured = repo.path
        return str(
            Path(configured) / self.stanza / "restic" if configured else self.repo_root / "restic"
        )

    @property
    def cipher_include(self) -> Path:
        return self.memory_dir / "cipher.conf"

    @property
    def s3_endpoint_host(self) -> str:
        endpoint = self.department.backup.repository.endpoint or "https://s3.amazonaws.com"
        return urlsplit(endpoint).hostname or ""

    @property
    def s3_endpoint_port(self) -> int | None:
        endpoint = self.department.backup.repository.endpoint or ""
        return urlsplit(endpoint).port

    def pgbackrest_conf(self) -> str:
        return render_template(
            "backup/pgbackrest.conf.j2",
            b=self,
            dept=self.department,
            repo=self.department.backup.repository,
        )

    def archive_command(self) -> str:
        return f"{self.pgbackrest_command()} archive-push %p"

    def pgbackrest_command(self) -> str:
        return (
            f"pgbackrest --config={self.config_file} --config-include-path={self.memory_dir} "
            f"--stanza={self.stanza}"
        )
