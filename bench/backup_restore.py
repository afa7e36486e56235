"""Benchmark: time to restore a department holding 100,000 events and 1 GB of media.

Against a running demo, on one department (default hm-treasury, so the others stay small):

1. Seed, through Synapse's own APIs, so the events and media are real Synapse data:
   - messages from several fresh users (message rate limits lifted by the admin API), each
     in a room of its own, with many requests in flight, until the department's database
     holds at least --events events (whatever it already holds counts: a rerun tops up);
   - random, incompressible 10 MiB uploads through the media API until the media store
     holds at least --media-mib MiB.
   Seeding is timed and reported on its own; it is not the measured figure.
2. A full backup, `govmatrix backup run DEPT --type full` (timed, reported).
3. The measured figure: `govmatrix backup restore DEPT --to latest --into DIR`, end to end,
   wall clock of the command: pgBackRest's physical restore of the whole cluster, WAL
   recovery to the end of the archive, the one-time-key truncation, and restic's restore of
   the files. Parts, from the logs: pgBackRest's own restore duration; the restored
   cluster's run (recovery until promoted, then the truncation and counts, then shutdown),
   from its PostgreSQL log; the rest (restic restoring the files, unsealing the restic
   passphrase through the HSM, process start) is the remainder. The backup just written
   sits in the page cache, so the repositories' files are evicted from it first (these files
   only, posix_fadvise) and this cold restore is the figure against the goal; a second,
   warm-cache restore is reported beside it.
4. Verification, outside the timing: the restored cluster is started again and its events
   counted (at least --events, and at least what the live database held at backup time),
   and the restored media store summed (at least 1 GB). The restore directory is removed.

Prints JSON. Goal (issue #7): <= 3 min on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import ssl
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from _common import (
    demo_backup_layout,
    demo_status,
    fresh_user,
    govmatrix,
    live_db,
    progress,
    scratch_dir,
)

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 180.0
MIB = 1024 * 1024
BODY = "restore benchmark: the quarterly figures are in the shared folder, see item {i}"


def live_counts(root: Path, dept_id: str) -> tuple[int, int, int]:
    """(events, local media files, their bytes) in the department's live database."""
    with live_db(root, dept_id) as conn:
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
        files, size = conn.execute(
            "SELECT count(*), coalesce(sum(media_length), 0) FROM local_media_repository"
        ).fetchone()
    return int(events), int(files), int(size)


async def seed_events(
    http: httpx.AsyncClient, args: argparse.Namespace, admin: str, sn: str, n: int
) -> int:
    """Send n messages: args.users users, each in its own room, args.concurrency in flight."""
    rooms: list[tuple[dict[str, str], str]] = []
    for _ in range(args.users):
        token = await fresh_user(http, admin, sn, "restore-seed")
        auth = {"Authorization": f"Bearer {token}"}
        r = await http.post(
            "/_matrix/client/v3/createRoom",
            headers=auth,
            json={"name": "restore benchmark", "preset": "private_chat"},
        )
        r.raise_for_status()
        rooms.append((auth, str(r.json()["room_id"])))
    next_i = 0
    done = 0
    failures = 0
    start = time.monotonic()

    async def worker(w: int) -> None:
        nonlocal next_i, done, failures
        auth, room = rooms[w % len(rooms)]
        while next_i < n:
            i = next_i
            next_i += 1
            txn = uuid.uuid4().hex
            for attempt in range(10):
                try:
                    r = await http.put(
                        f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{txn}",
                        headers=auth,
                        json={"msgtype": "m.text", "body": BODY.format(i=i)},
                    )
                    if r.status_code == 200:
                        done += 1
                        break
                    failures += 1
                except httpx.HTTPError:
                    failures += 1
                await asyncio.sleep(0.5 * (attempt + 1))  # same txn id: retries are idempotent
            else:
                raise SystemExit(f"message {i} could not be sent after 10 attempts")

    async def report() -> None:
        while True:
            await asyncio.sleep(10)
            rate = done / (time.monotonic() - start)
            progress(f"seeded {done}/{n} messages, {rate:.0f}/s, {failures} retries")

    reporter = asyncio.create_task(report())
    try:
        await asyncio.gather(*(worker(w) for w in range(args.concurrency)))
    finally:
        reporter.cancel()
    return failures


async def seed_media(http: httpx.AsyncClient, admin: str, sn: str, count: int) -> None:
    token = await fresh_user(http, admin, sn, "restore-media")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    remaining = list(range(count))

    async def worker() -> None:
        while remaining:
            i = remaining.pop()
            r = await http.post(
                f"/_matrix/media/v3/upload?filename=bench-{i}.bin",
                headers=headers,
                content=os.urandom(10 * MIB),
            )
            r.raise_for_status()
            progress(f"uploaded 10 MiB file ({count - len(remaining)}/{count})")

    await asyncio.gather(*(worker() for _ in range(2)))


PG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})")


def pg_log_times(log: Path) -> dict[str, float]:
    """Seconds from the restored cluster's first log line to: promoted and ready, shut down."""
    stamps: list[tuple[dt.datetime, str]] = []
    for line in log.read_text(errors="replace").splitlines():
        match = PG_STAMP.match(line)
        if match:
            stamps.append((dt.datetime.fromisoformat(match.group(1)), line))
    if not stamps:
        return {}
    first = stamps[0][0]
    out: dict[str, float] = {}
    for stamp, line in stamps:
        if "ready to accept connections" in line and "ready_s" not in out:
            out["ready_s"] = (stamp - first).total_seconds()
        if "database system is shut down" in line:
            out["shut_down_s"] = (stamp - first).total_seconds()
    return out


def pgbackrest_restore_seconds(log: Path) -> float | None:
    """pgBackRest's own duration of its last restore (its log: 'completed successfully (Nms)')."""
    if not log.exists():
        return None
    found = re.findall(r"restore command end: completed successfully \((\d+)ms\)", log.read_text())
    return int(found[-1]) / 1000 if found else None


def verify(into: Path, media_store: Path) -> dict[str, Any]:
    """Start the restored cluster again and count; sum the restored media store."""
    from govmatrix.backup import scratch

    with (
        scratch.started(into / "postgres", into / "socket-verify", into / "verify.log") as cluster,
        cluster.connect("synapse") as conn,
    ):
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
        (messages,) = conn.execute(
            "SELECT count(*) FROM events WHERE type = 'm.room.message'"
        ).fetchone()
        (media_rows,) = conn.execute("SELECT count(*) FROM local_media_repository").fetchone()
    restored_media = into / "files" / media_store.relative_to("/")
    files = [p for p in restored_media.rglob("*") if p.is_file()]
    return {
        "events": int(events),
        "messages": int(messages),
        "media_rows": int(media_rows),
        "media_files": len(files),
        "media_bytes": sum(p.stat().st_size for p in files),
    }


def evict_from_page_cache(layout: Any) -> int:
    """Drop the department's repository files (pgBackRest, restic) from the page cache, so the
    restore reads them from disk. Only these files: nothing else on the machine is touched.
    (On a VM the host may still cache them.) Returns the bytes evicted."""
    os.sync()
    total = 0
    for base in (Path(layout.pgbackrest_repo), Path(layout.restic_repo)):
        for path in base.rglob("*"):
            if path.is_file() and not path.is_symlink():
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
                total += path.stat().st_size
    return total


def timed_restore(into: Path, dept_id: str, common: list[str], layout: Any) -> dict[str, Any]:
    """`govmatrix backup restore DEPT --to latest --into INTO`, timed end to end; parts from
    pgBackRest's log and the restored cluster's PostgreSQL log."""
    progress(f"restoring into {into}")
    start = time.monotonic()
    govmatrix("backup", "restore", dept_id, "--to", "latest", "--into", str(into), *common)
    total = time.monotonic() - start
    report = json.loads((into / "restore.json").read_text())
    database = pgbackrest_restore_seconds(layout.log_dir / f"{layout.stanza}-restore.log")
    cluster = pg_log_times(into / "postgres.log")
    parts: dict[str, Any] = {
        "pgbackrest_restore_s": database,
        "cluster_recovery_until_promoted_s": cluster.get("ready_s"),
        "cluster_run_until_shut_down_s": cluster.get("shut_down_s"),
    }
    if database is not None and "shut_down_s" in cluster:
        parts["files_restic_and_process_overhead_s"] = round(
            total - database - cluster["shut_down_s"], 2
        )
    return {
        "restore_s": round(total, 1),
        "parts": parts,
        "report": {
            k: report.get(k) for k in ("events", "latest_event_at", "one_time_keys_dropped")
        },
        "cluster_bytes": sum(
            p.stat().st_size for p in (into / "postgres").rglob("*") if p.is_file()
        ),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    status = demo_status(args.estate, args.root)
    root = Path(status["root"])
    dept = next(d for d in status["departments"] if d["id"] == args.department)
    admin = next(u for u in dept["users"] if u["admin"])["access_token"]
    layout = demo_backup_layout(root, args.department)
    ctx = ssl.create_default_context(cafile=str(root / "pki" / "ca.crt"))
    common = ["--estate", str(args.estate), "--root", str(root)]
    result: dict[str, Any] = {"benchmark": "backup_restore", "department": args.department}

    events, media_files, media_bytes = live_counts(root, args.department)
    to_send = max(0, args.events - events)
    to_upload = max(0, -(-(args.media_mib * MIB - media_bytes) // (10 * MIB)))
    progress(
        f"{args.department} holds {events} events, {media_bytes / MIB:.0f} MiB of media; "
        f"sending {to_send} messages, uploading {to_upload} files of 10 MiB"
    )
    seed: dict[str, Any] = {"events_before": events, "media_bytes_before": media_bytes}
    limits = httpx.Limits(max_connections=args.concurrency + 4)
    async with httpx.AsyncClient(
        base_url=dept["client_url"], verify=ctx, timeout=300, limits=limits
    ) as http:
        if to_send:
            start = time.monotonic()
            retries = await seed_events(http, args, admin, dept["server_name"], to_send)
            took = time.monotonic() - start
            seed.update(
                {
                    "messages_sent": to_send,
                    "messages_seconds": round(took, 1),
                    "messages_per_s": round(to_send / took, 1),
                    "retries": retries,
                }
            )
        if to_upload:
            start = time.monotonic()
            await seed_media(http, admin, dept["server_name"], to_upload)
            took = time.monotonic() - start
            seed.update(
                {
                    "media_uploaded_mib": 10 * to_upload,
                    "media_seconds": round(took, 1),
                    "media_mib_per_s": round(10 * to_upload / took, 1),
                }
            )
    events, media_files, media_bytes = live_counts(root, args.department)
    seed.update({"events_after": events, "media_files": media_files, "media_bytes": media_bytes})
    result["seed"] = seed

    events_at_backup = events
    progress("full backup")
    start = time.monotonic()
    govmatrix("backup", "run", args.department, "--type", "full", *common)
    result["full_backup_s"] = round(time.monotonic() - start, 1)

    work = scratch_dir("gm-bench-restore")
    try:
        # Cold: the repositories were just written by the backup, so they sit in the page
        # cache; a real restore reads them from disk. Evicted first (these files only).
        evicted = evict_from_page_cache(layout)
        progress(f"evicted {evicted / MIB:.0f} MiB of repository files from the page cache")
        cold = timed_restore(work / "cold", args.department, common, layout)
        progress(f"restored (cold) in {cold['restore_s']} s; verifying")
        checked = verify(work / "cold", layout.media_store)
        shutil.rmtree(work / "cold")
        warm = timed_restore(work / "warm", args.department, common, layout)
        progress(f"restored (warm) in {warm['restore_s']} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    verified = (
        checked["events"] >= args.events
        and checked["events"] >= events_at_backup
        and checked["media_bytes"] >= 1_000_000_000
    )
    total = float(cold["restore_s"])
    result.update(
        {
            "restore_s": total,
            "restore_parts": cold["parts"],
            "restore_report": cold["report"],
            "restored_cluster_bytes": cold["cluster_bytes"],
            "repository_evicted_from_page_cache_bytes": evicted,
            "restore_warm_cache_s": warm["restore_s"],
            "restore_warm_cache_parts": warm["parts"],
            "verified": {**checked, "live_events_at_backup": events_at_backup, "ok": verified},
            "cores": os.cpu_count(),
            "goal_restore_s": GOAL_S,
            "goal_met": verified and total <= GOAL_S,
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--estate", type=Path, default=REPO / "inventories" / "demo" / "estate.yml")
    parser.add_argument("--root", type=Path, default=Path("/var/lib/govmatrix-demo"))
    parser.add_argument("--department", default="hm-treasury")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--media-mib", type=int, default=1024, help="media to hold, MiB")
    parser.add_argument("--users", type=int, default=16, help="seeding users, a room each")
    parser.add_argument("--concurrency", type=int, default=32, help="seeding requests in flight")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
