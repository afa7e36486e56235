"""Benchmark: a department host's first Ansible converge, then its second.

Uses the molecule `default` scenario (one Debian 12 systemd container running every role;
packages from the CI host's apt and wheel caches, as an air-gapped site would). Needs
`scripts/test-hosts.sh` to have run (`make bench-ansible` does). Prints JSON:
- first converge seconds (fresh container: packages, venvs, databases, services);
- second converge seconds and its changed count (goal: changed=0);
- where the time goes: the slowest tasks of each run, from ansible.posix.profile_tasks.
Goals (issue #5): first <= 240 s, second <= 20 s with changed=0. The container is created
before timing starts; molecule's own start-up (about 3 s) is inside the times.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCENARIO = "default"
GOALS = {"first_s": 240, "second_s": 20}
_TASK = re.compile(r"^(?P<name>.+?) -+ (?P<secs>[\d.]+)s$")
_RECAP = re.compile(r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)")


def molecule(action: str) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PY_COLORS": "0"}
    env["ANSIBLE_NOCOLOR"] = "1"
    started = time.monotonic()
    proc = subprocess.run(
        [str(BIN / "molecule"), action, "-s", SCENARIO],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.monotonic() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit(f"molecule {action} failed")
    return took, proc.stdout + proc.stderr


def _lines(output: str) -> list[str]:
    # Molecule frames Ansible's output with a box; keep the text, join wrapped lines.
    text = [re.sub(r"^\s*[│└┌]\s?", "", line).rstrip() for line in output.splitlines()]
    joined: list[str] = []
    for line in text:
        if joined and line.startswith("  ") and not joined[-1].endswith("s"):
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    return joined


def slowest(output: str, count: int = 8) -> list[dict[str, Any]]:
    lines = _lines(output)
    try:
        start = next(i for i, line in enumerate(lines) if "TASKS RECAP" in line)
    except StopIteration:
        return []
    tasks = []
    for line in lines[start:]:
        match = _TASK.match(line.strip())
        if match:
            tasks.append({"task": match["name"].strip(), "s": float(match["secs"])})
    return sorted(tasks, key=lambda t: -t["s"])[:count]


def changed(output: str) -> dict[str, int]:
    found = {}
    for line in _lines(output):
        match = _RECAP.match(line.strip())
        if match and match["host"] != "localhost":
            found[match["host"]] = int(match["changed"])
    return found


def main() -> None:
    molecule("destroy")
    molecule("create")
    molecule("prepare")
    try:
        first_s, first_out = molecule("converge")
        second_s, second_out = molecule("converge")
    finally:
        molecule("destroy")
    result = {
        "benchmark": "ansible_converge",
        "scenario": SCENARIO,
        "first_s": round(first_s, 1),
        "second_s": round(second_s, 1),
        "first_changed": changed(first_out),
        "second_changed": changed(second_out),
        "goals": GOALS,
        "met": {
            "first": first_s <= GOALS["first_s"],
            "second": second_s <= GOALS["second_s"] and not any(changed(second_out).values()),
        },
        "slowest_tasks_first": slowest(first_out),
        "slowest_tasks_second": slowest(second_out),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
