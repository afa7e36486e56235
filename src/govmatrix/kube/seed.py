"""Seed evaluator users into a department on a cluster (the demo stack's post-deploy Job).

Runs inside the department's namespace against Synapse's internal listener. Each user's
password is a file in the `demo-users` Secret (Pulumi generates them); running again sets
the same passwords, so the Job is idempotent.
"""

from __future__ import annotations

from pathlib import Path

from govmatrix.demo.matrix import Homeserver
from govmatrix.operator import OperatorError, service_token


def read_users(folder: Path) -> dict[str, str]:
    users = {
        path.name: path.read_text(encoding="utf-8").strip()
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".")
    }
    if not users:
        raise OperatorError(f"no user password files in {folder}")
    return users


def seed_users(
    homeserver_url: str,
    server_name: str,
    shared_secret: str,
    operator_password: str,
    operator_service_token: str,
    users: dict[str, str],
) -> list[str]:
    """Create or update each user; return their Matrix ids."""
    with Homeserver(server_name, None, base_url=homeserver_url) as hs:
        token = service_token(
            hs.http, server_name, operator_service_token, shared_secret, operator_password
        )
        return [
            hs.ensure_user(token, localpart, password, localpart.title())
            for localpart, password in users.items()
        ]
