"""matrix-nio clients logged in to the demo, plus the few calls nio does not offer."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

import httpx
from nio import AsyncClient, AsyncClientConfig, SyncResponse

from tests.e2e.conftest import Demo


def client(demo: Demo, dept_id: str, localpart: str) -> AsyncClient:
    """A nio client for a seeded user, with a token from the admin API."""
    user = demo.user(dept_id, localpart)["user_id"]
    c = AsyncClient(
        demo.department(dept_id)["client_url"],
        user,
        ssl=demo.ssl_context(),
        config=AsyncClientConfig(request_timeout=30, max_timeouts=2),
    )
    c.access_token = demo.token(dept_id, localpart)
    c.user_id = user
    return c


def join_via(demo: Demo, dept_id: str, token: str, room_id: str, via: str) -> httpx.Response:
    """Join a room by id through a named server (rooms v12 ids carry no server part)."""
    with demo.http(dept_id) as http:
        return http.post(
            f"/_matrix/client/v3/join/{quote(room_id)}",
            params={"server_name": via},
            headers={"Authorization": f"Bearer {token}"},
            json={},
        )


async def wait_for_message(
    c: AsyncClient, room_id: str, body: str, timeout: float = 30
) -> dict[str, Any]:
    """Sync until an m.room.message with `body` appears in `room_id`."""
    deadline = time.monotonic() + timeout
    since = None
    while time.monotonic() < deadline:
        response = await c.sync(timeout=2000, since=since, full_state=since is None)
        if isinstance(response, SyncResponse):
            since = response.next_batch
            room = response.rooms.join.get(room_id)
            if room:
                for event in room.timeline.events:
                    source = event.source
                    if (
                        source.get("type") == "m.room.message"
                        and source["content"].get("body") == body
                    ):
                        return source
        else:
            await asyncio.sleep(0.5)
    raise AssertionError(f"{c.user_id} did not see '{body}' in {room_id} within {timeout}s")


async def wait_for_invite(c: AsyncClient, room_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    since = None
    while time.monotonic() < deadline:
        response = await c.sync(timeout=2000, since=since)
        if isinstance(response, SyncResponse):
            since = response.next_batch
            if room_id in response.rooms.invite:
                return
        else:
            await asyncio.sleep(0.5)
    raise AssertionError(f"{c.user_id} got no invite to {room_id} within {timeout}s")
