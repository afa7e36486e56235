"""The leaver sync's configuration file (identity/sync.yaml, rendered per department)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from govmatrix import secretref
from govmatrix.identity.directory import Attributes, DirectoryAccess


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DirectorySettings(Strict):
    url: str
    base_dn: str
    bind_dn: str
    bind_password: str  # a secret reference (env:, file:, generate), never the value
    bind_password_generated: str | None = None  # where the target wrote a generated one
    disabled_filter: str
    ca_file: str | None = None


class ClaimAttributes(Strict):
    subject: str
    localpart: str
    display_name: str
    email: str


class OperatorLogin(Strict):
    """How the sync acts as a server admin: with the operator application service's token
    (`govmatrix.operator`), which needs no login, so it works under single sign-on.
    `shared_secret_file` and `password_file` let the sync make that service an admin the first
    time (through `govmatrix-admin`); without them (the demo, whose seeding does it), a
    service that is not an admin yet is an error."""

    service_token_file: str
    shared_secret_file: str | None = None
    password_file: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> OperatorLogin:
        if (self.shared_secret_file is None) != (self.password_file is None):
            raise ValueError("operator: give both shared_secret_file and password_file, or neither")
        return self


class SyncConfig(Strict):
    department: str
    server_name: str
    homeserver_url: str
    homeserver_ca_file: str | None = None
    operator: OperatorLogin
    directory: DirectorySettings
    attributes: ClaimAttributes
    max_deactivation_share: float = Field(gt=0, le=1)
    report_dir: str
    # The archive records why each leaver was deactivated (its flag rules skip those).
    archive_config: str | None = None

    def directory_access(self) -> DirectoryAccess:
        d = self.directory
        generated = Path(d.bind_password_generated) if d.bind_password_generated else None
        password = secretref.read(d.bind_password, "identity.directory.bind_password", generated)
        return DirectoryAccess(
            url=d.url,
            base_dn=d.base_dn,
            bind_dn=d.bind_dn,
            password=password,
            disabled_filter=d.disabled_filter,
            attributes=Attributes(**self.attributes.model_dump()),
            ca_file=d.ca_file,
        )


class SyncConfigError(ValueError):
    pass


def load(path: Path) -> SyncConfig:
    try:
        return SyncConfig.model_validate(yaml.safe_load(path.read_text()))
    except OSError as exc:
        raise SyncConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise SyncConfigError(f"{path} is not a valid sync configuration: {exc}") from None
