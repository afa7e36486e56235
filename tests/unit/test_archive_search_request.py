"""The archive's search request refuses what PostgreSQL cannot store, before any query.

Found by the schemathesis fuzz of the running archive (tests/e2e/test_archive_fuzz.py):
a NUL in a sender reached PostgreSQL and the API answered 500."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from govmatrix.archive.service import SearchRequest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("field", ["terms", "sender", "room"])
@pytest.mark.parametrize("bad", ["\x00", "\x1f", "\ud800"])
def test_unstorable_characters_are_refused(field: str, bad: str) -> None:
    value = {"terms": f"budget{bad}", "sender": f"@a{bad}:x.test", "room": f"!r{bad}:x.test"}[field]
    match = "valid string" if bad == "\ud800" else "control characters are not allowed"
    with pytest.raises(ValidationError, match=match):
        SearchRequest(case="FOI-2026-0042", **{field: value})


def test_ordinary_requests_pass() -> None:
    query = SearchRequest(
        case="FOI-2026-0042", terms="budget réunion 会议", sender="@alice:x.test", room="!r:x.test"
    )
    assert query.terms == "budget réunion 会议"
