"""Generate the secret values a department needs (`generate` references in the estate)."""

from __future__ import annotations

import base64
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from govmatrix.render.secrets import SecretSpec


def token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def signing_key_from_seed(seed: bytes, key_id: str) -> str:
    """A Synapse signing key file line: 'ed25519 <key id> <unpadded base64 seed>'."""
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    return f"ed25519 {key_id} {base64.b64encode(seed).decode().rstrip('=')}\n"


def ed25519_pem_from_seed(seed: bytes) -> str:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def signing_key(key_id: str | None = None) -> str:
    return signing_key_from_seed(secrets.token_bytes(32), key_id or "a_" + secrets.token_hex(2))


def ed25519_pem() -> str:
    return ed25519_pem_from_seed(secrets.token_bytes(32))


def rsa_pem(bits: int = 2048) -> str:
    """PKCS#1 PEM, which LemonLDAP::NG's Crypt::OpenSSL::RSA reads in every version."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def generate(spec: SecretSpec) -> str:
    if spec.kind == "signing_key":
        return signing_key()
    if spec.kind == "ed25519_pem":
        return ed25519_pem()
    if spec.kind == "rsa_pem":
        return rsa_pem()
    return token()


def generate_all(specs: tuple[SecretSpec, ...]) -> dict[str, str]:
    return {spec.name: generate(spec) for spec in specs}
