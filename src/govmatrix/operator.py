"""How govmatrix's own tools act as a department's server admin.

Two Matrix accounts serve operators and tools:
- `govmatrix-admin`, the first server admin, created once with the registration shared
  secret. Its access token comes back only at that creation; later it logs in with its
  password, which single sign-on switches off.
- `_govmatrix_operator`, the sender of the *operator application service* (rendered with
  Synapse's config, token among the department's generated secrets). An application service
  token never expires and needs no login, so it works under single sign-on and on targets
  with nowhere to keep a token issued at runtime (a Kubernetes CronJob). It is made a server
  admin once, by `govmatrix-admin`, the first time a tool needs it.

The operator service's token is as powerful as the shared secret already kept beside it
(which can create admins), so it adds no new kind of exposure.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx

from govmatrix.demo.matrix import registration_mac

OPERATOR_LOCALPART = "govmatrix-admin"
OPERATOR_SERVICE = "_govmatrix_operator"


class OperatorError(RuntimeError):
    pass


class PasswordLoginOff(OperatorError):
    """`govmatrix-admin` exists and cannot log in: single sign-on switched passwords off."""


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 400:
        raise OperatorError(f"{what} failed: {response.status_code} {response.text}")
    return response


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_admin(http: httpx.Client, token: str, user_id: str) -> bool:
    """Whether `user_id` is a server admin, asked with `token`; the admin API answers only
    admins, so a non-admin token gets False too."""
    response = http.get(f"/_synapse/admin/v1/users/{quote(user_id)}/admin", headers=bearer(token))
    return response.status_code == 200 and bool(response.json().get("admin"))


def operator_token(http: httpx.Client, server_name: str, shared: str, password: str) -> str:
    """A fresh access token of `govmatrix-admin`: from its creation with the shared secret
    the first time, from a password login after. The caller logs it out."""
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
        return str(response.json()["access_token"])
    if "M_USER_IN_USE" not in response.text:
        _check(response, f"registering {OPERATOR_LOCALPART}")
    login = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": f"@{OPERATOR_LOCALPART}:{server_name}"},
        "password": password,
    }
    response = http.post("/_matrix/client/v3/login", json=login)
    if response.status_code == 400 and "disabled" in response.text:
        raise PasswordLoginOff(f"operator login refused: {response.text}")
    return str(_check(response, "operator login").json()["access_token"])


def register_service_user(http: httpx.Client, as_token: str, localpart: str, name: str) -> None:
    """Register an application service's own user with its token (once: an existing one is
    fine). `name` names the service's registration, synapse/appservices/<name>.yaml."""
    response = http.post(
        "/_matrix/client/v3/register",
        headers=bearer(as_token),
        json={"type": "m.login.application_service", "username": localpart, "inhibit_login": True},
    )
    if response.status_code == 401:
        raise OperatorError(
            f"Synapse does not know the {name} service's token: is "
            f"synapse/appservices/{name}.yaml loaded (restart Synapse after deploying it)? "
            f"{response.text}"
        )
    if "M_USER_IN_USE" not in response.text:
        _check(response, f"registering {localpart}")


def make_admin(http: httpx.Client, admin_token: str, user_id: str) -> None:
    _check(
        http.put(
            f"/_synapse/admin/v2/users/{quote(user_id)}",
            headers=bearer(admin_token),
            json={"admin": True},
        ),
        f"making {user_id} a server admin",
    )


def ensure_service_admin(
    http: httpx.Client,
    server_name: str,
    service_token: str,
    admin_token: Callable[[], str],
    *,
    log_out: bool = True,
) -> bool:
    """Make the operator service's user a server admin unless it is one; True if it changed.
    `admin_token` gives a token of an existing admin; it is called only when needed, and
    (with `log_out`, for a session opened for this) logged out afterwards."""
    user_id = f"@{OPERATOR_SERVICE}:{server_name}"
    if is_admin(http, service_token, user_id):
        return False
    register_service_user(http, service_token, OPERATOR_SERVICE, "operator")
    token = admin_token()
    try:
        make_admin(http, token, user_id)
    finally:
        if log_out:
            http.post("/_matrix/client/v3/logout", headers=bearer(token))
    return True


def service_token(
    http: httpx.Client, server_name: str, service_token: str, shared: str, password: str
) -> str:
    """The operator service's token, once its user is a server admin. The first time, that
    takes `govmatrix-admin` (created with the shared secret if it does not exist yet). Where
    password login is already off and `govmatrix-admin` exists, the error says what to do."""
    try:
        ensure_service_admin(
            http,
            server_name,
            service_token,
            lambda: operator_token(http, server_name, shared, password),
        )
    except PasswordLoginOff:
        raise OperatorError(
            f"@{OPERATOR_SERVICE}:{server_name} is not a server admin yet, and "
            f"{OPERATOR_LOCALPART} cannot log in (password login is off under single "
            f"sign-on): have a server admin make it one (PUT /_synapse/admin/v2/users/"
            f'@{OPERATOR_SERVICE}:{server_name} with {{"admin": true}})'
        ) from None
    return service_token
