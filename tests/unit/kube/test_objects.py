"""govmatrix.kube: the objects of every department of both example estates."""

from __future__ import annotations

import re

import pytest

from govmatrix.estate import Estate
from govmatrix.kube import Options, department_objects
from govmatrix.kube.config import CONFIG_HASH, key_of
from govmatrix.kube.demo import EXPIRES_LABEL, Demo
from govmatrix.kube.images import mirrored
from govmatrix.kube.secrets import kube_secrets
from govmatrix.pki import partner_ca_texts
from govmatrix.render import render, target_for
from govmatrix.render.secrets import PLACEHOLDER_RE
from tests.conftest import EXAMPLES, govmatrix_cli, pod_specs

pytestmark = pytest.mark.unit

Objects = dict[str, dict[str, list[dict]]]


def _all(kube_objects: Objects) -> list[tuple[str, str, dict]]:
    return [
        (estate, dept, item)
        for estate, departments in kube_objects.items()
        for dept, items in departments.items()
        for item in items
    ]


def _one(items: list[dict], kind: str, name: str) -> dict:
    found = [i for i in items if i["kind"] == kind and i["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def test_every_object_lives_in_its_departments_namespace(kube_objects: Objects) -> None:
    for _estate, dept, item in _all(kube_objects):
        if item["kind"] == "Namespace":
            assert item["metadata"]["name"] == dept
        else:
            assert item["metadata"]["namespace"] == dept, item["metadata"]
        assert item["metadata"]["labels"]["govmatrix.io/department"] == dept


def test_namespaces_are_distinct_and_restricted(kube_objects: Objects) -> None:
    for departments in kube_objects.values():
        names = [
            i["metadata"]["name"]
            for items in departments.values()
            for i in items
            if i["kind"] == "Namespace"
        ]
        assert len(names) == len(set(names)) == len(departments)
        for items in departments.values():
            labels = _one(items, "Namespace", items[0]["metadata"]["name"])["metadata"]["labels"]
            for mode in ("enforce", "audit", "warn"):
                assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_config_map_is_the_kubernetes_render_byte_for_byte(
    example_estates: dict[str, Estate], kube_objects: Objects
) -> None:
    for name, estate in example_estates.items():
        for dept in estate.departments:
            files = render(estate, dept, target_for("kubernetes", estate, dept))
            data = _one(kube_objects[name][dept.id], "ConfigMap", "govmatrix-config")["data"]
            assert data == {key_of(path): item.text for path, item in files.items()}


def test_config_map_matches_the_cli(kube_objects: Objects) -> None:
    """What `govmatrix render --target kubernetes --file` prints is what the ConfigMap holds."""
    data = _one(kube_objects["uk-example"]["dwp"], "ConfigMap", "govmatrix-config")["data"]
    for path in ("synapse/homeserver.yaml", "synapse/workers/fedsender1.yaml", "archive/pgpass"):
        printed = govmatrix_cli(
            "render",
            str(EXAMPLES["uk-example"]),
            "-t",
            "kubernetes",
            "-d",
            "dwp",
            "-f",
            path,
            check=True,
        ).stdout
        assert data[key_of(path)] == printed


def test_no_secret_values_only_references(kube_objects: Objects) -> None:
    """Rendered YAML never holds a secret: no Secret objects, ExternalSecrets name store keys,
    and the secret-bearing files in ConfigMaps hold placeholders."""
    for _estate, dept, item in _all(kube_objects):
        assert item["kind"] != "Secret"
        if item["kind"] == "ExternalSecret":
            for entry in item["spec"]["data"]:
                assert re.fullmatch(r"govmatrix/[a-z0-9-]+/[a-z0-9_.]+", entry["remoteRef"]["key"])
        if item["kind"] == "ConfigMap" and item["metadata"]["name"] == "govmatrix-config":
            for key in ("synapse__pgpass", "archive__pgpass", "synapse__appservices__archive.yaml"):
                if key in item["data"]:
                    assert PLACEHOLDER_RE.search(item["data"][key]), (dept, key)
            text = "\n".join(item["data"].values())
            assert "PRIVATE KEY" not in text


def test_every_secret_the_pods_mount_is_made(
    kube_objects: Objects, example_estates: dict[str, Estate]
) -> None:
    for name, estate in example_estates.items():
        for dept in estate.departments:
            items = kube_objects[name][dept.id]
            made = {i["spec"]["target"]["name"] for i in items if i["kind"] == "ExternalSecret"}
            assert made == {s.name for s in kube_secrets(dept)}
            keys = {
                e["secretKey"]
                for i in items
                if i["kind"] == "ExternalSecret" and i["metadata"]["name"] == "govmatrix-secrets"
                for e in i["spec"]["data"]
            }
            for item in items:
                for spec in pod_specs(item):
                    for volume in spec["volumes"]:
                        secret = volume.get("secret")
                        if not secret:
                            continue
                        if secret["secretName"] in ("tls", "demo-users"):
                            continue
                        assert secret["secretName"] in made, (dept.id, item["metadata"]["name"])
                        if secret["secretName"] == "govmatrix-secrets":
                            for entry in secret.get("items", []):
                                assert entry["key"] in keys, (dept.id, entry)


def _containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def test_every_pod_is_hardened_and_bounded(kube_objects: Objects) -> None:
    pods = 0
    for _estate, dept, item in _all(kube_objects):
        for spec in pod_specs(item):
            pods += 1
            where = f"{dept}/{item['kind']}/{item['metadata']['name']}"
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert spec["automountServiceAccountToken"] is False, where
            for c in _containers(spec):
                sc = c["securityContext"]
                assert sc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False
                assert sc["capabilities"] == {"drop": ["ALL"]}, where
                assert sc["readOnlyRootFilesystem"] is True, where
                assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
                for bound in ("requests", "limits"):
                    assert set(c["resources"][bound]) == {"cpu", "memory"}, where
    assert pods > 100


def test_topology_follows_the_sizing_profile(kube_objects: Objects) -> None:
    uk = kube_objects["uk-example"]

    def workers(dept: str) -> list[str]:
        return sorted(
            i["metadata"]["name"]
            for i in uk[dept]
            if i["kind"] == "Deployment" and i["metadata"]["name"].startswith("synapse-")
        )

    assert workers("dft") == []  # small: a monolith
    assert workers("moj") == ["synapse-fedsender1", "synapse-generic1", "synapse-generic2"]
    assert len(workers("dwp")) == 6  # large: four generic, two senders
    assert not [i for i in uk["dft"] if i["metadata"]["name"] == "redis"]
    assert _one(uk["moj"], "Deployment", "redis")
    assert _one(uk["dwp"], "Cluster", "db")["spec"]["instances"] == 3
    assert _one(uk["dft"], "Cluster", "db")["spec"]["instances"] == 1
    main = _one(uk["dwp"], "StatefulSet", "synapse")["spec"]["template"]["spec"]["containers"][0]
    assert main["resources"]["limits"]["memory"] == "4Gi"
    for name in ("synapse", "synapse-workers"):
        assert _one(uk["dwp"], "PodDisruptionBudget", name)


def test_managed_database_has_no_cluster_and_a_block_egress(kube_objects: Objects) -> None:
    dcms = kube_objects["uk-example"]["dcms"]
    assert not [i for i in dcms if i["kind"] in ("Cluster", "Database")]
    homeserver = _one(dcms, "ConfigMap", "govmatrix-config")["data"]["synapse__homeserver.yaml"]
    assert 'host: "dcms-matrix.postgres.gov.uk.test"' in homeserver
    egress = _one(dcms, "NetworkPolicy", "synapse")["spec"]["egress"]
    assert {
        "to": [{"ipBlock": {"cidr": "10.200.4.0/28"}}],
        "ports": [{"port": 5432, "protocol": "TCP"}],
    } in egress


def test_service_monitor_only_where_asked(kube_objects: Objects) -> None:
    monitors = [(e, d) for e, d, i in _all(kube_objects) if i["kind"] == "ServiceMonitor"]
    assert monitors == [("uk-example", "dwp")]


def test_certificates_come_from_the_estate_ca(kube_objects: Objects) -> None:
    demo = kube_objects["demo"]["home-office"]
    assert _one(demo, "Issuer", "estate-ca")["spec"] == {"ca": {"secretName": "estate-ca"}}
    cert = _one(demo, "Certificate", "tls")["spec"]
    assert cert["dnsNames"] == ["home-office.gov.test"]
    assert cert["issuerRef"]["kind"] == "Issuer"
    uk = _one(kube_objects["uk-example"]["moj"], "Certificate", "tls")["spec"]
    assert uk["issuerRef"] == {
        "name": "govmatrix-estate-ca",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert not [i for i in kube_objects["uk-example"]["moj"] if i["kind"] == "Issuer"]


def test_partner_ca_bundles_reach_synapse(kube_objects: Objects, uk_estate: Estate) -> None:
    cabinet = kube_objects["uk-example"]["cabinet-office"]
    nato = (EXAMPLES["uk-example"].parent / "partners" / "nato-ca.pem").read_text()
    assert _one(cabinet, "ConfigMap", "partner-cas")["data"] == {"nato.pem": nato}
    assert not [
        i for i in kube_objects["uk-example"]["moj"] if i["metadata"]["name"] == "partner-cas"
    ]
    with pytest.raises(ValueError, match="no CA bundle text given for partners: nato"):
        department_objects(uk_estate, uk_estate.department("cabinet-office"))


def test_ingress_never_routes_the_admin_api(kube_objects: Objects) -> None:
    for _estate, _dept, item in _all(kube_objects):
        if item["kind"] != "Ingress":
            continue
        for rule in item["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert not path["path"].startswith("/_synapse/admin")
                assert path["path"] != "/_synapse"


def test_federation_on_443_through_the_ingress(kube_objects: Objects) -> None:
    data = _one(kube_objects["demo"]["cabinet-office"], "ConfigMap", "govmatrix-config")["data"]
    assert data["wellknown__server"].strip() == '{"m.server": "cabinet-office.gov.test:443"}'
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for i in kube_objects["uk-example"]["moj"]
        if i["kind"] == "Ingress"
        for r in i["spec"]["rules"]
        for p in r["http"]["paths"]
    }
    assert paths["/_matrix/federation"] == "synapse-workers"
    assert paths["/_matrix/federation/v1/media"] == "synapse"
    assert paths["/.well-known/matrix"] == "element"


def test_image_mirror(kube_objects: Objects) -> None:
    assert mirrored("ghcr.io/element-hq/synapse:v1.163.2", "registry.example/mirror/") == (
        "registry.example/mirror/element-hq/synapse:v1.163.2"
    )
    for estate, _dept, item in _all(kube_objects):
        for spec in pod_specs(item):
            for c in _containers(spec):
                if estate == "uk-example":
                    assert c["image"].startswith("registry.gov.uk.test/govmatrix/"), c["image"]
                else:
                    assert c["image"].split("/")[0] in ("ghcr.io", "docker.io"), c["image"]


def test_config_hash_rolls_pods_when_config_changes(uk_estate: Estate) -> None:
    options = Options(partner_cas=partner_ca_texts(EXAMPLES["uk-example"], uk_estate))
    dept = uk_estate.department("dft")
    before = _one(department_objects(uk_estate, dept, options), "StatefulSet", "synapse")
    changed = dept.model_copy(
        update={"synapse": dept.synapse.model_copy(update={"max_upload_size": "50M"})}
    )
    after = _one(department_objects(uk_estate, changed, options), "StatefulSet", "synapse")
    hashes = [
        o["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH] for o in (before, after)
    ]
    assert hashes[0] != hashes[1]
    again = _one(department_objects(uk_estate, dept, options), "StatefulSet", "synapse")
    assert again == before  # pure and deterministic


def test_demo_stack_adds_expiry_and_seed_job(demo_estate: Estate) -> None:
    options = Options(
        partner_cas=partner_ca_texts(EXAMPLES["demo"], demo_estate), demo=Demo(expires="2026-12-31")
    )
    items = department_objects(demo_estate, demo_estate.department("home-office"), options)
    assert (
        _one(items, "Namespace", "home-office")["metadata"]["labels"][EXPIRES_LABEL] == "2026-12-31"
    )
    job = _one(items, "Job", "seed-users")
    assert "seed-users" in job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert _one(items, "NetworkPolicy", "seed")


def test_provided_secrets_mode_emits_no_external_secrets(demo_estate: Estate) -> None:
    options = Options(
        secrets="provided", partner_cas=partner_ca_texts(EXAMPLES["demo"], demo_estate)
    )
    items = department_objects(demo_estate, demo_estate.department("hm-treasury"), options)
    assert not [i for i in items if i["kind"] == "ExternalSecret"]
