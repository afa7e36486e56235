"""Enrol the archive with its homeserver: its Matrix user must exist and be a server admin.

The archive reads originals of redacted events through MSC2815, which Synapse allows only to
server admins. Its user belongs to the archive's application service, which registers it
with its own token. Synapse refuses shared-secret registration of localparts starting with
'_', so admin rights are granted through the admin API by the operator service
(`govmatrix.operator`). Idempotent: an enrolled archive is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from govmatrix.archive.config import ArchiveConfig
from govmatrix.operator import (
    OperatorError,
    is_admin,
    make_admin,
    register_service_user,
    service_token,
)
from govmatrix.render.context import ARCHIVE_SENDER


class EnrolError(RuntimeError):
    pass


@dataclass(frozen=True)
class Enrolment:
    user_id: str
    changed: bool


def enrol(
    config: ArchiveConfig,
    shared_secret_file: Path,
    operator_password_file: Path,
    operator_service_token_file: Path,
) -> Enrolment:
    user_id = f"@{ARCHIVE_SENDER}:{config.server_name}"
    as_token = config.secret(config.as_token_path)
    with httpx.Client(base_url=config.homeserver_url, timeout=30) as http:
        # The application service acts as its own user; the admin API answers only admins.
        if is_admin(http, as_token, user_id):
            return Enrolment(user_id, changed=False)
        try:
            register_service_user(http, as_token, ARCHIVE_SENDER, "archive")
            token = service_token(
                http,
                config.server_name,
                operator_service_token_file.read_text().strip(),
                shared_secret_file.read_text().strip(),
                operator_password_file.read_text().strip(),
            )
            make_admin(http, token, user_id)
        except OperatorError as exc:
            raise EnrolError(str(exc)) from None
    return Enrolment(user_id, changed=True)
