"""One PostgreSQL cluster per department, in the demo's state directory.

Each department gets its own cluster (not a database in a shared one) so that later it gets
its own WAL archive, backups and point-in-time recovery, as on a real host.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import psycopg
from psycopg import sql

from govmatrix.demo.system import DemoError, run, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"


def postgres_binary() -> Path:
    binary = PG_BIN / "postgres"
    if not binary.exists():
        raise DemoError(f"{binary} not found; run 'make setup' (Debian package postgresql-15)")
    return binary


def _own(path: Path, mode: int) -> None:
    entry = pwd.getpwnam(PG_USER)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(mode)


# Settings PostgreSQL reads only at start: a change to them needs a restart, not a reload.
RESTART_SETTINGS = ("listen_addresses", "port", "max_connections", "shared_buffers", "archive_mode")


def needs_restart(old: str, new: str) -> bool:
    def picked(text: str) -> set[str]:
        return {line for line in text.splitlines() if line.split(" ", 1)[0] in RESTART_SETTINGS}

    return picked(old) != picked(new)


def archiving_settings(archive_command: str, archive_timeout_s: int) -> str:
    """Continuous WAL archiving for point-in-time recovery."""
    quoted = archive_command.replace("'", "''")
    return (
        "wal_level = replica\n"
        "archive_mode = on\n"
        f"archive_command = '{quoted}'\n"
        f"archive_timeout = {archive_timeout_s}\n"
    )


def init_cluster(
    pgdata: Path, socket_dir: Path, address: str, port: int, extra: str = ""
) -> str | None:
    """initdb once; (re)write the settings every time. Returns None when nothing changed,
    else "reload" or "restart" (what the running server needs to pick the change up)."""
    _own(socket_dir, 0o700)
    created = False
    if not (pgdata / "PG_VERSION").exists():
        _own(pgdata, 0o700)
        run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                PG_USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            user=PG_USER,
        )
        created = True
    settings = (
        "# Written by govmatrix demo.\n"
        f"listen_addresses = '{address}'\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        "password_encryption = 'scram-sha-256'\n"
        "max_connections = 100\n"
        "shared_buffers = '128MB'\n"
        "synchronous_commit = on\n"
        "logging_collector = off\n"
        "log_line_prefix = '%m [%p] %q%u@%d '\n"
        f"{extra}"
    )
    hba = (
        "# Written by govmatrix demo: the superuser only over the socket, whose directory\n"
        "# is 0700 postgres (root and postgres alone reach it); applications only over TCP\n"
        "# with a password; everything else refused.\n"
        f"local   all  {PG_USER}  trust\n"
        # Loopback connections come from 127.0.0.1 whatever loopback address they dial.
        "host    all  all  127.0.0.0/8  scram-sha-256\n"
        "host    all  all  0.0.0.0/0  reject\n"
    )
    action = "restart" if created else None
    for name, text in (("govmatrix.conf", settings), ("pg_hba.conf", hba)):
        target = pgdata / name
        old = target.read_text() if target.exists() else ""
        if old != text:
            target.write_text(text)
            if action is None:
                action = "restart" if needs_restart(old, text) else "reload"
    conf = pgdata / "postgresql.conf"
    include = "include_if_exists = 'govmatrix.conf'\n"
    if include not in conf.read_text():
        with conf.open("a") as handle:
            handle.write(include)
    entry = pwd.getpwnam(PG_USER)
    for name in ("govmatrix.conf", "pg_hba.conf", "postgresql.conf"):
        os.chown(pgdata / name, entry.pw_uid, entry.pw_gid)
    return action


def superuser_connect(socket_dir: Path, port: int) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=str(socket_dir), port=port, user=PG_USER, dbname="postgres", autocommit=True
    )


def wait_ready(socket_dir: Path, port: int, timeout: float = 60) -> None:
    def ready() -> bool:
        with superuser_connect(socket_dir, port) as conn:
            conn.execute("SELECT 1")
        return True

    wait_for(ready, f"PostgreSQL on {socket_dir}", timeout)


def ensure_database(socket_dir: Path, port: int, name: str, owner: str, password: str) -> None:
    """Create (or update the password of) a role and its database, UTF8 with C collation."""
    with superuser_connect(socket_dir, port) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(password)
            )
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(
                sql.SQL(
                    "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' "
                    "TEMPLATE template0"
                ).format(sql.Identifier(name), sql.Identifier(owner))
            )


def ensure_archive_database(socket_dir: Path, port: int, password: str) -> None:
    """The archive's database: tables owned by a NOLOGIN owner, the service's login role
    limited to SELECT and INSERT (see govmatrix/archive/schema.sql)."""
    from govmatrix.archive.store import migrate

    with superuser_connect(socket_dir, port) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'archive_owner'").fetchone():
            conn.execute("CREATE ROLE archive_owner NOLOGIN")
    ensure_database(socket_dir, port, "archive", "archive", password)
    with superuser_connect(socket_dir, port) as conn:
        conn.execute("ALTER DATABASE archive OWNER TO archive_owner")
    with psycopg.connect(
        host=str(socket_dir), port=port, user=PG_USER, dbname="archive", autocommit=True
    ) as conn:
        conn.execute("ALTER SCHEMA public OWNER TO archive_owner")
        migrate(conn, "archive_owner", "archive")
