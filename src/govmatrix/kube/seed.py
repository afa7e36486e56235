"""Seed evaluator users into a department on a cluster (the demo stack's post-deploy Job).

Runs inside the department's namespace against Synapse's internal listener. Each user's
password is a file in the `demo-users` Secret (Pulumi generates them); running again sets
the same passwords, so the Job is idempotent.
"""

from __future__ import annotations

from pathlib import Path

from govmatrix.archive.enroll import EnrolError, operator_token
from govmatrix.demo.matrix import Homeserver


def read_users(folder: Path) -> dict[str, str]:
    users = {
        path.name: path.read_text(encoding="utf-8").strip()
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".")
    }
    if not users:
        raise EnrolError(f"no user password files in {folder}")
    return users


def seed_users(
    homeserver_url: str,
    server_name: str,
    shared_secret: str,
    operator_password: str,
    users: dict[str, str],
) -> list[str]:
    """Create or update each user; return their Matrix ids."""
    with Homeserver(server_name, None, base_url=homeserver_url) as hs:
        token = operator_token(hs.http, server_name, shared_secret, operator_password)
        try:
            return [
                hs.ensure_user(token, localpart, password, localpart.title())
                for localpart, password in users.items()
            ]
        finally:
            hs.http.post("/_matrix/client/v3/logout", headers={"Authorization": f"Bearer {token}"})
