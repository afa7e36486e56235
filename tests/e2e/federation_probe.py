"""Send one real, signed server-to-server request as a department's homeserver.

Used to show what a server answers at the federation layer, where Synapse's client API
folds outbound refusals into a generic 502. The request is signed with the department's
own signing key (X-Matrix authorisation), exactly as its Synapse would sign it.
"""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def load_signing_key(path: Path) -> tuple[str, Ed25519PrivateKey]:
    """Parse Synapse's 'ed25519 <version> <seed>' signing key line."""
    algorithm, version, seed = path.read_text().split()
    padded = seed + "=" * (-len(seed) % 4)
    return f"{algorithm}:{version}", Ed25519PrivateKey.from_private_bytes(base64.b64decode(padded))


def signed_get(
    origin: str,
    key: tuple[str, Ed25519PrivateKey],
    destination: str,
    port: int,
    path: str,
    context: ssl.SSLContext,
) -> httpx.Response:
    key_id, private = key
    request = {"method": "GET", "uri": path, "origin": origin, "destination": destination}
    signature = _b64(private.sign(_canonical(request)))
    auth = (
        f'X-Matrix origin="{origin}",destination="{destination}",key="{key_id}",sig="{signature}"'
    )
    with httpx.Client(verify=context, timeout=15) as client:
        return client.get(f"https://{destination}:{port}{path}", headers={"Authorization": auth})
