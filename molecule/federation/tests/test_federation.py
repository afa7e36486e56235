"""Verify of the federation scenario: each host passes the department checks, the two
departments that allow each other federate both ways, and the third is refused both ways.

Users are created on each host through its own Synapse; rooms, invites, joins and messages
then cross hosts only through federation (Synapse to the peer's nginx on 8448)."""

import base64
import json
import os
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).parents[2] / "shared"))

import department_checks as checks

PROBE = (Path(__file__).parents[2] / "shared" / "matrix_probe.py").read_bytes()
HOSTS = {"a": "fed-a", "b": "fed-b", "c": "fed-c"}
# ministry-b's database runs on a host of its own.
DATABASE_HOST = "fed-b-db"
RUN = uuid.uuid4().hex[:8]  # fresh users per verify run


def host_named(name):
    # The whole inventory directory: molecule's hosts plus the govmatrix_estate inventory.
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")


def host_of(letter):
    return host_named(HOSTS[letter])


class Dept:
    def __init__(self, letter):
        self.letter = letter
        self.host = host_of(letter)
        self.server = f"ministry-{letter}.gov.test"
        self.upload("matrix_probe.py", PROBE)

    def upload(self, name, data):
        encoded = base64.b64encode(data).decode()
        self.host.check_output(f"echo {encoded} | base64 -d > /root/{name}")

    def probe(self, *args):
        quoted = " ".join(checks.quote(str(a)) for a in args)
        return json.loads(self.host.check_output(f"python3 /root/matrix_probe.py {quoted}"))

    def user(self, name):
        result = self.probe("register", f"/etc/govmatrix/ministry-{self.letter}/secrets", name)
        assert result["status"] == 200, result
        return result["body"]["access_token"], f"@{name}:{self.server}"

    def call(self, token, method, path, body=None):
        args = [token, method, path] + ([json.dumps(body)] if body is not None else [])
        return self.probe("call", *args)


@pytest.fixture(scope="module")
def depts():
    return {letter: Dept(letter) for letter in HOSTS}


@pytest.mark.parametrize("name", sorted(HOSTS.values()))
def test_each_app_host_passes_the_department_checks(name):
    host = host_named(name)
    checks.check_services(host)
    checks.check_ports(host)
    checks.check_files(host)
    checks.check_homeserver_is_the_renderers(host)
    checks.check_exposure(host)


def test_the_separate_database_host_serves_only_its_department():
    db = host_named(DATABASE_HOST)
    checks.check_services(db)
    checks.check_ports(db)
    assert not db.service("govmatrix-synapse").is_running
    rules = db.check_output("nft list ruleset")
    assert "172.30.77.12" in rules and "5432" in rules, "5432 is not limited to the app host"
    hba = db.file("/etc/postgresql/15/main/pg_hba.conf").content_string
    assert "172.30.77.12/32" in hba
    # The app host's Synapse really uses it (it answers, and its database is over there).
    app = host_of("b")
    assert "OK" in app.check_output(
        "python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8008/health').read().decode())\""
    )
    query = "select count(*) from pg_tables where schemaname = 'public'"
    tables = db.check_output(f'runuser -u postgres -- psql -tAc "{query}" synapse')
    assert int(tables) > 50, "Synapse's schema is not on the database host"


def converse(origin, peer):
    """A user of `origin` makes a room, invites a user of `peer`, who joins; both talk."""
    token_o, _ = origin.user(f"o{origin.letter}{RUN}")
    token_p, user_p = peer.user(f"p{peer.letter}{RUN}")
    room = origin.call(token_o, "POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"})
    assert room["status"] == 200, room
    room_id = room["body"]["room_id"]
    rooms = f"/_matrix/client/v3/rooms/{quote(room_id)}"
    invite = origin.call(token_o, "POST", f"{rooms}/invite", {"user_id": user_p})
    assert invite["status"] == 200, invite
    join = peer.call(
        token_p, "POST", f"/_matrix/client/v3/join/{quote(room_id)}?server_name={origin.server}", {}
    )
    assert join["status"] == 200, join
    for sender, token, receiver, receiver_token in (
        (origin, token_o, peer, token_p),
        (peer, token_p, origin, token_o),
    ):
        text = f"from {sender.server} {uuid.uuid4().hex[:6]}"
        sent = sender.call(
            token,
            "PUT",
            f"{rooms}/send/m.room.message/{uuid.uuid4().hex}",
            {"msgtype": "m.text", "body": text},
        )
        assert sent["status"] == 200, sent
        arrived = receiver.probe("wait-body", receiver_token, room_id, text, 90)
        assert arrived["status"] == 200, f"{sender.server} -> {receiver.server}: {arrived}"


def test_a_invites_b_and_they_talk(depts):
    converse(depts["a"], depts["b"])


def test_b_invites_a_and_they_talk(depts):
    converse(depts["b"], depts["a"])


@pytest.mark.parametrize("origin,outsider", [("a", "c"), ("b", "c"), ("c", "a"), ("c", "b")])
def test_the_outsider_is_refused_both_ways(depts, origin, outsider):
    o, x = depts[origin], depts[outsider]
    token, _ = o.user(f"r{origin}{outsider}{RUN}")
    _, target = x.user(f"t{origin}{outsider}{RUN}")
    room = o.call(token, "POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"})
    assert room["status"] == 200, room
    rooms = f"/_matrix/client/v3/rooms/{quote(room['body']['room_id'])}"
    invite = o.call(token, "POST", f"{rooms}/invite", {"user_id": target})
    assert invite["status"] == 403, invite
    assert invite["body"]["errcode"] == "M_FORBIDDEN", invite
    assert "Federation denied" in invite["body"]["error"], invite


SIGNED_PROBE = (Path(__file__).parents[3] / "tests" / "e2e" / "federation_probe.py").read_bytes()
RUN_SIGNED = """
import ssl, sys
from pathlib import Path
sys.path.insert(0, "/root")
from federation_probe import load_signing_key, signed_get
origin, destination = sys.argv[1], sys.argv[2]
key = load_signing_key(Path(f"/etc/govmatrix/{origin.split('.')[0]}/secrets/signing.key"))
context = ssl.create_default_context(cafile="/etc/govmatrix/pki/ca.crt")
path = f"/_matrix/federation/v1/query/profile?user_id=@nobody:{destination}"
response = signed_get(origin, key, destination, 8448, path, context)
print(response.status_code, response.text)
"""


def signed_get(origin, destination):
    """A real server-to-server request from `origin`, signed with its own key."""
    origin.upload("federation_probe.py", SIGNED_PROBE)
    out = origin.host.check_output(
        "/opt/govmatrix/archive/bin/python -c "
        f"{checks.quote(RUN_SIGNED)} {origin.server} {destination.server}"
    )
    status, _, body = out.partition(" ")
    return status, body


@pytest.mark.parametrize("destination", ["a", "b"])
def test_signed_requests_from_the_outsider_are_refused(depts, destination):
    """The outsider's own Synapse refuses to try, so sign a real server-to-server request
    with its key, as its Synapse would: the destination refuses it at the federation layer."""
    status, body = signed_get(depts["c"], depts[destination])
    assert status == "403", body
    assert "Federation denied with ministry-c.gov.test" in body, body


def test_signed_requests_between_peers_are_accepted(depts):
    """The same probe from an allowed peer gets past the allow-list (control case)."""
    status, body = signed_get(depts["b"], depts["a"])
    assert status != "403", body
