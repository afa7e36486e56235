"""Department backups in an S3-compatible object store: real pgBackRest and restic against
moto's S3 server on loopback, over TLS (a terminator in front of moto, see below) with a
private test CA.

One scenario serves the module: a throwaway PostgreSQL 15 cluster archives WAL into the
store, a first batch of rows is written, a time is recorded, a second batch follows. The
tests then restore the cluster to that time and the files to their snapshot, look at the
objects in the bucket, and check that the store is refused without its CA.

Everything runs on loopback; every process started here (moto, PostgreSQL) is stopped in the
fixtures' teardown, also when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from govmatrix.backup import passphrases, pgbackrest, restic, scratch
from govmatrix.backup.department import DepartmentBackup
from govmatrix.backup.layout import PG_USER, BackupLayout
from govmatrix.backup.pgbackrest import BackupError
from govmatrix.estate import Estate
from govmatrix.estate.schema import Department

PG_BIN = scratch.PG_BIN

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("pgbackrest") is None or shutil.which("restic") is None,
        reason="needs the pgbackrest and restic binaries (Debian packages; make setup)",
    ),
    pytest.mark.skipif(
        not (PG_BIN / "initdb").exists(), reason=f"needs PostgreSQL 15 ({PG_BIN}; make setup)"
    ),
    pytest.mark.skipif(
        os.geteuid() != 0, reason="runs PostgreSQL and pgBackRest as the postgres user: needs root"
    ),
]

BUCKET = "govmatrix-backups"
REGION = "us-east-1"
# pgBackRest 2.45 matches the endpoint only against the DNS names of the store's certificate
# (never its IP addresses), so the store is reached by name: localhost, on loopback.
HOST = "localhost"
# pgBackRest retries a refused TLS connection for io-timeout (60 s by default).
QUICK = ("--io-timeout=2",)
ACCESS_KEY_ENV = "GOVMATRIX_TEST_S3_ACCESS_KEY"
SECRET_KEY_ENV = "GOVMATRIX_TEST_S3_SECRET_KEY"


# --- a private CA and the store's certificate -----------------------------------------------


def _write_test_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for localhost and 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "govmatrix test S3 CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(mode=0o755)
    ca_file, cert_file, key_file = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    ca_file.chmod(0o644)  # pgBackRest reads it as postgres
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


# --- moto's S3 server, behind a TLS terminator ---------------------------------------------
#
# moto serves plain HTTP on a loopback port; a small TLS terminator (asyncio, in a thread of
# this process) serves HTTPS for `localhost` in front of it. moto's own --ssl-cert mode is not
# enough: its server (werkzeug's development server) closes every connection after the
# response ("Connection: close") without a TLS close_notify, and pgBackRest 2.45, which reads
# such a response to the end of the stream, then fails with "TLS error ... unexpected eof
# while reading" on every PUT. A real store ends its TLS sessions properly; the terminator
# does too (asyncio's TLS transport sends close_notify when it closes).


@dataclass
class Store:
    endpoint: str
    ca_file: Path
    access_key: str
    secret_key: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            verify=str(self.ca_file),
        )

    def objects(self, prefix: str) -> dict[str, bytes]:
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
                found[item["Key"]] = body
        return found


def _loopback_address() -> str:
    """The address `localhost` resolves to first: the one pgBackRest (getaddrinfo, first
    answer) connects to."""
    infos = socket.getaddrinfo(HOST, None, type=socket.SOCK_STREAM)
    return str(infos[0][4][0])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


@contextlib.contextmanager
def _tls_terminator(
    address: str, port: int, upstream: tuple[str, int], cert: Path, key: Path
) -> Iterator[None]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*upstream)
        except OSError:
            await _close(client_w)
            return
        to_client = asyncio.ensure_future(_pipe(up_r, client_w))
        to_store = asyncio.ensure_future(_pipe(client_r, up_w))
        try:
            done, _ = await asyncio.wait({to_client, to_store}, return_when="FIRST_COMPLETED")
            if to_store in done and to_client not in done:
                # The client finished its request: pass the half-close on, await the answer.
                with contextlib.suppress(Exception):
                    up_w.write_eof()
                await asyncio.wait({to_client}, timeout=300)
        except Exception:
            pass
        finally:
            for task in (to_client, to_store):
                task.cancel()
            await _close(up_w)
            await _close(client_w)  # TLS close_notify, then the socket

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        asyncio.start_server(relay, address, port, ssl=context, reuse_address=True)
    )
    thread = threading.Thread(target=loop.run_forever, name="s3-tls-terminator", daemon=True)
    thread.start()
    try:
        yield
    finally:

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@contextlib.contextmanager
def _moto_server(directory: Path, ca_file: Path, cert: Path, key: Path) -> Iterator[Store]:
    """moto's S3 on plain HTTP at 127.0.0.1, HTTPS for localhost in front; the bucket made."""
    plain_port = scratch.free_port()
    log = directory / "moto.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(plain_port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        address = _loopback_address()
        port = scratch.free_port(address)
        with _tls_terminator(address, port, ("127.0.0.1", plain_port), cert, key):
            store = Store(
                endpoint=f"https://{HOST}:{port}",
                ca_file=ca_file,
                access_key="GMTEST" + secrets.token_hex(7).upper(),
                secret_key=secrets.token_urlsafe(30),
            )
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
                try:
                    store.client().create_bucket(Bucket=BUCKET)  # pgBackRest makes no buckets
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            yield store
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- a throwaway PostgreSQL 15 cluster that archives into the store ------------------------


def _as_postgres(*command: str, cwd: Path) -> None:
    subprocess.run(
        ["runuser", "-u", PG_USER, "--", *command],
        check=True,
        capture_output=True,
        cwd=cwd,
        timeout=120,
    )


@contextlib.contextmanager
def _source_cluster(layout: BackupLayout, workdir: Path) -> Iterator[scratch.ScratchCluster]:
    entry = pwd.getpwnam(PG_USER)
    layout.pgdata.parent.mkdir(mode=0o755)
    for directory in (layout.pgdata, layout.pg_socket):
        directory.mkdir(mode=0o700)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    _as_postgres(
        str(PG_BIN / "initdb"),
        "-D",
        str(layout.pgdata),
        "--auth=trust",
        "--username=postgres",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        cwd=workdir,
    )
    settings = {
        "port": str(layout.pg_port),
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{layout.pg_socket}'",
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_timeout": "5",
        "archive_command": "'" + layout.archive_command().replace("'", "''") + "'",
    }
    with (layout.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("".join(f"{key} = {value}\n" for key, value in settings.items()))
    pg_ctl = str(PG_BIN / "pg_ctl")
    log = workdir / "source-postgres.log"
    log.touch()
    os.chown(log, entry.pw_uid, entry.pw_gid)
    try:
        _as_postgres(pg_ctl, "-D", str(layout.pgdata), "-l", str(log), "-w", "start", cwd=workdir)
        yield scratch.ScratchCluster(layout.pgdata, layout.pg_socket, layout.pg_port)
    finally:
        if (layout.pgdata / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                with contextlib.suppress(subprocess.SubprocessError):
                    stop = ("-D", str(layout.pgdata), "-m", mode, "-w", "-t", "60", "stop")
                    _as_postgres(pg_ctl, *stop, cwd=workdir)
                    break


# --- the scenario ----------------------------------------------------------------------------


def _department(estate: Estate, stanza: str, repository: dict[str, Any]) -> Department:
    """The demo estate's first department, renamed, without an HSM (the passphrases are then
    0600 files), backing up into `repository`."""
    base = estate.departments[0]
    data = base.model_dump()
    data["id"] = stanza
    data["hsm"] = {**base.hsm.model_dump(), "enabled": False}
    data["backup"] = {
        **base.backup.model_dump(),
        "archive_timeout": "5s",
        "repository": repository,
    }
    return Department.model_validate(data)


def _layout(dept: Department, workdir: Path, memory_dir: Path, name: str) -> BackupLayout:
    return BackupLayout(
        department=dept,
        stanza=dept.id,
        pgdata=workdir / "source" / "pgdata",
        pg_socket=workdir / "source" / "socket",
        pg_port=scratch.free_port(),
        config_file=workdir / name / "pgbackrest.conf",
        memory_dir=memory_dir,
        log_dir=workdir / name / "log",
        repo_root=workdir / name / "repo",  # unused: the repositories are in the store
        sealed_dir=workdir / "sealed",
        files=(workdir / "files",),
        media_store=workdir / "files" / "media",
    )


@dataclass
class Scenario:
    workdir: Path
    store: Store
    backup: DepartmentBackup
    layout: BackupLayout
    repository: dict[str, Any]
    memory_root: Path
    between: dt.datetime  # after the first batch of rows, before the second
    first: list[tuple[int, str]]
    everything: list[tuple[int, str]]
    marker: str  # in every row and file: must never appear in the store in plain text
    files: dict[Path, bytes]
    seconds: dict[str, float]


def _rows(cluster: scratch.ScratchCluster) -> list[tuple[int, str]]:
    with cluster.connect() as conn:
        return [(int(str(n)), str(note)) for n, note in conn.execute("SELECT n, note FROM t")]


@pytest.fixture(scope="module")
def scenario(demo_estate: Estate) -> Iterator[Scenario]:
    unique = uuid.uuid4().hex[:10]
    # PostgreSQL runs as postgres: every directory above its data must let it through, which
    # pytest's own temporary directories (/tmp/pytest-of-root) do not.
    workdir = Path("/var/tmp") / f"govmatrix-s3-test-{unique}"
    memory_root = Path("/dev/shm") / f"govmatrix-s3-test-{unique}"  # tmpfs
    seconds: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        workdir.mkdir(mode=0o755)
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack.callback(shutil.rmtree, memory_root, ignore_errors=True)
        monkeypatch = stack.enter_context(pytest.MonkeyPatch.context())

        started = time.monotonic()
        ca_file, cert, key = _write_test_pki(workdir / "tls")
        store = stack.enter_context(_moto_server(workdir, ca_file, cert, key))
        seconds["store"] = time.monotonic() - started
        monkeypatch.setenv(ACCESS_KEY_ENV, store.access_key)
        monkeypatch.setenv(SECRET_KEY_ENV, store.secret_key)

        stanza = f"s3-test-{unique}"
        repository = {
            "type": "s3",
            "bucket": BUCKET,
            "endpoint": store.endpoint,
            "region": REGION,
            "access_key": f"env:{ACCESS_KEY_ENV}",
            "secret_key": f"env:{SECRET_KEY_ENV}",
            "ca_file": f"file:{ca_file}",
        }
        dept = _department(demo_estate, stanza, repository)
        layout = _layout(dept, workdir, memory_root / "backup", "backup")
        marker = f"govmatrix-s3-plaintext-{unique}"
        files = {
            workdir / "files" / "media" / "photo.bin": os.urandom(300_000),
            workdir / "files" / "config" / "homeserver.yaml": f"# {marker}\n".encode() * 50,
        }
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        backup = DepartmentBackup(layout, hsm=None)
        backup.prepare()  # before PostgreSQL starts: its archive_command reads the include
        cluster = stack.enter_context(_source_cluster(layout, workdir))

        started = time.monotonic()
        assert backup.initialise() is True  # stanza, restic repository, first full backup
        seconds["initialise"] = time.monotonic() - started

        with cluster.connect() as conn:
            conn.execute("CREATE TABLE t (n integer PRIMARY KEY, note text NOT NULL)")
            for n in range(1, 6):
                conn.execute("INSERT INTO t VALUES (%s, %s)", (n, f"first {n} {marker}"))
        first = _rows(cluster)
        time.sleep(1.5)
        between = dt.datetime.now(dt.UTC)
        time.sleep(1.5)
        with cluster.connect() as conn:
            for n in range(6, 11):
                conn.execute("INSERT INTO t VALUES (%s, %s)", (n, f"second {n} {marker}"))
        everything = _rows(cluster)

        started = time.monotonic()
        pgbackrest.check(layout)  # switches WAL and waits until it is in the store
        seconds["check"] = time.monotonic() - started

        yield Scenario(
            workdir=workdir,
            store=store,
            backup=backup,
            layout=layout,
            repository=repository,
            memory_root=memory_root,
            between=between,
            first=first,
            everything=everything,
            marker=marker,
            files=files,
            seconds=seconds,
        )
    print(f"\nS3 backup scenario timings (s): {seconds}")


# --- the tests -------------------------------------------------------------------------------


def test_pgbackrest_conf_reaches_the_store_path_style_with_its_ca(scenario: Scenario) -> None:
    layout = scenario.layout
    conf = layout.config_file.read_text()
    port = scenario.store.endpoint.rsplit(":", 1)[1]
    for line in (
        "repo1-type=s3",
        f"repo1-path=/{layout.stanza}/pgbackrest",
        f"repo1-s3-bucket={BUCKET}",
        f"repo1-s3-endpoint={HOST}",
        f"repo1-storage-port={port}",
        f"repo1-s3-region={REGION}",
        "repo1-s3-uri-style=path",
        f"repo1-storage-ca-file={scenario.store.ca_file}",
        "repo1-cipher-type=aes-256-cbc",
    ):
        assert line in conf.splitlines(), f"{line!r} missing from pgbackrest.conf"
    assert "verify-tls" not in conf  # TLS is verified, against the private CA
    # No secret in the persistent config: keys and passphrase are in the tmpfs include.
    for secret in (
        scenario.store.access_key,
        scenario.store.secret_key,
        scenario.backup.passphrase("pgbackrest"),
    ):
        assert secret not in conf
        assert secret in layout.cipher_include.read_text()
    assert restic.repository_options(layout) == [
        "--option",
        "s3.bucket-lookup=path",
        "--option",
        f"s3.region={REGION}",
        "--cacert",
        str(scenario.store.ca_file),
    ]
    assert layout.restic_repo == f"s3:{scenario.store.endpoint}/{BUCKET}/{layout.stanza}/restic"


def test_point_in_time_restore_from_the_store_gets_exactly_the_first_rows(
    scenario: Scenario,
) -> None:
    assert len(scenario.first) == 5 and len(scenario.everything) == 10
    into = scenario.workdir / "restore-between"
    started = time.monotonic()
    scenario.backup.restore_database(into / "postgres", scenario.between)
    with scratch.started(into / "postgres", into / "socket", into / "postgres.log") as cluster:
        assert sorted(_rows(cluster)) == sorted(scenario.first)
    scenario.seconds["restore_to_time"] = time.monotonic() - started

    into = scenario.workdir / "restore-latest"
    started = time.monotonic()
    scenario.backup.restore_database(into / "postgres", None)
    with scratch.started(into / "postgres", into / "socket", into / "postgres.log") as cluster:
        assert sorted(_rows(cluster)) == sorted(scenario.everything)
    scenario.seconds["restore_latest"] = time.monotonic() - started


def test_files_come_back_from_the_store_byte_for_byte(scenario: Scenario) -> None:
    into = scenario.workdir / "restore-files"
    started = time.monotonic()
    snapshot = scenario.backup.restore_files(into, scenario.between)
    scenario.seconds["restore_files"] = time.monotonic() - started
    assert f"department={scenario.layout.stanza}" in snapshot.get("tags", [])
    for path, data in scenario.files.items():
        restored = into / path.relative_to("/")  # restic restores absolute paths under `into`
        assert restored.read_bytes() == data, f"{restored} differs from {path}"


def test_the_repositories_are_in_the_bucket_and_encrypted(scenario: Scenario) -> None:
    stanza = scenario.layout.stanza
    everything = scenario.store.objects("")  # WAL keeps arriving: list the bucket once
    database = {k: v for k, v in everything.items() if k.startswith(f"{stanza}/pgbackrest/")}
    files = {k: v for k, v in everything.items() if k.startswith(f"{stanza}/restic/")}
    keys = set(database)
    assert f"{stanza}/pgbackrest/archive/{stanza}/archive.info" in keys
    assert f"{stanza}/pgbackrest/backup/{stanza}/backup.info" in keys
    assert any(k.startswith(f"{stanza}/pgbackrest/archive/{stanza}/15-1/") for k in keys), keys
    assert any(k.endswith("/backup.manifest") for k in keys), keys
    for part in ("config", "keys/", "data/", "index/", "snapshots/"):
        assert any(k.startswith(f"{stanza}/restic/{part}") for k in files), (part, sorted(files))
    # Nothing was written beside the two repositories, and nothing to local disk.
    assert set(everything) == keys | set(files)
    assert any(
        k.startswith(f"{stanza}/pgbackrest/backup/{stanza}/") and "/bundle/" in k for k in keys
    )
    assert not scenario.layout.repo_root.exists()

    secrets_ = {
        "pgBackRest passphrase": scenario.backup.passphrase("pgbackrest").encode(),
        "restic passphrase": scenario.backup.passphrase("restic").encode(),
        "S3 secret key": scenario.store.secret_key.encode(),
        "row and file contents": scenario.marker.encode(),
    }
    for key, body in everything.items():
        for what, value in secrets_.items():
            assert value not in body, f"{what} in plain text in s3://{BUCKET}/{key}"
    # pgBackRest's encrypted files all start with OpenSSL's salt header.
    assert database[f"{stanza}/pgbackrest/backup/{stanza}/backup.info"].startswith(b"Salted__")


def test_without_its_ca_the_store_is_refused_and_the_error_says_why(
    scenario: Scenario, demo_estate: Estate
) -> None:
    stanza = scenario.layout.stanza
    env = {"AWS_ACCESS_KEY_ID": scenario.store.access_key}
    env["AWS_SECRET_ACCESS_KEY"] = scenario.store.secret_key

    no_ca = _department(demo_estate, stanza, {**scenario.repository, "ca_file": None})
    layout = _layout(no_ca, scenario.workdir, scenario.memory_root / "no-ca", "no-ca")
    DepartmentBackup(layout, hsm=None).prepare()
    assert "repo1-storage-ca-file" not in layout.config_file.read_text()
    with pytest.raises(BackupError, match=r"set backup\.repository\.ca_file"):
        pgbackrest.run(layout, "repo-ls", *QUICK)
    with pytest.raises(BackupError, match="certificate signed by unknown authority"):
        restic.run(layout, scenario.backup.passphrase("restic"), "cat", "config", s3_env=env)

    # pgBackRest 2.45 never matches an IP address against the certificate, even one it lists.
    port = scenario.store.endpoint.rsplit(":", 1)[1]
    by_ip = _department(
        demo_estate, stanza, {**scenario.repository, "endpoint": f"https://127.0.0.1:{port}"}
    )
    layout = _layout(by_ip, scenario.workdir, scenario.memory_root / "by-ip", "by-ip")
    DepartmentBackup(layout, hsm=None).prepare()
    with pytest.raises(BackupError, match="by a host name that the certificate lists"):
        pgbackrest.run(layout, "repo-ls", *QUICK)

    plain = _department(
        demo_estate, stanza, {**scenario.repository, "endpoint": f"http://{HOST}:{port}"}
    )
    layout = _layout(plain, scenario.workdir, scenario.memory_root / "http", "http")
    with pytest.raises(BackupError, match="pgBackRest speaks only HTTPS"):
        DepartmentBackup(layout, hsm=None).prepare()


def test_no_passphrase_is_left_in_the_working_directory_outside_the_sealed_files(
    scenario: Scenario,
) -> None:
    """The include with keys and passphrase is on tmpfs; logs and configs hold none of it."""
    sealed = {
        passphrases.plain_file(scenario.layout.sealed_dir, r) for r in passphrases.REPOSITORIES
    }
    values = [
        scenario.backup.passphrase("pgbackrest").encode(),
        scenario.backup.passphrase("restic").encode(),
        scenario.store.secret_key.encode(),
    ]
    for path in scenario.workdir.rglob("*"):
        if path.is_file() and not path.is_symlink() and path not in sealed:
            data = path.read_bytes()
            for value in values:
                assert value not in data, f"a secret in plain text in {path}"
