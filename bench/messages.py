"""Benchmark: messages in a cross-department room of a running demo.

Phase 1, delivery: A sends at a fixed rate (default 20 msg/s) while B's client long-polls
/sync; reports the time from A's send to B's client seeing each message, p50/p99.
Phase 2, throughput: department A sends N messages as fast as it can with C requests in
flight (at most 10); reports sends/s and A's send latency p50/p99, then how long B took to
catch up.
Phase 3, delivery again, right after the burst (no goal; it shows how long the estate's
backlog, federation and the archives' ingest, weighs on delivery).

Needs a running demo (`govmatrix demo up`); reads it through `govmatrix demo status --json`.
Each run uses a fresh room, which B joins by its id.
Users get tokens through the admin API, with rate limits lifted for the test users only.
Prints JSON. Goals (issue #3): >= 100 msg/s with p99 send <= 250 ms; delivery p99 <= 1 s at
20 msg/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from _common import demo_status, pct

REPO = Path(__file__).resolve().parents[1]
# Concurrent sends in one room fork its event graph (Synapse runs their creation in
# parallel: element-hq/synapse#18422); up to this many, the next event joins the forks again.
MAX_IN_FLIGHT = 10


def sync_filter() -> str:
    """A /sync filter for one reader, which no earlier reader has used.

    Without a filter, /sync returns at most 10 timeline events per room and skips the rest.
    Synapse answers a repeated /sync (same user, filter, `since` and timeout) from a cache
    for two minutes. With one filter for every reader, a reader that started within two
    minutes of an earlier one got that reader's stale position, and replayed its whole walk
    through the stream before seeing new messages: seconds of delivery time that were the
    benchmark's own. The unused account-data type makes each reader's filter its own.
    """
    return json.dumps(
        {
            "room": {"timeline": {"limit": 1000}, "state": {"lazy_load_members": True}},
            "account_data": {"not_types": [f"govmatrix.bench.{uuid.uuid4().hex}"]},
        }
    )


def timeline(sync: dict[str, Any], room: str) -> list[dict[str, Any]]:
    rooms = sync.get("rooms", {}).get("join", {})
    return list(rooms.get(room, {}).get("timeline", {}).get("events", []))


class Side:
    def __init__(self, dept: dict[str, Any], ctx: ssl.SSLContext, localpart: str):
        self.dept = dept
        self.http = httpx.AsyncClient(
            base_url=dept["client_url"],
            verify=ctx,
            timeout=60,
            limits=httpx.Limits(max_connections=64),
        )
        self.localpart = localpart
        self.user = next(
            u["user_id"] for u in dept["users"] if u["user_id"].startswith(f"@{localpart}:")
        )
        self.admin = next(u for u in dept["users"] if u["admin"])["access_token"]
        self.token = ""

    async def login(self) -> None:
        auth = {"Authorization": f"Bearer {self.admin}"}
        r = await self.http.post(
            f"/_synapse/admin/v1/users/{quote(self.user)}/login", headers=auth, json={}
        )
        r.raise_for_status()
        self.token = r.json()["access_token"]
        await self.http.post(
            f"/_synapse/admin/v1/users/{quote(self.user)}/override_ratelimit",
            headers=auth,
            json={"messages_per_second": 0, "burst_count": 0},
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def send(self, room: str, body: str) -> float:
        start = time.perf_counter()
        r = await self.http.put(
            f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
            headers=self.auth,
            json={"msgtype": "m.text", "body": body},
        )
        r.raise_for_status()
        return time.perf_counter() - start


async def make_room(a: Side, b: Side) -> str:
    """A fresh room each run, which B joins without an invite.

    A fresh room, because concurrent sends fork the room's event graph, and a room that
    earlier runs left with many forward extremities is slower for every later event.
    No invite, because B's server limits the invites one person receives (Synapse's
    rc_invites.per_user), and repeated runs hit that limit.
    """
    body = {
        "name": f"bench {time.strftime('%Y-%m-%d %H:%M:%S')}",
        "preset": "public_chat",
        "visibility": "private",  # joinable by id, not listed in the room directory
    }
    while True:
        r = await a.http.post("/_matrix/client/v3/createRoom", headers=a.auth, json=body)
        if r.status_code != 429:
            break
        # Synapse's rc_room_creation (10 at once, then about one a minute) counts the
        # admin behind the token, whose limits the benchmark leaves alone.
        wait = r.json().get("retry_after_ms", 60_000) / 1000
        print(f"room creation rate-limited; retrying in {wait:.0f} s", file=sys.stderr)
        await asyncio.sleep(wait)
    r.raise_for_status()
    room = r.json()["room_id"]
    deadline = time.monotonic() + 30
    while True:
        j = await b.http.post(
            f"/_matrix/client/v3/join/{quote(room)}",
            headers=b.auth,
            params={"server_name": a.dept["server_name"]},
            json={},
        )
        if j.status_code == 200:
            return str(room)
        if time.monotonic() > deadline:
            raise SystemExit(f"B could not join: {j.text}")
        await asyncio.sleep(0.5)


async def drained(b: Side, room: str, body: str, timeout: float = 300) -> float:
    """Wait until B sees `body` (sent right after the burst): federation has caught up."""
    start = time.perf_counter()
    since = None
    reader = sync_filter()
    while time.perf_counter() - start < timeout:
        params: dict[str, Any] = {"timeout": 5000, "filter": reader}
        if since:
            params["since"] = since
        data = (await b.http.get("/_matrix/client/v3/sync", headers=b.auth, params=params)).json()
        since = data["next_batch"]
        events = timeline(data, room)
        if any(e.get("content", {}).get("body") == body for e in events):
            return time.perf_counter() - start
    raise SystemExit(f"B did not catch up within {timeout}s")


async def throughput(a: Side, room: str, total: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            latencies.append(await a.send(room, f"throughput {i}"))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {
        "messages": total,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "msgs_per_s": round(total / elapsed, 1),
        "send_p50_ms": round(1000 * pct(latencies, 50), 1),
        "send_p99_ms": round(1000 * pct(latencies, 99), 1),
    }


async def delivery(
    a: Side, b: Side, room: str, rate: float, seconds: float, overlap: bool
) -> dict[str, Any]:
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    run_id = uuid.uuid4().hex[:8]
    total = int(rate * seconds)
    reader = sync_filter()
    r = await b.http.get(
        "/_matrix/client/v3/sync", headers=b.auth, params={"timeout": 0, "filter": reader}
    )
    since = r.json()["next_batch"]
    done = asyncio.Event()

    async def receiver() -> None:
        nonlocal since
        while not done.is_set() or len(seen_at) < len(sent_at):
            resp = await b.http.get(
                "/_matrix/client/v3/sync",
                headers=b.auth,
                params={"since": since, "timeout": 5000, "filter": reader},
            )
            now = time.perf_counter()
            data = resp.json()
            since = data["next_batch"]
            events = timeline(data, room)
            for event in events:
                body = event.get("content", {}).get("body", "")
                if body.startswith(f"delivery {run_id} "):
                    seen_at.setdefault(body, now)
            if done.is_set() and time.perf_counter() - last_send > 30:
                break

    last_send = time.perf_counter()
    receiving = asyncio.create_task(receiver())
    start = time.perf_counter()
    pending: list[asyncio.Task[float]] = []
    latencies: list[float] = []
    for i in range(total):
        target = start + i / rate
        await asyncio.sleep(max(0.0, target - time.perf_counter()))
        body = f"delivery {run_id} {i}"
        sent_at[body] = time.perf_counter()
        if overlap:
            pending.append(asyncio.create_task(a.send(room, body)))
        else:
            # One send at a time, as a person types: no forks in the room's event graph.
            latencies.append(await a.send(room, body))
        last_send = time.perf_counter()
    latencies += await asyncio.gather(*pending)
    done.set()
    await receiving
    delays = [seen_at[k] - sent_at[k] for k in sent_at if k in seen_at]
    return {
        "rate_msgs_per_s": rate,
        "overlapping_sends": overlap,
        "messages": total,
        "delivered": len(delays),
        "send_p99_ms": round(1000 * pct(latencies, 99), 1),
        "delivery_p50_ms": round(1000 * statistics.median(delays), 1) if delays else None,
        "delivery_p99_ms": round(1000 * pct(delays, 99), 1) if delays else None,
        "delivery_max_ms": round(1000 * max(delays), 1) if delays else None,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    data = demo_status(args.estate, args.root)
    ctx = ssl.create_default_context(cafile=str(Path(data["root"]) / "pki" / "ca.crt"))
    depts = {d["id"]: d for d in data["departments"]}
    a, b = Side(depts[args.a], ctx, "alice"), Side(depts[args.b], ctx, "bob")
    await a.login()
    await b.login()
    room = await make_room(a, b)
    result = {
        "benchmark": "messages",
        "from": args.a,
        "to": args.b,
        "delivery": await delivery(a, b, room, args.rate, args.seconds, args.overlap),
        "throughput": await throughput(a, room, args.messages, args.concurrency),
    }
    last = f"throughput marker {uuid.uuid4().hex}"
    await a.send(room, last)
    result["federation_catch_up_s"] = round(await drained(b, room, last), 2)
    result["delivery_after_burst"] = await delivery(
        a, b, room, args.rate, args.seconds, args.overlap
    )
    result["goals"] = {"msgs_per_s": 100, "send_p99_ms": 250, "delivery_p99_ms_at_20": 1000}
    result["met"] = {
        "throughput": result["throughput"]["msgs_per_s"] >= 100
        and result["throughput"]["send_p99_ms"] <= 250,
        "delivery": (result["delivery"]["delivery_p99_ms"] or float("inf")) <= 1000
        and result["delivery"]["delivered"] == result["delivery"]["messages"],
    }
    await a.http.aclose()
    await b.http.aclose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--estate", type=Path, default=REPO / "inventories" / "demo" / "estate.yml")
    parser.add_argument("--root", type=Path, default=Path("/var/lib/govmatrix-demo"))
    parser.add_argument("--a", default="cabinet-office")
    parser.add_argument("--b", default="home-office")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="fire delivery sends without waiting for the previous one",
    )
    args = parser.parse_args()
    if not 1 <= args.concurrency <= MAX_IN_FLIGHT:
        parser.error(
            f"--concurrency must be 1 to {MAX_IN_FLIGHT}: Synapse gives each new event at most"
            f" {MAX_IN_FLIGHT} parents, so more sends in flight in one room leave forward"
            " extremities behind that slow that room down for good"
        )
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
