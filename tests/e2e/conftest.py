"""One demo estate per test session, shared by every end-to-end test.

Started with the real `govmatrix demo up` (real Synapse, PostgreSQL, nginx) in its own
state directory, and torn down with `govmatrix demo reset` at the end. Tests read what
they need from `govmatrix demo status --json`, as tooling would.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ESTATE = ROOT / "inventories" / "demo" / "estate.yml"
STATE = Path(os.environ.get("GOVMATRIX_E2E_ROOT", "/var/tmp/govmatrix-e2e"))


def govmatrix(
    *args: str, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "govmatrix.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"govmatrix {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def demo_args(*args: str, estate: Path = ESTATE, root: Path = STATE) -> list[str]:
    return ["demo", *args, "--estate", str(estate), "--root", str(root)]


class Demo:
    """What tests know about a running demo (the shared one unless told otherwise):
    `demo status --json`, plus helpers."""

    def __init__(self, estate: Path = ESTATE, root: Path = STATE) -> None:
        self.estate, self.root = estate, root
        self.refresh()

    def refresh(self) -> dict[str, Any]:
        args = demo_args("status", "--json", estate=self.estate, root=self.root)
        self.status = json.loads(govmatrix(*args, check=False).stdout)
        return self.status

    @property
    def ca_file(self) -> Path:
        return Path(self.status["root"]) / "pki" / "ca.crt"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def department(self, dept_id: str) -> dict[str, Any]:
        return next(d for d in self.status["departments"] if d["id"] == dept_id)

    def admin(self, dept_id: str) -> dict[str, Any]:
        return next(u for u in self.department(dept_id)["users"] if u["admin"])

    def user(self, dept_id: str, localpart: str) -> dict[str, Any]:
        return next(
            u
            for u in self.department(dept_id)["users"]
            if u["user_id"].startswith(f"@{localpart}:")
        )

    def http(self, dept_id: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.department(dept_id)["client_url"], verify=self.ssl_context(), timeout=30
        )

    def fresh_user(self, dept_id: str, prefix: str) -> tuple[str, str]:
        """A new user with no rate-limit history (message limits lifted), and its token."""
        import uuid

        user = f"@{prefix}-{uuid.uuid4().hex[:8]}:{self.department(dept_id)['server_name']}"
        auth = {"Authorization": f"Bearer {self.admin(dept_id)['access_token']}"}
        with self.http(dept_id) as client:
            client.put(
                f"/_synapse/admin/v2/users/{user}",
                headers=auth,
                json={"displayname": prefix},
            ).raise_for_status()
            client.post(
                f"/_synapse/admin/v1/users/{user}/override_ratelimit",
                headers=auth,
                json={"messages_per_second": 0, "burst_count": 0},
            ).raise_for_status()
            response = client.post(f"/_synapse/admin/v1/users/{user}/login", headers=auth, json={})
            response.raise_for_status()
            return user, str(response.json()["access_token"])

    def token(self, dept_id: str, localpart: str) -> str:
        """A fresh access token for a seeded user, through the admin API (not password login)."""
        user = self.user(dept_id, localpart)["user_id"]
        with self.http(dept_id) as client:
            response = client.post(
                f"/_synapse/admin/v1/users/{user}/login",
                headers={"Authorization": f"Bearer {self.admin(dept_id)['access_token']}"},
                json={},
            )
            response.raise_for_status()
            return str(response.json()["access_token"])


@pytest.fixture(scope="session")
def artifact_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact mirror holding the FIXTURE Element bundle (the real one is unreachable)."""
    from govmatrix.estate import load_estate
    from tests.fixtures.element_bundle import make_bundle

    mirror = tmp_path_factory.mktemp("mirror")
    make_bundle(mirror / "element-web", load_estate(ESTATE).estate.artifacts.element_version)
    return mirror


@pytest.fixture(scope="session")
def demo(artifact_mirror: Path) -> Iterator[Demo]:
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests run the demo, which needs root (CI runs as root)")
    govmatrix(*demo_args("up"), "--artifacts", str(artifact_mirror))
    try:
        yield Demo()
    finally:
        # GOVMATRIX_E2E_KEEP=1 leaves the demo up to inspect a failure (then: demo reset).
        if not os.environ.get("GOVMATRIX_E2E_KEEP"):
            govmatrix(*demo_args("reset"), check=False)


def run(coro: Any) -> Any:
    return asyncio.run(coro)
