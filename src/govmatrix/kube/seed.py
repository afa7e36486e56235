"""Seed evaluator users into a department on a cluster (the demo stack's post-deploy Job).

Runs inside the department's namespace against Synapse's internal listener. Each user's
password is a file in the `demo-users` Secret (Pulumi generates them); running again sets
the same passwords, so the Job is idempotent.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx

from govmatrix.archive.enroll import EnrolError, operator_token


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
    seeded = []
    with httpx.Client(base_url=homeserver_url, timeout=30) as http:
        token = operator_token(http, server_name, shared_secret, operator_password)
        headers = {"Authorization": f"Bearer {token}"}
        try:
            for localpart, password in users.items():
                user_id = f"@{localpart}:{server_name}"
                response = http.put(
                    f"/_synapse/admin/v2/users/{quote(user_id)}",
                    headers=headers,
                    json={"password": password, "displayname": localpart.title()},
                )
                if response.status_code >= 400:
                    raise EnrolError(
                        f"seeding {user_id} failed: {response.status_code} {response.text}"
                    )
                seeded.append(user_id)
        finally:
            http.post("/_matrix/client/v3/logout", headers=headers)
    return seeded
