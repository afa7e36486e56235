"""Fuzz the running archive's API from its own OpenAPI spec (schemathesis, bounded).

Every operation must refuse a missing token (401) and a wrong one (403) before anything
else; with a records officer's token, no generated request may cause a server error. The
transaction endpoint is fuzzed only without a valid token: with one, fuzzed events would
be written into a real department's append-only archive (its malformed-body handling has
explicit cases in test_archive_transactions).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.e2e.archive_helpers import config
from tests.e2e.conftest import Demo

pytestmark = pytest.mark.e2e
DEPT = "hm-treasury"


def _schema(demo: Demo) -> schemathesis.BaseSchema:
    cfg = config(demo, DEPT)
    return schemathesis.openapi.from_url(
        f"http://{cfg['listen']['address']}:{cfg['listen']['port']}/openapi.json"
    )


def _check(case: schemathesis.Case, officer_token: str) -> None:
    path = case.operation.path
    if path == "/healthz":
        assert case.call().status_code == 200
        return
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    anonymous = case.call()
    assert anonymous.status_code == 401, (
        f"{case.method} {path}: {anonymous.status_code} without a token"
    )
    wrong = case.call(headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 403, f"{case.method} {path}: {wrong.status_code} with a wrong token"
    if path.startswith("/api/"):
        answered = case.call(headers={"Authorization": f"Bearer {officer_token}"})
        assert answered.status_code < 500, (
            f"{case.method} {path}: {answered.status_code} {answered.text[:300]}"
        )


def test_api_refuses_strangers_and_never_fails(demo: Demo) -> None:
    # The pytest plugin of schemathesis 4 does not run under pytest 9; its strategies do.
    officer_token = Path(config(demo, DEPT)["officer_token_path"]).read_text().strip()
    operations = [result.ok() for result in _schema(demo).get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case: schemathesis.Case) -> None:
            _check(case, officer_token)

        fuzz()
