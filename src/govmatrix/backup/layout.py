"""Where a department's backups, their configuration and their unsealed passphrases live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from govmatrix.estate.schema import Department
from govmatrix.render.environment import render_template

# pgBackRest and PostgreSQL both run as Debian's postgres user.
PG_USER = "postgres"
# An s3 repository without an endpoint or a region: AWS S3 itself, in pgBackRest's default
# region.
DEFAULT_S3_ENDPOINT = "https://s3.amazonaws.com"
DEFAULT_S3_REGION = "us-east-1"


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
    # pgbackrest.conf as rendered on the controller: hosts get it in backup.json, since
    # the installed package carries no templates.
    rendered_conf: str | None = None

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
            return f"s3:{self.s3_endpoint}/{repo.bucket}/{self.stanza}/restic"
        configured = repo.path
        return str(
            Path(configured) / self.stanza / "restic" if configured else self.repo_root / "restic"
        )

    @property
    def cipher_include(self) -> Path:
        return self.memory_dir / "cipher.conf"

    @property
    def s3_endpoint(self) -> str:
        """The store's URL with a scheme: https unless the estate names another (pgBackRest
        speaks only HTTPS to S3; `pgbackrest.install` refuses anything else)."""
        endpoint = (self.department.backup.repository.endpoint or DEFAULT_S3_ENDPOINT).rstrip("/")
        return endpoint if "://" in endpoint else f"https://{endpoint}"

    @property
    def s3_endpoint_host(self) -> str:
        return urlsplit(self.s3_endpoint).hostname or ""

    @property
    def s3_endpoint_port(self) -> int | None:
        return urlsplit(self.s3_endpoint).port

    @property
    def s3_region(self) -> str:
        return self.department.backup.repository.region or DEFAULT_S3_REGION

    @property
    def s3_ca_file(self) -> Path | None:
        """The private CA the store's certificate is checked against (`ca_file: file:PATH`),
        or None for the system's trusted CAs."""
        ca_file = self.department.backup.repository.ca_file
        return Path(ca_file.removeprefix("file:")) if ca_file else None

    def pgbackrest_conf(self) -> str:
        if self.rendered_conf is not None:
            return self.rendered_conf
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
