"""HSM-backed TLS in the running demo: nginx (a master and several workers) completes real
TLS handshakes on every department's client port and federation port with a private key
that exists only in the department's HSM token.

Each handshake is a fresh connection (`Connection: close`, no session reuse) with SNI and
the estate CA; each request carries a marker, so the access log (which records `$pid`)
tells which worker served it.
"""

from __future__ import annotations

import re
import socket
import ssl
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govmatrix.estate import load_estate
from govmatrix.hsm import tls
from govmatrix.hsm.plan import plan as hsm_plan
from govmatrix.render.targets import Target, target_for
from tests.e2e.conftest import ESTATE, Demo

pytestmark = pytest.mark.e2e

HANDSHAKES = 30  # per department and port
PATHS = {"client": "/.well-known/matrix/server", "federation": "/_matrix/federation/v1/version"}


def _request(
    context: ssl.SSLContext, address: str, port: int, server_name: str, path: str
) -> tuple[bytes, str]:
    """One new TCP connection and TLS handshake; the server's certificate and status line."""
    with (
        socket.create_connection((address, port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as conn,
    ):
        certificate = conn.getpeercert(binary_form=True)
        assert certificate is not None
        conn.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n"
            "User-Agent: govmatrix-hsm-tls-test\r\n\r\n".encode()
        )
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    return certificate, response.split(b"\r\n", 1)[0].decode()


def _spki(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _workers(root: Path) -> dict[int, str]:
    """nginx's worker processes: pid -> user, from /proc (children of the master)."""
    master = int((root / "run" / "nginx.pid").read_text())
    workers = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if int(fields.get("PPid", "0")) == master:
            import pwd

            uid = int(fields["Uid"].split()[0])
            workers[int(status.parent.name)] = pwd.getpwuid(uid).pw_name
    return workers


def test_handshakes_on_both_ports_use_the_hsm_key_across_workers(demo: Demo) -> None:
    estate = load_estate(ESTATE)
    root = Path(demo.status["root"])
    context = ssl.create_default_context(cafile=str(demo.ca_file))
    marker = uuid.uuid4().hex
    results: dict[tuple[str, str], Counter[str]] = {}
    for entry in demo.status["departments"]:
        dept = estate.department(entry["id"])
        target: Target = target_for("demo", estate, dept, root=str(root))
        hsm = hsm_plan(dept, target)
        assert hsm is not None, f"{dept.id} does not use the HSM in the demo estate"

        # The key file names the token's key; no software key sits beside it.
        tls_dir = Path(target.tls_dir)
        assert not (tls_dir / "server.key").exists()
        key_file = tls_dir / "server.key.uri.pem"
        uri = tls.parse_uri_pem(key_file.read_text())
        assert tls.uri_attributes(uri) == {
            "token": hsm.key("tls").token,
            "object": hsm.key("tls").label,
            "type": "private",
        }
        assert "PRIVATE KEY" not in key_file.read_text()
        token_key = _spki(tls.public_key(hsm))

        for port_name, port in (
            ("client", target.client_port),
            ("federation", target.federation_port),
        ):
            outcome: Counter[str] = Counter()
            for i in range(HANDSHAKES):
                path = f"{PATHS[port_name]}?hsm-tls={marker}-{dept.id}-{port_name}-{i}"
                try:
                    der, status = _request(context, entry["address"], port, dept.server_name, path)
                except (OSError, ssl.SSLError) as exc:
                    outcome[f"error: {exc!r}"] += 1
                    continue
                served_by_hsm = _spki(x509.load_der_x509_certificate(der).public_key()) == token_key
                outcome["ok" if status.endswith(" 200 OK") and served_by_hsm else status] += 1
            results[(dept.id, port_name)] = outcome

    # Which worker served each request: the access log records $pid.
    log = (root / "logs" / "nginx-access.log").read_text()
    pids: dict[tuple[str, str], Counter[int]] = {}
    for line in log.splitlines():
        found = re.search(rf"hsm-tls={marker}-(.+)-(client|federation)-\d+ .* pid=(\d+) ", line)
        if found:
            key = (found.group(1), found.group(2))
            pids.setdefault(key, Counter())[int(found.group(3))] += 1
    workers = _workers(root)
    summary = {
        f"{dept}:{port}": {
            "ok": outcome["ok"],
            "total": sum(outcome.values()),
            "worker_pids": dict(pids.get((dept, port), {})),
        }
        for (dept, port), outcome in results.items()
    }
    print(f"\nHSM-backed TLS: {summary}\nnginx workers: {workers}")

    for key, outcome in results.items():
        assert outcome == Counter({"ok": HANDSHAKES}), f"{key}: {dict(outcome)}"
        assert sum(pids.get(key, Counter()).values()) == HANDSHAKES, f"{key}: not all logged"
    served = set().union(*(set(c) for c in pids.values()))
    assert len(workers) >= 3 and set(workers.values()) == {tls.WORKER_USER}, workers
    assert served <= set(workers), f"served by {served}, workers are {workers}"
    assert len(served) > 1, f"one worker served every handshake: {served}"
