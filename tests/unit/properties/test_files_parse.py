"""Every structured file parses; Element names its own department's homeserver; files end
with a newline; renders are deterministic."""

import pytest

from govmatrix.render import TARGET_KINDS, render_all
from tests.unit.properties.renders import estates, files_named, items

pytestmark = pytest.mark.unit


def test_yaml_and_json_parse() -> None:
    for item in items():
        if item.path.endswith((".yaml", ".json")):
            assert item.parsed() is not None, f"{item.name}: empty document"
        assert item.file.text.endswith("\n"), f"{item.name}: no final newline"


def test_element_points_at_own_homeserver() -> None:
    for item in files_named("element/config.json"):
        config = item.parsed()
        server = item.department.server_name
        hs = config["default_server_config"]["m.homeserver"]
        assert hs == {"base_url": f"https://{server}", "server_name": server}, item.name
        assert config["disable_guests"] is True, item.name
        assert config["disable_custom_urls"] is True, item.name
        assert config["brand"] == item.department.brand, item.name


def test_render_is_deterministic() -> None:
    for estate in estates().values():
        for kind in TARGET_KINDS:
            first = render_all(estate, kind)
            second = render_all(estate, kind)
            assert first == second, f"{estate.estate.name}/{kind}: renders differ between runs"
