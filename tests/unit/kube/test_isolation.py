"""The departments' NetworkPolicies, evaluated with govmatrix.kube.netpol over a model
cluster built from the objects themselves: every workload becomes pods with its labels and
named ports, beside the cluster's own pods (ingress controller, DNS, CNPG operator,
Prometheus) and a stranger namespace."""

from __future__ import annotations

import itertools

import pytest

from govmatrix.kube.meta import NAME_LABEL
from govmatrix.kube.netpol import Cluster, External, Namespace, Pod
from tests.conftest import pod_specs

pytestmark = pytest.mark.unit

Objects = dict[str, dict[str, list[dict]]]

INGRESS = Pod(
    "ingress-nginx",
    "controller",
    {"app.kubernetes.io/name": "ingress-nginx"},
    "10.244.0.2",
    {"https": 443, "federation": 8448},
)
DNS = Pod(
    "kube-system",
    "coredns",
    {"k8s-app": "kube-dns"},
    "10.244.0.3",
    {"dns": 53, "dns-tcp": 53},
    {"dns": "UDP"},
)
CNPG = Pod(
    "cnpg-system",
    "cnpg-operator",
    {"app.kubernetes.io/name": "cloudnative-pg"},
    "10.244.0.4",
    {"webhook": 9443},
)
PROMETHEUS = Pod(
    "monitoring",
    "prometheus",
    {"app.kubernetes.io/name": "prometheus"},
    "10.244.0.5",
    {"web": 9090},
)
STRANGER = Pod(
    "stranger", "web", {"app.kubernetes.io/name": "synapse"}, "10.244.0.6", {"http": 8008}
)
SYSTEM = (INGRESS, DNS, CNPG, PROMETHEUS, STRANGER)


def _template(item: dict) -> dict:
    if item["kind"] == "CronJob":
        return item["spec"]["jobTemplate"]["spec"]["template"]
    return item["spec"]["template"]


def _workload_pods(dept: str, items: list[dict], ips: itertools.count) -> list[Pod]:
    pods = []
    for item in items:
        for spec in pod_specs(item):
            template = _template(item)
            ports = {
                p["name"]: p["containerPort"]
                for c in spec["containers"]
                for p in c.get("ports", [])
            }
            pods.append(
                Pod(
                    dept,
                    item["metadata"]["name"],
                    template["metadata"]["labels"],
                    f"10.245.{next(ips) // 250}.{next(ips) % 250 + 1}",
                    ports,
                )
            )
        if item["kind"] == "Cluster":  # CloudNativePG makes the instance pods
            labels = {
                **item["spec"]["inheritedMetadata"]["labels"],
                "cnpg.io/cluster": item["metadata"]["name"],
            }
            for n in range(item["spec"]["instances"]):
                pods.append(
                    Pod(
                        dept,
                        f"db-{n + 1}",
                        labels,
                        f"10.245.{next(ips) // 250}.{next(ips) % 250 + 1}",
                        {"postgresql": 5432, "status": 8000},
                    )
                )
    return pods


def _cluster(departments: dict[str, list[dict]]) -> Cluster:
    namespaces = [
        Namespace(n)
        for n in ("ingress-nginx", "kube-system", "cnpg-system", "monitoring", "stranger")
    ]
    namespaces += [Namespace(d) for d in departments]
    ips = itertools.count()
    pods = list(SYSTEM)
    for dept, items in departments.items():
        pods += _workload_pods(dept, items, ips)
    policies = [i for items in departments.values() for i in items if i["kind"] == "NetworkPolicy"]
    return Cluster(namespaces, pods, policies)


@pytest.fixture(scope="module", params=["demo", "uk-example"])
def cluster(request: pytest.FixtureRequest, kube_objects: Objects) -> Cluster:
    return _cluster(kube_objects[request.param])


def _dept_pods(cluster: Cluster) -> list[Pod]:
    return [p for p in cluster.pods.values() if p not in SYSTEM]


def _ports(pod: Pod) -> list[tuple[int, str]]:
    return [(number, pod.protocols.get(name, "TCP")) for name, number in pod.ports.items()]


def test_no_pod_of_one_department_reaches_another(cluster: Cluster) -> None:
    pods = _dept_pods(cluster)
    assert len({p.namespace for p in pods}) >= 3
    for dest in pods:
        for port, protocol in _ports(dest):
            sources = cluster.who_can_reach(dest, port, protocol)
            strangers = {
                s.key
                for s in sources
                if s.namespace != dest.namespace and s not in (INGRESS, CNPG, PROMETHEUS)
            }
            assert not strangers, f"{dest.key}:{port} reachable from {sorted(strangers)}"
    for source in pods:
        for dest in (STRANGER, *[p for p in pods if p.namespace != source.namespace][:50]):
            for port, protocol in _ports(dest):
                assert not cluster.allows(source, dest, port, protocol), (
                    source.key,
                    dest.key,
                    port,
                )


def test_synapse_reaches_only_its_own_services_dns_and_the_ingress(cluster: Cluster) -> None:
    allowed_apps = {"postgresql", "archive", "redis", "synapse"}
    checked = 0
    for source in _dept_pods(cluster):
        if source.labels[NAME_LABEL] != "synapse":
            continue
        for dest in cluster.pods.values():
            for port, protocol in _ports(dest):
                if not cluster.allows(source, dest, port, protocol) or dest == source:
                    continue
                checked += 1
                if dest in (INGRESS, DNS):
                    continue
                assert dest.namespace == source.namespace, (source.key, dest.key)
                assert dest.labels.get(NAME_LABEL) in allowed_apps, (source.key, dest.key, port)
        assert cluster.allows(source, DNS, 53, "UDP")
        assert cluster.allows(source, INGRESS, 443)
        assert not cluster.allows(source, CNPG, 9443)
        assert not cluster.allows(source, PROMETHEUS, 9090)
        assert not cluster.allows(source, External("203.0.113.9"), 443)
    assert checked


def test_only_the_ingress_controller_reaches_client_and_federation_ports(cluster: Cluster) -> None:
    checked = 0
    for dest in _dept_pods(cluster):
        app = dest.labels[NAME_LABEL]
        if app not in ("synapse", "element") or "http" not in dest.ports:
            continue
        sources = cluster.who_can_reach(dest, dest.ports["http"])
        assert sources == frozenset({INGRESS}), (dest.key, sorted(s.key for s in sources))
        assert not cluster.allows(External("198.51.100.7"), dest, dest.ports["http"])
        checked += 1
    assert checked >= 6


def test_the_database_is_for_synapse_the_archive_and_the_leaver_sync(cluster: Cluster) -> None:
    for dest in _dept_pods(cluster):
        if dest.labels.get(NAME_LABEL) != "postgresql":
            continue
        apps = {
            s.labels.get(NAME_LABEL)
            for s in cluster.who_can_reach(dest, 5432)
            if s.namespace == dest.namespace
        }
        # The leaver sync records each leaver's reason in the archive's database.
        assert apps <= {"synapse", "archive", "postgresql", "identity-sync"}
        assert "element" not in apps and "redis" not in apps


def test_federation_blocks_of_partners_are_open_on_federation_ports(kube_objects: Objects) -> None:
    cluster = _cluster(kube_objects["uk-example"])
    cabinet = next(
        p for p in _dept_pods(cluster) if p.namespace == "cabinet-office" and p.name == "synapse"
    )
    moj = next(p for p in _dept_pods(cluster) if p.namespace == "moj" and p.name == "synapse")
    nato = External("198.51.100.20")  # NATO's address block in the estate
    assert cluster.allows(cabinet, nato, 8448)
    assert not cluster.allows(cabinet, nato, 22)
    assert not cluster.allows(moj, nato, 8448)  # moj does not federate with NATO
    assert cluster.allows(moj, External("10.30.0.9"), 8448)  # home-office's racks, a peer
    dhsc = next(p for p in _dept_pods(cluster) if p.namespace == "dhsc" and p.name == "synapse")
    assert cluster.allows(dhsc, External("10.20.0.9"), 8448)  # hm-treasury, a peer
    assert not cluster.allows(dhsc, External("10.30.0.9"), 8448)  # home-office, not a peer
