"""The leaver sync's decisions, without a directory or a homeserver: who is a leaver, and
when the guard stops a run."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from govmatrix import secretref
from govmatrix.estate import load_estate
from govmatrix.identity import config
from govmatrix.identity.directory import DirectoryRead, DirectoryUser, _subject_text
from govmatrix.identity.sync import (
    DISABLED,
    LEFT,
    LinkedUser,
    SyncError,
    SyncPlan,
    SyncReport,
    apply,
    plan,
)
from govmatrix.render import render, required_secrets, target_for

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[3]


def person(subject: str, disabled: bool = False) -> DirectoryUser:
    return DirectoryUser(subject, subject, subject.title(), f"{subject}@x.test", disabled)


def directory(*people: DirectoryUser) -> DirectoryRead:
    return DirectoryRead(tuple(people), ())


def linked(*subjects: str) -> list[LinkedUser]:
    return [LinkedUser(f"@{s}:x.test", s) for s in subjects]


def test_people_removed_or_disabled_are_leavers_with_their_reason() -> None:
    people = [person(f"p{i}") for i in range(20)] + [person("carol", disabled=True)]
    result = plan(directory(*people), linked("p1", "p2", "carol", "dave"), 0.5, "ou=people")
    assert {(lv.user_id, lv.reason) for lv in result.leavers} == {
        ("@carol:x.test", DISABLED),
        ("@dave:x.test", LEFT),
    }
    assert result.refusal is None
    assert (result.directory_people, result.directory_active, result.linked) == (21, 20, 4)


def test_users_the_provider_never_linked_are_not_touched() -> None:
    # Accounts without a subject from the provider (the operator, bots, the archive) are not
    # in `linked` at all, so no directory state can make them leavers.
    result = plan(directory(person("alice")), linked("alice"), 0.1, "ou=people")
    assert result.leavers == ()


def test_an_empty_directory_is_refused_and_force_cannot_override_it() -> None:
    result = plan(directory(), linked("alice", "bob"), 1.0, "ou=people,dc=x (ldap://d)")
    assert result.refusal is not None and "no people under ou=people,dc=x" in result.refusal
    assert result.overridable is False
    assert len(result.leavers) == 2  # what would have happened, for the report


def test_more_than_the_share_is_refused_but_overridable() -> None:
    people = [person(f"p{i}") for i in range(10)]
    result = plan(directory(*people), linked(*(f"p{i}" for i in range(8)), "x", "y"), 0.1, "b")
    assert result.refusal is not None and "2 of 10 linked users" in result.refusal
    assert result.overridable is True


def test_exactly_the_share_passes() -> None:
    people = [person(f"p{i}") for i in range(9)]
    result = plan(directory(*people), linked(*(f"p{i}" for i in range(9)), "gone"), 0.1, "b")
    assert [lv.user_id for lv in result.leavers] == ["@gone:x.test"]
    assert result.refusal is None


def test_active_directory_object_guid_becomes_its_text_form() -> None:
    guid = uuid.UUID("a1b2c3d4-e5f6-4711-8899-aabbccddeeff")
    assert _subject_text("objectGUID", guid.bytes_le) == str(guid)
    assert _subject_text("entryUUID", b"0d9d8f8e-1c4d-103f-9c2e-0b1d2f3a4b5c") == (
        "0d9d8f8e-1c4d-103f-9c2e-0b1d2f3a4b5c"
    )


def test_the_report_is_private_to_its_group(tmp_path: Path) -> None:
    report = SyncReport("d", "2026-11-23T10:00:00Z", dry_run=True, forced=False)
    path = report.write(tmp_path / "reports")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert json.loads(path.read_text())["dry_run"] is True


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GM_TEST_SECRET", "from-env")
    assert secretref.read("env:GM_TEST_SECRET", "x") == "from-env"
    (tmp_path / "s").write_text("from-file\n")
    assert secretref.read(f"file:{tmp_path}/s", "x") == "from-file"
    (tmp_path / "g").write_text("generated\n")
    assert secretref.read("generate", "x", tmp_path / "g") == "generated"
    with pytest.raises(secretref.SecretRefError, match="GM_TEST_UNSET is not set"):
        secretref.read("env:GM_TEST_UNSET", "x")
    with pytest.raises(secretref.SecretRefError, match="resolved by the deploy tool"):
        secretref.read("vault:secret/x", "identity.directory.bind_password")
    with pytest.raises(secretref.SecretRefError, match="cannot read"):
        secretref.read(f"file:{tmp_path}/missing", "x")


def test_the_demo_renders_a_sync_config_the_sync_accepts() -> None:
    estate = load_estate(ROOT / "inventories/demo/estate.yml")
    dept = estate.departments[0]
    target = target_for("demo", estate, dept, root="/srv/demo")
    text = render(estate, dept, target)["identity/sync.yaml"].text
    cfg = config.SyncConfig.model_validate(yaml.safe_load(text))
    # The demo runs the directory itself, on the department's own loopback address.
    assert cfg.directory.url == f"ldap://{target.public_address}:389"
    assert cfg.directory.bind_password == "generate"
    assert cfg.directory.bind_password_generated == f"{target.secrets_dir}/ldap_bind_password"
    assert "ldap_bind_password" in {s.name for s in required_secrets(dept, target)}
    assert cfg.max_deactivation_share == dept.identity.max_deactivation_share
    # Password login is off under SSO: the sync acts as the operator service, which the
    # demo's seeding made an admin.
    assert cfg.operator.service_token_file == f"{target.secrets_dir}/operator_as_token"
    assert cfg.operator.password_file is None
    assert "operator_as_token" in {s.name for s in required_secrets(dept, target)}


def test_the_operator_service_bootstrap_takes_both_files_or_neither() -> None:
    assert config.OperatorLogin(service_token_file="/t").shared_secret_file is None
    both = config.OperatorLogin(
        service_token_file="/t", password_file="/p", shared_secret_file="/s"
    )
    assert both.shared_secret_file == "/s"
    for wrong in ({"service_token_file": "/t", "password_file": "/p"}, {"password_file": "/p"}):
        with pytest.raises(ValueError):
            config.OperatorLogin(**wrong)


def test_hosts_get_a_sync_config_that_creates_the_operator_once() -> None:
    estate = load_estate(ROOT / "inventories/demo/estate.yml")
    dept = estate.departments[0]
    target = target_for("onprem", estate, dept)
    cfg = config.SyncConfig.model_validate(
        yaml.safe_load(render(estate, dept, target)["identity/sync.yaml"].text)
    )
    # The estate's directory URL (the default is loopback: slapd on the host).
    assert cfg.directory.url == dept.identity.directory.url
    assert cfg.operator.service_token_file == f"{target.secrets_dir}/operator_as_token"
    assert cfg.operator.shared_secret_file == f"{target.secrets_dir}/registration_shared_secret"
    assert cfg.operator.password_file == f"{target.secrets_dir}/.operator_password"
    assert "ldap_bind_password" in {s.name for s in required_secrets(dept, target)}


def test_clusters_get_no_sync_config_yet() -> None:
    estate = load_estate(ROOT / "inventories/demo/estate.yml")
    dept = estate.departments[0]
    target = target_for("kubernetes", estate, dept)
    assert "identity/sync.yaml" not in render(estate, dept, target)
    assert "ldap_bind_password" not in {s.name for s in required_secrets(dept, target)}


def test_a_broken_sync_config_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "sync.yaml"
    bad.write_text("department: d\n")
    with pytest.raises(config.SyncConfigError, match=str(bad)):
        config.load(bad)


def test_reports_of_runs_in_the_same_second_are_all_kept(tmp_path: Path) -> None:
    paths = {
        SyncReport("d", "2026-11-23T10:00:00Z", dry_run=n == 0, forced=False).write(tmp_path)
        for n in range(3)
    }
    assert len(paths) == 3
    assert sorted(json.loads(p.read_text())["dry_run"] for p in paths) == [False, False, True]


def _homeserver(fail_for: str | None) -> httpx.Client:
    """A stand-in for Synapse's deactivate endpoint (httpx's mock transport): the real one
    is exercised in tests/e2e/test_identity_sync.py."""

    def answer(request: httpx.Request) -> httpx.Response:
        if fail_for and request.url.path.endswith(fail_for):
            return httpx.Response(500, json={"errcode": "M_UNKNOWN"})
        return httpx.Response(200, json={"id_server_unbind_result": "success"})

    return httpx.Client(base_url="http://hs", transport=httpx.MockTransport(answer))


def _two_leavers() -> SyncPlan:
    return plan(directory(person("a")), linked("a", "b", "c"), 1.0, "base")


def test_a_failure_part_way_keeps_who_was_already_deactivated() -> None:
    report = SyncReport("d", "t", dry_run=False, forced=False)
    recorded: list[str] = []
    with pytest.raises(SyncError, match=r"deactivating @c:x\.test: 500"):
        apply(_two_leavers(), report, _homeserver("@c:x.test"), lambda u, r, b: recorded.append(u))
    assert report.deactivated == ["@b:x.test"]
    assert recorded == ["@b:x.test", "@c:x.test"]  # the reason goes first


def test_nobody_is_deactivated_without_the_reason_recorded() -> None:
    def archive_down(user: str, reason: str, by: str) -> None:
        raise psycopg.OperationalError("connection refused")

    report = SyncReport("d", "t", dry_run=False, forced=True)
    with pytest.raises(SyncError, match="stopped before deactivating them"):
        apply(_two_leavers(), report, _homeserver(None), archive_down)
    assert report.deactivated == []
