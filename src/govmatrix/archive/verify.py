"""Recompute the chain and check every checkpoint, in the database and in the outside log.

Reports every problem found, and names the first bad row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from govmatrix.archive import chain
from govmatrix.archive.checkpoints import read_log


@dataclass
class Report:
    events: int = 0
    checkpoints: int = 0
    log_entries: int = 0
    access_entries: int = 0
    encrypted: int = 0  # ciphertext the archive cannot read: the visible gap
    head_seq: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad(self, where: str, what: str) -> None:
        if self.first_bad is None:
            self.first_bad = where
        self.problems.append(f"{where}: {what}")


def verify(conn: psycopg.Connection[Any], public: Ed25519PublicKey, log_path: str) -> Report:
    report = Report()
    hashes: dict[int, bytes] = {}
    expected_seq = 1
    prev = chain.GENESIS
    with conn.cursor(name="archive_verify") as cur:
        cur.itersize = 2000
        cur.execute(
            "SELECT seq, event_id, event, prev_hash, hash, encrypted FROM archive_events"
            " ORDER BY seq"
        )
        for seq, event_id, event, prev_hash, stored, encrypted in cur:
            report.encrypted += bool(encrypted)
            where = f"row seq={seq} event_id={event_id}"
            if seq != expected_seq:
                report.bad(f"row seq={expected_seq}", f"missing: the chain jumps to seq {seq}")
                prev = bytes(prev_hash)  # carry on from what is there, to report later rows
            if bytes(prev_hash) != prev:
                report.bad(where, "prev_hash does not match the previous row's hash")
            if event.get("event_id") != event_id:
                report.bad(where, "event_id column differs from the stored event")
            computed = chain.link(bytes(prev_hash), event)
            if computed != bytes(stored):
                report.bad(where, "hash does not match the event's content (modified)")
            hashes[seq] = bytes(stored)
            prev = bytes(stored)
            expected_seq = seq + 1
            report.events += 1
    report.head_seq = expected_seq - 1
    conn.commit()

    db_checkpoints = conn.execute(
        "SELECT head_seq, head_hash, statement, signature FROM archive_checkpoints"
        " ORDER BY head_seq"
    ).fetchall()
    conn.commit()
    for head_seq, head_hash, text, sig in db_checkpoints:
        report.checkpoints += 1
        where = f"checkpoint head_seq={head_seq}"
        _check_statement(report, where, public, text, sig, head_seq, bytes(head_hash), hashes)

    _verify_access_log(conn, report)

    in_db = {int(row[0]) for row in db_checkpoints}
    for number, entry in enumerate(read_log(log_path), start=1):
        report.log_entries += 1
        where = f"checkpoint log line {number}"
        try:
            data = json.loads(entry["statement"])
            head_seq, head_hash = int(data["head_seq"]), bytes.fromhex(data["head_hash"])
        except (KeyError, ValueError, TypeError):
            report.bad(where, "unreadable entry")
            continue
        _check_statement(
            report,
            where,
            public,
            entry["statement"],
            entry["signature"],
            head_seq,
            head_hash,
            hashes,
        )
        if head_seq not in in_db:
            report.bad(
                where,
                f"signed head seq {head_seq} is missing from the database's checkpoints (deleted?)",
            )
    return report


def _verify_access_log(conn: psycopg.Connection[Any], report: Report) -> None:
    prev, expected = chain.GENESIS, 1
    rows = conn.execute(
        "SELECT seq, officer, case_ref, query, outcome, result_count, prev_hash, hash"
        " FROM archive_access_log ORDER BY seq"
    ).fetchall()
    conn.commit()
    for seq, officer, case_ref, query, outcome, count, prev_hash, stored in rows:
        where = f"access log seq={seq}"
        if seq != expected:
            report.bad(f"access log seq={expected}", f"missing: the log jumps to seq {seq}")
        if bytes(prev_hash) != prev:
            report.bad(where, "prev_hash does not match the previous entry")
        if chain.audit_link(
            bytes(prev_hash), seq, officer, case_ref, query, outcome, count
        ) != bytes(stored):
            report.bad(where, "entry does not match its hash (modified)")
        prev, expected = bytes(stored), seq + 1
    report.access_entries = len(rows)


def _check_statement(
    report: Report,
    where: str,
    public: Ed25519PublicKey,
    text: str,
    sig: str,
    head_seq: int,
    head_hash: bytes,
    hashes: dict[int, bytes],
) -> None:
    if not chain.signature_valid(public, text, sig):
        report.bad(where, "signature does not verify with the checkpoint key")
        return
    data = json.loads(text)
    if int(data["head_seq"]) != head_seq or data["head_hash"] != head_hash.hex():
        report.bad(where, "signed statement differs from the stored head")
    if head_seq not in hashes:
        report.bad(
            where,
            f"signed head seq {head_seq} is beyond the chain "
            f"(the chain ends at {max(hashes, default=0)}: rows were removed)",
        )
    elif hashes[head_seq] != head_hash:
        report.bad(where, f"chain hash at seq {head_seq} differs from the signed head")
