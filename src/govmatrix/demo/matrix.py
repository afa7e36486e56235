"""Minimal Matrix client and admin calls the demo needs (seeding, health, status)."""

from __future__ import annotations

import hashlib
import hmac
import ssl
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx


class MatrixError(Exception):
    def __init__(self, status: int, body: str, what: str):
        super().__init__(f"{what}: HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body


def tls_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


class Homeserver:
    """One department's homeserver, reached through its nginx with the estate CA, or (inside
    a cluster) at `base_url`, Synapse's internal listener."""

    def __init__(
        self,
        server_name: str,
        ca_file: Path | None,
        timeout: float = 30,
        *,
        base_url: str | None = None,
    ):
        self.server_name = server_name
        self.base = base_url or f"https://{server_name}"
        verify: ssl.SSLContext | bool = tls_context(ca_file) if ca_file else True
        self.http = httpx.Client(base_url=self.base, verify=verify, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Homeserver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self, method: str, path: str, token: str | None = None, what: str = "", **kwargs: Any
    ) -> dict[str, Any]:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise MatrixError(response.status_code, response.text, what or f"{method} {path}")
        return cast(dict[str, Any], response.json()) if response.content else {}

    def versions_ok(self) -> bool:
        return self.http.get("/_matrix/client/versions").status_code == 200

    # --- accounts -----------------------------------------------------------------------

    def register_with_shared_secret(
        self, secret: str, localpart: str, password: str, admin: bool
    ) -> dict[str, Any]:
        """The shared-secret registration API (what register_new_matrix_user does)."""
        nonce = self.call("GET", "/_synapse/admin/v1/register")["nonce"]
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": registration_mac(secret, nonce, localpart, password, admin),
        }
        return self.call("POST", "/_synapse/admin/v1/register", json=body, what="register admin")

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"

    def ensure_user(
        self, admin_token: str, localpart: str, password: str | None, displayname: str
    ) -> str:
        """Create or update `localpart`; without a password where people sign in through
        single sign-on (Synapse refuses to set one when password login is off)."""
        user = self.user_id(localpart)
        body: dict[str, Any] = {"displayname": displayname, "admin": False, "logout_devices": False}
        if password is not None:
            body["password"] = password
        self.call(
            "PUT",
            f"/_synapse/admin/v2/users/{quote(user)}",
            admin_token,
            json=body,
            what=f"create {user}",
        )
        return user

    def link_external_id(self, admin_token: str, user: str, provider: str, subject: str) -> None:
        """Record `subject` as the user's identity at SSO `provider` (what a first SSO login
        records), so that provider's login reaches this existing account."""
        self.call(
            "PUT",
            f"/_synapse/admin/v2/users/{quote(user)}",
            admin_token,
            json={"external_ids": [{"auth_provider": provider, "external_id": subject}]},
            what=f"link {user} to {provider}",
        )

    def register_appservice_user(self, as_token: str, localpart: str) -> None:
        """An application service registers users of its namespace with its own token."""
        try:
            self.call(
                "POST",
                "/_matrix/client/v3/register",
                as_token,
                json={
                    "type": "m.login.application_service",
                    "username": localpart,
                    "inhibit_login": True,
                },
                what=f"register application-service user {localpart}",
            )
        except MatrixError as exc:
            if "M_USER_IN_USE" not in exc.body:
                raise

    def make_admin(self, admin_token: str, user: str) -> None:
        self.call(
            "PUT",
            f"/_synapse/admin/v2/users/{quote(user)}",
            admin_token,
            json={"admin": True},
            what=f"make {user} a server admin",
        )

    def unlimit(self, admin_token: str, user: str) -> None:
        self.call(
            "POST",
            f"/_synapse/admin/v1/users/{quote(user)}/override_ratelimit",
            admin_token,
            json={"messages_per_second": 0, "burst_count": 0},
            what=f"unlimit {user}",
        )

    def admin_login(self, admin_token: str, user: str) -> str:
        """A token for `user` from the admin API (works without password login)."""
        data = self.call(
            "POST",
            f"/_synapse/admin/v1/users/{quote(user)}/login",
            admin_token,
            json={},
            what=f"admin login as {user}",
        )
        return cast(str, data["access_token"])

    # --- rooms --------------------------------------------------------------------------

    def create_room(self, token: str, name: str, invite: list[str]) -> str:
        data = self.call(
            "POST",
            "/_matrix/client/v3/createRoom",
            token,
            json={"name": name, "preset": "private_chat", "invite": invite},
            what=f"create room {name}",
        )
        return cast(str, data["room_id"])

    def join(self, token: str, room: str, via: list[str] | None = None) -> None:
        params = {"server_name": via} if via else None
        self.call(
            "POST",
            f"/_matrix/client/v3/join/{quote(room)}",
            token,
            params=params,
            json={},
            what=f"join {room}",
        )

    def send(self, token: str, room: str, content: dict[str, Any], txn: str) -> str:
        data = self.call(
            "PUT",
            f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{txn}",
            token,
            json=content,
            what=f"send to {room}",
        )
        return cast(str, data["event_id"])

    def upload(self, token: str, data: bytes, content_type: str, filename: str) -> str:
        result = self.call(
            "POST",
            "/_matrix/media/v3/upload",
            token,
            content=data,
            params={"filename": filename},
            headers={"Content-Type": content_type},
            what=f"upload {filename}",
        )
        return cast(str, result["content_uri"])

    def federation_destination(self, admin_token: str, destination: str) -> dict[str, Any] | None:
        try:
            return self.call(
                "GET", f"/_synapse/admin/v1/federation/destinations/{destination}", admin_token
            )
        except MatrixError as exc:
            if exc.status == 404:
                return None  # never contacted: no failures recorded
            raise

    def retry_federation_now(self, admin_token: str, destination: str) -> bool:
        """Clear Synapse's backoff for `destination` and send what it holds for it now.
        False when there was nothing to clear (never contacted, or no failure recorded)."""
        try:
            self.call(
                "POST",
                f"/_synapse/admin/v1/federation/destinations/{destination}/reset_connection",
                admin_token,
                json={},
            )
        except MatrixError as exc:
            if exc.status in (400, 404):
                return False
            raise
        return True


def registration_mac(secret: str, nonce: str, user: str, password: str, admin: bool) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(nonce.encode())
    mac.update(b"\x00")
    mac.update(user.encode())
    mac.update(b"\x00")
    mac.update(password.encode())
    mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    return mac.hexdigest()


def federation_version(server_name: str, port: int, ca_file: Path) -> str:
    """GET the peer's federation version endpoint over TLS checked against the estate CA."""
    with httpx.Client(verify=tls_context(ca_file), timeout=10) as client:
        response = client.get(f"https://{server_name}:{port}/_matrix/federation/v1/version")
        response.raise_for_status()
        return cast(str, response.json()["server"]["version"])
