"""The pure parts of backups and HSM planning: schedules, configs, comparisons, plans."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from govmatrix.backup import facts, host_config
from govmatrix.backup.isolated_synapse import isolated
from govmatrix.backup.schedule import ScheduleError, on_calendar
from govmatrix.demo.backups import backup_layout
from govmatrix.demo.layout import Layout
from govmatrix.estate.schema import Department, Estate, HsmKey
from govmatrix.hsm.plan import HsmPlan, HsmPlanError, plan
from govmatrix.onprem.backup import bundle_part
from govmatrix.render import render, required_secrets, target_for

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 2 * * 0", "Sun *-*-* 02:00:00"),
        ("0 2 * * 1-6", "Mon..Sat *-*-* 02:00:00"),
        ("*/15 * * * *", "*-*-* *:0/15:00"),
        ("30 3 1 * *", "*-*-01 03:30:00"),
        ("0 2 * * sun,wed", "Sun,Wed *-*-* 02:00:00"),
        ("5 4 * 1,7 *", "*-01,07-* 04:05:00"),
    ],
)
def test_cron_becomes_a_calendar_systemd_accepts(cron: str, expected: str) -> None:
    assert on_calendar(cron) == expected
    check = subprocess.run(
        ["systemd-analyze", "calendar", f"{expected} UTC"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("cron", ["0 2 * *", "@daily * * * *", "0 2 L * *"])
def test_cron_that_systemd_cannot_follow_is_refused(cron: str) -> None:
    with pytest.raises(ScheduleError):
        on_calendar(cron)


def test_pgbackrest_config_has_no_secret_and_archives_through_the_memory_include(
    demo_estate: Estate,
) -> None:
    dept = demo_estate.department("home-office")
    layout = backup_layout(Layout(Path("/var/lib/govmatrix-demo")), demo_estate, dept)
    conf = layout.pgbackrest_conf()
    assert "cipher-pass" not in conf.replace("repo1-cipher-type", "")
    assert "repo1-cipher-type=aes-256-cbc" in conf
    assert f"repo1-retention-full={dept.backup.retention.full}" in conf
    assert (
        "[home-office]" in conf and "pg1-path=/var/lib/govmatrix-demo/home-office/postgres" in conf
    )
    assert str(layout.memory_dir).startswith("/dev/shm/")
    assert f"--config-include-path={layout.memory_dir}" in layout.archive_command()
    assert layout.archive_command().endswith("archive-push %p")


def test_onprem_bundle_carries_backups_and_their_timers(uk_estate: Estate, tmp_path: Path) -> None:
    dept = next(d for d in uk_estate.departments if d.target == "onprem")
    part = bundle_part(dept, target_for("onprem", uk_estate, dept))
    assert part is not None
    assert [t["kind"] for t in part["timers"]] == ["full", "diff"]
    assert part["memory_dir"] == f"/run/govmatrix/{dept.id}.backup"
    assert part["archive_timeout"] <= 30
    # backup.json round-trips into the same layout on the host.
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(part["config"]))
    layout, hsm = host_config.load(path)
    assert layout.stanza == dept.id and layout.department == dept
    # The host writes the controller's rendering (the wheel carries no templates).
    assert layout.pgbackrest_conf() == part["pgbackrest_conf"]
    assert layout.rendered_conf is not None
    assert (hsm is not None) == dept.hsm.enabled
    if hsm is not None:
        assert HsmPlan.from_dict(hsm.to_dict()) == hsm


def test_onprem_drill_reads_the_live_department_as_its_services_do(
    uk_estate: Estate, tmp_path: Path
) -> None:
    dept = next(d for d in uk_estate.departments if d.target == "onprem")
    target = target_for("onprem", uk_estate, dept)
    part = bundle_part(dept, target)
    assert part is not None
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(part["config"]))
    live = host_config.load_live(path)
    assert live is not None
    # The same roles, addresses and pgpass files as the rendered service configs.
    files = render(uk_estate, dept, target)
    synapse_db = yaml.safe_load(files["synapse/homeserver.yaml"].text)["database"]["args"]
    archive_db = yaml.safe_load(files["archive/archive.yaml"].text)["database"]
    for name, rendered in (("synapse", synapse_db), ("archive", archive_db)):
        want = {k: rendered[k] for k in ("host", "port", "user", "passfile")}
        assert live["databases"][name] == want, name
    assert live["homeserver_yaml"] == f"{target.config_dir}/synapse/homeserver.yaml"
    assert live["key_url"].startswith(f"http://{target.synapse_address}:{target.synapse_port}/")
    assert live["memory_dir"] == f"/run/govmatrix/{dept.id}.drill"
    assert live["synapse_user"] == "matrix-synapse"
    # A backup.json written before the drill's settings existed says so.
    path.write_text(json.dumps({**part["config"], "live": None}))
    assert host_config.load_live(path) is None


def test_a_restored_debian_cluster_gets_scratch_config_files(tmp_path: Path) -> None:
    from govmatrix.backup import scratch

    ids = (os.getuid(), os.getgid())
    scratch._config_files(tmp_path, ids)
    hba = (tmp_path / "pg_hba.conf").read_text()
    assert "local   all   postgres                 trust" in hba
    assert "host    all   all        127.0.0.1/32  scram-sha-256" in hba
    assert (tmp_path / "pg_hba.conf").stat().st_mode & 0o777 == 0o600
    # A cluster that keeps its own (the demo's) is left as it is.
    (tmp_path / "pg_hba.conf").write_text("own\n")
    scratch._config_files(tmp_path, ids)
    assert (tmp_path / "pg_hba.conf").read_text() == "own\n"


def test_with_the_hsm_no_target_generates_a_plain_signing_key(demo_estate: Estate) -> None:
    dept = demo_estate.department("cabinet-office")
    demo = target_for("demo", demo_estate, dept)
    kube = target_for("kubernetes", demo_estate, dept)
    assert "signing_key" not in {s.name for s in required_secrets(dept, demo)}
    assert "archive_checkpoint_key" not in {s.name for s in required_secrets(dept, demo)}
    assert "signing_key" in {s.name for s in required_secrets(dept, kube)}
    homeserver = yaml.safe_load(render(demo_estate, dept, demo)["synapse/homeserver.yaml"].text)
    assert homeserver["signing_key_path"].startswith("/dev/shm/")


def _with_keys(estate: Estate, dept_id: str, **hsm: object) -> Department:
    base = estate.department(dept_id)
    return base.model_copy(update={"hsm": base.hsm.model_copy(update={"enabled": True, **hsm})})


def test_default_tokens_keep_tls_and_archive_keys_apart(demo_estate: Estate) -> None:
    dept = demo_estate.department("cabinet-office")
    hsm = plan(dept, target_for("demo", demo_estate, dept))
    assert hsm is not None
    assert hsm.key("tls").token == "cabinet-office-tls"
    assert hsm.key("archive_checkpoint").token == "cabinet-office-archive"
    assert hsm.key("backup_kek").token == hsm.key("signing_wrap").token == "cabinet-office"


def test_token_labels_longer_than_pkcs11_allows_are_refused(demo_estate: Estate) -> None:
    dept = _with_keys(demo_estate, "cabinet-office", token="x" * 30)
    with pytest.raises(HsmPlanError, match="longer than 32 bytes"):
        plan(dept, target_for("demo", demo_estate, dept))


def test_no_target_without_an_hsm_gets_a_plan(demo_estate: Estate) -> None:
    dept = demo_estate.department("cabinet-office")
    assert plan(dept, target_for("kubernetes", demo_estate, dept)) is None
    off = _with_keys(demo_estate, "cabinet-office")
    off = off.model_copy(update={"hsm": off.hsm.model_copy(update={"enabled": False})})
    assert plan(off, target_for("demo", demo_estate, off)) is None
    assert HsmKey(label="k", type="aes-256").token is None


def test_drill_synapse_is_isolated(demo_estate: Estate, tmp_path: Path) -> None:
    dept = demo_estate.department("cabinet-office")
    live = yaml.safe_load(
        render(demo_estate, dept, target_for("demo", demo_estate, dept))[
            "synapse/homeserver.yaml"
        ].text
    )
    live["instance_map"] = {"main": {"host": "x", "port": 1}}
    config = isolated(
        live,
        workdir=tmp_path,
        port=18008,
        database={"host": "127.0.0.1", "port": 15432},
        media_store=tmp_path / "media",
        signing_key=tmp_path / "signing.key",
    )
    (listener,) = config["listeners"]
    assert listener["bind_addresses"] == ["127.0.0.1"]
    assert listener["resources"] == [{"names": ["client", "keys"], "compress": False}]
    assert config["federation_domain_whitelist"] == []
    assert config["app_service_config_files"] == []
    assert config["federation_sender_instances"] == []
    assert config["pusher_instances"] == []
    assert config["trusted_key_servers"] == []
    assert "instance_map" not in config
    assert config["database"]["args"]["port"] == 15432
    assert config["database"]["args"]["user"] == "synapse"


def test_facts_comparison_names_every_difference() -> None:
    source = facts.Facts(upto=10, events=3)
    source.rooms = {"!a": {"events": 2, "latest": "$2"}, "!b": {"events": 1, "latest": "$3"}}
    source.archive_head = (3, "ab")
    source.media_ids = ["m1", "m2"]
    same = facts.Facts(upto=10, events=3, rooms=dict(source.rooms), archive_head=(3, "ab"))
    same.media_ids = ["m1", "m2", "m3"]
    assert facts.compare(source, same) == []
    broken = facts.Facts(upto=10, events=2, rooms={"!a": {"events": 2, "latest": "$9"}})
    broken.archive_head = (2, "cd")
    broken.media_ids = ["m1"]
    problems = facts.compare(source, broken)
    assert any(p.startswith("events: source has 3") for p in problems)
    assert any("room !a" in p and "latest $9" in p for p in problems)
    assert any("room !b: missing" in p for p in problems)
    assert any("archive chain head" in p for p in problems)
    assert any("m2" in p for p in problems)
