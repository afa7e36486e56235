"""The Pulumi program under mocks, for both example estates: per-department resource types
and counts, distinct namespaces, secrets as Pulumi secrets, outputs, and the estate path
from stack config."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

from govmatrix.estate import Estate
from govmatrix.kube import Options, department_objects
from govmatrix.kube.demo import Demo
from govmatrix.kube.secrets import Generated, generated_values, kube_secrets
from govmatrix.pki import partner_ca_texts
from tests.conftest import EXAMPLES
from tests.unit.pulumi.mocks import Run, is_secret, issued_values, run_program

pytestmark = pytest.mark.unit

K8S_TYPES = {
    "Namespace": "kubernetes:core/v1:Namespace",
    "Secret": "kubernetes:core/v1:Secret",
}


def _type_token(item: dict) -> str:
    group_version = (
        item["apiVersion"] if "/" in item["apiVersion"] else f"core/{item['apiVersion']}"
    )
    return f"kubernetes:{group_version}:{item['kind']}"


def _expected(estate: Estate, dept_id: str, demo: Demo | None) -> collections.Counter[str]:
    dept = estate.department(dept_id)
    options = Options(
        secrets="provided",
        partner_cas=partner_ca_texts(EXAMPLES["demo" if demo else "uk-example"], estate),
        demo=demo,
    )
    counts = collections.Counter(_type_token(i) for i in department_objects(estate, dept, options))
    counts["kubernetes:core/v1:Secret"] += len(kube_secrets(dept)) + (1 if demo else 0)
    # Values issued elsewhere come from the stack's config: no resource.
    kinds = collections.Counter(v.kind for v in generated_values(dept) if isinstance(v, Generated))
    counts["random:index/randomBytes:RandomBytes"] += kinds["signing_key"] + kinds["ed25519_pem"]
    counts["tls:index/privateKey:PrivateKey"] += kinds["rsa_pem"]
    counts["random:index/randomPassword:RandomPassword"] += (
        sum(kinds.values())
        - kinds["signing_key"]
        - kinds["ed25519_pem"]
        - kinds["rsa_pem"]
        + (len(demo.users) if demo else 0)
    )
    return +counts  # drop the kinds a department has none of


def _per_department(run: Run) -> dict[str, collections.Counter[str]]:
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for r in run.mocks.resources:
        if r.typ == "govmatrix:estate:Department":
            continue
        dept = r.inputs.get("metadata", {}).get("namespace") or r.inputs.get("metadata", {}).get(
            "name"
        )
        if r.typ.startswith(("random:", "tls:")):
            dept = next(d for d in run.outputs if r.name.startswith(f"{d}-"))
        out[dept][r.typ] += 1
    return out


def test_one_component_per_department(demo_run: Run, uk_run: Run, uk_estate: Estate) -> None:
    assert sorted(r.name for r in demo_run.mocks.of_type("govmatrix:estate:Department")) == [
        "cabinet-office",
        "hm-treasury",
        "home-office",
    ]
    kube_departments = sorted(d.id for d in uk_estate.departments if d.target == "kubernetes")
    assert (
        sorted(r.name for r in uk_run.mocks.of_type("govmatrix:estate:Department"))
        == kube_departments
    )
    assert len(kube_departments) == 13


def test_resource_types_and_counts_per_department(
    demo_run: Run, uk_run: Run, demo_estate: Estate, uk_estate: Estate
) -> None:
    demo = Demo(expires="2026-12-31", users=("alice", "bob"))
    for dept, counts in _per_department(demo_run).items():
        assert counts == _expected(demo_estate, dept, demo), dept
    for dept, counts in _per_department(uk_run).items():
        assert counts == _expected(uk_estate, dept, None), dept


def test_namespaces_are_distinct(uk_run: Run) -> None:
    names = [
        r.inputs["metadata"]["name"] for r in uk_run.mocks.of_type("kubernetes:core/v1:Namespace")
    ]
    assert len(names) == len(set(names)) == 13


def test_secrets_are_pulumi_secrets(demo_run: Run, uk_run: Run) -> None:
    for run in (demo_run, uk_run):
        secrets = run.mocks.of_type("kubernetes:core/v1:Secret")
        assert secrets
        for secret in secrets:
            assert is_secret(secret.inputs["stringData"]), secret.name
        for config_map in run.mocks.of_type("kubernetes:core/v1:ConfigMap"):
            assert not any(is_secret(v) for v in config_map.inputs["data"].values())
            assert "pw0" not in str(config_map.inputs["data"])  # no generated value leaked


def test_signing_key_is_derived_from_random_bytes(demo_run: Run) -> None:
    secret = next(
        s
        for s in demo_run.mocks.of_type("kubernetes:core/v1:Secret")
        if s.name == "home-office-secret-govmatrix-secrets"
    )
    values = secret.inputs["stringData"]["value"]
    assert values["signing_key"].startswith("ed25519 a_k8s ")
    assert values["archive_checkpoint_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert values["database_password"] != values["archive_database_password"]


def test_database_secrets_share_the_generated_password(demo_run: Run) -> None:
    by_name = {
        s.name: s.inputs["stringData"]["value"]
        for s in demo_run.mocks.of_type("kubernetes:core/v1:Secret")
    }
    assert (
        by_name["cabinet-office-secret-db-synapse"]["password"]
        == by_name["cabinet-office-secret-govmatrix-secrets"]["database_password"]
    )
    assert by_name["cabinet-office-secret-db-synapse"]["username"] == "synapse"


def test_outputs_per_department(demo_run: Run, uk_run: Run) -> None:
    assert set(demo_run.outputs) == {"cabinet-office", "home-office", "hm-treasury"}
    home = demo_run.outputs["home-office"]
    assert home["url"] == "https://home-office.gov.test"
    assert home["namespace"] == "home-office"
    assert "govmatrix-secrets" in home["secret_names"]
    assert set(home["demo_users"]) == {"alice", "bob"}
    assert "demo_users" not in uk_run.outputs["moj"]


def test_demo_stack_labels_expiry_and_seeds(demo_run: Run) -> None:
    for ns in demo_run.mocks.of_type("kubernetes:core/v1:Namespace"):
        assert ns.inputs["metadata"]["labels"]["govmatrix.io/expires"] == "2026-12-31"
    assert (
        len(
            [
                j
                for j in demo_run.mocks.of_type("kubernetes:batch/v1:Job")
                if j.inputs["metadata"]["name"] == "seed-users"
            ]
        )
        == 3
    )


def test_estate_path_and_selection_come_from_config(pki_dir: Path) -> None:
    private = run_program(
        {
            "estate": str(EXAMPLES["uk-example"]),
            "departments": ["moj", "dhsc"],
            "imageRegistry": "registry.private.test/gm",
            "issued": issued_values(EXAMPLES["uk-example"]),
        }
    )
    assert sorted(private.outputs) == ["dhsc", "moj"]
    images = {
        c["image"]
        for d in private.mocks.of_type("kubernetes:apps/v1:Deployment")
        for c in d.inputs["spec"]["template"]["spec"]["containers"]
    }
    assert images and all(i.startswith("registry.private.test/gm/") for i in images)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "set the estate file"),
        ({"estate": "/nonexistent/estate.yml"}, "estate.yml"),
        ({"estate": str(EXAMPLES["demo"])}, "no departments to deploy"),
        ({"estate": str(EXAMPLES["demo"]), "departments": ["nope"]}, "no department 'nope'"),
        ({"estate": str(EXAMPLES["demo"]), "departments": "all"}, "needs the estate CA"),
        (
            {"estate": str(EXAMPLES["demo"]), "departments": "all", "pkiDir": "/nonexistent"},
            "has no ca.crt",
        ),
        ({"estate": str(EXAMPLES["demo"]), "demo": "yes"}, "govmatrix:demo must be"),
    ],
)
def test_bad_stack_config_is_named(config: dict, message: str) -> None:
    from govmatrix_pulumi.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        run_program(config)


def test_runs_after_another_test_closed_its_event_loop() -> None:
    """asyncio.run() elsewhere in the session leaves the thread without a loop (seen in CI)."""
    import asyncio

    asyncio.run(asyncio.sleep(0))
    run = run_program(
        {
            "estate": str(EXAMPLES["uk-example"]),
            "departments": ["dft"],
            "issued": issued_values(EXAMPLES["uk-example"]),
        }
    )
    assert list(run.outputs) == ["dft"]


def test_a_value_issued_elsewhere_comes_from_the_stacks_secret_config() -> None:
    """The directory's bind password of a Kubernetes department: from `govmatrix:issued` as
    a Pulumi secret, else from the estate's reference; missing both names the command."""
    issued = issued_values(EXAMPLES["uk-example"])
    assert issued["dft"] == {"ldap_bind_password": "issued-dft-ldap_bind_password"}
    run = run_program(
        {"estate": str(EXAMPLES["uk-example"]), "departments": ["dft"], "issued": issued}
    )
    (secret,) = [
        r
        for r in run.mocks.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == "govmatrix-secrets"
    ]
    assert is_secret(secret.inputs["stringData"])
    assert "issued-dft-ldap_bind_password" in json.dumps(secret.inputs["stringData"])
    with pytest.raises(Exception, match=re.escape("govmatrix:issued.dft.ldap_bind_password")):
        run_program({"estate": str(EXAMPLES["uk-example"]), "departments": ["dft"]})
