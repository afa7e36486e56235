"""Synapse's Ed25519 signing key, kept only sealed by the HSM's signing-wrap key.

Synapse reads its signing key from a file, so at service start the sealed key is opened and
written to memory-backed storage (`Target.memory_dir`); it never touches persistent disk.
"""

from __future__ import annotations

from pathlib import Path

from govmatrix.hsm import envelope, memory
from govmatrix.hsm.plan import HsmPlan
from govmatrix.secretgen import signing_key

PURPOSE = "synapse-signing-key"
SEALED_NAME = "signing.key.sealed"


def sealed_path(secrets_dir: str) -> Path:
    return Path(secrets_dir) / SEALED_NAME


def ensure_sealed(hsm: HsmPlan, path: Path, existing: str | None = None) -> bool:
    """Seal a signing key at `path` unless one is there; True if written.

    `existing` adopts a key that was kept in plain form before the HSM was enabled, so the
    server's identity (and its signatures on past events) carries over."""
    if path.exists():
        return False
    key = existing if existing is not None else signing_key()
    envelope.seal_file(hsm, "signing_wrap", PURPOSE, key.encode(), path)
    return True


def unseal_to_memory(
    hsm: HsmPlan, path: Path, destination: Path, owner: tuple[int, int] | None = None
) -> None:
    memory.write(destination, envelope.unseal_file(hsm, "signing_wrap", PURPOSE, path), owner)
