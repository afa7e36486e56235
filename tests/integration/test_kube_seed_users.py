"""`govmatrix kube seed-users` (the Kubernetes demo stack's seed Job) against a real Synapse of
its own, with password login on, as Kubernetes departments have it until single sign-on is
deployed there. (The local demo's departments sign in through SSO only, with password
login off, so this Job's password users cannot be tested against them.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration import sqlite_synapse
from tests.integration.sqlite_synapse import Synapse

pytestmark = pytest.mark.integration

SERVER_NAME = "kube-seed.test"


@pytest.fixture(scope="module")
def synapse(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    home = tmp_path_factory.mktemp("kube-seed-synapse")
    with sqlite_synapse.running(repo_root, home, SERVER_NAME) as server:
        yield server


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "govmatrix.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def _login(synapse: Synapse, user: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{synapse.url}/_matrix/client/v3/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
        },
        timeout=30,
    )


def test_seed_users_creates_them_and_is_idempotent(synapse: Synapse, tmp_path: Path) -> None:
    operator = tmp_path / "operator_password"
    operator.write_text("operator-password-1\n")
    users = tmp_path / "users"
    users.mkdir()
    (users / "kube-seed-carol").write_text("carol-password-1\n")
    (users / "kube-seed-dave").write_text("dave-password-1\n")
    args = [
        "kube",
        "seed-users",
        "--homeserver",
        synapse.url,
        "--server-name",
        SERVER_NAME,
        "--shared-secret-file",
        str(synapse.shared_secret_file),
        "--operator-password-file",
        str(operator),
        "--operator-service-token-file",
        str(synapse.operator_service_token_file),
        "--users-dir",
        str(users),
    ]
    # The first run creates the operator with the shared secret and makes the operator
    # service an admin through it; the second acts as the service straight away.
    for _ in range(2):
        result = _run(*args)
        assert result.returncode == 0, result.stderr
        assert "seeded 2 users" in result.stdout
    login = _login(synapse, f"@kube-seed-carol:{SERVER_NAME}", "carol-password-1")
    assert login.status_code == 200, login.text
    # Only the service's token matters from now on: a wrong one is named.
    operator.write_text("not-the-operator-password")
    assert _run(*args).returncode == 0
    wrong_token = tmp_path / "wrong_token"
    wrong_token.write_text("not-the-service-token")
    wrong = _run(
        *[
            wrong_token.as_posix() if a == str(synapse.operator_service_token_file) else a
            for a in args
        ]
    )
    assert wrong.returncode == 1
    assert "does not know the operator service's token" in wrong.stderr.replace("\n", " ")
