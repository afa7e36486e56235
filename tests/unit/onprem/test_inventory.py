"""The estate inventory: groups and variables, placement rules, and errors as the CLI prints
them, through the real `ansible-inventory` as well as directly."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from govmatrix.estate import EstateError
from govmatrix.onprem.inventory import load
from govmatrix.onprem.placement import PlacementError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[3]
UK_HOSTS = ROOT / "inventories" / "uk-example" / "hosts.govmatrix.yml"
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


def config(hosts, estate="estate.yml"):
    return {"plugin": "govmatrix_estate", "estate": estate, "hosts": hosts}


def uk(hosts):
    return load(config(hosts), str(UK_HOSTS))


def test_uk_example_groups_and_split_database() -> None:
    import yaml

    inventory = load(yaml.safe_load(UK_HOSTS.read_text()), str(UK_HOSTS))
    assert inventory.groups["department_nio"] == ["msg1.nio.gov.uk.test", "db1.nio.gov.uk.test"]
    assert inventory.groups["govmatrix_postgresql"] == [
        "msg1.ago.gov.uk.test",
        "db1.nio.gov.uk.test",
    ]
    nio = inventory.group_vars["department_nio"]
    assert nio["govmatrix_database_address"] == "10.70.0.20"
    assert nio["govmatrix_database_clients"] == ["10.70.0.10/32"]
    assert nio["govmatrix_app_host"] == "msg1.nio.gov.uk.test"
    ago = inventory.group_vars["department_ago"]
    assert ago["govmatrix_database_address"] == "127.0.0.1"
    assert ago["govmatrix_settings"]["synapse"]["version"] == "1.163.2"
    assert ago["govmatrix_peers"] == ["cabinet-office", "hm-treasury", "home-office", "moj"]
    assert inventory.host_vars["db1.nio.gov.uk.test"]["govmatrix_components"] == [
        "common",
        "postgresql",
    ]
    common = inventory.group_vars["govmatrix"]
    assert Path(common["govmatrix_estate_file"]).is_absolute()
    assert common["govmatrix_pki_dir"].endswith("inventories/uk-example/.pki")


@pytest.mark.parametrize(
    "hosts,message",
    [
        ({"h": {"department": "nope"}}, "'nope' is not a department of the estate"),
        ({"h": {"department": "cabinet-office-x"}}, "is not a department"),
        ({"h": {"department": "dsit"}}, "has target 'kubernetes'"),
        ({"h": {"department": "ago", "components": ["synapse", "dns"]}}, "unknown 'dns'"),
        ({"h": {"department": "ago", "components": ["postgresql"]}}, "no host runs 'synapse'"),
        (
            {
                "h1": {"department": "ago", "components": ["postgresql", "synapse"]},
                "h2": {
                    "department": "ago",
                    "components": ["element_web", "reverse_proxy", "archive"],
                },
            },
            "must share one host",
        ),
        (
            {"h1": {"department": "ago"}, "h2": {"department": "ago"}},
            "'synapse' is placed on h1, h2",
        ),
        ({"h": {"department": "ago", "colour": "red"}}, "unknown keys colour"),
    ],
)
def test_placement_errors_name_the_host_and_the_fix(hosts, message) -> None:
    with pytest.raises(PlacementError) as err:
        uk(hosts)
    assert message in str(err.value)
    assert str(UK_HOSTS) in str(err.value)


def test_invalid_estate_reports_the_clis_problems(tmp_path: Path) -> None:
    (tmp_path / "estate.yml").write_text(
        "version: 1\nestate: {name: x}\ndepartments:\n"
        "  - {id: a, name: A, server_name: a.test, target: onprem, synpase: {}}\n"
    )
    with pytest.raises(EstateError) as err:
        load(config({"h": {"department": "a"}}), str(tmp_path / "hosts.govmatrix.yml"))
    assert "did you mean 'synapse'" in str(err.value)


def plain(value):
    # ansible-inventory marks inventory strings untrusted: {"__ansible_unsafe": "..."}.
    return value["__ansible_unsafe"] if isinstance(value, dict) else value


def run_inventory(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(path), "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": f"{ANSIBLE_INVENTORY.parent}:/usr/bin:/bin", "HOME": str(home)},
    )


def test_ansible_inventory_reads_the_estate(tmp_path: Path) -> None:
    result = run_inventory(UK_HOSTS, tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["department_ago"]["hosts"] == ["msg1.ago.gov.uk.test"]
    ago = data["_meta"]["hostvars"]["msg1.ago.gov.uk.test"]
    assert plain(ago["govmatrix_department"]) == "ago"
    assert plain(ago["govmatrix_server_name"]) == "ago.gov.uk.test"


def test_ansible_inventory_shows_estate_errors_like_the_cli(tmp_path: Path) -> None:
    (tmp_path / "estate.yml").write_text(
        "version: 1\nestate: {name: x}\ndepartments:\n"
        "  - {id: a, name: A, server_name: a.test, target: onprem, synpase: {}}\n"
    )
    hosts = tmp_path / "hosts.govmatrix.yml"
    hosts.write_text("plugin: govmatrix_estate\nestate: estate.yml\nhosts: {h: {department: a}}\n")
    result = run_inventory(hosts, tmp_path)
    assert "estate.yml:4" in result.stderr, result.stderr
    assert "did you mean 'synapse'" in result.stderr, result.stderr


def test_a_database_apart_needs_ip_addresses() -> None:
    with pytest.raises(PlacementError) as err:
        uk(
            {
                "app": {
                    "department": "ago",
                    "components": ["synapse", "element_web", "reverse_proxy", "archive"],
                },
                "db": {"department": "ago", "components": ["postgresql"]},
            }
        )
    assert "the database host db runs apart, so it needs an IP address" in str(err.value)
    assert "app reaches a separate database host" in str(err.value)
    inventory = uk(
        {
            "app": {
                "department": "ago",
                "components": ["synapse", "element_web", "reverse_proxy", "archive"],
                "address": "10.0.0.1",
            },
            "db": {"department": "ago", "components": ["postgresql"], "address": "10.0.0.2"},
        }
    )
    ago = inventory.group_vars["department_ago"]
    assert ago["govmatrix_database_address"] == "10.0.0.2"
    assert ago["govmatrix_database_clients"] == ["10.0.0.1/32"]
    with pytest.raises(PlacementError, match=r"'db\.example' is not an IP address"):
        uk({"h": {"department": "ago", "address": "db.example"}})
