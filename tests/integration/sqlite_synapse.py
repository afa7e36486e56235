"""A real Synapse of a test's own (SQLite, client API on a loopback port), for tests of tools
that talk to a homeserver with settings the shared demo does not have."""

from __future__ import annotations

import secrets
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from govmatrix.demo.system import wait_for
from govmatrix.operator import OPERATOR_SERVICE


@dataclass(frozen=True)
class Synapse:
    url: str
    server_name: str
    shared_secret_file: Path
    operator_service_token_file: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(repo_root: Path, home: Path, server_name: str, **settings: Any) -> Iterator[Synapse]:
    """Synapse from the project's Synapse venv, with `settings` added to its config."""
    python = repo_root / ".venv-synapse" / "bin" / "python"
    assert python.exists(), "Synapse venv missing: run 'make setup'"
    port = _free_port()
    shared = home / "registration_shared_secret"
    shared.write_text(secrets.token_hex(32))
    # The operator application service, as the renderer's synapse/appservices/operator.yaml
    # declares it (the shared demo and molecule load the rendered one).
    service_token = home / "operator_as_token"
    service_token.write_text(secrets.token_hex(32))
    registration = home / "operator.yaml"
    registration.write_text(
        yaml.safe_dump(
            {
                "id": "govmatrix-operator",
                "url": None,
                "as_token": service_token.read_text(),
                "hs_token": secrets.token_hex(32),
                "sender_localpart": OPERATOR_SERVICE,
                "rate_limited": False,
                "namespaces": {"users": [], "aliases": [], "rooms": []},
            }
        )
    )
    config = home / "homeserver.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server_name": server_name,
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
                "app_service_config_files": [str(registration)],
                **settings,
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
        wait_for(serving, f"Synapse for {server_name} to start", 120)
        yield Synapse(url, server_name, shared, service_token)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
