"""What a restore must reproduce, read from a cluster: per-room event counts and latest
events, the archive's chain head, and the media each event can point at.

Everything is read up to a stream position (`upto`), so a live source that keeps writing
can be compared with a restore taken a moment later: events after the position are ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg


@dataclass
class Facts:
    upto: int  # the highest stream ordering considered
    events: int = 0
    rooms: dict[str, dict[str, Any]] = field(default_factory=dict)  # room -> count, latest
    archive_head: tuple[int, str] | None = None  # (seq, hash hex)
    archive_seq_upto: int = 0
    media_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stream_position(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(stream_ordering), 0) FROM events").fetchone()
    return int(str(row[0])) if row else 0


def archive_position(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM archive_events").fetchone()
    return int(str(row[0])) if row else 0


def synapse_facts(conn: psycopg.Connection[Any], upto: int) -> Facts:
    facts = Facts(upto=upto)
    rows = conn.execute(
        """
        SELECT room_id, count(*),
               (array_agg(event_id ORDER BY stream_ordering DESC))[1]
        FROM events WHERE stream_ordering <= %s GROUP BY room_id ORDER BY room_id
        """,
        (upto,),
    ).fetchall()
    for room_id, count, latest in rows:
        facts.rooms[str(room_id)] = {"events": int(str(count)), "latest": str(latest)}
        facts.events += int(str(count))
    facts.media_ids = [
        str(r[0])
        for r in conn.execute("SELECT media_id FROM local_media_repository ORDER BY media_id")
    ]
    return facts


def add_archive(facts: Facts, conn: psycopg.Connection[Any], upto: int) -> None:
    facts.archive_seq_upto = upto
    row = conn.execute(
        "SELECT seq, hash FROM archive_events WHERE seq <= %s ORDER BY seq DESC LIMIT 1", (upto,)
    ).fetchone()
    if row is not None:
        facts.archive_head = (int(str(row[0])), bytes(row[1]).hex())


def media_path(media_store: Path, media_id: str) -> Path:
    """Synapse's layout for local media: local_content/ab/cd/rest."""
    return media_store / "local_content" / media_id[:2] / media_id[2:4] / media_id[4:]


def compare(source: Facts, restored: Facts) -> list[str]:
    """Every difference, in words; empty when the restore reproduces the source."""
    problems = []
    if restored.events != source.events:
        problems.append(f"events: source has {source.events}, restore has {restored.events}")
    for room, want in source.rooms.items():
        got = restored.rooms.get(room)
        if got is None:
            problems.append(f"room {room}: missing from the restore")
        elif got != want:
            problems.append(
                f"room {room}: source {want['events']} events (latest {want['latest']}), "
                f"restore {got['events']} (latest {got['latest']})"
            )
    for room in sorted(set(restored.rooms) - set(source.rooms)):
        problems.append(f"room {room}: in the restore but not in the source")
    if restored.archive_head != source.archive_head:
        problems.append(
            f"archive chain head: source {source.archive_head}, restore {restored.archive_head}"
        )
    missing_media = sorted(set(source.media_ids) - set(restored.media_ids))
    if missing_media:
        problems.append(f"media rows missing from the restore: {', '.join(missing_media[:10])}")
    return problems
