"""Benchmark: single sign-on logins through the full redirect flow, on a running demo.

Each login is what a person's browser does: Synapse's SSO redirect, the department's
LemonLDAP::NG portal (form, LDAP bind against the department's slapd), the authorization
code back to Synapse, and the login token exchanged for an access token. Every login is a
new client (new TLS connections, no cookies). Logins come from several loopback source
addresses, as from several offices: Synapse deliberately limits logins per address
(rc_login), and one address would measure that limit rather than the login path.

Prints JSON: logins per second and latency percentiles. Goal (issue #8): >= 10 logins/s
with p99 <= 1 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import demo_status, pct, progress
from govmatrix.identity import slapd
from govmatrix.identity.sso_login import SsoLoginError, login

REPO = Path(__file__).resolve().parents[1]


def people(directory: dict[str, str], count: int) -> list[tuple[str, str]]:
    """`count` people in the department's directory, with fresh passwords."""
    conn = slapd.connect(directory["url"], directory["admin_dn"], directory["admin_password"])
    out = []
    try:
        for n in range(count):
            uid, password = f"bench-login-{n:03d}", uuid.uuid4().hex
            person = slapd.Person(uid, f"Bench Person {n}", f"{uid}@bench.test", password)
            slapd.ensure_person(conn, directory["base_dn"], person)
            out.append((uid, password))
    finally:
        conn.unbind()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estate", type=Path, default=REPO / "inventories/demo/estate.yml")
    parser.add_argument("--root", type=Path, default=Path("/var/lib/govmatrix-demo"))
    parser.add_argument("--department", default="cabinet-office")
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--offices", type=int, default=8, help="source addresses")
    args = parser.parse_args()

    status = demo_status(args.estate, args.root)
    dept = next(d for d in status["departments"] if d["id"] == args.department)
    ca = str(Path(status["root"]) / "pki" / "ca.crt")
    progress(f"creating {args.people} people in {args.department}'s directory")
    accounts = people(dept["identity"]["directory"], args.people)
    offices = [f"127.0.2.{n + 1}" for n in range(args.offices)]

    def one(n: int) -> float | None:
        uid, password = accounts[n % len(accounts)]
        start = time.perf_counter()
        try:
            login(
                dept["client_url"],
                uid,
                password,
                verify=ca,
                local_address=offices[n % len(offices)],
            )
        except SsoLoginError as exc:
            progress(f"login {n} ({uid}) failed: {exc}")
            return None
        return time.perf_counter() - start

    progress("warming up: one login per person (first logins create the accounts)")
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(one, range(len(accounts))))
    progress(f"{args.logins} logins, {args.concurrency} at a time, from {args.offices} offices")
    began = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(one, range(args.logins)))
    elapsed = time.perf_counter() - began
    latencies = [r for r in results if r is not None]
    print(
        json.dumps(
            {
                "benchmark": "sso_login",
                "department": args.department,
                "logins": len(latencies),
                "failures": len(results) - len(latencies),
                "concurrency": args.concurrency,
                "seconds": round(elapsed, 2),
                "logins_per_s": round(len(latencies) / elapsed, 2),
                "p50_ms": round(pct(latencies, 50) * 1000, 1) if latencies else None,
                "p99_ms": round(pct(latencies, 99) * 1000, 1) if latencies else None,
                "goal": {"logins_per_s": 10, "p99_ms": 1000},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
