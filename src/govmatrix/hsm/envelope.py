"""Secrets sealed by an AES-256 key that never leaves the HSM.

PKCS#11 key wrapping (C_WrapKey) moves key objects; passphrases and Synapse's signing key
are data, so they are sealed with CKM_AES_GCM inside the token under the non-extractable
key-encryption key. The additional data binds each blob to its department and purpose, so a
blob copied into another slot fails to open instead of yielding the wrong secret.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pkcs11.exceptions as p11e
from pkcs11 import GCMParams, Mechanism

from govmatrix.estate.schema import KeyRole
from govmatrix.hsm import keys
from govmatrix.hsm.device import HsmError, session
from govmatrix.hsm.plan import HsmPlan

FORMAT = "govmatrix.sealed.v1"
TAG_BITS = 128


@dataclass(frozen=True)
class Sealed:
    token: str
    key: str
    purpose: str
    iv: bytes
    ciphertext: bytes

    def dumps(self) -> str:
        return (
            json.dumps(
                {
                    "format": FORMAT,
                    "mechanism": "CKM_AES_GCM",
                    "token": self.token,
                    "key": self.key,
                    "purpose": self.purpose,
                    "iv": base64.b64encode(self.iv).decode(),
                    "ciphertext": base64.b64encode(self.ciphertext).decode(),
                },
                indent=2,
            )
            + "\n"
        )

    @staticmethod
    def loads(text: str, where: str) -> Sealed:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT}")
            return Sealed(
                token=data["token"],
                key=data["key"],
                purpose=data["purpose"],
                iv=base64.b64decode(data["iv"]),
                ciphertext=base64.b64decode(data["ciphertext"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise HsmError(f"{where} is not a sealed govmatrix secret: {exc}") from None


def _aad(hsm: HsmPlan, purpose: str) -> bytes:
    return f"govmatrix:{hsm.department_id}:{purpose}".encode()


def seal(hsm: HsmPlan, role: KeyRole, purpose: str, secret: bytes) -> Sealed:
    key = hsm.key(role)
    iv = os.urandom(12)
    with session(hsm, key.token) as sess:
        kek = keys.require(sess, key, hsm.department_id)
        ciphertext = kek.encrypt(
            secret,
            mechanism=Mechanism.AES_GCM,
            mechanism_param=GCMParams(iv, _aad(hsm, purpose), TAG_BITS),
        )
    return Sealed(key.token, key.label, purpose, iv, bytes(ciphertext))


def unseal(hsm: HsmPlan, role: KeyRole, sealed: Sealed, expected_purpose: str) -> bytes:
    if sealed.purpose != expected_purpose:
        raise HsmError(f"sealed blob is for '{sealed.purpose}', not '{expected_purpose}'")
    key = hsm.key(role)
    if (sealed.token, sealed.key) != (key.token, key.label):
        raise HsmError(
            f"'{expected_purpose}' was sealed by key '{sealed.key}' in token '{sealed.token}', "
            f"but the estate names key '{key.label}' in token '{key.token}'"
        )
    with session(hsm, key.token) as sess:
        kek = keys.require(sess, key, hsm.department_id)
        try:
            plain = kek.decrypt(
                sealed.ciphertext,
                mechanism=Mechanism.AES_GCM,
                mechanism_param=GCMParams(sealed.iv, _aad(hsm, expected_purpose), TAG_BITS),
            )
        # Modules differ in how they report a failed GCM tag (SoftHSM2: CKR_GENERAL_ERROR).
        except (
            p11e.EncryptedDataInvalid,
            p11e.EncryptedDataLenRange,
            p11e.FunctionFailed,
            p11e.GeneralError,
        ):
            raise HsmError(
                f"'{expected_purpose}' does not open with key '{key.label}': the blob was "
                "altered or sealed by another key"
            ) from None
    return bytes(plain)


def seal_file(hsm: HsmPlan, role: KeyRole, purpose: str, secret: bytes, path: Path) -> None:
    from govmatrix.materialise import write_file

    write_file(path, seal(hsm, role, purpose, secret).dumps(), 0o600)


def unseal_file(hsm: HsmPlan, role: KeyRole, purpose: str, path: Path) -> bytes:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise HsmError(f"sealed '{purpose}' not found at {path}") from None
    return unseal(hsm, role, Sealed.loads(text, str(path)), purpose)
