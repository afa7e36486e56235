"""Read an estate file and turn it into a validated `Estate`, or into every problem it has.

Order of work: bytes → text (size and encoding checks) → positioned YAML → schema version →
section defaults merged into departments → pydantic validation → cross-reference checks.
All problems found are reported together, each with a location a person can jump to.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from govmatrix.estate import checks, migrations
from govmatrix.estate.problems import EstateError, Problem, dotted
from govmatrix.estate.schema import SCHEMA_VERSION, SECTION_NAMES, Estate
from govmatrix.estate.yamlpos import Located, Path, Position, YamlProblem, load

MAX_BYTES = 8 * 1024 * 1024  # about 25,000 departments: far past any government


def load_estate(path: str | FsPath) -> Estate:
    source = str(path)
    file = FsPath(path)
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise EstateError([_plain(source, "no such file")]) from None
    except IsADirectoryError:
        raise EstateError([_plain(source, "is a directory, not an estate file")]) from None
    except PermissionError:
        raise EstateError([_plain(source, "permission denied")]) from None
    return parse_estate(raw, source)


def parse_estate(raw: bytes | str, source: str = "<estate>") -> Estate:
    located = read_located(raw, source)
    return validate_located(located, source)


def read_located(raw: bytes | str, source: str, *, check_version: bool = True) -> Located:
    """Bytes to positioned data, with the version checked; raises EstateError."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BYTES:
        raise EstateError(
            [
                _plain(
                    source,
                    f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB; refusing to read",
                )
            ]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        # Columns count characters, as editors do, not bytes.
        column = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        raise EstateError(
            [
                Problem(
                    source,
                    line,
                    column,
                    "(file)",
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                    "save the file as UTF-8",
                )
            ]
        ) from None
    text = text.removeprefix("\ufeff")
    try:
        located = load(text)
    except YamlProblem as exc:
        pos = exc.position
        raise EstateError(
            [
                Problem(
                    source,
                    pos.line if pos else None,
                    pos.column if pos else None,
                    dotted(exc.path) if exc.path else "(file)",
                    exc.message,
                )
            ]
        ) from None
    if not isinstance(located.data, dict):
        raise EstateError(
            [
                _at(
                    source,
                    located,
                    (),
                    "the top level must be a mapping with 'version', 'estate' and 'departments'",
                )
            ]
        )
    if check_version:
        _check_version(located, source)
    return located


def validate_located(located: Located, source: str) -> Estate:
    data: dict[str, Any] = located.data
    locator = _Locator(source, located)
    problems: list[Problem] = []
    estate: Estate | None = None
    try:
        estate = Estate.model_validate(merge_defaults(data))
    except ValidationError as exc:
        problems.extend(locator.from_pydantic(err) for err in exc.errors())
    problems.extend(locator.at(path, message, hint) for path, message, hint in checks.run(data))
    if problems:
        raise EstateError(_unique_sorted(problems))
    assert estate is not None
    return estate


# --- schema version -------------------------------------------------------------------------


def _check_version(located: Located, source: str) -> None:
    data = located.data
    if "version" not in data:
        raise EstateError(
            [
                _at(
                    source,
                    located,
                    (),
                    "missing 'version'",
                    f"add 'version: {SCHEMA_VERSION}' at the top of the file",
                )
            ]
        )
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise EstateError([_at(source, located, ("version",), "must be a whole number such as 1")])
    if version > SCHEMA_VERSION:
        raise EstateError(
            [
                _at(
                    source,
                    located,
                    ("version",),
                    f"estate version {version} is newer than this govmatrix understands "
                    f"(it reads version {SCHEMA_VERSION})",
                    "upgrade govmatrix",
                )
            ]
        )
    if version < migrations.OLDEST_VERSION:
        raise EstateError(
            [
                _at(
                    source,
                    located,
                    ("version",),
                    f"unknown estate version {version}; versions start at "
                    f"{migrations.OLDEST_VERSION}",
                )
            ]
        )
    if version < SCHEMA_VERSION:
        raise EstateError(
            [
                _at(
                    source,
                    located,
                    ("version",),
                    f"estate version {version} is older than {SCHEMA_VERSION}",
                    f"run 'govmatrix migrate {source} --write' to upgrade it in place",
                )
            ]
        )


# --- defaults -------------------------------------------------------------------------------


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the raw estate with `estate.defaults` merged into each department."""
    estate = data.get("estate")
    defaults = estate.get("defaults") if isinstance(estate, dict) else None
    departments = data.get("departments")
    if not isinstance(defaults, dict) or not isinstance(departments, list):
        return data
    merged_departments = []
    for dept in departments:
        if not isinstance(dept, dict):
            merged_departments.append(dept)
            continue
        merged = dict(dept)
        for section in SECTION_NAMES:
            default = defaults.get(section)
            if not isinstance(default, dict):
                continue
            own = dept.get(section)
            if own is None:
                merged[section] = default
            elif isinstance(own, dict) and _same_variant(default, own):
                merged[section] = _deep_merge(default, own)
        merged_departments.append(merged)
    return {**data, "departments": merged_departments}


def _same_variant(default: dict[str, Any], own: dict[str, Any]) -> bool:
    # A department switching identity provider must not inherit the other provider's keys.
    return "provider" not in own or own.get("provider") == default.get("provider", "bundled")


# --- locating problems ----------------------------------------------------------------------


class _Locator:
    def __init__(self, source: str, located: Located):
        self.source = source
        self.located = located
        self._merged: Any = None

    @property
    def merged(self) -> Any:
        if self._merged is None:
            self._merged = merge_defaults(self.located.data)
        return self._merged

    def at(self, path: Path, message: str, hint: str | None = None) -> Problem:
        return _at(self.source, self.located, path, message, hint)

    def from_pydantic(self, err: Any) -> Problem:
        loc: Path = tuple(err["loc"])
        kind: str = err["type"]
        path = _data_path(loc, self.merged)
        message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        hint = None
        if kind == "missing":
            message = f"missing required key '{path[-1]}'"
        elif kind == "extra_forbidden":
            key = str(path[-1])
            allowed = _allowed_keys(loc[:-1])
            message = f"unknown key '{key}'"
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            if close:
                hint = f"did you mean '{close[0]}'?"
            elif allowed:
                hint = "allowed here: " + ", ".join(sorted(allowed))
        inherited = self._inherited(path)
        if inherited is not None:
            path = inherited
        return _at(self.source, self.located, path, message, hint, key=kind == "extra_forbidden")

    def _inherited(self, path: Path) -> Path | None:
        """For a department path whose value came from estate.defaults, the defaults path."""
        if len(path) < 3 or path[0] != "departments" or path[2] not in SECTION_NAMES:
            return None
        data = self.located.data
        defaults: Path = ("estate", "defaults", *path[2:])
        if not _exists(data, defaults[:3]):
            return None
        if not _exists(data, path[:3]):  # the department does not set this section at all
            return defaults
        if _exists(data, path):
            return None
        return defaults if _exists(data, defaults) else None


def _at(
    source: str,
    located: Located,
    path: Path,
    message: str,
    hint: str | None = None,
    *,
    key: bool = False,
) -> Problem:
    position = _nearest_position(located, path, key=key)
    return Problem(
        source,
        position.line if position else None,
        position.column if position else None,
        dotted(path),
        message,
        hint,
    )


def _nearest_position(located: Located, path: Path, *, key: bool = False) -> Position | None:
    """The value's position (or, for key problems, the key's); else the nearest ancestor's."""
    if key and path in located.key_positions:
        return located.key_positions[path]
    if path in located.positions:
        return located.positions[path]
    for end in range(len(path), -1, -1):
        prefix = path[:end]
        if prefix in located.key_positions:
            return located.key_positions[prefix]
        if prefix in located.positions:
            return located.positions[prefix]
    return None


_MISSING = object()


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _MISSING


def _exists(data: Any, path: Path) -> bool:
    node = data
    for part in path:
        node = _child(node, part)
        if node is _MISSING:
            return False
    return True


def _data_path(loc: Path, merged: Any) -> Path:
    """Map a pydantic error location onto the data, dropping union tags pydantic inserts."""
    node = merged
    path: list[str | int] = []
    for i, part in enumerate(loc):
        child = _child(node, part)
        if child is not _MISSING:
            node = child
            path.append(part)
        elif i == len(loc) - 1:
            path.append(part)
        # else: a tag such as 'bundled' or 'function-after[...]' that names no data
    return tuple(path)


def _plain(source: str, message: str) -> Problem:
    return Problem(source, None, None, "(file)", message)


def _unique_sorted(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for problem in problems:
        key = (problem.line, problem.column, problem.path, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return sorted(unique, key=lambda p: (p.line or 0, p.column or 0))


# --- schema introspection for hints ---------------------------------------------------------


def _allowed_keys(loc: Path) -> list[str]:
    """The field names the model at `loc` accepts (for 'did you mean' hints)."""
    current: Any = Estate
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    models = [m for m in _candidates(current) if isinstance(m, type) and issubclass(m, BaseModel)]
    names: set[str] = set()
    for model in models:
        names.update(model.model_fields)
    return sorted(names)


def _candidates(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _candidates(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_candidates(arg))
        return out
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _candidates(annotation):
        origin = typing.get_origin(candidate)
        if isinstance(part, int) and origin is list:
            return typing.get_args(candidate)[0]
        if origin is dict:
            return typing.get_args(candidate)[1]
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if part in candidate.model_fields:
                return candidate.model_fields[part].annotation
            # A discriminated-union tag names the variant itself.
            literal = candidate.model_fields.get("provider")
            if literal is not None and part in typing.get_args(literal.annotation):
                return candidate
    return None
