"""Signed checkpoints of the chain head, in the database and in a log outside it.

The outside log is what catches a database superuser who deletes the newest events and
the newest checkpoints together: the log still holds a signed head the database no longer
reaches. In production it sits on separate (ideally write-once) storage.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from govmatrix.archive import chain
from govmatrix.archive.config import ArchiveConfig
from govmatrix.archive.store import Head, Store


def signer(config: ArchiveConfig) -> chain.Signer:
    """The checkpoint signer the config names: the HSM's key, or a PEM file."""
    if config.checkpoint_hsm is not None:
        from govmatrix.hsm.signer import HsmEd25519Signer

        return HsmEd25519Signer(config.checkpoint_hsm.plan())
    assert config.checkpoint_key_path is not None
    return load_key(config.checkpoint_key_path)


def load_key(path: str | Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: the checkpoint key must be an Ed25519 private key")
    return key


def append_log(path: str | Path, entry: dict[str, str]) -> None:
    log = Path(path)
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_log(path: str | Path) -> list[dict[str, str]]:
    log = Path(path)
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def take(store: Store, key: chain.Signer, server_name: str, log_path: str) -> Head | None:
    """Sign the current head if it moved since the last checkpoint. Log first, then DB."""
    head = store.head()
    if head.seq == 0 or head.seq <= store.last_checkpoint_seq():
        return None
    signed_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    text = chain.statement(server_name, head.seq, head.hash, signed_at)
    sig = chain.sign(key, text)
    kid = chain.key_id(key.public_key())
    append_log(log_path, {"statement": text, "signature": sig, "key_id": kid})
    store.add_checkpoint(head, signed_at, kid, text, sig)
    return head
