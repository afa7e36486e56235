"""The operator's access token where password login is off (single sign-on): created once
with the registration shared secret and kept, used from then on, and a clear way out when
it is lost. Against a real Synapse of its own with `password_config.enabled: false`."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from govmatrix.archive.enroll import EnrolError, operator_token
from tests.integration import sqlite_synapse
from tests.integration.sqlite_synapse import Synapse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def synapse(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    home = tmp_path_factory.mktemp("sso-synapse")
    with sqlite_synapse.running(
        repo_root, home, "operator-token.test", password_config={"enabled": False}
    ) as server:
        yield server


def _whoami(http: httpx.Client, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return http.get("/_matrix/client/v3/account/whoami", headers=headers).status_code


def test_the_token_is_kept_at_creation_and_used_after(synapse: Synapse, tmp_path: Path) -> None:
    shared = synapse.shared_secret_file.read_text().strip()
    kept = tmp_path / ".operator_token"
    with httpx.Client(base_url=synapse.url, timeout=30) as http:
        first = operator_token(http, synapse.server_name, shared, "unused-password", kept)
        assert kept.read_text().strip() == first
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert _whoami(http, first) == 200
        # A later run uses the kept token: no second operator, no login.
        assert operator_token(http, synapse.server_name, shared, "unused-password", kept) == first

        kept.unlink()  # lost: the operator exists and cannot log in with a password
        with pytest.raises(EnrolError, match="password login is off") as lost:
            operator_token(http, synapse.server_name, shared, "unused-password", kept)
        assert "restore that file" in str(lost.value)
        assert not kept.exists()
