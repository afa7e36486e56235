"""Leavers lose access the same day: compare the directory with the homeserver's users.

A homeserver user belongs to the directory when Synapse recorded a subject for them from
the department's provider (`user_external_ids`, auth provider `oidc-directory`): the
immutable attribute (entryUUID, objectGUID), so a renamed login keeps its account. A
linked user whose subject is no longer in the directory, or is disabled there, is
deactivated through the admin API: Synapse ends their sessions and takes them out of
their rooms. Their messages stay in the archive, which is told the reason first, so its
suspicious-activity rule does not flag the deactivation.

The guard: a directory that answers with nobody is refused outright (a wrong bind DN or
base DN must never empty a department), and a run that would deactivate more than the
estate's share of linked users is refused unless forced; a forced run says so in its
report and in the archive's record of each deactivation.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

from govmatrix.identity import AUTH_PROVIDER
from govmatrix.identity.config import SyncConfig
from govmatrix.identity.directory import DirectoryRead
from govmatrix.operator import OPERATOR_SERVICE, OperatorError, is_admin, service_token

LEFT = "left the directory"
DISABLED = "disabled in the directory"
RECORDED_BY = "govmatrix identity sync"


class SyncError(RuntimeError):
    pass


@dataclass(frozen=True)
class LinkedUser:
    user_id: str
    subject: str


@dataclass(frozen=True)
class Leaver:
    user_id: str
    subject: str
    reason: str


@dataclass(frozen=True)
class SyncPlan:
    directory_people: int
    directory_active: int
    linked: int
    leavers: tuple[Leaver, ...]
    refusal: str | None  # why the guard stops this run, if it does
    overridable: bool  # whether --force may override the refusal


def plan(
    directory: DirectoryRead,
    linked: list[LinkedUser],
    max_share: float,
    where: str,
) -> SyncPlan:
    active = {u.subject for u in directory.users if not u.disabled}
    known = {u.subject for u in directory.users}
    leavers = tuple(
        Leaver(u.user_id, u.subject, DISABLED if u.subject in known else LEFT)
        for u in sorted(linked, key=lambda u: u.user_id)
        if u.subject not in active
    )
    refusal, overridable = None, True
    if not directory.users:
        refusal = (
            f"the directory returned no people under {where}; a wrong bind DN, base DN or "
            "filter looks like this, so nobody is deactivated (not even with --force)"
        )
        overridable = False
    elif linked and len(leavers) / len(linked) > max_share:
        refusal = (
            f"{len(leavers)} of {len(linked)} linked users would be deactivated, more than "
            f"the estate's limit of {max_share:.0%} (identity.max_deactivation_share); "
            "check the directory, then run again with --force if this is right"
        )
    return SyncPlan(
        directory_people=len(directory.users),
        directory_active=len(active),
        linked=len(linked),
        leavers=leavers,
        refusal=refusal,
        overridable=overridable,
    )


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 400:
        raise SyncError(f"{what}: {response.status_code} {response.text[:300]}")
    return response


def _local_users(http: httpx.Client) -> Iterator[str]:
    """Every active, non-guest local user (the admin list API, page by page)."""
    next_token: str | None = "0"
    while next_token is not None:
        page = _check(
            http.get(
                "/_synapse/admin/v2/users",
                params={"from": next_token, "limit": 500, "guests": "false"},
            ),
            "listing users",
        ).json()
        for user in page.get("users", []):
            if not user.get("deactivated"):
                yield str(user["name"])
        token = page.get("next_token")
        next_token = str(token) if token is not None else None


def linked_users(http: httpx.Client) -> list[LinkedUser]:
    """The homeserver's active users that signed in through the department's provider."""
    linked: list[LinkedUser] = []
    for user_id in _local_users(http):
        details = _check(
            http.get(f"/_synapse/admin/v2/users/{quote(user_id)}"), f"reading {user_id}"
        ).json()
        for external in details.get("external_ids") or []:
            if external.get("auth_provider") == AUTH_PROVIDER:
                linked.append(LinkedUser(user_id, str(external["external_id"])))
                break
    return linked


def deactivate(http: httpx.Client, user_id: str) -> None:
    """Synapse logs the user out everywhere and parts them from their rooms; erase is off,
    so their messages stay readable (and archived)."""
    _check(
        http.post(f"/_synapse/admin/v1/deactivate/{quote(user_id)}", json={"erase": False}),
        f"deactivating {user_id}",
    )


@dataclass
class SyncReport:
    department: str
    started_at: str
    dry_run: bool
    forced: bool
    directory_people: int = 0
    directory_active: int = 0
    directory_entries_without_subject: list[str] = field(default_factory=list)
    linked: int = 0
    leavers: list[dict[str, str]] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    refused: str | None = None
    guard_overridden: str | None = None  # the refusal a --force run went past
    error: str | None = None  # what stopped the deactivations part-way (those done are listed)
    finished_at: str | None = None

    def write(self, report_dir: Path) -> Path:
        """A new file per run (runs in the same second get a suffix; none is overwritten)."""
        report_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        stamp = self.started_at.replace(":", "").replace("-", "")
        text = json.dumps(asdict(self), indent=2) + "\n"
        for n in range(1000):
            path = report_dir / (f"sync-{stamp}.json" if n == 0 else f"sync-{stamp}-{n}.json")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            return path
        raise SyncError(f"cannot write a report in {report_dir}: too many runs in one second")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def apply(
    sync_plan: SyncPlan,
    report: SyncReport,
    http: httpx.Client,
    record_reason: Callable[[str, str, str], None] | None,
) -> None:
    """Deactivate the plan's leavers (the guard has been passed): the archive hears the
    reason first, so a deactivation never lands without it."""
    recorded_by = RECORDED_BY + (" (forced past the guard)" if report.forced else "")
    for leaver in sync_plan.leavers:
        if record_reason is not None:
            try:
                record_reason(leaver.user_id, leaver.reason, recorded_by)
            except psycopg.Error as exc:
                raise SyncError(
                    f"cannot record why {leaver.user_id} is deactivated in the archive "
                    f"({exc}); stopped before deactivating them"
                ) from None
        deactivate(http, leaver.user_id)
        report.deactivated.append(leaver.user_id)


def fill(report: SyncReport, directory: DirectoryRead, sync_plan: SyncPlan) -> None:
    report.directory_people = sync_plan.directory_people
    report.directory_active = sync_plan.directory_active
    report.directory_entries_without_subject = list(directory.without_subject)
    report.linked = sync_plan.linked
    report.leavers = [asdict(leaver) for leaver in sync_plan.leavers]


def summary(report: SyncReport) -> dict[str, Any]:
    return {
        "department": report.department,
        "directory_people": report.directory_people,
        "linked": report.linked,
        "leavers": len(report.leavers),
        "deactivated": len(report.deactivated),
        "dry_run": report.dry_run,
        "refused": report.refused,
        "forced": report.forced,
    }


@contextmanager
def _archive_recorder(
    archive_config: str | None,
) -> Iterator[Callable[[str, str, str], None] | None]:
    if archive_config is None:
        yield None
        return
    from govmatrix.archive import config as archive_cfg
    from govmatrix.archive.store import Store

    store = Store(archive_cfg.load(archive_config).database)
    try:
        yield store.record_deactivation
    finally:
        store.conn.close()


def _operator_service_token(http: httpx.Client, config: SyncConfig) -> str:
    operator = config.operator
    token = Path(operator.service_token_file).read_text().strip()
    if operator.shared_secret_file is None or operator.password_file is None:
        user = f"@{OPERATOR_SERVICE}:{config.server_name}"
        if not is_admin(http, token, user):
            raise OperatorError(
                f"{user} is not a server admin; the demo's seeding makes it one "
                "('govmatrix demo seed')"
            )
        return token
    return service_token(
        http,
        config.server_name,
        token,
        Path(operator.shared_secret_file).read_text().strip(),
        Path(operator.password_file).read_text().strip(),
    )


def run(config: SyncConfig, *, dry_run: bool, force: bool) -> SyncReport:
    """One sync of `config`'s department: read, plan, guard, then (unless a dry run or
    refused) deactivate. The report says what happened either way; the caller writes it."""
    from govmatrix.identity.directory import read_users

    report = SyncReport(config.department, now(), dry_run=dry_run, forced=force)
    directory = read_users(config.directory_access())
    verify: str | bool = config.homeserver_ca_file or True
    with httpx.Client(base_url=config.homeserver_url, timeout=30, verify=verify) as http:
        try:
            token = _operator_service_token(http, config)
        except (OperatorError, OSError) as exc:
            raise SyncError(f"cannot act as the department's operator: {exc}") from None
        http.headers["Authorization"] = f"Bearer {token}"
        sync_plan = plan(
            directory,
            linked_users(http),
            config.max_deactivation_share,
            f"{config.directory.base_dn} ({config.directory.url})",
        )
        fill(report, directory, sync_plan)
        if sync_plan.refusal and not (force and sync_plan.overridable):
            report.refused = sync_plan.refusal
        else:
            report.guard_overridden = sync_plan.refusal
            if not dry_run:
                try:
                    with _archive_recorder(config.archive_config) as record:
                        apply(sync_plan, report, http, record)
                except (SyncError, psycopg.Error, httpx.HTTPError) as exc:
                    # The report keeps who was deactivated before the failure.
                    report.error = str(exc)
    report.finished_at = now()
    return report
