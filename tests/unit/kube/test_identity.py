"""Identity on a cluster: the bundled provider's portal, the leaver sync's CronJob, their
network paths, and the estate rules that make them possible."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from govmatrix.estate import Estate, EstateError
from govmatrix.estate.loader import parse_estate
from govmatrix.identity.portal import PACKAGES
from govmatrix.kube.assemble import trust_bundle
from govmatrix.kube.identity import cron_schedule
from govmatrix.render import render, target_for
from tests.conftest import pod_specs

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
Objects = dict[str, dict[str, list[dict]]]


def _find(items: list[dict], kind: str, name: str) -> dict:
    (found,) = [i for i in items if i["kind"] == kind and i["metadata"]["name"] == name]
    return found


def test_a_bundled_department_gets_its_portal_behind_the_ingress(
    kube_objects: Objects, uk_estate: Estate
) -> None:
    moj = kube_objects["uk-example"]["moj"]
    portal_host = "auth.moj.gov.uk.test"
    deployment = _find(moj, "Deployment", "identity")
    assert deployment["spec"]["replicas"] == 1  # sessions live in the pod
    (spec,) = pod_specs(deployment)
    containers = {c["name"]: c for c in spec["containers"]}
    assert set(containers) == {"portal", "nginx"}
    portal = containers["portal"]
    assert portal["command"][0] == "/usr/sbin/llng-fastcgi-server"
    assert "127.0.0.1:8095" in portal["command"]  # the pod's loopback only
    env = {e["name"]: e["value"] for e in portal["env"]}
    assert env["LLNG_DEFAULTCONFFILE"] == "/config/identity/lemonldap-ng.ini"
    assert containers["nginx"]["command"][:3] == [
        "nginx",
        "-c",
        "/config/identity/portal-nginx.conf",
    ]
    assert [i["name"] for i in spec["initContainers"]] == ["assemble-config", "state-dirs"]

    ingress = _find(moj, "Ingress", "identity")
    assert [r["host"] for r in ingress["spec"]["rules"]] == [portal_host]
    assert ingress["spec"]["tls"] == [{"hosts": [portal_host], "secretName": "tls"}]
    certificate = _find(moj, "Certificate", "tls")
    assert certificate["spec"]["dnsNames"] == ["moj.gov.uk.test", portal_host]

    rendered = render(
        uk_estate,
        uk_estate.department("moj"),
        target_for("kubernetes", uk_estate, uk_estate.department("moj")),
    )
    homeserver = yaml.safe_load(rendered["synapse/homeserver.yaml"].text)
    assert homeserver["password_config"]["enabled"] is False
    (provider,) = homeserver["oidc_providers"]
    assert provider["issuer"] == f"https://{portal_host}"
    nginx_conf = rendered["identity/portal-nginx.conf"].text
    assert "listen 8080;" in nginx_conf and "fastcgi_pass 127.0.0.1:8095;" in nginx_conf
    assert "deny all;" in nginx_conf  # the portal's admin APIs stay closed


def test_the_leaver_sync_runs_on_the_estates_interval_with_its_secrets(
    kube_objects: Objects,
) -> None:
    moj = kube_objects["uk-example"]["moj"]
    cron = _find(moj, "CronJob", "identity-sync")
    assert cron["spec"]["schedule"] == "*/15 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (spec,) = pod_specs(cron)
    (container,) = spec["containers"]
    assert container["command"] == [
        "govmatrix",
        "identity",
        "sync",
        "--config",
        "/config/identity/sync.yaml",
    ]
    secret_files = next(v for v in spec["volumes"] if v["name"] == "secret-files")
    paths = {i["path"] for i in secret_files["secret"]["items"]}
    # What the rendered sync.yaml names under /secrets.
    assert paths == {
        "operator_as_token",
        "registration_shared_secret",
        ".operator_password",
        "ldap_bind_password",
    }
    config_map = _find(moj, "ConfigMap", "govmatrix-config")
    sync = yaml.safe_load(config_map["data"]["identity__sync.yaml"])
    assert sync["directory"]["bind_password"] == "file:/secrets/ldap_bind_password"
    assert sync["operator"]["service_token_file"] == "/secrets/operator_as_token"
    assert _find(moj, "PersistentVolumeClaim", "identity-reports")


def test_portal_and_sync_reach_only_the_directory_blocks(kube_objects: Objects) -> None:
    moj = kube_objects["uk-example"]["moj"]
    directory = {
        "to": [{"ipBlock": {"cidr": "192.0.2.0/28"}}],
        "ports": [{"port": 636, "protocol": "TCP"}],
    }
    portal = _find(moj, "NetworkPolicy", "identity")["spec"]
    assert portal["egress"] == [directory]
    assert portal["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    sync = _find(moj, "NetworkPolicy", "identity-sync")["spec"]
    assert sync["ingress"] == [] and directory in sync["egress"]


def test_no_network_rule_has_an_empty_peer_list(kube_objects: Objects) -> None:
    """An empty `to` or `from` means everywhere: a rule must name its peers."""
    for departments in kube_objects.values():
        for items in departments.values():
            for item in items:
                if item["kind"] != "NetworkPolicy":
                    continue
                for rule in item["spec"].get("egress", []):
                    assert rule.get("to"), item["metadata"]
                for rule in item["spec"].get("ingress", []):
                    assert rule.get("from"), item["metadata"]


def test_without_a_directory_the_cluster_keeps_password_login(kube_objects: Objects) -> None:
    """The demo estate on a cluster (Pulumi's demo stack) names no directory the cluster can
    reach: no portal, no sync, password login on."""
    for items in kube_objects["demo"].values():
        names = {(i["kind"], i["metadata"]["name"]) for i in items}
        assert ("Deployment", "identity") not in names
        assert ("CronJob", "identity-sync") not in names
        config_map = _find(items, "ConfigMap", "govmatrix-config")
        homeserver = yaml.safe_load(config_map["data"]["synapse__homeserver.yaml"])
        assert homeserver.get("password_config", {}).get("enabled", True) is True
        assert "oidc_providers" not in homeserver


ESTATE = """
version: 1
estate: {{name: test-estate}}
departments:
  - id: aa
    name: A
    server_name: a.test
    target: kubernetes
    backup: {{enabled: false}}
    identity: {identity}
"""


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        ("{provider: bundled}", "a loopback address: on Kubernetes govmatrix runs no directory"),
        (
            "{provider: bundled, directory: {url: 'ldaps://dir.test'}}",
            "identity.directory.address_blocks is empty",
        ),
        (
            "{provider: external, issuer: 'https://login.test', client_id: c, "
            "client_secret: 'env:X'}",
            "identity.issuer_address_blocks is empty",
        ),
    ],
)
def test_the_estate_refuses_identity_a_cluster_cannot_reach(identity: str, message: str) -> None:
    with pytest.raises(EstateError) as info:
        parse_estate(ESTATE.format(identity=identity), "estate.yml")
    assert any(message in p.message for p in info.value.problems), info.value.problems


def test_a_department_silent_on_identity_is_valid_on_a_cluster() -> None:
    text = ESTATE.replace("    identity: {identity}\n", "").format()
    assert parse_estate(text, "estate.yml").departments[0].identity.provider == "bundled"


@pytest.mark.parametrize(
    ("interval", "schedule"),
    [
        ("1m", "* * * * *"),
        ("15m", "*/15 * * * *"),
        ("1h", "0 */1 * * *"),
        ("6h", "0 */6 * * *"),
        ("24h", "0 0 * * *"),
    ],
)
def test_sync_interval_as_a_cron_schedule(interval: str, schedule: str) -> None:
    assert cron_schedule(interval) == schedule


@pytest.mark.parametrize("interval", ["7m", "90m", "5h", "2d"])
def test_intervals_a_cron_schedule_cannot_keep_are_named(interval: str) -> None:
    with pytest.raises(ValueError, match=f"sync_interval {interval}"):
        cron_schedule(interval)


def test_the_identity_image_installs_what_hosts_install() -> None:
    """container/Containerfile.identity and the on-prem role install the same packages
    (govmatrix.identity.portal.PACKAGES), plus nginx for the pod."""
    text = (ROOT / "container/Containerfile.identity").read_text()
    block = text[text.index("--no-install-recommends") : text.index("&& rm -rf")]
    installed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", block)) - {"no-install-recommends"}
    assert installed == {*PACKAGES, "nginx-light"}


def test_synapse_trusts_the_portals_estate_ca_next_to_the_public_cas(
    kube_objects: Objects, tmp_path: Path
) -> None:
    moj = kube_objects["uk-example"]["moj"]
    (spec,) = pod_specs(_find(moj, "StatefulSet", "synapse"))
    (synapse,) = spec["containers"]
    assert {"name": "SSL_CERT_FILE", "value": "/config/ca-bundle.pem"} in synapse["env"]
    (init,) = spec["initContainers"]
    assert init["command"][-2:] == ["--trust-ca", "/ca/ca.crt"]
    assert {"name": "estate-ca", "mountPath": "/ca", "readOnly": True} in init["volumeMounts"]

    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIBestate\n-----END CERTIFICATE-----\n")
    bundle = trust_bundle(ca, tmp_path).read_text()
    assert bundle.endswith(ca.read_text())
    assert bundle.count("-----BEGIN CERTIFICATE-----") > 100  # the public CAs stay trusted
    ca.write_text("not a certificate")
    with pytest.raises(FileNotFoundError, match="no certificate"):
        trust_bundle(ca, tmp_path)


def test_identity_asked_for_in_the_estate_defaults_counts_too() -> None:
    text = ESTATE.replace("    identity: {identity}\n", "").format()
    text = text.replace(
        "estate: {name: test-estate}",
        "estate:\n  name: test-estate\n  defaults:\n    identity: {provider: bundled}",
    )
    with pytest.raises(EstateError, match="a loopback address"):
        parse_estate(text, "estate.yml")
