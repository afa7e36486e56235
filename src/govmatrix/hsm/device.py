"""Opening a token: the module, the token by label, the PIN from its reference.

Every failure becomes an `HsmError` that names what to fix (the module path, the token
label and the tokens that do exist, the PIN reference), never a bare PKCS#11 return code.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e

from govmatrix import secretref
from govmatrix.hsm.plan import HsmPlan


class HsmError(RuntimeError):
    pass


_LIBS: dict[str, Any] = {}  # pkcs11.lib objects (untyped in python-pkcs11)
_SOFTHSM_CONF: dict[str, str] = {}  # the SOFTHSM2_CONF each loaded module was started with
_LOCK = threading.Lock()


def library(hsm: HsmPlan) -> Any:
    """The module, loaded once per process (PKCS#11 allows one C_Initialize per process)."""
    if not Path(hsm.module_path).is_file():
        hint = "install softhsm2" if hsm.is_softhsm else "check hsm.module in the estate"
        raise HsmError(f"PKCS#11 module {hsm.module_path} not found ({hint})")
    with _LOCK:
        loaded = _SOFTHSM_CONF.get(hsm.module_path)
        if hsm.softhsm_conf and loaded is not None and loaded != hsm.softhsm_conf:
            raise HsmError(
                f"SoftHSM2 is already loaded with {loaded}; one process serves one "
                f"SoftHSM2 configuration (wanted {hsm.softhsm_conf})"
            )
        if hsm.module_path not in _LIBS:
            if hsm.softhsm_conf:
                os.environ["SOFTHSM2_CONF"] = hsm.softhsm_conf
                _SOFTHSM_CONF[hsm.module_path] = hsm.softhsm_conf
            try:
                _LIBS[hsm.module_path] = pkcs11.lib(hsm.module_path)
            except (RuntimeError, OSError) as exc:
                raise HsmError(f"cannot load PKCS#11 module {hsm.module_path}: {exc}") from None
        return _LIBS[hsm.module_path]


def rescan(hsm: HsmPlan) -> None:
    """Make a loaded module see tokens created since (SoftHSM2 reads its token directory at
    C_Initialize). Open sessions of this module end, so call it only while provisioning."""
    with _LOCK:
        loaded = _LIBS.get(hsm.module_path)
        if loaded is not None:
            loaded.reinitialize()


def token_labels(hsm: HsmPlan) -> list[str]:
    return [token.label for token in library(hsm).get_tokens()]


def get_token(hsm: HsmPlan, label: str) -> pkcs11.Token:
    try:
        token: pkcs11.Token = library(hsm).get_token(token_label=label)
        return token
    except p11e.NoSuchToken:
        present = ", ".join(token_labels(hsm)) or "none"
        raise HsmError(
            f"no token labelled '{label}' in {hsm.module_path} (tokens present: {present}); "
            f"run 'govmatrix hsm init {hsm.department_id}' or fix the token label in the estate"
        ) from None


def pin_source(hsm: HsmPlan, token: str) -> str:
    ref = hsm.pin_ref(token)
    return f"generate, kept in {hsm.generated_pin_file(token)}" if ref == "generate" else ref


def read_pin(hsm: HsmPlan, token: str) -> str:
    """The PIN from its reference: env:NAME, file:PATH, or generate (a file in hsm_dir)."""
    ref = hsm.pin_ref(token)
    generated = Path(hsm.generated_pin_file(token))
    if ref == "generate" and not generated.exists():
        raise HsmError(
            f"PIN of token '{token}': {generated} does not exist; run "
            f"'govmatrix hsm init {hsm.department_id}'"
        )
    try:
        return secretref.read(ref, f"PIN of token '{token}'", generated)
    except secretref.SecretRefError as exc:
        raise HsmError(str(exc)) from None


def new_pin() -> str:
    return secrets.token_hex(16)


@contextmanager
def session(hsm: HsmPlan, token: str, *, rw: bool = False) -> Iterator[pkcs11.Session]:
    tok = get_token(hsm, token)
    pin = read_pin(hsm, token)
    try:
        opened = tok.open(rw=rw, user_pin=pin)
    except p11e.PinIncorrect:
        raise HsmError(
            f"wrong PIN for token '{token}' (PIN {pin_source(hsm, token)}); the token "
            "locks after repeated failures, so fix the PIN before retrying"
        ) from None
    except p11e.PinLocked:
        raise HsmError(
            f"token '{token}' is locked; its security officer must reset the PIN"
        ) from None
    except p11e.PKCS11Error as exc:
        raise HsmError(f"cannot log in to token '{token}': {type(exc).__name__}") from None
    try:
        yield opened
    finally:
        opened.close()
