"""Small wrappers around the host: users, ownership, commands, waiting on conditions."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class DemoError(Exception):
    """A problem the operator can act on; the CLI prints it without a traceback."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise DemoError(
            "the demo needs root: it edits /etc/hosts, binds ports 443 and 8448 on loopback, "
            "and runs PostgreSQL and Synapse as their own users. Run 'sudo make demo'."
        )


def ensure_system_user(name: str, home: Path) -> None:
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    run(
        [
            "useradd",
            "--system",
            "--home-dir",
            str(home),
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ]
    )


def system_user_ids(name: str) -> tuple[int, int]:
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for base, dirs, files in os.walk(path):
        os.chown(base, entry.pw_uid, entry.pw_gid)
        for name in (*dirs, *files):
            os.chown(os.path.join(base, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def run(
    argv: Sequence[str],
    *,
    user: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise DemoError(f"command failed ({proc.returncode}): {' '.join(argv)}\n{detail}")
    return proc


def which(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None:
        raise DemoError(f"'{binary}' is not installed; run 'make setup' (Debian package {package})")
    return found


def wait_for(check: Callable[[], bool], what: str, timeout: float, interval: float = 0.25) -> None:
    """Poll `check` until it is true; raise DemoError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise DemoError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f": {last}" if last else "")
    )


def listening(address: str, port: int) -> bool:
    """Whether something accepts TCP connections on address:port."""
    try:
        socket.create_connection((address, port), timeout=1).close()
    except OSError:
        return False
    return True
