"""The operator application service (govmatrix.operator) where password login is off
(single sign-on): tools act as a server admin with its token, which needs no login; it is
made an admin once through govmatrix-admin, and when that can no longer happen the error
says what to do. Against a real Synapse of its own with `password_config.enabled: false`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from govmatrix.operator import (
    OPERATOR_SERVICE,
    OperatorError,
    ensure_service_admin,
    operator_token,
    service_token,
)
from tests.integration import sqlite_synapse
from tests.integration.sqlite_synapse import Synapse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def synapse(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    home = tmp_path_factory.mktemp("sso-synapse")
    with sqlite_synapse.running(
        repo_root, home, "operator-service.test", password_config={"enabled": False}
    ) as server:
        yield server


def _get(http: httpx.Client, path: str, token: str) -> httpx.Response:
    return http.get(path, headers={"Authorization": f"Bearer {token}"})


def test_the_service_becomes_an_admin_once_and_needs_no_login(synapse: Synapse) -> None:
    shared = synapse.shared_secret_file.read_text().strip()
    service = synapse.operator_service_token_file.read_text().strip()
    server = synapse.server_name
    with httpx.Client(base_url=synapse.url, timeout=30) as http:
        assert _get(http, "/_synapse/admin/v2/users", service).status_code == 403
        # govmatrix-admin exists already and password login is off: no way to make the
        # service an admin, and the error names the admin API call that does it.
        kept = operator_token(http, server, shared, "operator-password")
        with pytest.raises(OperatorError, match="password login is off") as refused:
            service_token(http, server, service, shared, "operator-password")
        assert f"PUT /_synapse/admin/v2/users/@{OPERATOR_SERVICE}:{server}" in str(refused.value)

        # An admin's token at hand (as when the operator was just created): granted once.
        assert ensure_service_admin(http, server, service, lambda: kept, log_out=False)
        assert not ensure_service_admin(http, server, service, lambda: kept, log_out=False)
        # From now on no login at all: a wrong password does not matter.
        assert service_token(http, server, service, shared, "wrong") == service
        whoami = _get(http, "/_matrix/client/v3/account/whoami", service).json()
        assert whoami["user_id"] == f"@{OPERATOR_SERVICE}:{server}"
        assert _get(http, "/_synapse/admin/v2/users", service).status_code == 200


def test_an_unknown_service_token_is_named(synapse: Synapse) -> None:
    shared = synapse.shared_secret_file.read_text().strip()
    unknown = pytest.raises(OperatorError, match="does not know the operator service's token")
    with httpx.Client(base_url=synapse.url, timeout=30) as http, unknown:
        service_token(http, synapse.server_name, "not-the-token", shared, "x")
