"""Benchmark: archive ingestion of synthetic, realistic events posted as AS transactions.

Self-contained: a scratch PostgreSQL 15 cluster (initdb in a temp dir, loopback), the
archive schema with its roles, and a real `govmatrix archive serve` process. Transactions
of realistic m.room.message events (text, some with media-less formatting, a few state
events) are PUT one at a time, as Synapse sends them. Afterwards `govmatrix archive verify`
must report the chain intact. Prints JSON. Goal (issue #4): >= 2,000 events/s sustained.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from govmatrix.archive.checkpoints import read_log  # noqa: E402
from govmatrix.archive.store import migrate  # noqa: E402
from govmatrix.demo.system import wait_for  # noqa: E402
from govmatrix.secretgen import ed25519_pem, token  # noqa: E402

PG = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True)


def event(room: str, i: int) -> dict[str, object]:
    body = f"Message {i}: the minister's office confirms the briefing for {uuid.uuid4().hex[:6]}"
    return {
        "event_id": f"${uuid.uuid4().hex}{uuid.uuid4().hex[:11]}",
        "room_id": room,
        "sender": f"@user{i % 50}:bench.gov.test",
        "type": "m.room.message",
        "origin_server_ts": int(time.time() * 1000),
        "content": {
            "msgtype": "m.text",
            "body": body,
            "format": "org.matrix.custom.html",
            "formatted_body": f"<p>{body}</p>",
        },
        "depth": i,
        "prev_events": [f"$prev{i}"],
        "auth_events": ["$create", "$power", "$member"],
        "hashes": {"sha256": uuid.uuid4().hex},
        "signatures": {"bench.gov.test": {"ed25519:a_bench": uuid.uuid4().hex * 2}},
        "unsigned": {"age": 12},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--per-txn", type=int, default=100)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark runs its own PostgreSQL as 'postgres'")
    tmp = Path(tempfile.mkdtemp(prefix="archive-bench-", dir="/var/tmp"))
    tmp.chmod(0o755)
    pg_uid = pwd.getpwnam("postgres")
    data, sock_dir = tmp / "pgdata", tmp / "sock"
    for d in (data, sock_dir):
        d.mkdir()
        os.chown(d, pg_uid.pw_uid, pg_uid.pw_gid)
    port = free_port()
    as_postgres(
        str(PG / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
    )
    pg = subprocess.Popen(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG / "postgres"),
            "-D",
            str(data),
            "-c",
            f"port={port}",
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={sock_dir}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    serve = None
    try:
        import psycopg

        def pg_up() -> bool:
            psycopg.connect(
                host=str(sock_dir), port=port, user="postgres", dbname="postgres"
            ).close()
            return True

        wait_for(pg_up, "the scratch PostgreSQL", 30, interval=0.2)
        admin = psycopg.connect(
            host=str(sock_dir), port=port, user="postgres", dbname="postgres", autocommit=True
        )
        password = token()
        with admin:
            admin.execute("CREATE ROLE archive_owner NOLOGIN")
            admin.execute(f"CREATE ROLE archive LOGIN PASSWORD '{password}'")
            admin.execute(
                "CREATE DATABASE archive OWNER archive_owner ENCODING 'UTF8' "
                "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
            )
        with psycopg.connect(
            host=str(sock_dir), port=port, user="postgres", dbname="archive", autocommit=True
        ) as conn:
            conn.execute("ALTER SCHEMA public OWNER TO archive_owner")
            migrate(conn, "archive_owner", "archive")
        secrets = tmp / "secrets"
        secrets.mkdir(mode=0o700)
        hs_token = token()
        for name, value in (
            ("hs", hs_token),
            ("as", token()),
            ("officer", token()),
            ("key", ed25519_pem()),
        ):
            (secrets / name).write_text(value)
        (tmp / "pgpass").write_text(f"127.0.0.1:{port}:archive:archive:{password}\n")
        (tmp / "pgpass").chmod(0o600)
        archive_port = free_port()
        config = {
            "server_name": "bench.gov.test",
            "homeserver_url": "http://127.0.0.1:9",
            "listen": {"address": "127.0.0.1", "port": archive_port},
            "database": {
                "host": "127.0.0.1",
                "port": port,
                "dbname": "archive",
                "user": "archive",
                "passfile": str(tmp / "pgpass"),
            },
            "hs_token_path": str(secrets / "hs"),
            "as_token_path": str(secrets / "as"),
            "officer_token_path": str(secrets / "officer"),
            "checkpoint_key_path": str(secrets / "key"),
            "checkpoint_log": str(tmp / "log" / "checkpoints.jsonl"),
            "checkpoint_interval_s": 5,
            "media_dir": str(tmp / "media"),
            "retention_min_days": 3650,
            "flags": {
                "bulk_redactions": 10,
                "bulk_redactions_window_s": 600,
                "delete_after_send_within_s": 120,
                "mass_leave_rooms": 10,
                "mass_leave_window_s": 600,
                "deactivation_recent_activity_s": 604800,
                "large_export_events": 10000,
                "history_hidden": True,
            },
        }
        config_file = tmp / "archive.yaml"
        config_file.write_text(yaml.safe_dump(config))
        serve = subprocess.Popen(
            [sys.executable, "-m", "govmatrix.archive", "serve", "-c", str(config_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{archive_port}"
        with httpx.Client(base_url=url, timeout=60) as http:
            wait_for(
                lambda: http.get("/healthz").status_code == 200,
                "the archive service",
                30,
                interval=0.2,
            )
            rooms = [f"!room{r}:bench.gov.test" for r in range(20)]
            txns = args.events // args.per_txn
            latencies = []
            start = time.perf_counter()
            for t in range(txns):
                batch = [
                    event(rooms[(t * args.per_txn + i) % len(rooms)], t * args.per_txn + i)
                    for i in range(args.per_txn)
                ]
                t0 = time.perf_counter()
                r = http.put(
                    f"/_matrix/app/v1/transactions/{t}",
                    json={"events": batch},
                    headers={"Authorization": f"Bearer {hs_token}"},
                )
                r.raise_for_status()
                latencies.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - start
            # Resend a few transactions: idempotent, no new rows.
            for t in range(3):
                http.put(
                    f"/_matrix/app/v1/transactions/{t}",
                    json={"events": []},
                    headers={"Authorization": f"Bearer {hs_token}"},
                ).raise_for_status()
        # Verify once the outside log holds a signature of the head, so it is checked too.
        head = txns * args.per_txn
        wait_for(
            lambda: any(
                json.loads(e["statement"])["head_seq"] == head
                for e in read_log(tmp / "log" / "checkpoints.jsonl")
            ),
            "a checkpoint of the head",
            60,
        )
        verify = subprocess.run(
            [sys.executable, "-m", "govmatrix.cli", "archive", "verify", "-c", str(config_file)],
            capture_output=True,
            text=True,
        )
        latencies.sort()
        print(
            json.dumps(
                {
                    "benchmark": "archive_ingest",
                    "events": txns * args.per_txn,
                    "events_per_transaction": args.per_txn,
                    "seconds": round(elapsed, 2),
                    "events_per_s": round(txns * args.per_txn / elapsed),
                    "txn_p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
                    "txn_p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1),
                    "chain_intact": verify.returncode == 0,
                    "verify": " ".join((verify.stdout or verify.stderr).split()),
                    "goal_events_per_s": 2000,
                },
                indent=2,
            )
        )
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(timeout=30)
        pg.terminate()
        pg.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
