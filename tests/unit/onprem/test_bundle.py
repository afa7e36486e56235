"""What the lookup hands the roles: the renderer's onprem files, unchanged, with owners."""

from pathlib import Path

import pytest

from govmatrix.estate import EstateError, load_estate
from govmatrix.onprem.bundle import ARCHIVE_USER, SYNAPSE_USER, BundleError, bundle
from govmatrix.onprem.identity import IDENTITY_USER
from govmatrix.render import render, target_for

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[3]
UK = ROOT / "inventories" / "uk-example" / "estate.yml"
MOLECULE = ROOT / "molecule" / "federation" / "estate.yml"


def test_files_are_the_renderers_byte_for_byte() -> None:
    estate = load_estate(MOLECULE)
    dept = estate.department("ministry-a")
    rendered = render(estate, dept, target_for("onprem", estate, dept))
    got = bundle(MOLECULE, "ministry-a")
    assert {f["path"]: f["content"] for f in got["files"]} == {
        path: item.text for path, item in rendered.items()
    }
    for f in got["files"]:
        assert f["dest"] == f"/etc/govmatrix/ministry-a/{f['path']}"


def test_secret_files_belong_to_their_service_and_are_0600() -> None:
    got = bundle(MOLECULE, "ministry-a")
    for f in got["files"]:
        has_placeholder = "@@secret:" in f["content"]
        assert f["secret"] == has_placeholder, f["path"]
        if f["secret"]:
            assert f["mode"] == "0600"
            owner = {"archive": ARCHIVE_USER, "identity": IDENTITY_USER}.get(
                f["component"], SYNAPSE_USER
            )
            assert f["owner"] == owner
        else:
            assert (f["mode"], f["owner"]) == ("0644", "root")
    owners = {s["name"]: s["owner"] for s in got["secrets"]}
    assert owners["signing_key"] == SYNAPSE_USER
    assert owners["archive_checkpoint_key"] == ARCHIVE_USER
    assert owners["database_password"] == "root"  # only filled into pgpass
    assert owners["archive_database_password"] == "root"
    # Synapse reads the client secret; the leaver sync (root) the directory's password.
    assert owners["oidc_client_secret"] == SYNAPSE_USER
    assert owners["ldap_bind_password"] == "root"
    assert owners["oidc_signing_key"] == "root"  # only filled into the provider's config


def test_peers_address_blocks_are_whitelisted() -> None:
    got = bundle(MOLECULE, "ministry-a")
    homeserver = next(f for f in got["files"] if f["path"] == "synapse/homeserver.yaml")
    assert 'ip_range_whitelist: ["172.30.77.0/24"]' in homeserver["content"]
    outsider = bundle(MOLECULE, "ministry-c")
    homeserver = next(f for f in outsider["files"] if f["path"] == "synapse/homeserver.yaml")
    assert "ip_range_whitelist" not in homeserver["content"]


def test_split_database_host_reaches_the_render() -> None:
    got = bundle(UK, "nio", database_host="10.70.0.20")
    homeserver = next(f for f in got["files"] if f["path"] == "synapse/homeserver.yaml")
    assert 'host: "10.70.0.20"' in homeserver["content"]


PARTNER_ESTATE = """
version: 1
estate: {name: partner-test}
partners:
  - {id: nato, server_name: ni2ce.nato.test, ca_bundle: "file:partners/nato.pem"}
departments:
  - {id: dept-a, name: A, server_name: a.test, target: onprem, federation: {allow: [nato]}}
"""


def test_partner_cas_resolve_next_to_the_estate(tmp_path: Path) -> None:
    estate = tmp_path / "estate.yml"
    estate.write_text(PARTNER_ESTATE)
    with pytest.raises(BundleError, match="does not exist"):
        bundle(estate, "dept-a")
    (tmp_path / "partners").mkdir()
    (tmp_path / "partners" / "nato.pem").write_text("stand-in\n")
    assert bundle(estate, "dept-a")["ca_files"] == [
        {
            "dest": "/etc/govmatrix/pki/partners/nato.pem",
            "content": "stand-in\n",
            "owner": "root",
            "mode": "0644",
        }
    ]


def test_a_department_elsewhere_is_refused_clearly() -> None:
    with pytest.raises(BundleError, match="has target 'kubernetes'"):
        bundle(UK, "dsit")


def test_workers_of_the_profile_with_their_ports() -> None:
    assert bundle(MOLECULE, "ministry-a")["workers"] == []
    large = bundle(UK, "cabinet-office")["workers"]
    assert [w["name"] for w in large] == [
        "generic1",
        "generic2",
        "generic3",
        "generic4",
        "fedsender1",
        "fedsender2",
    ]
    assert [w["port"] for w in large] == [8101, 8102, 8103, 8104, None, None]
    files = {f["path"] for f in bundle(UK, "cabinet-office")["files"]}
    assert {f"synapse/workers/{w['name']}.yaml" for w in large} <= files


def test_ca_files_carry_the_estate_ca_when_the_pki_exists(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="run 'govmatrix pki init' first"):
        bundle(MOLECULE, "ministry-a", pki_dir=tmp_path)
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nstand-in\n")
    files = bundle(MOLECULE, "ministry-a", pki_dir=tmp_path)["ca_files"]
    assert files == [
        {
            "dest": "/etc/govmatrix/pki/ca.crt",
            "content": "-----BEGIN CERTIFICATE-----\nstand-in\n",
            "owner": "root",
            "mode": "0644",
        }
    ]


def test_a_bundled_department_gets_its_portal_directory_and_sync() -> None:
    got = bundle(MOLECULE, "ministry-a")
    identity = got["identity"]
    provider = identity["provider"]
    # The same FastCGI server as the demo's, on loopback, with the department's own ini.
    assert provider["command"][0] == "/usr/sbin/llng-fastcgi-server"
    assert "127.0.0.1:8095" in provider["command"]
    assert provider["environment"]["LLNG_DEFAULTCONFFILE"] == (
        "/etc/govmatrix/ministry-a/identity/lemonldap-ng.ini"
    )
    # The estate's directory URL is on loopback: the role runs slapd for it.
    assert identity["directory"]["url"].startswith("ldap://127.0.0.1")
    assert identity["sync"]["interval_seconds"] == 900
    assert {f["component"] for f in got["files"]} >= {"identity"}


def test_a_directory_elsewhere_is_not_installed_and_its_password_is_copied() -> None:
    got = bundle(UK, "nio")
    assert got["identity"]["directory"] is None  # the department's own (ldaps://) directory
    [bind] = [s for s in got["secrets"] if s["name"] == "ldap_bind_password"]
    assert bind["source"] == "/etc/govmatrix/ldap-bind.password"


ENV_SECRET_ESTATE = """
version: 1
estate: {name: env-secret}
departments:
  - id: dept-a
    name: A
    server_name: a.test
    target: onprem
    identity:
      directory: {url: "ldaps://ad.a.test", bind_password: "env:BIND"}
"""


def test_hosts_refuse_identity_secrets_from_the_controllers_environment(tmp_path: Path) -> None:
    estate = tmp_path / "estate.yml"
    estate.write_text(ENV_SECRET_ESTATE)
    with pytest.raises(EstateError) as caught:
        load_estate(estate)
    assert "identity secrets are read from files on the host" in str(caught.value.problems)
