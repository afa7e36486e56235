"""Every rendered file of both example estates on every target, for property tests.

A property test iterates over all of these, so a new component or department is checked
by every existing property without anyone writing a new test (the ess-helm style).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from govmatrix.estate import Department, Estate, load_estate
from govmatrix.render import TARGET_KINDS, RenderedFile, render_all
from tests.conftest import EXAMPLES


@dataclass(frozen=True)
class Item:
    estate: str
    target: str
    department: Department
    path: str
    file: RenderedFile

    @property
    def name(self) -> str:
        return f"{self.estate}/{self.target}/{self.department.id}/{self.path}"

    def parsed(self) -> Any:
        if self.path.endswith(".json"):
            return json.loads(self.file.text)
        if self.path.endswith(".yaml"):
            return yaml.safe_load(self.file.text)
        raise ValueError(f"{self.path} is not structured data")


@cache
def estates() -> dict[str, Estate]:
    return {name: load_estate(path) for name, path in EXAMPLES.items()}


@cache
def items() -> tuple[Item, ...]:
    out = []
    for estate_name, estate in estates().items():
        for kind in TARGET_KINDS:
            for dept_id, files in render_all(estate, kind).items():
                dept = estate.department(dept_id)
                for path, rendered in files.items():
                    out.append(Item(estate_name, kind, dept, path, rendered))
    return tuple(out)


def files_named(suffix: str) -> Iterator[Item]:
    return (i for i in items() if i.path.endswith(suffix))


def homeservers() -> Iterator[tuple[Item, dict[str, Any]]]:
    for item in files_named("synapse/homeserver.yaml"):
        yield item, item.parsed()
