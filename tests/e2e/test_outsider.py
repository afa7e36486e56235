"""A homeserver outside the estate cannot federate with it, in either direction.

The test starts a throwaway Synapse ('outsider.test', SQLite, its own loopback address)
whose TLS certificate is even issued by the estate CA, so that the only thing that can stop
it is the departments' federation allow-list.
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from govmatrix import pki
from govmatrix.demo import hosts
from govmatrix.demo.system import wait_for
from govmatrix.estate.pki_plan import CertificatePlan
from govmatrix.secretgen import signing_key, token
from tests.e2e.conftest import ROOT, Demo

pytestmark = pytest.mark.e2e

NAME = "outsider.test"
ADDRESS = "127.0.1.250"
SYNAPSE = ROOT / ".venv-synapse" / "bin" / "python"


def _config(base: Path, ca: Path, shared: str) -> Path:
    for name, value in (("signing.key", signing_key()), ("macaroon", token()), ("form", token())):
        (base / name).write_text(value)
    config = {
        "server_name": NAME,
        "pid_file": str(base / "homeserver.pid"),
        "report_stats": False,
        "listeners": [
            {
                "port": 8008,
                "bind_addresses": [ADDRESS],
                "type": "http",
                "tls": False,
                "resources": [{"names": ["client"]}],
            },
            {
                "port": 8448,
                "bind_addresses": [ADDRESS],
                "type": "http",
                "tls": True,
                "resources": [{"names": ["federation"]}],
            },
        ],
        "tls_certificate_path": str(base / "outsider" / "server.crt"),
        "tls_private_key_path": str(base / "outsider" / "server.key"),
        "database": {"name": "sqlite3", "args": {"database": str(base / "homeserver.db")}},
        "media_store_path": str(base / "media"),
        "signing_key_path": str(base / "signing.key"),
        "macaroon_secret_key_path": str(base / "macaroon"),
        "form_secret_path": str(base / "form"),
        "registration_shared_secret": shared,
        "enable_registration": False,
        "trusted_key_servers": [],
        "federation_custom_ca_list": [str(ca)],
        "ip_range_whitelist": ["127.0.0.0/8"],
    }
    path = base / "homeserver.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def outsider(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    base = tmp_path_factory.mktemp("outsider")
    estate_pki = Path(demo.status["root"]) / "pki"
    # A certificate from the estate's own CA: TLS trust is not what stops this server.
    own = pki.EstatePki(base)
    for name in ("ca.crt", "ca.key"):
        (base / name).write_bytes((estate_pki / name).read_bytes())
        (base / name).chmod(0o600)
    own.ensure_department(CertificatePlan("outsider", NAME, (NAME,), ()), pki.PkiReport())
    shared = token()
    config = _config(base, estate_pki / "ca.crt", shared)
    hosts.install({NAME: ADDRESS}, "e2e-outsider")
    log = (base / "synapse.log").open("w")
    proc = subprocess.Popen(
        [str(SYNAPSE), "-m", "synapse.app.homeserver", "-c", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=base,
    )
    try:

        def healthy() -> bool:
            assert proc.poll() is None, (base / "synapse.log").read_text()[-3000:]
            return httpx.get(f"http://{ADDRESS}:8008/health", timeout=2).text == "OK"

        wait_for(healthy, "the outsider Synapse to start", 120)
        client = httpx.Client(base_url=f"http://{ADDRESS}:8008", timeout=30)
        nonce = client.get("/_synapse/admin/v1/register").json()["nonce"]
        password = token()
        mac = hmac.new(shared.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), b"eve", password.encode(), b"notadmin"]))
        reg = client.post(
            "/_synapse/admin/v1/register",
            json={
                "nonce": nonce,
                "username": "eve",
                "password": password,
                "admin": False,
                "mac": mac.hexdigest(),
            },
        )
        reg.raise_for_status()
        yield {"user_id": reg.json()["user_id"], "token": reg.json()["access_token"]}
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        hosts.remove("e2e-outsider")


def _auth(token_: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_}"}


def test_estate_refuses_to_invite_outsider(demo: Demo, outsider: dict[str, str]) -> None:
    tok = demo.token("cabinet-office", "alice")
    with demo.http("cabinet-office") as http:
        room = http.post(
            "/_matrix/client/v3/createRoom", headers=_auth(tok), json={"name": "x"}
        ).json()["room_id"]
        response = http.post(
            f"/_matrix/client/v3/rooms/{quote(room)}/invite",
            headers=_auth(tok),
            json={"user_id": outsider["user_id"]},
        )
    assert response.status_code == 403, response.text
    assert response.json()["errcode"] == "M_FORBIDDEN"
    assert NAME in response.json()["error"]


def test_outsider_cannot_invite_into_estate(demo: Demo, outsider: dict[str, str]) -> None:
    with httpx.Client(base_url=f"http://{ADDRESS}:8008", timeout=30) as http:
        room = http.post(
            "/_matrix/client/v3/createRoom",
            headers=_auth(outsider["token"]),
            json={"name": "from outside"},
        ).json()["room_id"]
        target = demo.user("cabinet-office", "alice")["user_id"]
        response = http.post(
            f"/_matrix/client/v3/rooms/{quote(room)}/invite",
            headers=_auth(outsider["token"]),
            json={"user_id": target},
        )
    # cabinet-office answers the outsider's federation invite with 403, which Synapse relays.
    assert response.status_code == 403, response.text
    assert response.json()["errcode"] == "M_FORBIDDEN"


def test_outsider_cannot_join_estate_room(demo: Demo, outsider: dict[str, str]) -> None:
    tok = demo.token("cabinet-office", "alice")
    with demo.http("cabinet-office") as http:
        room = http.post(
            "/_matrix/client/v3/createRoom",
            headers=_auth(tok),
            json={"name": "open", "preset": "public_chat"},
        ).json()["room_id"]
    with httpx.Client(base_url=f"http://{ADDRESS}:8008", timeout=30) as http:
        response = http.post(
            f"/_matrix/client/v3/join/{quote(room)}",
            headers=_auth(outsider["token"]),
            params={"server_name": "cabinet-office.gov.test"},
            json={},
        )
    assert response.status_code == 403, response.text
    assert response.json()["errcode"] == "M_FORBIDDEN"
