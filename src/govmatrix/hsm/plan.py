"""Which keys a department keeps in which token: a pure function of the estate and target.

Each key names its token and PIN reference; unset, they default to the department's HSM
settings. Two keys default to tokens of their own:
- TLS (`<token>-tls`): libp11 0.4.12, the OpenSSL engine web servers use, cannot enumerate
  private keys in a token that also holds an Ed25519 object, and the web server's workers
  get that token's PIN;
- the archive's checkpoint key (`<token>-archive`): the archive service gets that token's
  PIN, which opens neither the signing key nor the backup passphrases.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from govmatrix.estate.schema import Department, HsmKeyType, KeyRole

if TYPE_CHECKING:  # the renderer imports this module; keep the import one-way at runtime
    from govmatrix.render.targets import Target

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
# PKCS#11 pads token labels to 32 bytes (CK_TOKEN_INFO.label).
MAX_TOKEN_LABEL = 32


class HsmPlanError(ValueError):
    pass


@dataclass(frozen=True)
class PlannedKey:
    role: KeyRole
    label: str
    type: HsmKeyType
    token: str
    pin_ref: str


@dataclass(frozen=True)
class HsmPlan:
    department_id: str
    module: str  # as the estate says: "softhsm" or a module path
    module_path: str
    softhsm_conf: str | None  # SOFTHSM2_CONF for SoftHSM2; None for vendor modules
    hsm_dir: str
    keys: dict[KeyRole, PlannedKey]

    def key(self, role: KeyRole) -> PlannedKey:
        return self.keys[role]

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(sorted({k.token for k in self.keys.values()}))

    def pin_ref(self, token: str) -> str:
        return next(k.pin_ref for k in self.keys.values() if k.token == token)

    def generated_pin_file(self, token: str) -> str:
        """Where a PIN the estate says to 'generate' is kept (0600, root only)."""
        return f"{self.hsm_dir}/pins/{token}.pin"

    @property
    def is_softhsm(self) -> bool:
        return self.module == "softhsm"

    def to_dict(self) -> dict[str, Any]:
        """For hosts that run govmatrix without the estate (written by the Ansible roles)."""
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> HsmPlan:
        keys = {role: PlannedKey(**key) for role, key in data["keys"].items()}
        return HsmPlan(**{**data, "keys": keys})


def uses_hsm(department: Department, target: Target) -> bool:
    """The HSM is used where the estate enables it and the target can drive one."""
    return department.hsm.enabled and target.hsm_dir is not None


def plan(department: Department, target: Target) -> HsmPlan | None:
    if not uses_hsm(department, target):
        return None
    assert target.hsm_dir is not None
    settings = department.hsm
    base_token = settings.token or department.id
    keys: dict[KeyRole, PlannedKey] = {}
    for role, key in settings.keys.items():
        default_token = {
            "tls": f"{base_token}-tls",
            "archive_checkpoint": f"{base_token}-archive",
        }.get(role, base_token)
        keys[role] = PlannedKey(
            role=role,
            label=key.label,
            type=key.type,
            token=key.token or default_token,
            pin_ref=key.pin or settings.pin,
        )
    _check(department.id, keys)
    softhsm = settings.module == "softhsm"
    return HsmPlan(
        department_id=department.id,
        module=settings.module,
        module_path=SOFTHSM_MODULE if softhsm else settings.module,
        softhsm_conf=f"{target.hsm_dir}/softhsm2.conf" if softhsm else None,
        hsm_dir=target.hsm_dir,
        keys=keys,
    )


def _check(department_id: str, keys: dict[KeyRole, PlannedKey]) -> None:
    for key in keys.values():
        if len(key.token.encode()) > MAX_TOKEN_LABEL:
            raise HsmPlanError(
                f"{department_id}: token label '{key.token}' of key '{key.role}' is longer than "
                f"{MAX_TOKEN_LABEL} bytes; set hsm.token (or the key's token) to a shorter label"
            )
    tls = keys.get("tls")
    if tls is None:
        return
    ed25519 = [k.role for k in keys.values() if k.type == "ed25519" and k.token == tls.token]
    if ed25519:
        raise HsmPlanError(
            f"{department_id}: the TLS key shares token '{tls.token}' with Ed25519 key(s) "
            f"{', '.join(ed25519)}; libp11 cannot list keys in such a token. Give the TLS key "
            "a token of its own (hsm.keys.tls.token)"
        )
    labels = [(k.token, k.label) for k in keys.values()]
    if len(set(labels)) != len(labels):
        raise HsmPlanError(f"{department_id}: two HSM keys share a token and a label")
