"""Helpers shared by the benchmarks (run as scripts: this folder is on sys.path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def demo_status(estate: Path, root: Path) -> dict[str, Any]:
    """`govmatrix demo status --json` of a running demo; exits if it is not running."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "govmatrix.cli",
            "demo",
            "status",
            "--json",
            "--estate",
            str(estate),
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    data: dict[str, Any] = json.loads(proc.stdout or "{}")
    if not data.get("running"):
        raise SystemExit("the demo is not running: start it with 'govmatrix demo up'")
    return data


def pct(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (no interpolation): an observed value."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
