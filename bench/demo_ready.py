"""Benchmark: time from `govmatrix demo up` to every department healthy, federation working.

Dependencies (Debian packages, venvs) must already be installed (`make setup`). Measures:
- cold: from an empty state directory (initdb, Synapse schema creation, certificates);
- warm: `down` then `up` with state kept (the everyday restart).
"Healthy" is `demo status`: every process running, client API answering through nginx,
and every allowed peer's federation endpoint answering with Synapse reporting no failures.
Prints JSON. Goal (issue #3): <= 20 s for the 3-department demo.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ESTATE = REPO / "inventories" / "demo" / "estate.yml"
# Benchmarks stay on loopback: no attempt to reach Element's release site.
os.environ.setdefault("GOVMATRIX_ELEMENT_UPSTREAM", "http://127.0.0.1:9/element-v{v}.tar.gz")


def govmatrix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "govmatrix.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def demo(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return govmatrix("demo", *args, "--estate", str(ESTATE), "--root", str(root))


def timed_up(root: Path) -> dict[str, float | bool]:
    start = time.monotonic()
    up = demo(root, "up", "--no-seed")
    if up.returncode != 0:
        raise SystemExit(f"demo up failed:\n{up.stdout}\n{up.stderr}")
    ready = time.monotonic() - start
    status = json.loads(demo(root, "status", "--json").stdout)
    return {"seconds_to_healthy": round(ready, 2), "healthy": bool(status["healthy"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("/var/tmp/govmatrix-bench-ready"))
    parser.add_argument("--warm-runs", type=int, default=3)
    args = parser.parse_args()
    demo(args.root, "reset")
    cold = timed_up(args.root)
    seed_start = time.monotonic()
    seeded = demo(args.root, "seed")
    seed_seconds = time.monotonic() - seed_start
    warm = []
    for _ in range(args.warm_runs):
        demo(args.root, "down")
        warm.append(timed_up(args.root))
    noop_start = time.monotonic()
    demo(args.root, "up")
    noop = time.monotonic() - noop_start
    demo(args.root, "reset")
    print(
        json.dumps(
            {
                "benchmark": "demo_ready",
                "departments": 3,
                "cold_start": cold,
                "seed_seconds": round(seed_seconds, 2) if seeded.returncode == 0 else None,
                "warm_restarts": warm,
                "second_up_noop_seconds": round(noop, 2),
                "goal_seconds": 20,
                "goal_met_cold": cold["healthy"] and cold["seconds_to_healthy"] <= 20,
                "goal_met_warm": all(w["healthy"] and w["seconds_to_healthy"] <= 20 for w in warm),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
