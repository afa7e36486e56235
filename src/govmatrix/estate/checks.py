"""Cross-reference checks the schema cannot express: uniqueness, the federation graph, and
settings that depend on a department's target (Kubernetes backups need an object store).

They run on the raw data (defensively typed) so that they report alongside schema errors,
not only after the schema passes: an operator fixes everything in one round.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from govmatrix.estate.pki_plan import portal_host_of
from govmatrix.estate.yamlpos import Path

Finding = tuple[Path, str, str | None]


def run(data: dict[str, Any]) -> list[Finding]:
    departments = _dicts(data.get("departments"))
    partners = _dicts(data.get("partners"))
    findings: list[Finding] = []
    findings += _unique(departments, "departments", "id", "department id")
    findings += _unique(partners, "partners", "id", "partner id")
    findings += _unique_server_names(departments, partners)
    findings += _partner_department_clash(departments, partners)
    findings += _federation(data, departments, partners)
    findings += _kubernetes_backups(data, departments)
    findings += _tls_pin_in_a_file(data, departments)
    findings += _host_identity_secrets_in_files(data, departments)
    findings += _estate_providers_list_their_clients(data, departments)
    return findings


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _str(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def _unique(
    items: list[tuple[int, dict[str, Any]]], section: str, key: str, what: str
) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for index, item in items:
        value = _str(item, key)
        if value is None:
            continue
        if value in first:
            yield (
                (section, index, key),
                f"duplicate {what} '{value}' (also {section}[{first[value]}])",
                None,
            )
        else:
            first[value] = index


def _unique_server_names(
    departments: list[tuple[int, dict[str, Any]]], partners: list[tuple[int, dict[str, Any]]]
) -> Iterator[Finding]:
    first: dict[str, str] = {}
    for section, items in (("departments", departments), ("partners", partners)):
        for index, item in items:
            name = _str(item, "server_name")
            if name is None:
                continue
            key = name.lower()
            if key in first:
                yield (
                    (section, index, "server_name"),
                    f"duplicate server name '{name}' (also {first[key]})",
                    "every homeserver in the estate needs its own server name",
                )
            else:
                first[key] = f"{section}[{index}]"


def _partner_department_clash(
    departments: list[tuple[int, dict[str, Any]]], partners: list[tuple[int, dict[str, Any]]]
) -> Iterator[Finding]:
    dept_ids = {_str(d, "id") for _, d in departments}
    for index, partner in partners:
        pid = _str(partner, "id")
        if pid is not None and pid in dept_ids:
            yield (
                ("partners", index, "id"),
                f"partner id '{pid}' is also a department id",
                "allow-lists name peers by id, so ids must be unique across both",
            )


def _allow_list(dept: dict[str, Any]) -> list[tuple[int, str]]:
    federation = dept.get("federation")
    allow = federation.get("allow") if isinstance(federation, dict) else None
    if not isinstance(allow, list):
        return []
    return [(i, peer) for i, peer in enumerate(allow) if isinstance(peer, str)]


def _federation(
    data: dict[str, Any],
    departments: list[tuple[int, dict[str, Any]]],
    partners: list[tuple[int, dict[str, Any]]],
) -> Iterator[Finding]:
    by_id: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, dept in departments:
        d_id = _str(dept, "id")
        if d_id is not None:
            by_id.setdefault(d_id, (index, dept))
    partner_ids = {p_id for _, p in partners if (p_id := _str(p, "id"))}
    allows = {d_id: {peer for _, peer in _allow_list(d)} for d_id, (_, d) in by_id.items()}
    known = sorted(set(by_id) | partner_ids)
    mutual = _require_mutual(data)
    for d_id, (index, dept) in by_id.items():
        seen: set[str] = set()
        for pos, peer in _allow_list(dept):
            path: Path = ("departments", index, "federation", "allow", pos)
            if peer in seen:
                yield path, f"'{peer}' is listed twice", None
                continue
            seen.add(peer)
            if peer == d_id:
                yield path, "a department cannot allow itself", "its own server is always allowed"
            elif peer not in by_id and peer not in partner_ids:
                close = difflib.get_close_matches(peer, known, n=1, cutoff=0.6)
                yield (
                    path,
                    f"'{peer}' is neither a department nor a partner",
                    f"did you mean '{close[0]}'?" if close else "add it under 'partners'",
                )
            elif mutual and peer in by_id and d_id not in allows[peer]:
                peer_index = by_id[peer][0]
                yield (
                    path,
                    f"one-sided federation: '{d_id}' allows '{peer}', but '{peer}' does not "
                    f"allow '{d_id}'",
                    f"add '{d_id}' to departments[{peer_index}].federation.allow, remove this "
                    "entry, or set estate.federation.require_mutual: false",
                )


def _require_mutual(data: dict[str, Any]) -> bool:
    estate = data.get("estate")
    federation = estate.get("federation") if isinstance(estate, dict) else None
    value = federation.get("require_mutual", True) if isinstance(federation, dict) else True
    return value is not False


# Strings pydantic reads as false for a bool field.
_FALSE_WORDS = {"0", "off", "f", "false", "n", "no"}


def _is_false(value: Any) -> bool:
    if isinstance(value, bool):
        return value is False
    if isinstance(value, int):
        return value == 0
    return isinstance(value, str) and value.strip().lower() in _FALSE_WORDS


def _section(item: Any, key: str) -> dict[str, Any]:
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, dict) else {}


def _kubernetes_backups(
    data: dict[str, Any], departments: list[tuple[int, dict[str, Any]]]
) -> Iterator[Finding]:
    """On Kubernetes, backups go to an S3-compatible object store whose address blocks the
    backup pods may reach: local disk has no meaning there (a pod's disk is not the
    department's), and the NetworkPolicies need to know where the store is."""
    default_backup = _section(_section(_section(data, "estate"), "defaults"), "backup")
    for index, dept in departments:
        if dept.get("target") != "kubernetes":
            continue
        own = _section(dept, "backup")
        # Department values win, key by key, as when the loader merges estate.defaults.
        enabled = own.get("enabled", default_backup.get("enabled", True))
        if _is_false(enabled):
            continue
        repository = {**_section(default_backup, "repository"), **_section(own, "repository")}
        name = _str(dept, "id") or f"departments[{index}]"
        where: Path = ("departments", index, "backup", "repository")
        kind = repository.get("type", "local")
        if kind == "local":
            yield (
                where,
                f"department '{name}' runs on Kubernetes with backups enabled, but its backup "
                "repository is local disk; on Kubernetes the database (CloudNativePG) and the "
                "files (restic) are backed up to an S3-compatible object store",
                "set backup.repository to {type: s3, bucket, endpoint, address_blocks} here or "
                "in estate.defaults.backup, or set backup.enabled: false",
            )
        elif kind == "s3" and repository.get("address_blocks") in (None, []):
            yield (
                (*where, "address_blocks"),
                f"department '{name}' runs on Kubernetes: its s3 backup repository needs "
                "'address_blocks', the networks the object store is reached on (the only "
                "egress the backup pods get)",
                "list the store's CIDR blocks, or write ['0.0.0.0/0'] to allow any address "
                "on the store's port",
            )


def _tls_pin_in_a_file(
    data: dict[str, Any], departments: list[tuple[int, dict[str, Any]]]
) -> Iterator[Finding]:
    """With the TLS key in the HSM (demo, on-prem), nginx's master reads the TLS token's PIN
    from a file (ssl_password_file): an env: or vault: PIN cannot reach it."""
    default_hsm = _section(_section(_section(data, "estate"), "defaults"), "hsm")
    for index, dept in departments:
        if dept.get("target") not in ("onprem", "demo"):
            continue
        hsm = {**default_hsm, **_section(dept, "hsm")}
        if not hsm.get("enabled") or _is_false(hsm.get("enabled")):
            continue
        keys = hsm.get("keys")
        if isinstance(keys, dict) and "tls" not in keys:
            continue  # no TLS key in the HSM: nginx keeps a software key
        tls_key = keys.get("tls") if isinstance(keys, dict) else None
        own_pin = tls_key.get("pin") if isinstance(tls_key, dict) else None
        pin = own_pin or hsm.get("pin", "generate")
        if not isinstance(pin, str) or pin == "generate" or pin.startswith("file:"):
            continue
        name = _str(dept, "id") or f"departments[{index}]"
        where: Path = ("departments", index, "hsm", "keys", "tls", "pin")
        yield (
            where,
            f"department '{name}' keeps its TLS key in the HSM, but the TLS token's PIN is "
            f"'{pin}'; nginx reads that PIN from a file (ssl_password_file)",
            "set hsm.keys.tls.pin to file:PATH (a root-only file on the host) or generate, "
            "or leave the TLS key out of hsm.keys",
        )


def _host_identity_secrets_in_files(
    data: dict[str, Any], departments: list[tuple[int, dict[str, Any]]]
) -> Iterator[Finding]:
    """On-prem, identity secrets issued elsewhere are read on the host: the directory's bind
    password is copied from its file into the department's secrets, and Synapse reads an
    external issuer's client secret from its file. An env: or vault: reference would have
    to pass through the controller, so it is refused."""
    defaults = _section(_section(_section(data, "estate"), "defaults"), "identity")
    for index, dept in departments:
        if dept.get("target") != "onprem":
            continue
        own = _section(dept, "identity")
        identity = {**defaults, **own}
        directory = {**_section(defaults, "directory"), **_section(own, "directory")}
        name = _str(dept, "id") or f"departments[{index}]"
        refs: list[tuple[tuple[str | int, ...], Any]] = [
            (("directory", "bind_password"), directory.get("bind_password"))
        ]
        if identity.get("provider") == "external":
            refs.append((("client_secret",), identity.get("client_secret")))
        for n, client in _dicts(identity.get("clients")):
            refs.append((("clients", n, "client_secret"), client.get("client_secret")))
        for sub, ref in refs:
            if not isinstance(ref, str) or ref == "generate" or ref.startswith("file:"):
                continue
            yield (
                ("departments", index, "identity", *sub),
                f"department '{name}' runs on-prem, where identity secrets are read from "
                f"files on the host, but identity.{'.'.join(map(str, sub))} is '{ref}'",
                "give file:PATH (a root-only file on the department's host)",
            )


def _identity(data: dict[str, Any], dept: dict[str, Any]) -> dict[str, Any]:
    """A department's identity section over the estate's defaults (top-level keys)."""
    defaults = _section(_section(_section(data, "estate"), "defaults"), "identity")
    return {**defaults, **_section(dept, "identity")}


def _portal_issuer(dept: dict[str, Any], identity: dict[str, Any]) -> str | None:
    """The issuer of a department's bundled provider: https://<portal host>, no trailing
    slash."""
    server = _str(dept, "server_name")
    override = identity.get("portal_host")
    if identity.get("provider", "bundled") != "bundled" or server is None:
        return None
    host = portal_host_of(server, override if isinstance(override, str) else None)
    return None if host is None else f"https://{host}"


def _estate_providers_list_their_clients(
    data: dict[str, Any], departments: list[tuple[int, dict[str, Any]]]
) -> Iterator[Finding]:
    """A department whose external issuer is another department's bundled provider signs in
    only if that provider lists it as a client, returning people to its Synapse. The
    provider's side is explicit, so a department's operators decide who signs in through
    their provider."""
    portals: dict[str, tuple[int, dict[str, Any], dict[str, Any]]] = {}
    for index, dept in departments:
        identity = _identity(data, dept)
        issuer = _portal_issuer(dept, identity)
        if issuer is not None:
            portals[issuer] = (index, dept, identity)
    for index, dept in departments:
        identity = _identity(data, dept)
        issuer = identity.get("issuer")
        if identity.get("provider") != "external" or not isinstance(issuer, str):
            continue
        found = portals.get(issuer.rstrip("/"))
        if found is None:
            continue
        at, provider_dept, provider = found
        name = _str(dept, "id") or f"departments[{index}]"
        provider_name = _str(provider_dept, "id") or f"departments[{at}]"
        exact = issuer.rstrip("/")
        if issuer != exact:
            yield (
                ("departments", index, "identity", "issuer"),
                f"department '{name}' names '{issuer}' as its issuer, but department "
                f"'{provider_name}''s provider calls itself '{exact}', and Synapse compares "
                "the two exactly",
                f"write issuer: {exact}",
            )
        client_id = identity.get("client_id")
        redirect = f"https://{_str(dept, 'server_name')}/_synapse/client/oidc/callback"
        clients = [c for _, c in _dicts(provider.get("clients"))]
        listed = next((c for c in clients if c.get("client_id") == client_id), None)
        if listed is None:
            yield (
                ("departments", index, "identity", "client_id"),
                f"department '{name}' signs in at department '{provider_name}''s provider, "
                f"which has no client '{client_id}'",
                f"add to department '{provider_name}''s identity.clients: "
                f"{{client_id: {client_id}, redirect_uris: [{redirect}], client_secret: "
                "<a reference to the same secret>}",
            )
        elif redirect not in (listed.get("redirect_uris") or []):
            yield (
                ("departments", at, "identity", "clients"),
                f"client '{client_id}' of department '{provider_name}''s provider is "
                f"department '{name}', whose Synapse returns people to {redirect}, which "
                "its redirect_uris do not list",
                f"add {redirect} to its redirect_uris",
            )
