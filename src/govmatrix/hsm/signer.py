"""Ed25519 signatures made inside the HSM (the archive's checkpoint key)."""

from __future__ import annotations

import threading
from contextlib import ExitStack

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pkcs11 import Attribute, Mechanism, ObjectClass

from govmatrix.estate.schema import KeyRole
from govmatrix.hsm import keys
from govmatrix.hsm.device import HsmError, session
from govmatrix.hsm.plan import HsmPlan


def _raw_point(ec_point: bytes) -> bytes:
    # CKA_EC_POINT of an Edwards key is the 32-byte point, DER-wrapped as an OCTET STRING.
    if len(ec_point) == 34 and ec_point[0] == 0x04 and ec_point[1] == 32:
        return ec_point[2:]
    if len(ec_point) == 32:
        return ec_point
    raise HsmError(f"unexpected Ed25519 public point of {len(ec_point)} bytes")


class HsmEd25519Signer:
    """Keeps one logged-in session; PKCS#11 sessions are not for concurrent use, so a lock
    serialises signing."""

    def __init__(self, hsm: HsmPlan, role: KeyRole = "archive_checkpoint"):
        planned = hsm.key(role)
        if planned.type != "ed25519":
            raise HsmError(f"key '{planned.label}' is {planned.type}, not ed25519")
        self._stack = ExitStack()
        sess = self._stack.enter_context(session(hsm, planned.token))
        self._private = keys.require(sess, planned, hsm.department_id)
        query = {Attribute.LABEL: planned.label, Attribute.CLASS: ObjectClass.PUBLIC_KEY}
        publics = list(sess.get_objects(query))
        if not publics:
            raise HsmError(f"public half of '{planned.label}' is missing from '{planned.token}'")
        self.public = Ed25519PublicKey.from_public_bytes(
            _raw_point(bytes(publics[0][Attribute.EC_POINT]))
        )
        self._lock = threading.Lock()

    def sign(self, data: bytes) -> bytes:
        with self._lock:
            return bytes(self._private.sign(data, mechanism=Mechanism.EDDSA))

    def public_key(self) -> Ed25519PublicKey:
        return self.public

    def close(self) -> None:
        self._stack.close()
