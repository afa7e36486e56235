"""Seed the demo: users in every department, a room for every federating pair, messages.

Accounts are created through the admin API (the first admin through the shared-secret
registration API), so seeding keeps working once single sign-on switches passwords off.
Credentials land in one 0600 file. Seeding is recorded, so a second `up` does not repeat it.
"""

from __future__ import annotations

import json
import secrets
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govmatrix.demo import directories
from govmatrix.demo.matrix import Homeserver, MatrixError
from govmatrix.demo.pictures import png
from govmatrix.demo.system import wait_for
from govmatrix.estate.pki_plan import provider_department
from govmatrix.identity import AUTH_PROVIDER
from govmatrix.materialise import write_file
from govmatrix.operator import OPERATOR_LOCALPART, ensure_service_admin
from govmatrix.render.context import ARCHIVE_SENDER, make_context

if TYPE_CHECKING:
    from govmatrix.demo.stack import DemoStack
    from govmatrix.estate.schema import Department

ADMIN = OPERATOR_LOCALPART
PEOPLE = directories.PEOPLE  # the same people in Synapse and in each directory


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    write_file(path, json.dumps(data, indent=2, sort_keys=True) + "\n", 0o600)


def _uses_sso(stack: DemoStack, dept: Department) -> bool:
    return make_context(stack.estate, dept, stack.target(dept), stack.graph).sso is not None


def ensure_admins(stack: DemoStack) -> dict[str, Any]:
    """Each department's operator account, and admin rights for its archive's Matrix user
    (it reads unredacted originals through MSC2815, which only server admins may)."""
    layout = stack.layout
    creds = read_json(layout.credentials)
    for dept in stack.estate.departments:
        with Homeserver(dept.server_name, layout.pki / "ca.crt") as hs:
            entry = creds.setdefault(dept.id, {"server_name": dept.server_name, "users": []})
            if "admin_token" not in entry:
                password = secrets.token_urlsafe(18)
                shared = stack._secrets(dept)["registration_shared_secret"]
                result = hs.register_with_shared_secret(shared, ADMIN, password, admin=True)
                entry["admin_token"] = result["access_token"]
                entry["users"].append(
                    {"user_id": result["user_id"], "password": password, "admin": True}
                )
                write_private_json(layout.credentials, creds)
            # Tools (the leaver sync) act as an admin through the operator service: make
            # it one now, while the operator's token from its creation is at hand.
            if not entry.get("operator_service_admin"):
                ensure_service_admin(
                    hs.http,
                    dept.server_name,
                    stack._secrets(dept)["operator_as_token"],
                    partial(str, entry["admin_token"]),
                    log_out=False,  # the seeding's own session, kept in the credentials
                )
                entry["operator_service_admin"] = True
                write_private_json(layout.credentials, creds)
            if dept.archive.enabled and not entry.get("archive_admin"):
                hs.register_appservice_user(
                    stack._secrets(dept)["archive_as_token"], ARCHIVE_SENDER
                )
                hs.make_admin(entry["admin_token"], hs.user_id(ARCHIVE_SENDER))
                entry["archive_admin"] = True
                write_private_json(layout.credentials, creds)
    return creds


def seed(stack: DemoStack) -> dict[str, Any]:
    layout = stack.layout
    ca = layout.pki / "ca.crt"
    creds = ensure_admins(stack)
    done = read_json(layout.seeded)
    servers = {d.id: Homeserver(d.server_name, ca) for d in stack.estate.departments}
    try:
        for dept in stack.estate.departments:
            hs = servers[dept.id]
            entry = creds[dept.id]
            token = entry["admin_token"]
            known = {u["user_id"] for u in entry["users"]}
            for localpart, display in PEOPLE:
                user_id = hs.user_id(localpart)
                if user_id in known:
                    continue
                user: dict[str, Any] = {"user_id": user_id, "admin": False}
                if _uses_sso(stack, dept):
                    # No Matrix password: they sign in at the department's portal with their
                    # directory password (credentials: <department>.directory.people).
                    user["sign_in"] = "single sign-on"
                else:
                    user["password"] = secrets.token_urlsafe(18)
                hs.ensure_user(token, localpart, user.get("password"), f"{display} ({dept.name})")
                hs.unlimit(token, user_id)
                entry["users"].append(user)
                write_private_json(layout.credentials, creds)
        _link_directory_people(stack, servers, creds)
        rooms = done.setdefault("rooms", {})
        for a, b in stack.graph.edges:
            key = f"{a}+{b}"
            if key in rooms:
                continue
            rooms[key] = _seed_pair(stack, servers[a], servers[b], creds[a], creds[b])
            write_private_json(layout.seeded, done)
    finally:
        for hs in servers.values():
            hs.close()
    return creds


def _link_directory_people(
    stack: DemoStack, servers: dict[str, Homeserver], creds: dict[str, Any]
) -> None:
    """Link each seeded Matrix person to their directory entry, as their first single
    sign-on would: signing in as `alice` at the department's portal then reaches the seeded
    @alice with her rooms, rather than a new account (Synapse never takes over an
    existing account by name: allow_existing_users is off)."""
    runs_directory = {d.id: d for d in directories.departments(stack)}
    for dept in stack.estate.departments:
        # A department signing in at another's provider (external identity) knows its
        # people by that provider's directory.
        source = runs_directory.get(dept.id)
        if source is None and (provider := provider_department(stack.estate, dept)):
            source = runs_directory.get(provider.id)
        if source is None:
            continue
        hs = servers[dept.id]
        subjects = directories.subjects(stack, source)
        for localpart, _ in PEOPLE:
            if localpart not in subjects:
                continue
            user = hs.user_id(localpart)
            try:
                hs.link_external_id(
                    creds[dept.id]["admin_token"], user, AUTH_PROVIDER, subjects[localpart]
                )
            except MatrixError as exc:
                if exc.status != 409:
                    raise
                # The person signed in before the link existed and got an account of their
                # own; keep it (it may hold their messages) and say so.
                stack.console.print(
                    f"[yellow]![/] {user} is not linked to {source.id}'s directory's {localpart}: "
                    "another account already signed in with that directory entry"
                )


def _seed_pair(
    stack: DemoStack,
    hs_a: Homeserver,
    hs_b: Homeserver,
    creds_a: dict[str, Any],
    creds_b: dict[str, Any],
) -> str:
    alice_a, alice_b = hs_a.user_id("alice"), hs_b.user_id("alice")
    token_a = hs_a.admin_login(creds_a["admin_token"], alice_a)
    token_b = hs_b.admin_login(creds_b["admin_token"], alice_b)
    room = hs_a.create_room(token_a, f"{hs_a.server_name} ↔ {hs_b.server_name}", [alice_b])

    # The invite travels over federation; the join may race it, so retry briefly.
    def joined() -> bool:
        hs_b.join(token_b, room, via=[hs_a.server_name])
        return True

    wait_for(joined, f"{alice_b} to join {room}", 30, interval=0.5)
    hs_a.send(
        token_a, room, {"msgtype": "m.text", "body": "Hello from " + hs_a.server_name}, "seed-1"
    )
    hs_b.send(
        token_b,
        room,
        {"msgtype": "m.text", "body": "Hello back from " + hs_b.server_name},
        "seed-2",
    )
    image = png(64, 48, (11, 12, 12))
    mxc = hs_a.upload(token_a, image, "image/png", "briefing-chart.png")
    hs_a.send(
        token_a,
        room,
        {
            "msgtype": "m.image",
            "body": "briefing-chart.png",
            "url": mxc,
            "info": {"mimetype": "image/png", "size": len(image), "w": 64, "h": 48},
        },
        "seed-3",
    )
    note = b"Minutes of the inter-departmental meeting (demo).\n"
    mxc_file = hs_a.upload(token_a, note, "text/plain", "minutes.txt")
    hs_a.send(
        token_a,
        room,
        {
            "msgtype": "m.file",
            "body": "minutes.txt",
            "url": mxc_file,
            "info": {"mimetype": "text/plain", "size": len(note)},
        },
        "seed-4",
    )
    return room
