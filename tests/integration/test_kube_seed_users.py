"""`govmatrix kube seed-users` (the Kubernetes demo stack's seed Job) against a real Synapse of
its own, with password login on, as Kubernetes departments have it until single sign-on is
deployed there. (The local demo's departments sign in through SSO only, with password
login off, so this Job's password users cannot be tested against them.)"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from govmatrix.demo.system import wait_for

pytestmark = pytest.mark.integration

SERVER_NAME = "kube-seed.test"


@dataclass(frozen=True)
class Synapse:
    url: str
    shared_secret_file: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def synapse(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    python = repo_root / ".venv-synapse" / "bin" / "python"
    assert python.exists(), "Synapse venv missing: run 'make setup'"
    home = tmp_path_factory.mktemp("kube-seed-synapse")
    port = _free_port()
    shared = home / "registration_shared_secret"
    shared.write_text(secrets.token_hex(32))
    config = home / "homeserver.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server_name": SERVER_NAME,
                "listeners": [
                    {
                        "port": port,
                        "bind_addresses": ["127.0.0.1"],
                        "type": "http",
                        "tls": False,
                        "resources": [{"names": ["client"], "compress": False}],
                    }
                ],
                "database": {"name": "sqlite3", "args": {"database": str(home / "db.sqlite")}},
                "registration_shared_secret_path": str(shared),
                "signing_key_path": str(home / "signing.key"),
                "media_store_path": str(home / "media"),
                "pid_file": str(home / "homeserver.pid"),
                "report_stats": False,
                "trusted_key_servers": [],
                "enable_registration": False,
            }
        )
    )
    command = [str(python), "-m", "synapse.app.homeserver", "-c", str(config)]
    subprocess.run([*command, "--generate-keys"], check=True, capture_output=True, cwd=home)
    log = (home / "synapse.log").open("w")
    proc = subprocess.Popen(command, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        assert proc.poll() is None, (home / "synapse.log").read_text()[-3000:]
        return httpx.get(f"{url}/_matrix/client/versions", timeout=2).status_code == 200

    try:
        wait_for(serving, "the seed Job's Synapse to start", 120)
        yield Synapse(url, shared)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


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
        "--users-dir",
        str(users),
    ]
    # The first run creates the operator with the shared secret, the second logs in as it.
    for _ in range(2):
        result = _run(*args)
        assert result.returncode == 0, result.stderr
        assert "seeded 2 users" in result.stdout
    login = _login(synapse, f"@kube-seed-carol:{SERVER_NAME}", "carol-password-1")
    assert login.status_code == 200, login.text
    operator.write_text("not-the-operator-password")
    wrong = _run(*args)
    assert wrong.returncode == 1
    assert "operator login failed" in wrong.stderr.replace("\n", " ")
