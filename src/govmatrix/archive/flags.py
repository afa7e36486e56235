"""Suspicious-activity rules over the archived stream.

Each rule looks at newly archived events and the archive's own history, and raises a flag
(an append-only row) when its threshold from the estate is crossed:
- bulk redactions by one user within a window;
- a message deleted by its sender soon after sending it;
- history visibility narrowed to hide history from new members;
- one user leaving many rooms within a window;
- an unusually large export (raised by `archive export`).
- an account deactivated while it was active recently (checked by the service, which asks
  the homeserver whether a user who left rooms was deactivated). Deactivations with a
  recorded reason (the identity sync's "left the directory") are not flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from govmatrix.archive.config import Flags


@dataclass(frozen=True)
class Flag:
    rule: str
    user_id: str
    room_id: str | None
    event_ids: tuple[str, ...]
    detail: str


HIDING = {"joined", "invited"}


def _count(conn: psycopg.Connection[Any], statement: str, params: tuple[Any, ...]) -> int:
    row = conn.execute(statement, params).fetchone()
    return int(row[0]) if row else 0


def _recently_flagged(conn: psycopg.Connection[Any], rule: str, user: str, window_s: int) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM archive_flags WHERE rule = %s AND user_id = %s"
            " AND raised_at > now() - make_interval(secs => %s)",
            (rule, user, window_s),
        ).fetchone()
        is not None
    )


def evaluate(conn: psycopg.Connection[Any], events: list[dict[str, Any]], cfg: Flags) -> list[Flag]:
    flags: list[Flag] = []
    for event in events:
        kind, sender, room = event.get("type"), event.get("sender", ""), event.get("room_id")
        ts = int(event.get("origin_server_ts", 0))
        raw = event.get("content")
        content: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if kind == "m.room.redaction":
            flags += _redaction_rules(conn, event, sender, room, ts, cfg, flags)
        elif kind == "m.room.history_visibility" and cfg.history_hidden:
            if content.get("history_visibility") in HIDING:
                flags.append(
                    Flag(
                        "history_hidden",
                        sender,
                        room,
                        (event["event_id"],),
                        f"history visibility set to '{content['history_visibility']}'",
                    )
                )
        elif (
            kind == "m.room.member"
            and content.get("membership") == "leave"
            and event.get("state_key") == sender
        ):
            flags += _mass_leave(conn, sender, ts, cfg, flags)
    return flags


def _redaction_rules(
    conn: psycopg.Connection[Any],
    event: dict[str, Any],
    sender: str,
    room: str | None,
    ts: int,
    cfg: Flags,
    pending: list[Flag],
) -> list[Flag]:
    out = []
    target = str(event.get("redacts") or (event.get("content") or {}).get("redacts") or "")
    original = conn.execute(
        "SELECT sender, origin_server_ts FROM archive_events WHERE event_id = %s", (target,)
    ).fetchone()
    if (
        original
        and original[0] == sender
        and 0 <= ts - original[1] <= cfg.delete_after_send_within_s * 1000
    ):
        out.append(
            Flag(
                "deleted_soon_after_sending",
                sender,
                room,
                (target, event["event_id"]),
                f"deleted by its sender {round((ts - original[1]) / 1000)} s after sending",
            )
        )
    window_ms = cfg.bulk_redactions_window_s * 1000
    count = _count(
        conn,
        "SELECT count(*) FROM archive_events WHERE type = 'm.room.redaction' AND sender = %s"
        " AND origin_server_ts BETWEEN %s AND %s",
        (sender, ts - window_ms, ts),
    )
    already = any(f.rule == "bulk_redactions" and f.user_id == sender for f in pending)
    if (
        count >= cfg.bulk_redactions
        and not already
        and not _recently_flagged(conn, "bulk_redactions", sender, cfg.bulk_redactions_window_s)
    ):
        out.append(
            Flag(
                "bulk_redactions",
                sender,
                room,
                (event["event_id"],),
                f"{count} redactions within {cfg.bulk_redactions_window_s} s",
            )
        )
    return out


def _mass_leave(
    conn: psycopg.Connection[Any], sender: str, ts: int, cfg: Flags, pending: list[Flag]
) -> list[Flag]:
    window_ms = cfg.mass_leave_window_s * 1000
    rooms = _count(
        conn,
        "SELECT count(DISTINCT room_id) FROM archive_events WHERE type = 'm.room.member'"
        " AND sender = %s AND state_key = %s AND event->'content'->>'membership' = 'leave'"
        " AND origin_server_ts BETWEEN %s AND %s",
        (sender, sender, ts - window_ms, ts),
    )
    already = any(f.rule == "mass_leave" and f.user_id == sender for f in pending)
    if (
        rooms >= cfg.mass_leave_rooms
        and not already
        and not _recently_flagged(conn, "mass_leave", sender, cfg.mass_leave_window_s)
    ):
        return [
            Flag(
                "mass_leave",
                sender,
                None,
                (),
                f"left {rooms} rooms within {cfg.mass_leave_window_s} s",
            )
        ]
    return []


def record(conn: psycopg.Connection[Any], flags: list[Flag]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO archive_flags (rule, user_id, room_id, event_ids, detail)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(f.rule, f.user_id, f.room_id, list(f.event_ids), f.detail) for f in flags],
        )


def listing(conn: psycopg.Connection[Any], after: int, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, rule, user_id, room_id, event_ids, detail, raised_at FROM archive_flags"
        " WHERE id > %s ORDER BY id LIMIT %s",
        (after, limit),
    ).fetchall()
    keys = ("id", "rule", "user_id", "room_id", "event_ids", "detail", "raised_at")
    return [dict(zip(keys, row, strict=True)) | {"raised_at": row[6].isoformat()} for row in rows]


def self_leavers(events: list[dict[str, Any]], server_name: str) -> set[str]:
    """Local users who left a room themselves in these events (deactivation does this)."""
    return {
        e["sender"]
        for e in events
        if e.get("type") == "m.room.member"
        and e.get("state_key") == e.get("sender")
        and (e.get("content") or {}).get("membership") == "leave"
        and str(e.get("sender", "")).endswith(":" + server_name)
    }


def deactivation_flag(conn: psycopg.Connection[Any], user: str, cfg: Flags) -> Flag | None:
    """For a user the homeserver reports deactivated: flag recent activity, unless a reason
    was recorded or the user was flagged already."""
    if conn.execute(
        "SELECT 1 FROM archive_deactivation_reasons WHERE user_id = %s", (user,)
    ).fetchone():
        return None
    if conn.execute(
        "SELECT 1 FROM archive_flags WHERE rule = 'deactivated_while_active' AND user_id = %s",
        (user,),
    ).fetchone():
        return None
    recent = _count(
        conn,
        "SELECT count(*) FROM archive_events WHERE sender = %s AND type = 'm.room.message'"
        " AND origin_server_ts > (extract(epoch from now()) * 1000)::bigint - %s",
        (user, cfg.deactivation_recent_activity_s * 1000),
    )
    if recent == 0:
        return None
    return Flag(
        "deactivated_while_active",
        user,
        None,
        (),
        f"account deactivated with {recent} messages in the last "
        f"{cfg.deactivation_recent_activity_s // 86400} days and no recorded reason",
    )
