"""The archive service's configuration file (rendered by govmatrix for each department)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


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


class ArchiveConfig(Strict):
    server_name: str
    homeserver_url: str  # Synapse's internal listener, for media and recovery of originals
    listen: Listen
    database: Database
    hs_token_path: str
    as_token_path: str
    officer_token_path: str
    checkpoint_key_path: str
    checkpoint_log: str  # append-only log outside the database, on separate storage
    checkpoint_interval_s: int = Field(ge=1, le=3600)
    media_dir: str
    retention_min_days: int
    flags: Flags

    def secret(self, path: str) -> str:
        return Path(path).read_text().strip()


def load(path: str | Path) -> ArchiveConfig:
    return ArchiveConfig.model_validate(yaml.safe_load(Path(path).read_text()))
