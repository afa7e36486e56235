"""Enrol the archive with its homeserver: its Matrix user must exist and be a server admin.

The archive reads originals of redacted events through MSC2815, which Synapse allows only to
server admins. Its user belongs to the archive's application service, which registers it
with its own token. Synapse refuses shared-secret registration of localparts starting with
'_', so admin rights are granted through the admin API by the department's operator
account (`govmatrix-admin`), itself created once with the registration shared secret.
Idempotent: an enrolled archive is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from govmatrix.archive.config import ArchiveConfig
from govmatrix.demo.matrix import registration_mac
from govmatrix.materialise import write_file
from govmatrix.render.context import ARCHIVE_SENDER

OPERATOR_LOCALPART = "govmatrix-admin"
# What to do when the kept operator token is lost or logged out, where password login is off.
TOKEN_RECOVERY = (
    "restore that file from backup (the secrets directory is in the files backup), or have "
    "a server admin issue a token (POST /_synapse/admin/v1/users/<operator>/login) and store "
    "it there (0600)"
)


class EnrolError(RuntimeError):
    pass


@dataclass(frozen=True)
class Enrolment:
    user_id: str
    changed: bool


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 400:
        raise EnrolError(f"{what} failed: {response.status_code} {response.text}")
    return response


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _is_admin(http: httpx.Client, as_token: str, user_id: str) -> bool:
    # The application service acts as its own user; the admin API answers only admins.
    response = http.get(
        f"/_synapse/admin/v1/users/{quote(user_id)}/admin", headers=_bearer(as_token)
    )
    return response.status_code == 200 and bool(response.json().get("admin"))


def operator_token(
    http: httpx.Client,
    server_name: str,
    shared: str,
    password: str,
    token_file: Path | None = None,
) -> str:
    """The operator admin's access token. With `token_file`: the token kept there, or, when
    there is none yet, the one from creating the operator (shared secret), stored there
    (0600); where password login is off (single sign-on) that is the only way in. Without
    it: create the operator once, or log in with its password."""
    if token_file is not None and token_file.exists():
        return operator_token_from_file(http, token_file)
    nonce = _check(http.get("/_synapse/admin/v1/register"), "registration nonce").json()["nonce"]
    body = {
        "nonce": nonce,
        "username": OPERATOR_LOCALPART,
        "password": password,
        "admin": True,
        "mac": registration_mac(shared, nonce, OPERATOR_LOCALPART, password, True),
    }
    response = http.post("/_synapse/admin/v1/register", json=body)
    if response.status_code == 200:
        token = str(response.json()["access_token"])
        if token_file is not None:
            write_file(token_file, token + "\n", 0o600)
        return token
    if "M_USER_IN_USE" not in response.text:
        _check(response, f"registering {OPERATOR_LOCALPART}")
    login = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": f"@{OPERATOR_LOCALPART}:{server_name}"},
        "password": password,
    }
    response = http.post("/_matrix/client/v3/login", json=login)
    if response.status_code == 400 and "disabled" in response.text and token_file is not None:
        # Password login is off and the token kept since the operator's creation is gone.
        raise EnrolError(
            f"{OPERATOR_LOCALPART} exists, password login is off (single sign-on) and there is "
            f"no operator token at {token_file}: {TOKEN_RECOVERY}"
        )
    return str(_check(response, "operator login").json()["access_token"])


def operator_token_from_file(http: httpx.Client, path: Path) -> str:
    """The operator's access token, kept in a file since its registration: where password
    login is off (single sign-on), the operator cannot log in again."""
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise EnrolError(f"cannot read the operator token {path}: {exc.strerror}") from None
    whoami = http.get("/_matrix/client/v3/account/whoami", headers=_bearer(token))
    if whoami.status_code == 401:
        raise EnrolError(
            f"the operator token in {path} is no longer valid (logged out?): {TOKEN_RECOVERY}"
        )
    _check(whoami, "operator token check")
    return token


def enrol(
    config: ArchiveConfig,
    shared_secret_file: Path,
    operator_password_file: Path,
    operator_token_file: Path | None = None,
) -> Enrolment:
    user_id = f"@{ARCHIVE_SENDER}:{config.server_name}"
    as_token = config.secret(config.as_token_path)
    with httpx.Client(base_url=config.homeserver_url, timeout=30) as http:
        if _is_admin(http, as_token, user_id):
            return Enrolment(user_id, changed=False)
        response = http.post(
            "/_matrix/client/v3/register",
            headers=_bearer(as_token),
            json={
                "type": "m.login.application_service",
                "username": ARCHIVE_SENDER,
                "inhibit_login": True,
            },
        )
        if "M_USER_IN_USE" not in response.text:
            _check(response, f"registering {user_id}")
        token = operator_token(
            http,
            config.server_name,
            shared_secret_file.read_text().strip(),
            operator_password_file.read_text().strip(),
            operator_token_file,
        )
        try:
            _check(
                http.put(
                    f"/_synapse/admin/v2/users/{quote(user_id)}",
                    headers=_bearer(token),
                    json={"admin": True},
                ),
                f"making {user_id} a server admin",
            )
        finally:
            if operator_token_file is None:  # a kept token stays valid for later runs
                http.post("/_matrix/client/v3/logout", headers=_bearer(token))
    return Enrolment(user_id, changed=True)
