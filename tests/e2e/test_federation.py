"""Federation in the running demo: allowed pairs talk both ways; refused pairs are refused
both ways, for invites and joins, with 403 M_FORBIDDEN."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from nio import (
    JoinResponse,
    RoomCreateResponse,
    RoomInviteError,
    RoomInviteResponse,
    RoomSendResponse,
)

from tests.e2e.clients import client, join_via, wait_for_invite, wait_for_message
from tests.e2e.conftest import Demo, run
from tests.e2e.federation_probe import load_signing_key, signed_get

pytestmark = pytest.mark.e2e


def test_status_reports_every_department_healthy(demo: Demo) -> None:
    status = demo.refresh()
    assert status["healthy"], status
    for dept in status["departments"]:
        assert dept["client_url"] == f"https://{dept['server_name']}"
        assert dept["federation_allow"][0] == dept["server_name"]
        assert {u["user_id"].split(":")[0] for u in dept["users"]} >= {"@alice", "@bob"}
        for peer in dept["peers"]:
            assert peer["reachable"], peer


def test_allowed_pair_messages_flow_both_ways(demo: Demo) -> None:
    async def scenario() -> None:
        a = client(demo, "cabinet-office", "alice")
        b = client(demo, "home-office", "alice")
        try:
            created = await a.room_create(name=f"e2e {uuid.uuid4().hex[:6]}", invite=[b.user_id])
            assert isinstance(created, RoomCreateResponse), created
            room = created.room_id
            await wait_for_invite(b, room)
            joined = await b.join(room)
            assert isinstance(joined, JoinResponse), joined
            hello = f"from A {uuid.uuid4()}"
            sent = await a.room_send(room, "m.room.message", {"msgtype": "m.text", "body": hello})
            assert isinstance(sent, RoomSendResponse), sent
            await wait_for_message(b, room, hello)
            reply = f"from B {uuid.uuid4()}"
            sent = await b.room_send(room, "m.room.message", {"msgtype": "m.text", "body": reply})
            assert isinstance(sent, RoomSendResponse), sent
            await wait_for_message(a, room, reply)
        finally:
            await a.close()
            await b.close()

    run(scenario())


@pytest.mark.parametrize(
    ("inviter", "invitee"), [("home-office", "hm-treasury"), ("hm-treasury", "home-office")]
)
def test_refused_pair_invite_is_forbidden(demo: Demo, inviter: str, invitee: str) -> None:
    async def scenario() -> None:
        a = client(demo, inviter, "alice")
        try:
            created = await a.room_create(name="should stay local")
            assert isinstance(created, RoomCreateResponse), created
            target = demo.user(invitee, "alice")["user_id"]
            response = await a.room_invite(created.room_id, target)
            assert not isinstance(response, RoomInviteResponse), "invite crossed a refused border"
            assert isinstance(response, RoomInviteError)
            assert response.status_code == "M_FORBIDDEN", response
            assert "Federation denied" in response.message
        finally:
            await a.close()

    run(scenario())


def _open_room(demo: Demo, owner: str) -> str:
    async def create() -> str:
        a = client(demo, owner, "alice")
        try:
            created = await a.room_create(name="open to anyone its server lets in")
            assert isinstance(created, RoomCreateResponse), created
            # Anyone may join, so only the federation border can stop a joiner.
            await a.room_put_state(created.room_id, "m.room.join_rules", {"join_rule": "public"})
            return str(created.room_id)
        finally:
            await a.close()

    return str(run(create()))


PAIRS = [("home-office", "hm-treasury"), ("hm-treasury", "home-office")]


@pytest.mark.parametrize(("owner", "joiner"), PAIRS)
def test_refused_pair_join_is_refused(demo: Demo, owner: str, joiner: str) -> None:
    """The joiner's own server will not contact a server outside its allow-list. Synapse
    reports that to the client as 502 'Failed to make_join via any server' (its outbound
    refusal is folded into the generic failure), and no membership is created."""
    room = _open_room(demo, owner)
    token = demo.token(joiner, "alice")
    response = join_via(demo, joiner, token, room, via=demo.department(owner)["server_name"])
    assert response.status_code in (403, 502), response.text
    assert "make_join" in response.json()["error"] or response.json()["errcode"] == "M_FORBIDDEN"
    with demo.http(joiner) as http:
        joined = http.get(
            "/_matrix/client/v3/joined_rooms", headers={"Authorization": f"Bearer {token}"}
        )
    assert room not in joined.json()["joined_rooms"]


@pytest.mark.parametrize(("owner", "joiner"), PAIRS)
def test_refused_pair_make_join_is_forbidden_at_the_border(
    demo: Demo, owner: str, joiner: str
) -> None:
    """The owner's server answers a federation make_join from the refused server, signed with
    that server's real key, with 403 M_FORBIDDEN."""
    room = _open_room(demo, owner)
    joiner_server = demo.department(joiner)["server_name"]
    owner_server = demo.department(owner)["server_name"]
    # The signing key is the joiner server's own, read where Synapse reads it (unsealed by
    # the HSM into memory-backed storage, 0600).
    key = load_signing_key_for(demo, joiner)
    user = demo.user(joiner, "alice")["user_id"]
    response = signed_get(
        joiner_server,
        key,
        owner_server,
        8448,
        f"/_matrix/federation/v1/make_join/{quote(room)}/{quote(user)}?ver=12",
        demo.ssl_context(),
    )
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["errcode"] == "M_FORBIDDEN"
    assert joiner_server in body["error"]


def test_allowed_pair_make_join_is_accepted_at_the_border(demo: Demo) -> None:
    """The same signed probe between allowed peers succeeds: the 403 above is the allow-list."""
    room = _open_room(demo, "cabinet-office")
    key = load_signing_key_for(demo, "home-office")
    user = demo.user("home-office", "bob")["user_id"]
    response = signed_get(
        "home-office.gov.test",
        key,
        "cabinet-office.gov.test",
        8448,
        f"/_matrix/federation/v1/make_join/{quote(room)}/{quote(user)}?ver=12",
        demo.ssl_context(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["event"]["type"] == "m.room.member"


def load_signing_key_for(demo: Demo, dept_id: str) -> tuple[str, Any]:
    from govmatrix.render.targets import demo_memory_dir

    return load_signing_key(Path(demo_memory_dir(demo.status["root"], dept_id)) / "signing.key")
