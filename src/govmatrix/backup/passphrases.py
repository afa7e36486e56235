"""The repositories' passphrases: generated once, kept only sealed by the HSM's
key-encryption key, and opened into this process's memory when a backup or restore runs.

Without an HSM (hsm.enabled false) they are 0600 files instead; the docs say so.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from govmatrix.hsm import envelope
from govmatrix.hsm.plan import HsmPlan
from govmatrix.materialise import write_file

REPOSITORIES = ("pgbackrest", "restic")


def _purpose(repository: str) -> str:
    return f"backup-passphrase:{repository}"


def sealed_file(sealed_dir: Path, repository: str) -> Path:
    return sealed_dir / f"{repository}.pass.sealed"


def plain_file(sealed_dir: Path, repository: str) -> Path:
    return sealed_dir / f".{repository}.pass"


def ensure(hsm: HsmPlan | None, sealed_dir: Path) -> list[str]:
    """Create the passphrases that do not exist yet; never replace one (that would orphan
    the repository it encrypts). Returns the repositories whose passphrase was created."""
    created = []
    for repository in REPOSITORIES:
        value = secrets.token_urlsafe(48).encode()
        if hsm is None:
            path = plain_file(sealed_dir, repository)
            if not path.exists():
                write_file(path, value.decode() + "\n", 0o600)
                created.append(repository)
        elif not sealed_file(sealed_dir, repository).exists():
            envelope.seal_file(
                hsm, "backup_kek", _purpose(repository), value, sealed_file(sealed_dir, repository)
            )
            created.append(repository)
    return created


def open_passphrase(hsm: HsmPlan | None, sealed_dir: Path, repository: str) -> str:
    if hsm is None:
        return plain_file(sealed_dir, repository).read_text().strip()
    path = sealed_file(sealed_dir, repository)
    return envelope.unseal_file(hsm, "backup_kek", _purpose(repository), path).decode()
