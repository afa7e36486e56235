"""A restored cluster started on its own: loopback only, a port of its own, WAL archiving off
(it must never push into the live department's repository), stopped cleanly afterwards."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from govmatrix.backup.layout import PG_USER
from govmatrix.backup.pgbackrest import BackupError

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
        return port


class ScratchCluster:
    def __init__(self, pgdata: Path, socket_dir: Path, port: int):
        self.pgdata = pgdata
        self.socket_dir = socket_dir
        self.port = port

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=PG_USER, dbname=dbname, autocommit=True
        )

    def dsn(self, dbname: str) -> str:
        return f"host={self.socket_dir} port={self.port} user={PG_USER} dbname={dbname}"


def _wait_promoted(cluster: ScratchCluster, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 600  # replaying a day of WAL can take minutes
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text().strip().splitlines()[-8:]
            raise BackupError("restored cluster stopped during recovery: " + " | ".join(tail))
        try:
            with cluster.connect() as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and row[0] is False:
                    return
        except psycopg.OperationalError:
            pass
        time.sleep(0.25)
    raise BackupError(f"restored cluster still recovering after 600 s; see {log}")


# Debian keeps a cluster's postgresql.conf and pg_hba.conf in /etc/postgresql, outside the
# data directory pgBackRest backs up; a restore of such a cluster gets these instead. The
# socket directory is postgres's own (0700): only root and postgres reach the trusted
# socket. The isolated Synapse logs in over loopback with its password, as on the live host.
SCRATCH_CONF = (
    "# A restore drill's scratch cluster (govmatrix); settings come on the command line.\n"
)
SCRATCH_HBA = """\
# A restore drill's scratch cluster (govmatrix).
local   all   postgres                 trust
host    all   all        127.0.0.1/32  scram-sha-256
"""


def _config_files(pgdata: Path, owner: tuple[int, int]) -> None:
    import os

    for name, text in (("postgresql.conf", SCRATCH_CONF), ("pg_hba.conf", SCRATCH_HBA)):
        path = pgdata / name
        if not path.exists():
            path.write_text(text)
            os.chown(path, *owner)
            path.chmod(0o600)


@contextmanager
def started(pgdata: Path, socket_dir: Path, log: Path) -> Iterator[ScratchCluster]:
    """Run the restored cluster until recovery ends (promoted), yield it, stop it (fast)."""
    import os
    import pwd

    entry = pwd.getpwnam(PG_USER)
    socket_dir.mkdir(parents=True, exist_ok=True)
    os.chown(socket_dir, entry.pw_uid, entry.pw_gid)
    socket_dir.chmod(0o700)
    _config_files(pgdata, (entry.pw_uid, entry.pw_gid))
    cluster = ScratchCluster(pgdata, socket_dir, free_port())
    overrides = {
        "port": str(cluster.port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(socket_dir),
        "archive_mode": "off",
        "logging_collector": "off",
    }
    args = [f"--{key}={value}" for key, value in overrides.items()]
    with log.open("ab") as out:
        # A direct child running as postgres (not under runuser, which does not pass
        # signals on), so the shutdown signal below reaches PostgreSQL itself.
        proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(pgdata), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=[],
            cwd=pgdata,
        )
    try:
        _wait_promoted(cluster, proc, log)
        yield cluster
    finally:
        proc.send_signal(2)  # SIGINT: fast shutdown, a clean checkpoint
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def forget_one_time_keys(cluster: ScratchCluster) -> int:
    """Synapse must not hand out one-time keys that clients already used after the restore
    point (they would be claimed twice); clients upload fresh ones."""
    with cluster.connect("synapse") as conn:
        row = conn.execute("SELECT count(*) FROM e2e_one_time_keys_json").fetchone()
        conn.execute("TRUNCATE e2e_one_time_keys_json")
    return int(str(row[0])) if row else 0
