"""Lifecycle of the shared demo (runs last in the e2e folder, and leaves the demo up):
a second `up` changes nothing, a crashed process is restarted, and `down` leaves no
process and no listening port behind."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from govmatrix.demo import ports
from tests.e2e.archive_helpers import superuser, supervisorctl
from tests.e2e.conftest import Demo, demo_args, govmatrix

pytestmark = pytest.mark.e2e


def _demo_processes(root: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if root in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline[:100]}")
    return found


def test_nothing_listens_beyond_loopback(demo: Demo) -> None:
    root = demo.status["root"]
    supervisord = next(
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if "supervisord" in " ".join(p.info["cmdline"] or [])
        and root in " ".join(p.info["cmdline"] or [])
    )
    pids = {supervisord.pid} | {child.pid for child in supervisord.children(recursive=True)}
    listening = [
        c
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]
    assert listening, "found no listening sockets of the demo at all"
    public = [
        f"{c.laddr.ip}:{c.laddr.port} (pid {c.pid})"
        for c in listening
        if not (c.laddr.ip.startswith("127.") or c.laddr.ip == "::1")
    ]
    assert public == [], f"demo processes listen beyond loopback: {public}"


def test_second_up_is_a_no_op(demo: Demo) -> None:
    result = govmatrix(*demo_args("up"))
    assert "already up; nothing changed" in result.stdout, result.stdout + result.stderr


def test_changed_config_restarts_only_its_synapse(demo: Demo) -> None:
    """A drifted homeserver.yaml is put back by `up`, and only that Synapse restarts."""
    from pathlib import Path

    config = Path(demo.status["root"]) / "hm-treasury" / "config" / "synapse" / "homeserver.yaml"
    config.write_text(config.read_text() + "\n# drift\n")
    result = govmatrix(*demo_args("up"))
    assert "restarted 1" in result.stdout, result.stdout
    assert "# drift" not in config.read_text()
    assert demo.refresh()["healthy"]
    assert "already up; nothing changed" in govmatrix(*demo_args("up")).stdout


def test_crashed_synapse_is_restarted(demo: Demo) -> None:
    name = "synapse-home-office"
    # Synapse caches retry timings: restart it, as `down` and `up` would.
    supervisorctl(demo, "restart", "synapse-cabinet-office")
    before = demo.refresh()["departments"][1]["processes"][name]
    assert before == "RUNNING"
    victim = next(
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if "synapse.app.homeserver" in " ".join(p.info["cmdline"] or [])
        and "/home-office/config/" in " ".join(p.info["cmdline"] or [])
    )
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = demo.refresh()
        dept = next(d for d in status["departments"] if d["id"] == "home-office")
        if dept["healthy"]:
            break
        time.sleep(1)
    assert dept["healthy"], dept
    assert (
        not psutil.pid_exists(victim.pid)
        or psutil.Process(victim.pid).status() == psutil.STATUS_ZOMBIE
    )


def test_up_retries_peers_that_failed_before_the_restart(demo: Demo) -> None:
    """A send that failed while the demo went down leaves Synapse backing off from that
    peer for minutes; `up` retries every peer at once, so the demo comes back healthy.
    (CI once saw `up` end unhealthy after `down`: Cabinet Office backing off from Home
    Office.)"""
    home_office = demo.department("home-office")["server_name"]
    with superuser(demo, "cabinet-office", dbname="synapse") as conn:
        conn.execute(
            "UPDATE destinations SET failure_ts = %s, retry_last_ts = %s,"
            " retry_interval = 600000 WHERE destination = %s",
            (int(time.time() * 1000), int(time.time() * 1000), home_office),
        )
    # Synapse caches retry timings: restart it, as `down` and `up` would.
    supervisorctl(demo, "restart", "synapse-cabinet-office")
    before = demo.refresh()
    assert not before["healthy"], "the recorded failure should make the peer unreachable"
    govmatrix(*demo_args("up"))
    after = demo.refresh()
    assert after["healthy"], after
    with superuser(demo, "cabinet-office", dbname="synapse") as conn:
        failure = conn.execute(
            "SELECT failure_ts FROM destinations WHERE destination = %s", (home_office,)
        ).fetchone()
    assert failure == (None,)


def test_down_leaves_nothing_then_up_restores(demo: Demo) -> None:
    root = demo.status["root"]
    addresses = {d["address"] for d in demo.status["departments"]}
    govmatrix(*demo_args("down"))
    assert ports.listening_on(addresses) == []
    assert _demo_processes(root) == []
    status = demo.refresh()
    assert status["running"] is False
    # Bring it back for anything that runs after this module.
    govmatrix(*demo_args("up"))
    assert demo.refresh()["healthy"]
