"""SoftHSM2 as the demo's and tests' HSM: its configuration and tokens.

A vendor HSM's tokens are created by its security officer; for SoftHSM2 govmatrix creates
them itself, with generated PINs kept root-only in the HSM directory. Tokens are created
with `softhsm2-util` before the module is loaded in this process, so the new slots are seen.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from govmatrix.hsm.device import HsmError, new_pin, rescan
from govmatrix.hsm.plan import HsmPlan
from govmatrix.materialise import write_file

UTIL = "softhsm2-util"


def _env(hsm: HsmPlan) -> dict[str, str]:
    assert hsm.softhsm_conf is not None
    return {**os.environ, "SOFTHSM2_CONF": hsm.softhsm_conf}


def _private_dir(path: Path) -> None:
    """Created root-only; an existing directory keeps the mode a deploy gave it (the
    Ansible hsm role lets the token users' group in)."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)


def write_config(hsm: HsmPlan) -> None:
    assert hsm.softhsm_conf is not None
    hsm_dir = Path(hsm.hsm_dir)
    tokens = hsm_dir / "tokens"
    _private_dir(hsm_dir)
    _private_dir(tokens)
    conf = Path(hsm.softhsm_conf)
    text = (
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        "slots.removable = false\n"
    )
    if not conf.exists() or conf.read_text() != text:
        write_file(conf, text, 0o600)


def existing_tokens(hsm: HsmPlan) -> set[str]:
    out = subprocess.run(
        [UTIL, "--show-slots"], env=_env(hsm), capture_output=True, text=True, check=True
    ).stdout
    labels = (m.group(1).strip() for m in re.finditer(r"^\s+Label:\s+(.*)$", out, re.M))
    return {label for label in labels if label}


def ensure_tokens(hsm: HsmPlan) -> list[str]:
    """Create the plan's missing tokens; return the labels created."""
    if shutil.which(UTIL) is None:
        raise HsmError("softhsm2-util not found: install the softhsm2 package (make setup)")
    write_config(hsm)
    have = existing_tokens(hsm)
    created = []
    for token in hsm.tokens:
        if token in have:
            continue
        if hsm.pin_ref(token) != "generate":
            raise HsmError(
                f"token '{token}' does not exist and its PIN is {hsm.pin_ref(token)}; govmatrix "
                "creates SoftHSM2 tokens only with generated PINs"
            )
        pin, so_pin = new_pin(), new_pin()
        pin_file = Path(hsm.generated_pin_file(token))
        _private_dir(pin_file.parent)
        subprocess.run(
            [UTIL, "--init-token", "--free", "--label", token, "--pin", pin, "--so-pin", so_pin],
            env=_env(hsm),
            capture_output=True,
            check=True,
        )
        write_file(pin_file, pin + "\n", 0o600)
        write_file(pin_file.with_suffix(".so-pin"), so_pin + "\n", 0o600)
        created.append(token)
    if created:
        rescan(hsm)
    return created
