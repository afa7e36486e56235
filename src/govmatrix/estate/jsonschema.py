"""The estate's JSON Schema, generated from the pydantic model (the model is the authority)."""

from __future__ import annotations

import json

from govmatrix.estate.schema import Estate

SCHEMA_ID = "https://govmatrix.example/estate.schema.json"


def schema_text() -> str:
    schema = Estate.model_json_schema(mode="validation")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "govmatrix estate",
        **{k: v for k, v in schema.items() if k != "title"},
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
