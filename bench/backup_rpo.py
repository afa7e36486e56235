"""Benchmark: RPO of a department's continuous WAL archiving, under a steady write load.

RPO here is the time between the last committed event and the latest recoverable point:
what a department would lose if its server were gone at that instant and it restored the
newest it could from its backup repository.

Against a running demo (`govmatrix demo up`). A fresh user of one department (message rate
limits lifted by the admin API) sends messages into a room at a steady rate (default
10 msg/s) for the whole sampling period; each body carries the moment its send started.
At each sample instant, spread over several minutes with an interval that is not a
multiple of archive_timeout (so the WAL segment switches are met at different phases),
the department's pgBackRest repository is frozen: copied as it is (`cp -a`: the repository
is just files) into a scratch directory. The sample instant t_i is the END of the copy
(the conservative end: a segment archived while the copy ran may be missing from it).

Once sampling is done the load stops, and each frozen copy is restored to its latest
point in turn: a pgBackRest physical restore with --repo1-path on the copy (so recovery's
archive-get reads the copy too, never the live repository), the restored cluster started
on its own (scratch cluster: loopback, own port, archiving off) until recovery ends, and
the newest message found in it:

    RPO_i = t_i - (send start of the newest recovered message)

Send start is before commit, so each RPO_i is an upper bound by the send latency (tens of
ms). Prints JSON: every sample, the maximum (what the goal is about), the median, and how
many acknowledged messages each frozen copy would have lost.
Goal (issue #7): max RPO <= 60 s at 10 msg/s, over >= 10 samples.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import pwd
import shutil
import ssl
import statistics
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from _common import demo_backup_layout, demo_status, fresh_user, pct, progress, scratch_dir

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 60.0


class Load:
    """Messages at a fixed rate into one room; remembers every send's start and ack."""

    def __init__(self, http: httpx.AsyncClient, token: str, room: str, rate: float):
        self.http = http
        self.auth = {"Authorization": f"Bearer {token}"}
        self.room = room
        self.rate = rate
        self.started: dict[int, float] = {}  # seq -> wall clock at send start
        self.acked: dict[int, float] = {}  # seq -> wall clock when the server answered 200
        self.failed = 0
        self.latencies: list[float] = []
        self._stop = asyncio.Event()

    async def _send(self, seq: int) -> None:
        start = time.time()
        self.started[seq] = start
        try:
            r = await self.http.put(
                f"/_matrix/client/v3/rooms/{quote(self.room)}/send/m.room.message/"
                f"{uuid.uuid4().hex}",
                headers=self.auth,
                json={"msgtype": "m.text", "body": f"rpo {seq} {start:.6f}"},
            )
            r.raise_for_status()
        except httpx.HTTPError as exc:
            self.failed += 1
            progress(f"send {seq} failed: {exc}")
            return
        self.acked[seq] = time.time()
        self.latencies.append(self.acked[seq] - start)

    async def run(self) -> tuple[float, float]:
        """Send until stopped; returns (first send start, achieved rate)."""
        tasks: set[asyncio.Task[None]] = set()
        t0 = time.perf_counter()
        wall0 = time.time()
        seq = 0
        while not self._stop.is_set():
            await asyncio.sleep(max(0.0, t0 + seq / self.rate - time.perf_counter()))
            task = asyncio.create_task(self._send(seq))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            seq += 1
        elapsed = time.perf_counter() - t0
        await asyncio.gather(*tasks)
        return wall0, seq / elapsed

    def stop(self) -> None:
        self._stop.set()


async def freeze(repo: Path, into: Path) -> tuple[float, float]:
    """Copy the repository as it is now; returns (copy start, copy end), wall clock."""
    start = time.time()
    proc = await asyncio.create_subprocess_exec("cp", "-a", str(repo), str(into))
    if await proc.wait() != 0:
        raise SystemExit(f"cp -a {repo} {into} failed")
    return start, time.time()


def restore_copy(layout: Any, copy: Path, into: Path) -> str:
    """pgBackRest restore of the latest point in `copy` into `into`/postgres. Returns how
    recovery reads WAL from the copy ("pgbackrest" if pgBackRest's own restore_command
    names it, "set" if the benchmark had to set it)."""
    from govmatrix.backup import pgbackrest

    pg = into / "postgres"
    pg.mkdir(parents=True)
    entry = pwd.getpwnam("postgres")
    os.chown(pg, entry.pw_uid, entry.pw_gid)
    pg.chmod(0o700)
    pgbackrest.run(layout, "restore", f"--pg1-path={pg}", f"--repo1-path={copy}")
    auto = pg / "postgresql.auto.conf"
    commands = [
        line for line in auto.read_text().splitlines() if line.startswith("restore_command")
    ]
    if commands and f"--repo1-path={copy}" in commands[-1]:
        return "pgbackrest"
    command = (
        f'{layout.pgbackrest_command()} --repo1-path={copy} --pg1-path={pg} archive-get %f "%p"'
    )
    with auto.open("a") as out:
        out.write("restore_command = '" + command.replace("'", "''") + "'\n")
    return "set"


def newest_recovered(into: Path, room: str) -> tuple[int, float] | None:
    """Start the restored cluster (recovery runs to the end of the copy's WAL), read the
    room's newest messages; returns (highest seq, latest send start) recovered."""
    from govmatrix.backup import scratch

    with (
        scratch.started(into / "postgres", into / "socket", into / "postgres.log") as cluster,
        cluster.connect("synapse") as conn,
    ):
        rows = conn.execute(
            """SELECT ej.json FROM events e JOIN event_json ej USING (event_id)
               WHERE e.room_id = %s AND e.type = 'm.room.message'
               ORDER BY e.stream_ordering DESC LIMIT 500""",
            (room,),
        ).fetchall()
    found = []
    for (raw,) in rows:
        body = str(json.loads(str(raw)).get("content", {}).get("body", ""))
        parts = body.split()
        if len(parts) == 3 and parts[0] == "rpo":
            found.append((int(parts[1]), float(parts[2])))
    if not found:
        return None
    return max(s for s, _ in found), max(t for _, t in found)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    status = demo_status(args.estate, args.root)
    root = Path(status["root"])
    dept = next(d for d in status["departments"] if d["id"] == args.department)
    admin = next(u for u in dept["users"] if u["admin"])["access_token"]
    layout = demo_backup_layout(root, args.department)
    repo = layout.pgbackrest_repo
    if not (repo / "archive").is_dir():
        raise SystemExit(f"no local pgBackRest repository at {repo}")
    archive_timeout = layout.department.backup.archive_timeout
    ctx = ssl.create_default_context(cafile=str(root / "pki" / "ca.crt"))
    work = scratch_dir("gm-bench-rpo")
    samples: list[dict[str, Any]] = []
    try:
        async with httpx.AsyncClient(base_url=dept["client_url"], verify=ctx, timeout=60) as http:
            token = await fresh_user(http, admin, dept["server_name"], "rpo")
            created = await http.post(
                "/_matrix/client/v3/createRoom",
                headers={"Authorization": f"Bearer {token}"},
                json={"name": "rpo benchmark", "preset": "private_chat"},
            )
            created.raise_for_status()
            room = str(created.json()["room_id"])
            load = Load(http, token, room, args.rate)
            sender = asyncio.create_task(load.run())
            progress(
                f"load: {args.rate} msg/s into {room} on {args.department}; "
                f"{args.samples} samples every {args.interval} s after {args.warmup} s"
            )
            await asyncio.sleep(args.warmup)
            for i in range(args.samples):
                if i:
                    await asyncio.sleep(args.interval)
                copy = work / f"repo-{i:02d}"
                start, end = await freeze(repo, copy)
                acked = sum(1 for t in load.acked.values() if t <= end)
                samples.append(
                    {"i": i, "t": end, "copy_s": round(end - start, 3), "acked_by_t": acked}
                )
                progress(f"sample {i}: repository frozen in {end - start:.2f} s")
            load.stop()
            first_send, achieved = await sender
        progress("load stopped; restoring each frozen copy to its latest point")
        how_read: set[str] = set()
        for sample in samples:
            copy = work / f"repo-{sample['i']:02d}"
            into = work / f"restore-{sample['i']:02d}"
            how_read.add(restore_copy(layout, copy, into))
            newest = newest_recovered(into, room)
            t = sample["t"]
            if newest is None:
                # Nothing recovered: the loss reaches back at least to the first send.
                seq, sent = -1, first_send
            else:
                seq, sent = newest
            lost = sum(1 for s, a in load.acked.items() if a <= t and s > seq)
            sample.update(
                {
                    "at": dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds"),
                    "rpo_s": round(t - sent, 2),
                    "newest_recovered_seq": seq,
                    "lost_acked_messages": lost,
                }
            )
            del sample["t"]
            progress(f"sample {sample['i']}: RPO {sample['rpo_s']} s, {lost} acked lost")
            shutil.rmtree(into)
            shutil.rmtree(copy)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rpos = [s["rpo_s"] for s in samples]
    return {
        "benchmark": "backup_rpo",
        "department": args.department,
        "archive_timeout": archive_timeout,
        "target_rate": args.rate,
        "achieved_send_rate": round(achieved, 2),
        "messages_sent": len(load.started),
        "messages_failed": load.failed,
        "send_latency_p99_ms": round(1000 * pct(load.latencies, 99), 1),
        "sample_interval_s": args.interval,
        "recovery_reads_wal_from": "frozen copy (restore_command "
        + ("by pgBackRest" if how_read == {"pgbackrest"} else "set by the benchmark")
        + ")",
        "samples": samples,
        "rpo_max_s": max(rpos),
        "rpo_median_s": round(statistics.median(rpos), 2),
        "rpo_min_s": min(rpos),
        "goal_max_rpo_s": GOAL_S,
        "goal_met": len(rpos) >= 10 and max(rpos) <= GOAL_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--estate", type=Path, default=REPO / "inventories" / "demo" / "estate.yml")
    parser.add_argument("--root", type=Path, default=Path("/var/lib/govmatrix-demo"))
    parser.add_argument("--department", default="home-office")
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second")
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument(
        "--interval",
        type=float,
        default=37.0,
        help="seconds between samples; not a multiple of archive_timeout (30 s in the demo)",
    )
    parser.add_argument("--warmup", type=float, default=45.0, help="load before the first sample")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
