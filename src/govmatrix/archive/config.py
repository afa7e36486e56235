"""The archive service's configuration file (rendered by govmatrix for each department)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from govmatrix.hsm.plan import HsmPlan, PlannedKey


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listen(Strict):
    address: str
    port: int = Field(ge=1, le=65535)


class Database(Strict):
    host: str
    port: int
    dbname: str
    user: str
    passfile: str


class Flags(Strict):
    bulk_redactions: int
    bulk_redactions_window_s: int
    delete_after_send_within_s: int
    mass_leave_rooms: int
    mass_leave_window_s: int
    deactivation_recent_activity_s: int
    large_export_events: int
    history_hidden: bool


class CheckpointHsm(Strict):
    """The checkpoint key inside a PKCS#11 token (see govmatrix.hsm)."""

    department: str
    module: str
    module_path: str
    softhsm_conf: str | None
    hsm_dir: str
    token: str
    label: str
    pin: str  # reference: env:, file: or generate

    def plan(self) -> HsmPlan:
        key = PlannedKey("archive_checkpoint", self.label, "ed25519", self.token, self.pin)
        return HsmPlan(
            department_id=self.department,
            module=self.module,
            module_path=self.module_path,
            softhsm_conf=self.softhsm_conf,
            hsm_dir=self.hsm_dir,
            keys={"archive_checkpoint": key},
        )


class ArchiveConfig(Strict):
    server_name: str
    homeserver_url: str  # Synapse's internal listener, for media and recovery of originals
    listen: Listen
    database: Database
    hs_token_path: str
    as_token_path: str
    officer_token_path: str
    # Exactly one: a 0600 PEM file, or the key in the HSM.
    checkpoint_key_path: str | None = None
    checkpoint_hsm: CheckpointHsm | None = None
    checkpoint_log: str  # append-only log outside the database, on separate storage
    checkpoint_interval_s: int = Field(ge=1, le=3600)
    media_dir: str
    retention_min_days: int
    flags: Flags

    @model_validator(mode="after")
    def _one_checkpoint_key(self) -> ArchiveConfig:
        if (self.checkpoint_key_path is None) == (self.checkpoint_hsm is None):
            raise ValueError("give exactly one of checkpoint_key_path and checkpoint_hsm")
        return self

    def secret(self, path: str) -> str:
        return Path(path).read_text().strip()


def load(path: str | Path) -> ArchiveConfig:
    return ArchiveConfig.model_validate(yaml.safe_load(Path(path).read_text()))
