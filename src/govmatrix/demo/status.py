"""`govmatrix demo status`: health per department, including federation to each peer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

from govmatrix.demo.matrix import Homeserver, MatrixError, federation_version
from govmatrix.estate.pki_plan import provider_department
from govmatrix.identity import AUTH_PROVIDER
from govmatrix.render.context import make_context, runs_leaver_sync
from govmatrix.render.paths import IDENTITY_SYNC

if TYPE_CHECKING:
    from govmatrix.demo.stack import DemoStack
    from govmatrix.estate.schema import Department


def _peer_status(
    stack: DemoStack, hs: Homeserver, admin_token: str | None, peer_id: str
) -> dict[str, Any]:
    peer = stack.estate.department(peer_id)
    target = stack.target(peer)
    entry: dict[str, Any] = {"id": peer_id, "server_name": peer.server_name}
    try:
        entry["peer_version"] = federation_version(
            peer.server_name, target.federation_port, stack.layout.pki / "ca.crt"
        )
        reachable = True
        detail = "federation endpoint answers over TLS from the estate CA"
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        reachable, detail = False, f"federation endpoint unreachable: {exc}"
    if reachable and admin_token:
        # Synapse's own record of sending to the peer: a failure here means federation broke.
        try:
            dest = hs.federation_destination(admin_token, peer.server_name)
        except (MatrixError, httpx.HTTPError) as exc:
            dest = None
            detail += f"; destination state unknown ({exc})"
        if dest and dest.get("failure_ts"):
            reachable = False
            detail = f"{hs.server_name} has been failing to reach it since {dest['failure_ts']}"
        elif dest:
            detail += "; Synapse reports no failures sending to it"
    entry.update({"reachable": reachable, "detail": detail})
    return entry


def _users(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Seeded users with credentials; the admin's carries its access token, so tooling can
    use the admin API (and its login-as-user) even once password login is switched off."""
    users = []
    for user in entry.get("users", []):
        user = dict(user)
        if user.get("admin") and "admin_token" in entry:
            user["access_token"] = entry["admin_token"]
        users.append(user)
    return users


def _identity(stack: DemoStack, dept: Department, creds: dict[str, Any]) -> dict[str, Any]:
    """The provider, and the directory the demo runs (its admin and people's credentials
    come from the 0600 credentials file) with the leaver sync's configuration."""
    entry: dict[str, Any] = {"provider": dept.identity.provider}
    t = stack.target(dept)
    if runs_leaver_sync(dept, t):
        entry["sync_config"] = f"{t.config_dir}/{IDENTITY_SYNC}"
        entry["sync_interval"] = dept.identity.sync_interval
    if "directory" in creds:
        entry["directory"] = creds["directory"]
    if provider := provider_department(stack.estate, dept):
        # People sign in with that department's directory accounts.
        entry["provider_department"] = provider.id
    sso = make_context(stack.estate, dept, t, stack.graph).sso
    if sso is not None:
        entry["issuer"] = sso.issuer
        # Where a person signs in: Element's "Sign in with ..." starts here.
        entry["login_url"] = (
            f"https://{dept.server_name}/_matrix/client/v3/login/sso/redirect/{AUTH_PROVIDER}"
            f"?redirectUrl=https://{dept.server_name}/"
        )
    return entry


def collect(stack: DemoStack) -> dict[str, Any]:
    layout = stack.layout
    creds = json.loads(layout.credentials.read_text()) if layout.credentials.exists() else {}
    states = stack.supervisor.states()
    departments = []
    for dept in stack.estate.departments:
        fed = stack.graph.departments[dept.id]
        processes = {
            name: info["statename"]
            for name, info in states.items()
            if name
            in (
                f"postgres-{dept.id}",
                f"redis-{dept.id}",
                f"archive-{dept.id}",
                f"directory-{dept.id}",
                f"identity-{dept.id}",
            )
            or name.startswith(f"synapse-{dept.id}")
        }
        entry: dict[str, Any] = {
            "id": dept.id,
            "name": dept.name,
            "server_name": dept.server_name,
            "address": stack.target(dept).public_address,
            "client_url": f"https://{dept.server_name}",
            "element_url": f"https://{dept.server_name}/",
            "federation_allow": list(fed.whitelist),
            "peers": [],
            "refused": list(fed.refused),
            "processes": processes,
            "users": _users(creds.get(dept.id, {})),
            "identity": _identity(stack, dept, creds.get(dept.id, {})),
            "logs": str(layout.logs),
        }
        client_ok = False
        if states:
            with Homeserver(dept.server_name, layout.pki / "ca.crt", timeout=5) as hs:
                try:
                    client_ok = hs.versions_ok()
                except httpx.HTTPError:
                    client_ok = False
                token = creds.get(dept.id, {}).get("admin_token")
                if client_ok:
                    entry["peers"] = [_peer_status(stack, hs, token, p) for p in fed.peers]
        entry["client_api"] = client_ok
        entry["healthy"] = (
            client_ok
            and bool(processes)
            # STARTING: launched, and supervisord has not yet seen it live `startsecs`; the
            # client check above already proves it serves. BACKOFF/FATAL are not healthy.
            and all(s in ("RUNNING", "STARTING") for s in processes.values())
            and all(p["reachable"] for p in entry["peers"])
        )
        departments.append(entry)
    element_record = layout.element / ".govmatrix-artifact.json"
    return {
        "root": str(layout.root),
        "running": bool(states),
        "healthy": bool(states) and all(d["healthy"] for d in departments),
        "shared_processes": {
            n: i["statename"] for n, i in states.items() if n in ("nginx", "scheduler")
        },
        "element": json.loads(element_record.read_text())
        if element_record.exists()
        else {"status": "unavailable"},
        "credentials_file": str(layout.credentials),
        "departments": departments,
    }
