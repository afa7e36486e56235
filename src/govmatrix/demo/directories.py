"""The demo's department directories: one OpenLDAP (slapd) per `bundled` department.

Each listens on its department's loopback address (port 389), runs as the demo user once
it has bound its port, and holds the estate's base DN with the seeded people (the same
names as the seeded Matrix users) and the read-only service account the leaver sync binds
as. The directory's admin password is generated once and kept root-only next to it; the
people's passwords go to the demo's credentials file (0600), shown by `demo status`.
"""

from __future__ import annotations

import grp
import pwd
import secrets
from typing import TYPE_CHECKING, Any

from govmatrix.demo.layout import DEMO_USER
from govmatrix.demo.supervisor import Program
from govmatrix.demo.system import chown_tree, listening, wait_for
from govmatrix.estate.schema import Department
from govmatrix.identity import slapd
from govmatrix.render.context import make_context

if TYPE_CHECKING:
    from govmatrix.demo.stack import DemoStack

PEOPLE = (("alice", "Alice"), ("bob", "Bob"))  # demo.seed creates them in Synapse too


def departments(stack: DemoStack) -> list[Department]:
    """Departments whose directory the demo runs."""
    return [
        d
        for d in stack.estate.departments
        if make_context(stack.estate, d, stack.target(d), stack.graph).runs_directory
    ]


def instance(stack: DemoStack, dept: Department) -> slapd.Slapd:
    directory = dept.identity.directory
    assert directory is not None
    t = stack.target(dept)
    return slapd.Slapd(
        root=stack.layout.department(dept.id) / "directory",
        suffix=directory.base_dn.split(",", 1)[1],
        port=t.directory_port,
        address=t.public_address,
    )


def _admin_password(stack: DemoStack, dept: Department) -> str:
    return slapd.admin_password(stack.layout.department(dept.id) / "directory-admin-password")


def programs(stack: DemoStack) -> list[Program]:
    user = pwd.getpwnam(DEMO_USER)
    group = grp.getgrgid(user.pw_gid).gr_name
    return [
        Program(
            f"directory-{dept.id}",
            (*instance(stack, dept).command(), "-u", DEMO_USER, "-g", group),
            stack.layout.logs / f"directory-{dept.id}.log",
        )
        for dept in departments(stack)
    ]


def prepare(stack: DemoStack) -> None:
    """Each directory's configuration, before the supervisor starts it."""
    for dept in departments(stack):
        directory = dept.identity.directory
        assert directory is not None
        server = instance(stack, dept)
        server.write_config(_admin_password(stack, dept), directory.bind_dn)
        chown_tree(server.root, DEMO_USER)


def seed(stack: DemoStack, creds: dict[str, Any]) -> bool:
    """The tree, the service account and the people of each directory (idempotent); the
    people's passwords are added to `creds`. True if `creds` changed."""
    changed = False
    for dept in departments(stack):
        directory = dept.identity.directory
        assert directory is not None
        server = instance(stack, dept)
        wait_for(
            lambda s=server: listening(s.address, s.port),  # type: ignore[misc]
            f"directory-{dept.id}",
            30,
        )
        admin_password = _admin_password(stack, dept)
        entry = creds.setdefault(dept.id, {"server_name": dept.server_name, "users": []})
        known = entry.setdefault(
            "directory",
            {
                "url": server.url,
                "base_dn": directory.base_dn,
                "admin_dn": server.admin_dn,
                "admin_password": admin_password,
                "people": [],
            },
        )
        conn = server.connect(admin_password)
        try:
            slapd.ensure_tree(
                conn,
                server,
                directory.base_dn,
                directory.bind_dn,
                stack._secrets(dept)["ldap_bind_password"],
            )
            have = {p["uid"] for p in known["people"]}
            for uid, name in PEOPLE:
                if uid in have:
                    continue
                person = slapd.Person(
                    uid,
                    f"{name} ({dept.name})",
                    f"{uid}@{dept.server_name}",
                    secrets.token_urlsafe(18),
                )
                slapd.ensure_person(conn, directory.base_dn, person)
                known["people"].append({"uid": uid, "password": person.password})
                changed = True
        finally:
            conn.unbind()
    return changed


def subjects(stack: DemoStack, dept: Department) -> dict[str, str]:
    """The seeded people's login names and their directory subjects (entryUUID)."""
    directory = dept.identity.directory
    assert directory is not None
    conn = instance(stack, dept).connect(_admin_password(stack, dept))
    try:
        conn.search(
            directory.base_dn,
            "(objectClass=inetOrgPerson)",
            attributes=[dept.identity.claims.localpart, dept.identity.claims.subject],
        )
        return {
            str(e[dept.identity.claims.localpart].value): str(e[dept.identity.claims.subject].value)
            for e in conn.entries
        }
    finally:
        conn.unbind()
