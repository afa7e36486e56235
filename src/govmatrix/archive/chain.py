"""The hash chain and the signed checkpoints of its head. Pure functions, no I/O."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Protocol

from canonicaljson import encode_canonical_json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Signer(Protocol):
    """An Ed25519 private key in software, or one held by the HSM (govmatrix.hsm.signer)."""

    def sign(self, data: bytes) -> bytes: ...

    def public_key(self) -> Ed25519PublicKey: ...


GENESIS = bytes(32)
CHECKPOINT_TYPE = "govmatrix.archive.checkpoint.v1"


def stored_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as the archive keeps it: everything but the server-local 'unsigned'."""
    return {k: v for k, v in event.items() if k != "unsigned"}


def canonical(event: dict[str, Any]) -> bytes:
    return bytes(encode_canonical_json(stored_event(event)))


def link(prev_hash: bytes, event: dict[str, Any]) -> bytes:
    """SHA-256 over the previous link and the event's Matrix canonical JSON."""
    return hashlib.sha256(prev_hash + canonical(event)).digest()


def audit_link(
    prev_hash: bytes,
    seq: int,
    officer: str,
    case_ref: str,
    query: dict[str, Any],
    outcome: str,
    result_count: int,
) -> bytes:
    """The access log's own chain: SHA-256 over the previous link and the entry."""
    entry = {
        "officer": officer,
        "case": case_ref,
        "query": query,
        "outcome": outcome,
        "results": result_count,
        "seq": seq,
    }
    return hashlib.sha256(prev_hash + bytes(encode_canonical_json(entry))).digest()


def statement(server_name: str, head_seq: int, head_hash: bytes, signed_at: str) -> str:
    return bytes(
        encode_canonical_json(
            {
                "type": CHECKPOINT_TYPE,
                "server_name": server_name,
                "head_seq": head_seq,
                "head_hash": head_hash.hex(),
                "signed_at": signed_at,
            }
        )
    ).decode()


def key_id(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Signer, text: str) -> str:
    return base64.b64encode(key.sign(text.encode())).decode()


def signature_valid(public: Ed25519PublicKey, text: str, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public.verify(base64.b64decode(signature), text.encode())
    except (InvalidSignature, ValueError):
        return False
    return True
