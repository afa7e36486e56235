"""The transaction endpoint refuses malformed transactions and repeats nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.archive_helpers import config, superuser
from tests.e2e.conftest import Demo

pytestmark = pytest.mark.e2e
DEPT = "hm-treasury"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"events": {}}',
        b'{"events": [1]}',
        b'{"events": [{"event_id": 5, "room_id": "!r", "sender": "@a:b", "type": "m"}]}',
        b'{"events": [{"event_id": "$e", "room_id": "!r", "sender": "@a:b"}]}',
        b'{"events": [{"event_id": "$e", "room_id": "!r", "sender": "@a:b", "type": "m",'
        b' "origin_server_ts": "noon"}]}',
        b'{"events": [{"event_id": "$e", "room_id": "!r", "sender": "@a:b", "type": "m",'
        b' "content": []}]}',
    ],
)
def test_malformed_transactions_are_refused(demo: Demo, body: bytes) -> None:
    cfg = config(demo, DEPT)
    token = Path(cfg["hs_token_path"]).read_text().strip()
    with superuser(demo, DEPT) as conn:
        before = conn.execute("SELECT count(*) FROM archive_events").fetchone()[0]
    response = httpx.put(
        f"http://{cfg['listen']['address']}:{cfg['listen']['port']}"
        f"/_matrix/app/v1/transactions/fuzz-{uuid.uuid4().hex}",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    with superuser(demo, DEPT) as conn:
        assert conn.execute("SELECT count(*) FROM archive_events").fetchone()[0] == before
