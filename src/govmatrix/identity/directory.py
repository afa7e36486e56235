"""Reading a department's directory (OpenLDAP or Active Directory) over LDAP.

Only what the leaver sync needs: each person's immutable subject (the OIDC `sub` Synapse
recorded at their first login), login name, display name, email, and whether the
directory marks the account disabled (the estate's LDAP filter). Read-only, paged (Active
Directory answers at most 1000 entries per page), and every failure is a DirectoryError
naming what to fix.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors

PAGE_SIZE = 500


class DirectoryError(RuntimeError):
    pass


@dataclass(frozen=True)
class Attributes:
    """Directory attribute names (estate: identity.claims)."""

    subject: str
    localpart: str
    display_name: str
    email: str


@dataclass(frozen=True)
class DirectoryAccess:
    url: str
    base_dn: str
    bind_dn: str
    password: str
    disabled_filter: str
    attributes: Attributes
    ca_file: str | None = None  # for ldaps:// (and StartTLS is not used)
    timeout_s: int = 30


@dataclass(frozen=True)
class DirectoryUser:
    subject: str
    localpart: str
    display_name: str | None
    email: str | None
    disabled: bool


@dataclass(frozen=True)
class DirectoryRead:
    users: tuple[DirectoryUser, ...]
    without_subject: tuple[str, ...]  # DNs of people whose subject attribute is missing


def _subject_text(name: str, raw: bytes) -> str:
    # Active Directory's objectGUID is 16 binary bytes (little-endian GUID); OIDC providers
    # put it in `sub` in its usual text form.
    if name.lower() == "objectguid" and len(raw) == 16:
        return str(uuid.UUID(bytes_le=raw))
    return raw.decode("utf-8", errors="strict")


def _first(entry: dict[str, Any], name: str) -> bytes | None:
    for key, values in entry.get("raw_attributes", {}).items():
        if key.lower() == name.lower() and values:
            return bytes(values[0])
    return None


def _text(entry: dict[str, Any], name: str) -> str | None:
    raw = _first(entry, name)
    return raw.decode("utf-8", errors="replace") if raw is not None else None


def _connect(access: DirectoryAccess) -> ldap3.Connection:
    tls = None
    if access.url.startswith("ldaps://"):
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=access.ca_file)
    server = ldap3.Server(access.url, tls=tls, connect_timeout=10, get_info=ldap3.NONE)
    conn = ldap3.Connection(
        server,
        user=access.bind_dn,
        password=access.password,
        read_only=True,
        receive_timeout=access.timeout_s,
        raise_exceptions=True,
    )
    try:
        conn.bind()
    except ldap_errors.LDAPInvalidCredentialsResult:
        raise DirectoryError(
            f"the directory {access.url} refused the bind as '{access.bind_dn}' (invalid "
            "credentials): check identity.directory.bind_dn and its bind_password"
        ) from None
    except ldap_errors.LDAPException as exc:
        raise DirectoryError(f"cannot reach the directory {access.url}: {exc}") from None
    return conn


def _search(
    conn: ldap3.Connection, access: DirectoryAccess, ldap_filter: str, attributes: list[str]
) -> Iterator[dict[str, Any]]:
    try:
        for entry in conn.extend.standard.paged_search(
            access.base_dn,
            ldap_filter,
            search_scope=ldap3.SUBTREE,
            attributes=attributes,
            paged_size=PAGE_SIZE,
            generator=True,
        ):
            if entry.get("type") == "searchResEntry":
                yield entry
    except ldap_errors.LDAPInvalidFilterError:
        raise DirectoryError(
            f"the LDAP filter {ldap_filter} is not valid: check identity.directory.disabled_filter"
        ) from None
    except ldap_errors.LDAPNoSuchObjectResult:
        raise DirectoryError(
            f"the directory has no entry {access.base_dn}: check identity.directory.base_dn"
        ) from None
    except ldap_errors.LDAPException as exc:
        raise DirectoryError(f"searching {access.base_dn} in {access.url} failed: {exc}") from None


def read_users(access: DirectoryAccess) -> DirectoryRead:
    """Every person under the base DN (an entry with a login name), and which are disabled."""
    names = access.attributes
    people = f"({names.localpart}=*)"
    conn = _connect(access)
    try:
        found = list(
            _search(
                conn,
                access,
                people,
                [names.subject, names.localpart, names.display_name, names.email],
            )
        )
        disabled_dns = {
            e["dn"].lower()
            for e in _search(conn, access, f"(&{people}{access.disabled_filter})", ["1.1"])
        }
    finally:
        conn.unbind()
    users: list[DirectoryUser] = []
    without_subject: list[str] = []
    for entry in found:
        subject = _first(entry, names.subject)
        localpart = _text(entry, names.localpart)
        if subject is None or localpart is None:
            without_subject.append(entry["dn"])
            continue
        users.append(
            DirectoryUser(
                subject=_subject_text(names.subject, subject),
                localpart=localpart,
                display_name=_text(entry, names.display_name),
                email=_text(entry, names.email),
                disabled=entry["dn"].lower() in disabled_dns,
            )
        )
    return DirectoryRead(tuple(users), tuple(without_subject))
