"""Which system group may open which SoftHSM2 token on a host.

SoftHSM2 keeps each token in a directory of its own under `<hsm_dir>/tokens`, and skips a
token directory the process cannot open. So a service is given a token by giving its group
that token's directory, and nothing else:

- the tokens directory is listable by everyone (it holds only token directories named by
  UUID; no object, no PIN);
- a token directory and its files belong to root and to the group granted the token, or
  are root-only when no group is;
- read access to a token's files does not give its keys away (they are encrypted under the
  token's PIN); which PIN a service gets is decided separately (the PIN files).

On-prem (the Ansible hsm role): the archive's group gets the archive token, nginx's workers
(www-data) get the TLS token. Vendor HSMs keep their own access control; this is SoftHSM2's.
"""

from __future__ import annotations

import grp
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from govmatrix.estate.schema import KeyRole
from govmatrix.hsm.device import HsmError, get_token
from govmatrix.hsm.plan import HsmPlan


@dataclass(frozen=True)
class Grant:
    group: str
    write: bool = False  # the archive keeps read-write access, as SoftHSM2's file locks allow


def token_dir(hsm: HsmPlan, token: str) -> Path:
    """SoftHSM2 names a token's directory by a UUID whose last 16 hex digits are its serial."""
    serial = get_token(hsm, token).serial
    serial_text = (serial.decode() if isinstance(serial, bytes) else str(serial)).strip().lower()
    tokens = Path(hsm.hsm_dir) / "tokens"
    matches = [
        d for d in tokens.iterdir() if d.is_dir() and d.name.replace("-", "").endswith(serial_text)
    ]
    if len(matches) != 1:
        raise HsmError(f"cannot find the SoftHSM2 directory of token '{token}' in {tokens}")
    return matches[0]


def set_owner(path: Path, gid: int, mode: int) -> bool:
    """root:gid and mode on `path`; True if either changed."""
    st = path.stat()
    changed = False
    if (st.st_uid, st.st_gid) != (0, gid):
        os.chown(path, 0, gid)
        changed = True
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)
        changed = True
    return changed


def _token_groups(hsm: HsmPlan, grants: Mapping[KeyRole, Grant]) -> dict[str, Grant | None]:
    """The grant of each of the plan's tokens; a token holding keys granted to different
    groups is refused (one group would get the other's keys)."""
    unknown = set(grants) - set(hsm.keys)
    if unknown:
        raise HsmError(f"{hsm.department_id}: no key {', '.join(sorted(unknown))} in the plan")
    by_token: dict[str, Grant | None] = {}
    for role, key in hsm.keys.items():
        grant = grants.get(role)
        if key.token in by_token and by_token[key.token] != grant:
            raise HsmError(
                f"{hsm.department_id}: token '{key.token}' holds keys for different services "
                f"(key '{role}' among them); give each service's key a token of its own"
            )
        by_token[key.token] = grant
    return by_token


def grant(hsm: HsmPlan, grants: Mapping[KeyRole, Grant]) -> list[Path]:
    """Apply the scheme to this department's SoftHSM2 tokens; returns the paths changed."""
    if not hsm.is_softhsm:
        raise HsmError("token access is granted on SoftHSM2 only; a vendor HSM has its own")
    by_token = _token_groups(hsm, grants)
    changed: list[Path] = []
    tokens = Path(hsm.hsm_dir) / "tokens"
    if set_owner(tokens, 0, 0o755):
        changed.append(tokens)
    for token, granted in by_token.items():
        gid = grp.getgrnam(granted.group).gr_gid if granted else 0
        group_bits = (0o70 if granted.write else 0o50) if granted else 0
        directory = token_dir(hsm, token)
        if set_owner(directory, gid, 0o700 | group_bits):
            changed.append(directory)
        for item in sorted(directory.iterdir()):
            if set_owner(item, gid, 0o600 | (group_bits & 0o60)):
                changed.append(item)
    return changed
