"""PostgreSQL storage of the archive: append-only tables and the hash chain's head."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from govmatrix.archive import chain
from govmatrix.archive.config import Database, Flags
from govmatrix.archive.flags import Flag, deactivation_flag, evaluate, record

INSERT_EVENT = (
    "INSERT INTO archive_events (seq, event_id, room_id, sender, type, state_key,"
    " origin_server_ts, event, encrypted, redacts, recovered, body, prev_hash, hash)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)

# One writer extends the chain at a time, across processes too (a restarted service, or two).
CHAIN_LOCK = 0x61726368  # "arch"
AUDIT_LOCK = 0x61756474  # "audt"


def schema_sql() -> str:
    return resources.files("govmatrix.archive").joinpath("schema.sql").read_text()


# The archive database's roles: a NOLOGIN owner of the tables, and the service's login role.
ARCHIVE_OWNER_ROLE = "archive_owner"
ARCHIVE_DB_ROLE = "archive"


def migration_sql(owner: str, app_role: str) -> str:
    """The whole schema migration as one idempotent SQL script, for the database superuser:
    creates or updates the schema as `owner`, and grants `app_role` SELECT and INSERT only,
    on every archive table (so a new table can never be left without its grants)."""
    owner_id = sql.Identifier(owner).as_string(None)
    app_id = sql.Identifier(app_role).as_string(None)
    app_literal = sql.Literal(app_role).as_string(None)
    return (
        f"SET ROLE {owner_id};\n"
        f"{schema_sql()}\n"
        "DO $grants$\n"
        "DECLARE t text;\n"
        "BEGIN\n"
        "  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public'\n"
        "           AND tablename LIKE 'archive\\_%' ORDER BY tablename LOOP\n"
        f"    EXECUTE format('REVOKE ALL ON %I FROM %I', t, {app_literal});\n"
        f"    EXECUTE format('GRANT SELECT, INSERT ON %I TO %I', t, {app_literal});\n"
        "  END LOOP;\n"
        "END\n"
        "$grants$;\n"
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {app_id};\n"
        "RESET ROLE;\n"
    )


def migrate(conn: psycopg.Connection[Any], owner: str, app_role: str) -> None:
    """Create or update the schema as `owner`; grant the service role SELECT and INSERT only."""
    conn.execute(migration_sql(owner, app_role).encode())


def connect(db: Database) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=db.host, port=db.port, dbname=db.dbname, user=db.user, passfile=db.passfile
    )


@dataclass(frozen=True)
class Attachment:
    event_id: str
    mxc: str
    sha256: str | None  # None: the homeserver no longer had it (error says why)
    size: int
    content_type: str | None
    error: str | None


def _insert_attachments(conn: psycopg.Connection[Any], attachments: list[Attachment]) -> None:
    for a in attachments:
        if a.sha256 is not None:
            conn.execute(
                "INSERT INTO archive_media (sha256, size, content_type) VALUES (%s, %s, %s)"
                " ON CONFLICT (sha256) DO NOTHING",
                (a.sha256, a.size, a.content_type),
            )
        conn.execute(
            "INSERT INTO archive_event_media (event_id, mxc, sha256, error)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (a.event_id, a.mxc, a.sha256, a.error),
        )


@dataclass(frozen=True)
class Head:
    seq: int
    hash: bytes


def _redacts(event: dict[str, Any]) -> str | None:
    if event.get("type") != "m.room.redaction":
        return None
    value = event.get("redacts") or event.get("content", {}).get("redacts")
    return value if isinstance(value, str) else None


def _body(event: dict[str, Any]) -> str | None:
    body = event.get("content", {}).get("body")
    return body if isinstance(body, str) else None


class Store:
    def __init__(self, db: Database):
        self.db = db
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.db)
        return self._conn

    def head(self) -> Head:
        with self._lock:
            return self._head(self.conn)

    @staticmethod
    def _head(conn: psycopg.Connection[Any]) -> Head:
        row = conn.execute(
            "SELECT seq, hash FROM archive_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        conn.commit()
        return Head(row[0], bytes(row[1])) if row else Head(0, chain.GENESIS)

    def ingest(
        self,
        txn_id: str,
        events: list[dict[str, Any]],
        recovered: set[str],
        attachments: list[Attachment] | None = None,
    ) -> list[dict[str, Any]]:
        """Append the transaction's new events (and their media links) to the chain, in one
        database transaction, once. Returns the events that were new."""
        with self._lock:
            conn = self.conn
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
                    seen = conn.execute(
                        "SELECT 1 FROM archive_transactions WHERE txn_id = %s", (txn_id,)
                    ).fetchone()
                    if seen:
                        return []
                    ids = [e.get("event_id") for e in events]
                    existing = {
                        r[0]
                        for r in conn.execute(
                            "SELECT event_id FROM archive_events WHERE event_id = ANY(%s)", (ids,)
                        )
                    }
                    head = self._head_in(conn)
                    seq, prev = head.seq, head.hash
                    rows = []
                    new_events = []
                    for event in events:
                        event_id = event.get("event_id")
                        if not isinstance(event_id, str) or event_id in existing:
                            continue
                        existing.add(event_id)
                        new_events.append(event)
                        seq += 1
                        digest = chain.link(prev, event)
                        content = event.get("content", {})
                        rows.append(
                            (
                                seq,
                                event_id,
                                event["room_id"],
                                event["sender"],
                                event["type"],
                                event.get("state_key"),
                                int(event.get("origin_server_ts", 0)),
                                Jsonb(chain.stored_event(event)),
                                event["type"] == "m.room.encrypted",
                                _redacts(event),
                                event_id in recovered,
                                _body(event) if isinstance(content, dict) else None,
                                prev,
                                digest,
                            )
                        )
                        prev = digest
                    if rows:
                        with conn.cursor() as cur:
                            cur.executemany(
                                INSERT_EVENT,
                                rows,
                            )
                    _insert_attachments(conn, attachments or [])
                    conn.execute(
                        "INSERT INTO archive_transactions (txn_id, events) VALUES (%s, %s)",
                        (txn_id, len(rows)),
                    )
                    return new_events
            except psycopg.OperationalError:
                self._conn = None  # reconnect next time; Synapse will resend the transaction
                raise

    @staticmethod
    def _head_in(conn: psycopg.Connection[Any]) -> Head:
        row = conn.execute(
            "SELECT seq, hash FROM archive_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return Head(row[0], bytes(row[1])) if row else Head(0, chain.GENESIS)

    def raise_flags(self, events: list[dict[str, Any]], cfg: Flags) -> list[Flag]:
        with self._lock, self.conn.transaction():
            raised = evaluate(self.conn, events, cfg)
            if raised:
                record(self.conn, raised)
            return raised

    def flag_deactivation(self, user: str, cfg: Flags) -> list[Flag]:
        with self._lock, self.conn.transaction():
            flag = deactivation_flag(self.conn, user, cfg)
            if flag is None:
                return []
            record(self.conn, [flag])
            return [flag]

    def record_deactivation(self, user: str, reason: str, recorded_by: str) -> None:
        """Why `user` is being deactivated, recorded before the deactivation so that the
        deactivation rule finds the reason (archive_deactivation_reasons)."""
        with self._lock, self.conn.transaction():
            self.conn.execute(
                "INSERT INTO archive_deactivation_reasons (user_id, reason, recorded_by)"
                " VALUES (%s, %s, %s)",
                (user, reason, recorded_by),
            )

    def last_checkpoint_seq(self) -> int:
        with self._lock:
            row = self.conn.execute("SELECT max(head_seq) FROM archive_checkpoints").fetchone()
            self.conn.commit()
            return int(row[0] or 0) if row else 0

    def add_checkpoint(self, head: Head, signed_at: str, key_id: str, text: str, sig: str) -> None:
        with self._lock, self.conn.transaction():
            self.conn.execute(
                "INSERT INTO archive_checkpoints (head_seq, head_hash, signed_at, key_id,"
                " statement, signature) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (head_seq) DO NOTHING",
                (head.seq, head.hash, signed_at, key_id, text, sig),
            )

    def has_event(self, event_id: str) -> bool:
        with self._lock:
            row = self.conn.execute(
                "SELECT 1 FROM archive_events WHERE event_id = %s", (event_id,)
            ).fetchone()
            self.conn.commit()
            return row is not None


@dataclass(frozen=True)
class SearchQuery:
    terms: str | None
    sender: str | None
    room: str | None
    from_ts: int | None
    to_ts: int | None
    after_seq: int
    limit: int


SEARCH_COLUMNS = "seq, event_id, room_id, sender, type, origin_server_ts, body, encrypted, event"


def search(store: Store, q: SearchQuery) -> list[dict[str, Any]]:
    """Events matching every given criterion, in chain order after `after_seq`."""
    clauses: list[str] = ["seq > %s"]
    params: list[Any] = [q.after_seq]
    if q.terms:
        clauses.append("to_tsvector('simple', coalesce(body, '')) @@ plainto_tsquery('simple', %s)")
        params.append(q.terms)
    for column, value in (("sender", q.sender), ("room_id", q.room)):
        if value:
            clauses.append(f"{column} = %s")
            params.append(value)
    if q.from_ts is not None:
        clauses.append("origin_server_ts >= %s")
        params.append(q.from_ts)
    if q.to_ts is not None:
        clauses.append("origin_server_ts <= %s")
        params.append(q.to_ts)
    statement = (
        f"SELECT {SEARCH_COLUMNS},"
        f" (SELECT array_agg(m.sha256 ORDER BY m.mxc) FROM archive_event_media m"
        f"  WHERE m.event_id = e.event_id AND m.sha256 IS NOT NULL) AS media,"
        f" (SELECT array_agg(r.event_id) FROM archive_events r"
        f"  WHERE r.redacts = e.event_id) AS redactions FROM archive_events e"
        f" WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT %s"
    )
    params.append(q.limit)
    with store._lock:
        rows = store.conn.execute(statement, params).fetchall()
        store.conn.commit()
    keys = [
        "seq",
        "event_id",
        "room_id",
        "sender",
        "type",
        "origin_server_ts",
        "body",
        "encrypted",
        "event",
        "media",
        "redacted_by",
    ]
    return [
        dict(zip(keys, row, strict=True)) | {"media": row[-2] or [], "redacted_by": row[-1] or []}
        for row in rows
    ]


def audit(
    store: Store,
    officer: str,
    case_ref: str,
    query: dict[str, Any],
    outcome: str,
    result_count: int,
) -> int:
    """Append one access-log entry to its own hash chain. Returns its seq."""
    with store._lock, store.conn.transaction():
        conn = store.conn
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
        row = conn.execute(
            "SELECT seq, hash FROM archive_access_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev = (row[0] + 1, bytes(row[1])) if row else (1, chain.GENESIS)
        digest = chain.audit_link(prev, seq, officer, case_ref, query, outcome, result_count)
        conn.execute(
            "INSERT INTO archive_access_log (seq, officer, case_ref, query, outcome,"
            " result_count, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (seq, officer, case_ref, Jsonb(query), outcome, result_count, prev, digest),
        )
        return int(seq)


def media_info(store: Store, sha256: str) -> tuple[int, str | None] | None:
    with store._lock:
        row = store.conn.execute(
            "SELECT size, content_type FROM archive_media WHERE sha256 = %s", (sha256,)
        ).fetchone()
        store.conn.commit()
    return (int(row[0]), row[1]) if row else None
