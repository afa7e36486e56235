"""The one Jinja2 environment every template renders through."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import jinja2


def templates_dir() -> Path:
    override = os.environ.get("GOVMATRIX_TEMPLATES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "templates"


def _json(value: Any) -> str:
    # JSON is valid YAML, so this one filter quotes values safely in YAML and JSON templates.
    return json.dumps(value, ensure_ascii=False, sort_keys=isinstance(value, dict))


def _nginx_str(value: str) -> str:
    if any(c in value for c in '"\\;{}\n\r$'):
        raise ValueError(f"refusing to put {value!r} into an nginx config")
    return value


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["json"] = _json
    env.filters["nginx"] = _nginx_str
    return env


def render_template(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
