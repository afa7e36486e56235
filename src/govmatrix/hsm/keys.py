"""Creating a department's keys in its tokens, once; a second run finds them and does nothing.

Private and secret keys are generated inside the token, sensitive and non-extractable: the
key material never exists outside the HSM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from govmatrix.hsm.device import HsmError, session
from govmatrix.hsm.plan import HsmPlan, PlannedKey

_CURVES = {"ec-p256": "secp256r1", "ec-p384": "secp384r1", "ed25519": "1.3.101.112"}
_PRIVATE = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.PRIVATE: True}


@dataclass(frozen=True)
class KeyState:
    role: str
    token: str
    label: str
    type: str
    created: bool


def _key_class(key: PlannedKey) -> ObjectClass:
    return ObjectClass.SECRET_KEY if key.type == "aes-256" else ObjectClass.PRIVATE_KEY


def find(sess: pkcs11.Session, key: PlannedKey) -> Any | None:
    found = list(sess.get_objects({Attribute.LABEL: key.label, Attribute.CLASS: _key_class(key)}))
    if len(found) > 1:
        raise HsmError(f"token '{key.token}' holds {len(found)} keys labelled '{key.label}'")
    return found[0] if found else None


def require(sess: pkcs11.Session, key: PlannedKey, department_id: str) -> Any:
    found = find(sess, key)
    if found is None:
        raise HsmError(
            f"key '{key.label}' ({key.role}) is missing from token '{key.token}'; run "
            f"'govmatrix hsm init {department_id}'"
        )
    return found


def _generate(sess: pkcs11.Session, key: PlannedKey) -> None:
    common = {Attribute.TOKEN: True, Attribute.LABEL: key.label, Attribute.ID: key.label.encode()}
    if key.type == "aes-256":
        sess.generate_key(
            KeyType.AES,
            256,
            store=True,
            label=key.label,
            template={
                **common,
                **_PRIVATE,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
            },
        )
        return
    public: dict[Attribute, Any] = {**common, Attribute.PRIVATE: False, Attribute.VERIFY: True}
    private: dict[Attribute, Any] = {**common, **_PRIVATE, Attribute.SIGN: True}
    if key.type.startswith("rsa-"):
        bits = int(key.type.removeprefix("rsa-"))
        sess.generate_keypair(
            KeyType.RSA, bits, store=True, public_template=public, private_template=private
        )
        return
    key_type = KeyType.EC_EDWARDS if key.type == "ed25519" else KeyType.EC
    public[Attribute.EC_PARAMS] = encode_named_curve_parameters(_CURVES[key.type])
    sess.generate_keypair(key_type, store=True, public_template=public, private_template=private)


def ensure(hsm: HsmPlan) -> list[KeyState]:
    """Create every planned key that is missing; report each key's state."""
    states = []
    for role, key in sorted(hsm.keys.items()):
        with session(hsm, key.token, rw=True) as sess:
            existing = find(sess, key)
            if existing is None:
                _generate(sess, key)
            states.append(KeyState(role, key.token, key.label, key.type, existing is None))
    return states
