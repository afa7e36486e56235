"""Safe YAML loading that remembers where every value came from.

PyYAML's composer gives a node tree with marks; we build plain Python data from it ourselves
so that each value's `file:line:column` is known, duplicate keys are caught (PyYAML keeps the
last one silently), and alias expansion is bounded (a "billion laughs" file stops early).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

try:  # libyaml is ~10x faster for large estates; the pure-Python composer is the fallback.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[str | int, ...]

MAX_NODES = 500_000
EMPTY = "the file is empty; an estate needs 'version', 'estate' and 'departments'"
MAX_DEPTH = 64


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


class YamlProblem(Exception):
    def __init__(self, message: str, position: Position | None = None, path: Path = ()):
        super().__init__(message)
        self.message = message
        self.position = position
        self.path = path


def _pos(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


# PyYAML's constructors raise these, not only YAMLError, for values such as '2001-13-45',
# '!!int abc' or an integer too long to convert.
_CONSTRUCT_ERRORS = (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError, OverflowError)


class _Builder:
    def __init__(self) -> None:
        self.positions: dict[Path, Position] = {}
        self.key_positions: dict[Path, Position] = {}
        self._constructor = yaml.constructor.SafeConstructor()
        self._nodes = 0
        self._active: set[int] = set()  # nodes being built: an alias back to one is a cycle

    def _scalar(self, node: yaml.Node, path: Path) -> Any:
        try:
            return self._constructor.construct_object(node)
        except _CONSTRUCT_ERRORS as exc:
            raise YamlProblem(
                f"cannot read this value ({exc}); quote it if it is text", _pos(node), path
            ) from None

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise YamlProblem(
                f"the document expands to more than {MAX_NODES} values; "
                "this looks like an alias bomb, or the estate is far larger than any government",
                _pos(node),
                path,
            )
        if len(path) > MAX_DEPTH:
            raise YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", _pos(node), path)
        self.positions.setdefault(path, _pos(node))
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self._scalar(node, path)
        if id(node) in self._active:
            raise YamlProblem(
                "an alias refers to a mapping or list that contains it", _pos(node), path
            )
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.update(self._merge_source(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("a mapping key must be a plain value", _pos(key_node), path)
            key = self._scalar(key_node, path)
            if not isinstance(key, str | int | bool | float) and key is not None:
                key = str(key)
            if key in result:
                first = self.key_positions[(*path, key)].line
                raise YamlProblem(
                    f"duplicate key '{key}' (first at line {first})",
                    _pos(key_node),
                    (*path, key),
                )
            self.key_positions[(*path, key)] = _pos(key_node)
            result[key] = self.build(value_node, (*path, key))
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_source(self, node: yaml.Node, path: Path) -> dict[Any, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in sources:
            value = self.build(source, path)
            if not isinstance(value, dict):
                raise YamlProblem("'<<' must merge a mapping", _pos(source), path)
            for key, item in value.items():
                merged.setdefault(key, item)
        return merged


@dataclass
class Located:
    data: Any
    positions: dict[Path, Position]
    key_positions: dict[Path, Position]


def load(text: str) -> Located:
    """Parse one YAML document. Raises YamlProblem with a position on any syntax error."""
    if not text.strip():
        raise YamlProblem(EMPTY)
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = Position(mark.line + 1, mark.column + 1) if mark else None
        raise YamlProblem(f"YAML syntax error: {exc.problem or exc}", position) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML error: {exc}") from None
    documents = [d for d in documents if d is not None]
    if not documents:
        raise YamlProblem(
            "the file is empty; an estate needs 'version', 'estate' and 'departments'"
        )
    if len(documents) > 1:
        raise YamlProblem("the file holds several YAML documents; an estate is exactly one")
    builder = _Builder()
    data = builder.build(documents[0], ())
    return Located(data, builder.positions, builder.key_positions)
