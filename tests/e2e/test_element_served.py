"""Element Web (the FIXTURE bundle from the test mirror) is served by each department's
nginx with that department's own config.json."""

import pytest

from tests.e2e.conftest import Demo
from tests.fixtures.element_bundle import FIXTURE_MARKER

pytestmark = pytest.mark.e2e


def test_element_and_config_served(demo: Demo) -> None:
    assert demo.status["element"]["status"] in ("installed", "kept")
    assert demo.status["element"]["verified"] is False  # imported from a mirror, never pinned
    for dept in demo.status["departments"]:
        with demo.http(dept["id"]) as http:
            index = http.get("/")
            assert FIXTURE_MARKER in index.text
            assert "frame-ancestors" in index.headers["Content-Security-Policy"]
            config = http.get("/config.json").json()
            assert (
                config["default_server_config"]["m.homeserver"]["server_name"]
                == dept["server_name"]
            )
            assert http.get("/_synapse/admin/v1/server_version").status_code in (200, 401)
