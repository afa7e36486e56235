"""The estate loader's error reporting, case by case.

Every test starts from the valid demo estate, breaks one thing (or a few), and checks that the
loader refuses it with a problem an operator can act on: a meaningful message or hint, the dotted
path of the offending value, and a line number wherever the problem is tied to a value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from govmatrix.estate import Estate, EstateError, Problem, load_estate, parse_estate
from govmatrix.estate.loader import MAX_BYTES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEMO_PATH = ROOT / "inventories" / "demo" / "estate.yml"
DEMO_TEXT = DEMO_PATH.read_text(encoding="utf-8")
SOURCE = "estate.yml"

# Indices into the demo estate (asserted by test_demo_estate_is_valid).
CABINET, HOME, TREASURY = 0, 1, 2


# --- helpers ----------------------------------------------------------------------------------


def demo_data() -> dict[str, Any]:
    data = yaml.safe_load(DEMO_TEXT)
    assert isinstance(data, dict)
    return data


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def mutated(edit: Callable[[dict[str, Any]], object]) -> str:
    """The demo estate as YAML text after `edit` has changed its data in place."""
    data = demo_data()
    edit(data)
    return dump(data)


def problems_of(raw: str | bytes) -> list[Problem]:
    with pytest.raises(EstateError) as info:
        parse_estate(raw, SOURCE)
    problems = info.value.problems
    assert problems, "EstateError raised without any problem"
    for problem in problems:
        assert problem.file == SOURCE
    return problems


def listing(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def find(problems: list[Problem], fragment: str, *, path: str | None = None) -> Problem:
    """The first problem at `path` whose message or hint contains `fragment`."""
    for problem in problems:
        if path is not None and problem.path != path:
            continue
        if fragment in problem.message or fragment in (problem.hint or ""):
            return problem
    where = f" at {path}" if path is not None else ""
    raise AssertionError(f"no problem{where} mentioning {fragment!r}; got:\n{listing(problems)}")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the `occurrence`-th line containing `needle`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} (occurrence {occurrence}) not in text")


def assert_at_value(problem: Problem) -> None:
    assert problem.line is not None, str(problem)
    assert problem.column is not None, str(problem)
    assert problem.line >= 1 and problem.column >= 1, str(problem)


# --- sanity -----------------------------------------------------------------------------------


def test_demo_estate_is_valid() -> None:
    estate = parse_estate(DEMO_TEXT, SOURCE)
    assert isinstance(estate, Estate)
    assert [d.id for d in estate.departments] == ["cabinet-office", "home-office", "hm-treasury"]
    assert [p.id for p in estate.partners] == ["nato"]
    # The dump/load round trip the mutation tests rely on keeps the estate valid.
    assert parse_estate(dump(demo_data()), SOURCE) == estate


# --- unknown keys -----------------------------------------------------------------------------


def test_unknown_key_typo_suggests_the_real_key() -> None:
    def edit(data: dict[str, Any]) -> None:
        dept = data["departments"][HOME]
        dept["servername"] = dept.pop("server_name")

    text = mutated(edit)
    problems = problems_of(text)
    typo = find(problems, "unknown key", path=f"departments[{HOME}].servername")
    assert "servername" in typo.message
    assert typo.hint == "did you mean 'server_name'?"
    assert_at_value(typo)
    assert typo.line == line_of(text, "servername:")
    # The real key is now missing too, and is reported as such.
    missing = find(problems, "missing required key", path=f"departments[{HOME}].server_name")
    assert "server_name" in missing.message


# --- uniqueness -------------------------------------------------------------------------------


def test_duplicate_department_ids() -> None:
    text = mutated(lambda d: d["departments"][TREASURY].__setitem__("id", "home-office"))
    problem = find(problems_of(text), "duplicate department id", path=f"departments[{TREASURY}].id")
    assert "home-office" in problem.message
    assert f"departments[{HOME}]" in problem.message
    assert_at_value(problem)
    assert problem.line == line_of(text, "id: home-office", occurrence=2)


@pytest.mark.parametrize(
    ("edit", "path", "also"),
    [
        pytest.param(
            # Server names compare case-insensitively (DNS does).
            lambda d: d["departments"][TREASURY].__setitem__("server_name", "HOME-OFFICE.gov.test"),
            f"departments[{TREASURY}].server_name",
            f"departments[{HOME}]",
            id="department-vs-department",
        ),
        pytest.param(
            lambda d: d["partners"][0].__setitem__("server_name", "cabinet-office.gov.test"),
            "partners[0].server_name",
            f"departments[{CABINET}]",
            id="department-vs-partner",
        ),
    ],
)
def test_duplicate_server_names(
    edit: Callable[[dict[str, Any]], object], path: str, also: str
) -> None:
    problem = find(problems_of(mutated(edit)), "duplicate server name", path=path)
    assert also in problem.message
    assert problem.hint and "own server name" in problem.hint
    assert_at_value(problem)


# --- server names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_name", "fragment"),
    [
        ("bad_name.gov.test", "not a valid Matrix server name"),
        ("-lead.gov.test", "not a valid Matrix server name"),
        ("a.gov.test:70000", "1 to 65535"),
        ("2001:db8::1", "must be written in brackets"),
    ],
)
def test_invalid_server_names_are_refused(server_name: str, fragment: str) -> None:
    text = mutated(lambda d: d["departments"][HOME].__setitem__("server_name", server_name))
    problem = find(problems_of(text), fragment, path=f"departments[{HOME}].server_name")
    assert_at_value(problem)
    assert problem.line == line_of(text, "server_name:", occurrence=3)  # partner, cabinet, home


@pytest.mark.parametrize("server_name", ["[2001:db8::1]:8448", "10.0.0.1", "dept.gov.test:8448"])
def test_valid_server_names_are_accepted(server_name: str) -> None:
    text = mutated(lambda d: d["departments"][HOME].__setitem__("server_name", server_name))
    estate = parse_estate(text, SOURCE)
    assert estate.departments[HOME].server_name == server_name


# --- federation -------------------------------------------------------------------------------


def test_federation_peer_that_does_not_exist_gets_a_suggestion() -> None:
    text = mutated(lambda d: d["departments"][HOME]["federation"]["allow"].append("hm-tresury"))
    problem = find(
        problems_of(text),
        "neither a department nor a partner",
        path=f"departments[{HOME}].federation.allow[1]",
    )
    assert "hm-tresury" in problem.message
    assert problem.hint == "did you mean 'hm-treasury'?"
    assert_at_value(problem)
    assert problem.line == line_of(text, "- hm-tresury")


def test_department_cannot_allow_itself() -> None:
    text = mutated(lambda d: d["departments"][HOME]["federation"]["allow"].append("home-office"))
    problem = find(
        problems_of(text),
        "cannot allow itself",
        path=f"departments[{HOME}].federation.allow[1]",
    )
    assert_at_value(problem)


def _one_sided(data: dict[str, Any]) -> None:
    # home-office allows hm-treasury, but hm-treasury does not allow home-office.
    data["departments"][HOME]["federation"]["allow"].append("hm-treasury")


def test_one_sided_federation_between_departments_is_an_error() -> None:
    problem = find(
        problems_of(mutated(_one_sided)),
        "one-sided federation",
        path=f"departments[{HOME}].federation.allow[1]",
    )
    assert "'home-office' allows 'hm-treasury'" in problem.message
    assert problem.hint and "require_mutual: false" in problem.hint
    assert f"departments[{TREASURY}].federation.allow" in problem.hint
    assert_at_value(problem)


def test_one_sided_federation_is_accepted_when_mutuality_is_not_required() -> None:
    def edit(data: dict[str, Any]) -> None:
        _one_sided(data)
        data["estate"]["federation"] = {"require_mutual": False}

    estate = parse_estate(mutated(edit), SOURCE)
    assert estate.estate.federation.require_mutual is False
    assert "hm-treasury" in estate.department("home-office").federation.allow


# --- scalar formats ---------------------------------------------------------------------------


@pytest.mark.parametrize("cron", ["0 25 * * *", "every day"])
def test_invalid_cron_is_refused(cron: str) -> None:
    text = mutated(lambda d: d["departments"][CABINET].__setitem__("backup", {"full": cron}))
    problem = find(
        problems_of(text),
        "not a valid 5-field cron schedule",
        path=f"departments[{CABINET}].backup.full",
    )
    assert cron in problem.message
    assert_at_value(problem)


@pytest.mark.parametrize(
    ("retention", "fragment"),
    [
        ("-1y", "is not a duration"),
        ("500y", "more than 150 years"),
        ("1h", "shorter than a day"),
    ],
)
def test_unreasonable_archive_retention_is_refused(retention: str, fragment: str) -> None:
    text = mutated(
        lambda d: d["departments"][TREASURY]["archive"].__setitem__("retention", retention)
    )
    problem = find(problems_of(text), fragment, path=f"departments[{TREASURY}].archive.retention")
    assert_at_value(problem)
    assert problem.line == line_of(text, f"retention: {retention}")


@pytest.mark.parametrize(
    ("key_type", "fragment", "path"),
    [
        # A real key type, but not one a TLS key may have: the section's validator says so.
        ("ed25519", "cannot be of type 'ed25519'", f"departments[{CABINET}].hsm"),
        # Not a key type at all: the field itself lists what is accepted.
        ("dsa-1024", "'ec-p256'", f"departments[{CABINET}].hsm.keys.tls.type"),
    ],
)
def test_unsupported_hsm_key_type_is_refused(key_type: str, fragment: str, path: str) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["departments"][CABINET]["hsm"] = {"keys": {"tls": {"label": "tls", "type": key_type}}}

    problem = find(problems_of(mutated(edit)), fragment, path=path)
    assert_at_value(problem)


def test_literal_secret_is_refused_and_never_echoed() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["departments"][HOME]["identity"] = {
            "provider": "external",
            "issuer": "https://login.home-office.gov.test",
            "client_id": "govmatrix",
            "client_secret": "hunter2",
        }

    text = mutated(edit)
    with pytest.raises(EstateError) as info:
        parse_estate(text, SOURCE)
    error = info.value
    problem = find(
        error.problems, "literal secret", path=f"departments[{HOME}].identity.client_secret"
    )
    assert_at_value(problem)
    assert problem.line == line_of(text, "client_secret:")
    assert "hunter2" not in str(error)
    assert "hunter2" not in repr(error)
    for each in error.problems:
        for value in each.as_dict().values():
            assert "hunter2" not in str(value), str(each)


# --- bytes, size and YAML itself --------------------------------------------------------------


def test_non_utf8_byte_is_located() -> None:
    lines = DEMO_TEXT.encode("utf-8").split(b"\n")
    third = lines[2]
    cut = third.index(b"home-office")  # in the middle of line 3, after multi-byte arrows
    lines[2] = third[:cut] + b"\xff" + third[cut:]
    problems = problems_of(b"\n".join(lines))
    assert len(problems) == 1
    problem = problems[0]
    assert problem.line == 3
    assert problem.column is not None
    assert problem.path == "(file)"
    assert "not valid UTF-8" in problem.message
    assert "0xff" in problem.message
    assert problem.hint and "UTF-8" in problem.hint


def test_file_larger_than_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "estate.yml"
    padding = b"#" * (MAX_BYTES + 1 - len(DEMO_TEXT.encode("utf-8")) - 1) + b"\n"
    big.write_bytes(DEMO_TEXT.encode("utf-8") + padding)
    assert big.stat().st_size == MAX_BYTES + 1
    with pytest.raises(EstateError) as info:
        load_estate(big)
    [problem] = info.value.problems
    assert problem.file == str(big)
    assert problem.path == "(file)"
    assert "larger than 8 MiB" in problem.message
    assert "refusing to read" in problem.message


def test_alias_bomb_is_stopped_quickly() -> None:
    lines = ["version: 1", 'lol0: &lol0 ["lol"]']
    for level in range(1, 10):
        previous = ", ".join([f"*lol{level - 1}"] * 9)
        lines.append(f"lol{level}: &lol{level} [{previous}]")
    text = "\n".join(lines) + "\n"
    started = time.perf_counter()
    problems = problems_of(text)
    elapsed = time.perf_counter() - started
    problem = find(problems, "alias bomb")
    assert "expands to more than" in problem.message
    assert_at_value(problem)
    assert problem.path.startswith("lol")
    assert elapsed < 15, f"alias bomb took {elapsed:.1f}s to refuse"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param("   \n  \n\n", id="whitespace"),
        pytest.param(" \r\n \r\n", id="whitespace-crlf"),
        pytest.param("# only a comment\n# and another\n", id="comments"),
        pytest.param("\ufeff\n", id="bom-only"),
    ],
)
def test_empty_file_is_refused(raw: str | bytes) -> None:
    [problem] = problems_of(raw)
    assert "empty" in problem.message
    assert problem.path == "(file)"


@pytest.mark.parametrize("raw", ["\t\n", "   \n\t\n  \n"], ids=["tab", "mixed"])
def test_whitespace_only_file_with_tab_is_empty(raw: str) -> None:
    [problem] = problems_of(raw)
    assert "empty" in problem.message


def test_duplicate_yaml_key_is_refused() -> None:
    anchor = "    name: Cabinet Office\n"
    assert DEMO_TEXT.count(anchor) == 1
    text = DEMO_TEXT.replace(anchor, anchor + "    name: Cabinet Office (again)\n")
    [problem] = problems_of(text)
    assert "duplicate key 'name'" in problem.message
    first = line_of(text, "name: Cabinet Office")
    assert f"first at line {first}" in problem.message
    assert problem.path == f"departments[{CABINET}].name"
    assert problem.line == line_of(text, "Cabinet Office (again)")
    assert problem.column == 5


# --- version and top level ----------------------------------------------------------------------


def test_missing_version() -> None:
    [problem] = problems_of(mutated(lambda d: d.pop("version")))
    assert "missing 'version'" in problem.message
    assert problem.hint and "version: 1" in problem.hint
    assert problem.path == "(top level)"


@pytest.mark.parametrize(
    ("version", "fragment"),
    [
        (2, "newer"),
        ("one", "whole number"),
        (True, "whole number"),
        (1.5, "whole number"),
        (0, "unknown estate version"),
    ],
)
def test_bad_version(version: object, fragment: str) -> None:
    text = mutated(lambda d: d.__setitem__("version", version))
    [problem] = problems_of(text)
    assert fragment in problem.message
    assert problem.path == "version"
    assert_at_value(problem)
    assert problem.line == line_of(text, "version:")


def test_newer_version_hint_says_upgrade() -> None:
    [problem] = problems_of(mutated(lambda d: d.__setitem__("version", 2)))
    assert problem.hint == "upgrade govmatrix"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("- version: 1\n- estate: {}\n", id="list"),
        pytest.param("just some words\n", id="scalar"),
        pytest.param("42\n", id="number"),
    ],
)
def test_top_level_must_be_a_mapping(text: str) -> None:
    [problem] = problems_of(text)
    assert "top level must be a mapping" in problem.message
    assert problem.path == "(top level)"
    assert problem.line == 1


def test_several_documents_are_refused() -> None:
    [problem] = problems_of(DEMO_TEXT + "\n---\nversion: 1\n")
    assert "several YAML documents" in problem.message


# --- many problems at once --------------------------------------------------------------------


def test_all_problems_are_reported_sorted_by_line() -> None:
    def edit(data: dict[str, Any]) -> None:
        depts = data["departments"]
        depts[CABINET]["server_name"] = "bad_name.gov.test"
        depts[HOME]["servername"] = depts[HOME].pop("server_name")
        depts[TREASURY]["backup"] = {"full": "0 25 * * *"}

    text = mutated(edit)
    problems = problems_of(text)
    assert len(problems) >= 3, listing(problems)
    bad_name = find(problems, "not a valid Matrix server name", path="departments[0].server_name")
    typo = find(problems, "unknown key", path="departments[1].servername")
    cron = find(problems, "cron", path="departments[2].backup.full")
    for problem in (bad_name, typo, cron):
        assert_at_value(problem)
    assert bad_name.line < typo.line < cron.line  # type: ignore[operator]
    positions = [(p.line or 0, p.column or 0) for p in problems]
    assert positions == sorted(positions)
    # Each problem appears once.
    assert len({(p.line, p.column, p.path, p.message) for p in problems}) == len(problems)


@pytest.mark.parametrize("partial_override", [False, True], ids=["inherited", "deep-merged"])
def test_error_in_defaults_is_reported_once_at_the_defaults(partial_override: bool) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["estate"]["defaults"]["backup"]["full"] = "0 25 * * *"
        if partial_override:
            # This department's own backup section still inherits the bad 'full'.
            data["departments"][TREASURY]["backup"] = {"pitr": False}

    text = mutated(edit)
    problems = problems_of(text)
    cron_problems = [p for p in problems if "cron" in p.message]
    assert len(cron_problems) == 1, listing(problems)
    [problem] = cron_problems
    assert problem.path == "estate.defaults.backup.full"
    assert_at_value(problem)
    assert problem.line == line_of(text, "full: 0 25 * * *")
    assert not any(p.path.startswith("departments") for p in problems), listing(problems)


def test_yaml_syntax_error_has_line_and_column() -> None:
    anchor = "    name: Home Office\n"
    text = DEMO_TEXT.replace(anchor, "    name: Home: Office\n")
    [problem] = problems_of(text)
    assert "YAML syntax error" in problem.message
    assert problem.path == "(file)"
    assert problem.line == line_of(text, "name: Home: Office")
    assert problem.column is not None and problem.column > 1


def test_unclosed_flow_collection_has_line_and_column() -> None:
    text = DEMO_TEXT.replace("pki: {mode: internal-ca}", "pki: {mode: internal-ca")
    [problem] = problems_of(text)
    assert "YAML syntax error" in problem.message
    assert problem.line is not None and problem.column is not None


# --- regressions: inputs that once crashed or slipped through the loader ---------------------

_PARTNER_NAME = "    name: NATO NI2CE\n"


@pytest.mark.parametrize(
    "replacement",
    [
        pytest.param("    name: 2001-13-45\n", id="impossible-date"),
        pytest.param("    name: 2001-02-30\n", id="feb-30"),
        pytest.param("    name: !!int abc\n", id="tagged-int"),
        pytest.param("    name: !!float abc\n", id="tagged-float"),
        pytest.param("    name: !!bool abc\n", id="tagged-bool"),
        pytest.param("    name: !!timestamp abc\n", id="tagged-timestamp"),
        pytest.param("    name: 0x_\n", id="empty-hex"),
        pytest.param("    name: " + "1" * 5000 + "\n", id="huge-int"),
        pytest.param("    2001-13-45: x\n", id="impossible-date-key"),
        pytest.param("    !foo name: x\n", id="unknown-tag-on-key"),
    ],
)
def test_malformed_scalar_is_an_estate_error(replacement: str) -> None:
    text = DEMO_TEXT.replace(_PARTNER_NAME, replacement)
    assert text != DEMO_TEXT
    # Once fixed, the value may be refused (at its own line) or read as text; never a crash.
    try:
        parse_estate(text, SOURCE)
    except EstateError as error:
        line = line_of(text, replacement.strip())
        assert all(p.line == line for p in error.problems), listing(error.problems)


def test_self_merging_mapping_is_an_estate_error() -> None:
    text = DEMO_TEXT.replace('branding: {theme_colour: "#00703c"}', "branding: &b {<<: *b}")
    assert text != DEMO_TEXT
    # Once fixed, refusing the loop or reading it as an empty mapping are both fine.
    try:
        parse_estate(text, SOURCE)
    except EstateError as error:
        assert all(p.line is not None for p in error.problems), listing(error.problems)


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        pytest.param(
            lambda d: d["estate"].__setitem__("name", "demo-government\n"),
            "estate.name",
            id="slug",
        ),
        pytest.param(
            lambda d: d["departments"][HOME].__setitem__("server_name", "home-office.gov.test\n"),
            f"departments[{HOME}].server_name",
            id="server-name",
        ),
        pytest.param(
            lambda d: d["departments"][HOME]["branding"].__setitem__("theme_colour", "#8f23b3\n"),
            f"departments[{HOME}].branding.theme_colour",
            id="colour",
        ),
        pytest.param(
            lambda d: d["departments"][TREASURY]["archive"].__setitem__("retention", "20y\n"),
            f"departments[{TREASURY}].archive.retention",
            id="duration",
        ),
        pytest.param(
            lambda d: d["departments"][HOME].__setitem__(
                "backup", {"passphrase": "env:BACKUP_PASSPHRASE\n"}
            ),
            f"departments[{HOME}].backup.passphrase",
            id="secret-ref",
        ),
    ],
)
def test_trailing_newline_is_refused(edit: Callable[[dict[str, Any]], object], path: str) -> None:
    problems = problems_of(mutated(edit))
    assert any(p.path == path for p in problems), listing(problems)


@pytest.mark.parametrize(
    ("section", "value", "fragment", "expected_path"),
    [
        pytest.param(
            "hsm",
            {"enabled": True, "keys": {"tls": {"label": "tls", "type": "ed25519"}}},
            "cannot be of type 'ed25519'",
            "estate.defaults.hsm",
            id="hsm-key-type",
        ),
        pytest.param(
            "identity",
            {"provider": "external", "client_id": "govmatrix", "client_secret": "env:OIDC"},
            "missing required key 'issuer'",
            "estate.defaults.identity.issuer",
            id="identity-missing-issuer",
        ),
    ],
)
def test_section_error_in_defaults_is_reported_once(
    section: str, value: dict[str, Any], fragment: str, expected_path: str
) -> None:
    text = mutated(lambda d: d["estate"]["defaults"].__setitem__(section, value))
    problems = problems_of(text)
    matching = [p for p in problems if fragment in p.message]
    assert [p.path for p in matching] == [expected_path], listing(problems)
