"""The commands the Kubernetes Jobs run, against the demo's real PostgreSQL: `govmatrix
archive migrate` (the archive-migrate Job). `govmatrix kube seed-users` (the demo stack's
seed Job) creates password users, which the demo's SSO-only departments refuse; it is tested
against a Synapse of its own (tests/integration/test_kube_seed_users.py)."""

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
