"""An image uploaded in one department is visible, byte for byte, to its federated peer."""

from __future__ import annotations

import uuid

import pytest
from nio import JoinResponse, RoomCreateResponse, RoomSendResponse, UploadResponse

from govmatrix.demo.pictures import png
from tests.e2e.clients import client, wait_for_invite, wait_for_message
from tests.e2e.conftest import Demo, run

pytestmark = pytest.mark.e2e


def test_image_crosses_federation(demo: Demo) -> None:
    image = png(40, 30, (200, 30, 60))
    caption = f"chart-{uuid.uuid4().hex[:8]}.png"

    async def scenario() -> str:
        a = client(demo, "cabinet-office", "bob")
        b = client(demo, "hm-treasury", "bob")
        try:
            created = await a.room_create(name="media", invite=[b.user_id])
            assert isinstance(created, RoomCreateResponse), created
            await wait_for_invite(b, created.room_id)
            assert isinstance(await b.join(created.room_id), JoinResponse)
            uploaded, _ = await a.upload(
                lambda *_: image, content_type="image/png", filename=caption, filesize=len(image)
            )
            assert isinstance(uploaded, UploadResponse), uploaded
            sent = await a.room_send(
                created.room_id,
                "m.room.message",
                {
                    "msgtype": "m.image",
                    "body": caption,
                    "url": uploaded.content_uri,
                    "info": {"mimetype": "image/png", "size": len(image)},
                },
            )
            assert isinstance(sent, RoomSendResponse), sent
            event = await wait_for_message(b, created.room_id, caption)
            return str(event["content"]["url"])
        finally:
            await a.close()
            await b.close()

    mxc = run(scenario())
    server, media_id = mxc.removeprefix("mxc://").split("/", 1)
    token = demo.token("hm-treasury", "bob")
    with demo.http("hm-treasury") as http:
        # B's own server fetches it over federation (authenticated media).
        response = http.get(
            f"/_matrix/client/v1/media/download/{server}/{media_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    assert response.content == image
