"""Property tests: whatever it is given, the estate loader answers with an Estate or EstateError.

Random mutations of the valid demo estate (values replaced, keys deleted or invented, the whole
document swapped for random text or bytes) must never crash the loader with any other exception,
and every problem it reports must be locatable: a non-empty path and message, and a line number
unless the problem concerns the file as a whole.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govmatrix.estate import Estate, EstateError, parse_estate

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEMO_TEXT = (ROOT / "inventories" / "demo" / "estate.yml").read_text(encoding="utf-8")
DEMO_DATA: dict[str, Any] = yaml.safe_load(DEMO_TEXT)
SOURCE = "estate.yml"

# Paths that concern the file as a whole, where no line number is required.
WHOLE_FILE = {"(file)", "(top level)"}

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Node = dict[Any, Any] | list[Any]
DocPath = tuple[Any, ...]


# --- the property -------------------------------------------------------------------------


def check_outcome(raw: str | bytes) -> Estate | EstateError:
    """Parse `raw`; fail the test on anything but an Estate or a well-formed EstateError."""
    try:
        return parse_estate(raw, SOURCE)
    except EstateError as error:
        assert error.problems, "EstateError without problems"
        for problem in error.problems:
            assert problem.file == SOURCE
            assert isinstance(problem.path, str) and problem.path, problem
            assert isinstance(problem.message, str) and problem.message.strip(), problem
            if problem.path not in WHOLE_FILE:
                assert problem.line is not None, f"no line for: {problem}"
            if problem.line is not None:
                assert problem.line >= 1 and problem.column is not None and problem.column >= 1
            str(problem)  # renders without error
        str(error)
        return error


# --- strategies ---------------------------------------------------------------------------

# Values that sit near the schema's edges, so mutations often reach deep validation.
INTERESTING_TEXT = st.sampled_from(
    [
        "",
        " ",
        "home-office",
        "cabinet-office",
        "nato",
        "hm-treasury",
        "external",
        "bundled",
        "generate",
        "env:SECRET",
        "hunter2",
        "0 25 * * *",
        "0 2 * * 0",
        "every day",
        "10y",
        "-1y",
        "500y",
        "1h",
        "30s",
        "ed25519",
        "dsa-1024",
        "s3",
        "[2001:db8::1]:8448",
        "2001:db8::1",
        "a.gov.test:70000",
        "bad_name.gov.test",
        "#0b0c0c",
        "1.163.2",
        "https://login.gov.test",
        "file:ca.pem",
        "10.0.0.0/8",
        "version",
        "<<",
        "\x00",
        "\ufeff",
        "\u202e",
        "line\nbreak",
    ]
)
TEXT = st.one_of(st.text(max_size=40), INTERESTING_TEXT)
SCALARS = st.one_of(
    TEXT,
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, 1, 2, -1, 65535, 65536, 2**31, 2**63, -(2**63), 10**300]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(TEXT, children, max_size=4),
    ),
    max_leaves=12,
)


def children(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, list):
        return list(enumerate(node))
    return []


def all_paths(node: Any, prefix: DocPath = ()) -> list[DocPath]:
    """Every path to a value inside `node` (not including the root itself)."""
    out: list[DocPath] = []
    for key, child in children(node):
        path = (*prefix, key)
        out.append(path)
        out.extend(all_paths(child, path))
    return out


def mappings(node: Any, prefix: DocPath = ()) -> list[DocPath]:
    """The path of every mapping in `node`, the root included."""
    out: list[DocPath] = [prefix] if isinstance(node, dict) else []
    for key, child in children(node):
        out.extend(mappings(child, (*prefix, key)))
    return out


def get(node: Any, path: DocPath) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated_documents(draw: st.DrawFn) -> str | bytes:
    """The demo estate after 1-4 random mutations, dumped as YAML (text or UTF-8 bytes)."""
    data: Any = copy.deepcopy(DEMO_DATA)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["set", "delete", "insert"]))
        if kind == "set":
            paths = all_paths(data)
            if not paths:
                continue
            path = draw(st.sampled_from(paths))
            get(data, path[:-1])[path[-1]] = draw(VALUES)
        elif kind == "delete":
            keyed = [p for p in all_paths(data) if isinstance(get(data, p[:-1]), dict)]
            if not keyed:
                continue
            path = draw(st.sampled_from(keyed))
            del get(data, path[:-1])[path[-1]]
        else:
            targets = mappings(data)
            if not targets:
                continue
            target = get(data, draw(st.sampled_from(targets)))
            target[draw(TEXT)] = draw(VALUES)
    text = yaml.safe_dump(
        data,
        sort_keys=draw(st.booleans()),
        allow_unicode=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([False, None])),
    )
    return text.encode("utf-8") if draw(st.booleans()) else text


# --- tests --------------------------------------------------------------------------------


def test_unmutated_demo_passes_the_property() -> None:
    assert isinstance(check_outcome(DEMO_TEXT), Estate)


@PROPERTY_SETTINGS
@given(raw=mutated_documents())
def test_mutated_estate_yields_estate_or_located_problems(raw: str | bytes) -> None:
    check_outcome(raw)


@PROPERTY_SETTINGS
@given(
    raw=st.one_of(
        st.text(max_size=2000),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=2000),
    )
)
def test_random_text_document_yields_estate_error(raw: str) -> None:
    outcome = check_outcome(raw)
    assert isinstance(outcome, EstateError)


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=2000))
def test_random_bytes_only_ever_raise_estate_error(raw: bytes) -> None:
    outcome = check_outcome(raw)
    assert isinstance(outcome, EstateError)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_demo_bytes_spliced_with_random_bytes(data: st.DataObject) -> None:
    """The raw-bytes path with mostly-valid input: the demo with random bytes spliced in."""
    demo = DEMO_TEXT.encode("utf-8")
    start = data.draw(st.integers(min_value=0, max_value=len(demo)), label="start")
    end = data.draw(st.integers(min_value=start, max_value=min(len(demo), start + 40)), label="end")
    junk = data.draw(st.binary(max_size=40), label="junk")
    check_outcome(demo[:start] + junk + demo[end:])
