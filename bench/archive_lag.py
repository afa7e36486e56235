"""Benchmark: time from a message being sent to its row in the archive, under load.

Against a running demo: one department's user sends at a fixed rate (default 50 msg/s)
into a room; for every event, the lag is the archive row's `received_at` (PostgreSQL's
clock, on this machine) minus the moment the send request started. Prints JSON.
Goal (issue #4): p99 <= 1 s at 50 msg/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

from _common import demo_status, pct

REPO = Path(__file__).resolve().parents[1]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    status = demo_status(args.estate, args.root)
    dept = next(d for d in status["departments"] if d["id"] == args.department)
    admin = next(u for u in dept["users"] if u["admin"])["access_token"]
    ctx = ssl.create_default_context(cafile=str(Path(status["root"]) / "pki" / "ca.crt"))
    user = f"@lag-{uuid.uuid4().hex[:8]}:{dept['server_name']}"
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=dept["client_url"], verify=ctx, timeout=60) as http:
        auth = {"Authorization": f"Bearer {admin}"}
        (
            await http.put(
                f"/_synapse/admin/v2/users/{user}",
                headers=auth,
                json={"password": uuid.uuid4().hex},
            )
        ).raise_for_status()
        await http.post(
            f"/_synapse/admin/v1/users/{user}/override_ratelimit",
            headers=auth,
            json={"messages_per_second": 0, "burst_count": 0},
        )
        token = (
            await http.post(f"/_synapse/admin/v1/users/{user}/login", headers=auth, json={})
        ).json()["access_token"]
        me = {"Authorization": f"Bearer {token}"}
        room = (
            await http.post("/_matrix/client/v3/createRoom", headers=me, json={"name": "lag"})
        ).json()["room_id"]

        async def send(i: int) -> None:
            start = time.time()
            r = await http.put(
                f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
                headers=me,
                json={"msgtype": "m.text", "body": f"lag {i}"},
            )
            r.raise_for_status()
            sent[r.json()["event_id"]] = start

        total = int(args.rate * args.seconds)
        t0 = time.perf_counter()
        tasks = []
        for i in range(total):
            await asyncio.sleep(max(0.0, t0 + i / args.rate - time.perf_counter()))
            tasks.append(asyncio.create_task(send(i)))
        await asyncio.gather(*tasks)
        achieved = total / (time.perf_counter() - t0)
    socket = Path(status["root"]) / args.department / "pgsocket"
    deadline = time.monotonic() + 120
    rows: list[tuple[str, float]] = []
    with psycopg.connect(host=str(socket), user="postgres", dbname="archive") as conn:
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT event_id, extract(epoch from received_at) FROM archive_events"
                " WHERE event_id = ANY(%s)",
                (list(sent),),
            ).fetchall()
            conn.commit()
            if len(rows) == len(sent):
                break
            time.sleep(1)
    lags = [float(received) - sent[event_id] for event_id, received in rows]
    return {
        "benchmark": "archive_lag",
        "department": args.department,
        "target_rate": args.rate,
        "achieved_send_rate": round(achieved, 1),
        "messages": len(sent),
        "archived": len(rows),
        "lag_p50_ms": round(1000 * pct(lags, 50), 1),
        "lag_p99_ms": round(1000 * pct(lags, 99), 1),
        "lag_max_ms": round(1000 * max(lags), 1),
        "goal_p99_ms": 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--estate", type=Path, default=REPO / "inventories" / "demo" / "estate.yml")
    parser.add_argument("--root", type=Path, default=Path("/var/lib/govmatrix-demo"))
    parser.add_argument("--department", default="cabinet-office")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
