"""docs/estate.schema.json is generated from the model; it must not drift from it."""

import json
from pathlib import Path

import pytest

from govmatrix.estate.jsonschema import schema_text

pytestmark = pytest.mark.unit


def test_committed_schema_matches_code(repo_root: Path) -> None:
    committed = (repo_root / "docs" / "estate.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "docs/estate.schema.json is out of date: run 'make schema' and commit the result"
    )


def test_schema_describes_every_section() -> None:
    schema = json.loads(schema_text())
    department = schema["$defs"]["Department"]["properties"]
    for section in (
        "federation",
        "synapse",
        "archive",
        "backup",
        "hsm",
        "identity",
        "kubernetes",
        "branding",
    ):
        assert section in department, f"Department schema lacks section '{section}'"
    assert schema["$defs"]["Department"]["additionalProperties"] is False


def test_example_estates_validate_against_json_schema(repo_root: Path) -> None:
    import jsonschema
    import yaml

    schema = json.loads(schema_text())
    for path in sorted((repo_root / "inventories").glob("*/estate.yml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
