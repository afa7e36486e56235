"""The commands the Kubernetes Jobs run, against the demo's real Synapse and PostgreSQL:
`govmatrix archive migrate` (the archive-migrate Job) and `govmatrix kube seed-users` (the
demo stack's seed Job)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from govmatrix.estate import load_estate
from govmatrix.render import target_for
from tests.e2e.archive_helpers import config_path, superuser, verify
from tests.e2e.conftest import ESTATE, Demo

pytestmark = pytest.mark.e2e

DEPT = "hm-treasury"
ROLE = "archive_migrate_e2e"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "govmatrix.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _libpq(demo: Demo, user: str) -> dict[str, str]:
    """Over TCP with a password, as a pod reaches its database (the socket is postgres's)."""
    estate = load_estate(ESTATE)
    target = target_for("demo", estate, estate.department(DEPT), root=demo.status["root"])
    return {
        "PGHOST": target.database_host,
        "PGPORT": str(target.database_port),
        "PGDATABASE": "archive",
        "PGUSER": user,
    }


def test_archive_migrate_as_a_member_of_the_owner_role(demo: Demo, tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("e2e-migrate-password\n")
    with superuser(demo, DEPT) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {ROLE}")
        conn.execute(
            f"CREATE ROLE {ROLE} LOGIN PASSWORD 'e2e-migrate-password' IN ROLE archive_owner"
        )
    try:
        for _ in range(2):  # idempotent: the Job may run on every deploy
            result = _run(
                "archive", "migrate", "--password-file", str(password), env=_libpq(demo, ROLE)
            )
            assert result.returncode == 0, result.stderr
            assert "archive schema up to date" in result.stdout
        assert verify(config_path(demo, DEPT)).returncode == 0
        with superuser(demo, DEPT) as conn:
            conn.execute(f"REVOKE archive_owner FROM {ROLE}")
        refused = _run(
            "archive", "migrate", "--password-file", str(password), env=_libpq(demo, ROLE)
        )
        assert refused.returncode == 1
        assert "archive schema migration failed" in refused.stderr.replace("\n", " ")
    finally:
        with superuser(demo, DEPT) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {ROLE}")


def test_seed_users_creates_them_and_is_idempotent(demo: Demo, tmp_path: Path) -> None:
    estate = load_estate(ESTATE)
    target = target_for("demo", estate, estate.department(DEPT), root=demo.status["root"])
    dept_dir = Path(demo.status["root"]) / DEPT
    operator = tmp_path / "operator_password"
    operator.write_text(demo.admin(DEPT)["password"])  # the demo's operator admin
    users = tmp_path / "users"
    users.mkdir()
    (users / "kube-seed-carol").write_text("carol-password-1\n")
    (users / "kube-seed-dave").write_text("dave-password-1\n")
    args = [
        "kube",
        "seed-users",
        "--homeserver",
        f"http://{target.synapse_host}:{target.internal_api_port}",
        "--server-name",
        estate.department(DEPT).server_name,
        "--shared-secret-file",
        str(dept_dir / "secrets" / "registration_shared_secret"),
        "--operator-password-file",
        str(operator),
        "--users-dir",
        str(users),
    ]
    for _ in range(2):
        result = _run(*args)
        assert result.returncode == 0, result.stderr
        assert "seeded 2 users" in result.stdout
    server = estate.department(DEPT).server_name
    with demo.http(DEPT) as client:
        login = client.post(
            "/_matrix/client/v3/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": f"@kube-seed-carol:{server}"},
                "password": "carol-password-1",
            },
        )
        assert login.status_code == 200, login.text
    operator.write_text("not-the-operator-password")
    wrong = _run(*args)
    assert wrong.returncode == 1
    assert "operator login failed" in wrong.stderr.replace("\n", " ")
