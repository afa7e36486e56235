"""NetworkPolicy semantics, checked against the examples of the upstream documentation.

The policies are written out from
https://kubernetes.io/docs/concepts/services-networking/network-policies/ with a comment naming
the section each comes from; every example is checked for what it denies as well as for what
it allows, so an evaluator that allowed everything (or nothing) fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from govmatrix.kube.netpol import Cluster, Endpoint, External, Namespace, Pod

pytestmark = pytest.mark.unit

Policy = dict[str, Any]


def netpol(name: str, spec: Any, namespace: str = "default") -> Policy:
    """A NetworkPolicy around ``spec``, for the policies these tests make up themselves."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


INTERNET = External("203.0.113.7")


# --- "The NetworkPolicy resource": the example policy --------------------------------------

# Section "The NetworkPolicy resource", service/networking/networkpolicy.yaml.
TEST_NETWORK_POLICY: Policy = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "test-network-policy", "namespace": "default"},
    "spec": {
        "podSelector": {"matchLabels": {"role": "db"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                    {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                    {"podSelector": {"matchLabels": {"role": "frontend"}}},
                ],
                "ports": [{"protocol": "TCP", "port": 6379}],
            }
        ],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                "ports": [{"protocol": "TCP", "port": 5978}],
            }
        ],
    },
}

DB = Pod("default", "db", {"role": "db"}, "10.244.0.10")
FRONTEND = Pod("default", "frontend", {"role": "frontend"}, "10.244.0.11")
BACKEND = Pod("default", "backend", {"role": "backend"}, "10.244.0.12")
FOREIGN_FRONTEND = Pod("other", "frontend", {"role": "frontend"}, "10.244.1.11")
IN_MYPROJECT = Pod("myproject-ns", "anything", {"app": "anything"}, "10.244.2.10")
# A pod whose IP falls in the ipBlock: matched, the conservative reading (see the module doc).
IN_BLOCK = Pod("other", "in-block", {}, "172.17.3.4")


def example_cluster() -> Cluster:
    return Cluster(
        [
            Namespace("default"),
            Namespace("other"),
            Namespace("myproject-ns", {"project": "myproject"}),
        ],
        [DB, FRONTEND, BACKEND, FOREIGN_FRONTEND, IN_MYPROJECT, IN_BLOCK],
        [TEST_NETWORK_POLICY],
    )


@pytest.mark.parametrize(
    "source",
    [
        FRONTEND,  # role=frontend in the policy's own namespace
        IN_MYPROJECT,  # any pod in a namespace labelled project=myproject
        External("172.17.0.5"),  # 172.17.0.0-172.17.0.255
        External("172.17.2.0"),  # 172.17.2.0-172.17.255.255
        External("172.17.255.255"),
        IN_BLOCK,
    ],
    ids=["frontend", "myproject-ns", "172.17.0.5", "172.17.2.0", "172.17.255.255", "pod-in-block"],
)
def test_example_allows_its_three_sources_on_tcp_6379(source: Endpoint) -> None:
    assert example_cluster().allows(source, DB, 6379, "TCP")


@pytest.mark.parametrize(
    "source",
    [
        External("172.17.1.5"),  # in the except block
        External("172.17.1.0"),
        External("172.17.1.255"),
        External("172.18.0.1"),  # outside the cidr
        FOREIGN_FRONTEND,  # role=frontend, but a podSelector alone means the policy's namespace
        BACKEND,  # same namespace, wrong role
    ],
    ids=["172.17.1.5", "172.17.1.0", "172.17.1.255", "172.18.0.1", "frontend-other-ns", "backend"],
)
def test_example_denies_everyone_else(source: Endpoint) -> None:
    assert not example_cluster().allows(source, DB, 6379)


@pytest.mark.parametrize(("port", "protocol"), [(6380, "TCP"), (6378, "TCP"), (6379, "UDP")])
def test_example_denies_other_ports_and_protocols(port: int, protocol: str) -> None:
    assert not example_cluster().allows(FRONTEND, DB, port, protocol)


def test_example_egress_only_to_10_0_0_0_24_on_tcp_5978() -> None:
    cluster = example_cluster()
    assert cluster.allows(DB, External("10.0.0.7"), 5978)
    assert cluster.allows(DB, External("10.0.0.255"), 5978)
    assert not cluster.allows(DB, External("10.0.1.1"), 5978)
    assert not cluster.allows(DB, External("10.0.0.7"), 5979)
    assert not cluster.allows(DB, External("10.0.0.7"), 5978, "UDP")
    # db is isolated for egress, so even frontend, which may reach db, is out of its reach.
    assert not cluster.allows(DB, FRONTEND, 6379)
    assert not cluster.allows(DB, FRONTEND, 5978)


def test_example_isolates_only_role_db() -> None:
    cluster = example_cluster()
    assert cluster.is_isolated(DB, "Ingress") and cluster.is_isolated(DB, "Egress")
    assert not cluster.is_isolated(FRONTEND, "Ingress")
    assert not cluster.is_isolated(FRONTEND, "Egress")
    assert cluster.allows(FRONTEND, BACKEND, 22)
    assert cluster.allows(BACKEND, INTERNET, 443)
    assert cluster.allows(INTERNET, BACKEND, 80)


def test_example_who_can_reach_db() -> None:
    assert example_cluster().who_can_reach(DB, 6379) == {FRONTEND, IN_MYPROJECT, IN_BLOCK}
    assert example_cluster().who_can_reach(DB, 6380) == frozenset()


# --- "Behavior of to and from selectors": AND versus OR ------------------------------------

# Section "Behavior of `to` and `from` selectors": one `from` element with both selectors ...
AND_FROM = [
    {
        "namespaceSelector": {"matchLabels": {"user": "alice"}},
        "podSelector": {"matchLabels": {"role": "client"}},
    }
]
# ... and "the following policy is different": the same selectors as two elements.
OR_FROM = [
    {"namespaceSelector": {"matchLabels": {"user": "alice"}}},
    {"podSelector": {"matchLabels": {"role": "client"}}},
]

SERVER = Pod("default", "server", {"app": "server"}, "10.244.0.20")
ALICE_CLIENT = Pod("alice", "client", {"role": "client"}, "10.244.3.1")
ALICE_OTHER = Pod("alice", "other", {"role": "other"}, "10.244.3.2")
LOCAL_CLIENT = Pod("default", "client", {"role": "client"}, "10.244.0.21")
BOB_CLIENT = Pod("bob", "client", {"role": "client"}, "10.244.4.1")


def selectors_cluster(peers: list[dict[str, Any]]) -> Cluster:
    # The doc elides the rest of the policy ("..."); it selects the server pods here.
    spec = {"podSelector": {"matchLabels": {"app": "server"}}, "ingress": [{"from": peers}]}
    return Cluster(
        [
            Namespace("default"),
            Namespace("alice", {"user": "alice"}),
            Namespace("bob", {"user": "bob"}),
        ],
        [SERVER, ALICE_CLIENT, ALICE_OTHER, LOCAL_CLIENT, BOB_CLIENT],
        [netpol("server", spec)],
    )


@pytest.mark.parametrize(
    ("source", "with_and", "with_or"),
    [
        (ALICE_CLIENT, True, True),  # role=client in a user=alice namespace: both
        (ALICE_OTHER, False, True),  # any pod of a user=alice namespace: OR only
        (LOCAL_CLIENT, False, True),  # role=client in the local namespace: OR only
        (BOB_CLIENT, False, False),  # role=client elsewhere: neither
    ],
    ids=["alice-client", "alice-other", "local-client", "bob-client"],
)
def test_one_entry_is_and_two_entries_are_or(source: Pod, with_and: bool, with_or: bool) -> None:
    assert selectors_cluster(AND_FROM).allows(source, SERVER, 80) is with_and
    assert selectors_cluster(OR_FROM).allows(source, SERVER, 80) is with_or


def test_and_and_or_answer_differently_for_the_same_pods() -> None:
    assert selectors_cluster(AND_FROM).who_can_reach(SERVER, 80) == {ALICE_CLIENT}
    assert selectors_cluster(OR_FROM).who_can_reach(SERVER, 80) == {
        ALICE_CLIENT,
        ALICE_OTHER,
        LOCAL_CLIENT,
    }


# --- "Default policies" --------------------------------------------------------------------
# The doc applies these with `kubectl -n`; the evaluator needs metadata.namespace, so it is
# written in.

# Section "Default deny all ingress traffic", network-policy-default-deny-ingress.yaml.
DEFAULT_DENY_INGRESS: Policy = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny-ingress", "namespace": "default"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
}
# Section "Allow all ingress traffic", network-policy-allow-all-ingress.yaml.
ALLOW_ALL_INGRESS: Policy = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "allow-all-ingress", "namespace": "default"},
    "spec": {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]},
}
# Section "Default deny all egress traffic", network-policy-default-deny-egress.yaml.
DEFAULT_DENY_EGRESS: Policy = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny-egress", "namespace": "default"},
    "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
}
# Section "Allow all egress traffic", network-policy-allow-all-egress.yaml.
ALLOW_ALL_EGRESS: Policy = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "allow-all-egress", "namespace": "default"},
    "spec": {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]},
}
# Section "Default deny all ingress and all egress traffic", network-policy-default-deny-all.yaml.
DEFAULT_DENY_ALL: Policy = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny-all", "namespace": "default"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}

A = Pod("default", "a", {"app": "a"}, "10.244.0.31")
B = Pod("default", "b", {"app": "b"}, "10.244.0.32")
C = Pod("elsewhere", "c", {"app": "c"}, "10.244.5.33")


def defaults_cluster(*policies: Policy) -> Cluster:
    return Cluster([Namespace("default"), Namespace("elsewhere")], [A, B, C], policies)


@pytest.mark.parametrize(
    ("policies", "source", "dest", "allowed"),
    [
        # Default deny all ingress: nothing comes in; egress is untouched.
        ((DEFAULT_DENY_INGRESS,), B, A, False),
        ((DEFAULT_DENY_INGRESS,), C, A, False),
        ((DEFAULT_DENY_INGRESS,), INTERNET, A, False),
        ((DEFAULT_DENY_INGRESS,), A, C, True),
        ((DEFAULT_DENY_INGRESS,), A, INTERNET, True),
        # Allow all ingress: on its own, and over a default deny (no policy can take it back).
        ((ALLOW_ALL_INGRESS,), C, A, True),
        ((ALLOW_ALL_INGRESS,), INTERNET, A, True),
        ((DEFAULT_DENY_INGRESS, ALLOW_ALL_INGRESS), C, A, True),
        ((DEFAULT_DENY_INGRESS, ALLOW_ALL_INGRESS), INTERNET, B, True),
        # Default deny all egress: nothing goes out; ingress is untouched.
        ((DEFAULT_DENY_EGRESS,), A, B, False),
        ((DEFAULT_DENY_EGRESS,), A, C, False),
        ((DEFAULT_DENY_EGRESS,), A, INTERNET, False),
        ((DEFAULT_DENY_EGRESS,), C, A, True),
        ((DEFAULT_DENY_EGRESS,), INTERNET, A, True),
        # Allow all egress, over a default deny.
        ((DEFAULT_DENY_EGRESS, ALLOW_ALL_EGRESS), A, INTERNET, True),
        ((DEFAULT_DENY_EGRESS, ALLOW_ALL_EGRESS), A, C, True),
        # Default deny all ingress and all egress: only the other namespace is untouched.
        ((DEFAULT_DENY_ALL,), A, B, False),
        ((DEFAULT_DENY_ALL,), C, A, False),
        ((DEFAULT_DENY_ALL,), A, C, False),
        ((DEFAULT_DENY_ALL,), INTERNET, A, False),
        ((DEFAULT_DENY_ALL,), A, INTERNET, False),
        ((DEFAULT_DENY_ALL,), C, INTERNET, True),
        # "a pod cannot block access to itself" (the page's overview).
        ((DEFAULT_DENY_ALL,), A, A, True),
    ],
)
def test_default_policies(
    policies: tuple[Policy, ...], source: Endpoint, dest: Endpoint, allowed: bool
) -> None:
    assert defaults_cluster(*policies).allows(source, dest, 80) is allowed


def test_no_policy_allows_everything() -> None:
    cluster = defaults_cluster()
    assert cluster.allows(A, B, 1) and cluster.allows(C, A, 65535, "SCTP")
    assert cluster.allows(INTERNET, A, 22, "UDP") and cluster.allows(A, INTERNET, 53, "UDP")


# --- "Targeting a range of ports" ----------------------------------------------------------

# Section "Targeting a range of ports", networkpolicy-multiport-egress.yaml.
MULTI_PORT_EGRESS: Policy = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "multi-port-egress", "namespace": "default"},
    "spec": {
        "podSelector": {"matchLabels": {"role": "db"}},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                "ports": [{"protocol": "TCP", "port": 32000, "endPort": 32768}],
            }
        ],
    },
}


@pytest.mark.parametrize(
    ("ip", "port", "protocol", "allowed"),
    [
        ("10.0.0.9", 32000, "TCP", True),
        ("10.0.0.9", 32500, "TCP", True),
        ("10.0.0.9", 32768, "TCP", True),
        ("10.0.0.9", 31999, "TCP", False),
        ("10.0.0.9", 32769, "TCP", False),
        ("10.0.0.9", 32000, "UDP", False),
        ("10.0.1.9", 32000, "TCP", False),
    ],
)
def test_port_range(ip: str, port: int, protocol: str, allowed: bool) -> None:
    cluster = Cluster([Namespace("default")], [DB, BACKEND], [MULTI_PORT_EGRESS])
    assert cluster.allows(DB, External(ip), port, protocol) is allowed
    # An Egress-only policy leaves db's ingress, and other pods, alone.
    assert cluster.allows(INTERNET, DB, 22)
    assert cluster.allows(BACKEND, External("10.0.1.9"), 22)


# --- "Targeting multiple namespaces by label" / "Targeting a Namespace by its name" --------


def egress_namespaces(expression: dict[str, Any]) -> Policy:
    """Section "Targeting multiple namespaces by label", with its matchExpressions swapped in;
    the doc's metadata has no namespace, so "default" is written in."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "egress-namespaces", "namespace": "default"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "myapp"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchExpressions": [expression]}}]}],
        },
    }


# The doc's expression ...
IN_FRONTEND_BACKEND = {"key": "namespace", "operator": "In", "values": ["frontend", "backend"]}
# ... its complement (not in the doc) ...
NOT_IN_FRONTEND_BACKEND = {**IN_FRONTEND_BACKEND, "operator": "NotIn"}
# ... and section "Targeting a Namespace by its name": the label the control plane sets.
BY_NAME = {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["unlabelled"]}

MYAPP = Pod("default", "myapp", {"app": "myapp"}, "10.244.0.40")
LOCAL = Pod("default", "local", {}, "10.244.0.41")
IN_FRONTEND = Pod("frontend", "web", {}, "10.244.6.1")
IN_BACKEND = Pod("backend", "api", {}, "10.244.7.1")
IN_OTHER = Pod("other", "thing", {}, "10.244.8.1")
IN_UNLABELLED = Pod("unlabelled", "thing", {}, "10.244.9.1")


@pytest.mark.parametrize(
    ("expression", "reachable"),
    [
        (IN_FRONTEND_BACKEND, {IN_FRONTEND, IN_BACKEND}),
        (NOT_IN_FRONTEND_BACKEND, {IN_OTHER, IN_UNLABELLED, LOCAL}),  # NotIn matches no label
        (BY_NAME, {IN_UNLABELLED}),
    ],
    ids=["In", "NotIn", "by-name"],
)
def test_namespaces_by_label(expression: dict[str, Any], reachable: set[Pod]) -> None:
    cluster = Cluster(
        [
            Namespace("default"),
            Namespace("frontend", {"namespace": "frontend"}),
            Namespace("backend", {"namespace": "backend"}),
            Namespace("other", {"namespace": "other"}),
            Namespace("unlabelled"),
        ],
        [MYAPP, LOCAL, IN_FRONTEND, IN_BACKEND, IN_OTHER, IN_UNLABELLED],
        [egress_namespaces(expression)],
    )
    assert cluster.reachable_from(MYAPP, 443) == reachable
    # A namespaceSelector selects pods only: no external address is in a namespace.
    assert not cluster.allows(MYAPP, INTERNET, 443)
    # Pods the policy does not select keep all their egress.
    assert cluster.allows(LOCAL, INTERNET, 443)


def test_namespaces_carry_their_name_label() -> None:
    assert Namespace("unlabelled").labels == {"kubernetes.io/metadata.name": "unlabelled"}


# --- "Isolated and non-isolated pods" / "The two sorts of pod isolation" -------------------


def test_a_pod_no_policy_selects_is_not_isolated() -> None:
    deny_db = netpol("deny-db", {"podSelector": {"matchLabels": {"role": "db"}}})
    cluster = Cluster([Namespace("default")], [DB, BACKEND], [deny_db])
    assert not cluster.allows(BACKEND, DB, 6379)
    assert not cluster.is_isolated(BACKEND, "Ingress")
    assert cluster.allows(DB, BACKEND, 80) and cluster.allows(INTERNET, BACKEND, 80)


def test_a_policy_in_another_namespace_does_not_isolate() -> None:
    deny_all_elsewhere = {**DEFAULT_DENY_ALL, "metadata": {"name": "d", "namespace": "elsewhere"}}
    cluster = defaults_cluster(deny_all_elsewhere)
    assert not cluster.is_isolated(A, "Ingress") and not cluster.is_isolated(A, "Egress")
    assert cluster.allows(INTERNET, A, 80) and cluster.allows(A, B, 80)
    # ... while it does isolate its own namespace's pods, in both directions.
    assert not cluster.allows(A, C, 80) and not cluster.allows(C, A, 80)


def test_a_connection_needs_both_egress_and_ingress() -> None:
    allow_in = netpol(
        "a-in",
        {
            "podSelector": {"matchLabels": {"app": "a"}},
            "ingress": [{"from": [{"podSelector": {}}]}],
        },
    )
    cluster = defaults_cluster(allow_in, DEFAULT_DENY_EGRESS)
    assert not cluster.allows(B, A, 80)  # A's ingress allows B, but B's egress is denied
    cluster = defaults_cluster(allow_in, ALLOW_ALL_EGRESS, DEFAULT_DENY_EGRESS)
    assert cluster.allows(B, A, 80)


def test_policy_types_default_to_ingress_plus_egress_when_there_are_egress_rules() -> None:
    egress_rules = netpol(
        "e", {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}]}]}
    )
    cluster = defaults_cluster(egress_rules)
    assert cluster.is_isolated(A, "Egress") and cluster.is_isolated(A, "Ingress")
    assert cluster.allows(A, External("10.0.0.1"), 80)
    assert not cluster.allows(A, External("10.0.1.1"), 80)
    assert not cluster.allows(C, A, 80)  # Ingress is implied, and there are no ingress rules
    ingress_only = defaults_cluster(netpol("i", {"podSelector": {}}))
    assert ingress_only.is_isolated(A, "Ingress") and not ingress_only.is_isolated(A, "Egress")


def test_rules_of_a_type_the_policy_does_not_have_are_ignored() -> None:
    spec = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
    }
    cluster = defaults_cluster(netpol("egress-only", spec))
    assert not cluster.is_isolated(A, "Ingress")
    assert cluster.allows(C, A, 80)  # ingress is not isolated at all
    assert not cluster.allows(A, B, 80)  # egress is isolated, with no rules


def test_empty_rule_lists() -> None:
    deny = netpol("deny", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []})
    assert not defaults_cluster(deny).allows(C, A, 80)
    any_source = netpol(
        "any", {"podSelector": {}, "ingress": [{"from": [], "ports": [{"port": 80}]}]}
    )
    assert defaults_cluster(any_source).allows(INTERNET, A, 80)
    assert not defaults_cluster(any_source).allows(INTERNET, A, 81)
    any_port = netpol(
        "any", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}], "ports": []}]}
    )
    assert defaults_cluster(any_port).allows(B, A, 9999, "UDP")
    assert not defaults_cluster(any_port).allows(C, A, 9999, "UDP")


def test_empty_namespace_selector_is_every_pod_but_no_external_address() -> None:
    spec: dict[str, Any] = {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}
    cluster = defaults_cluster(netpol("cluster-only", spec))
    assert cluster.allows(C, A, 80) and cluster.allows(B, A, 80)
    assert not cluster.allows(INTERNET, A, 80)


def test_match_expressions_exists_and_does_not_exist_and_with_match_labels() -> None:
    selector = {
        "matchLabels": {"app": "a"},
        "matchExpressions": [
            {"key": "tier", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    spec = {"podSelector": {}, "ingress": [{"from": [{"podSelector": selector}]}]}
    sources = [
        Pod("default", "ok", {"app": "a", "tier": "web"}, "10.244.0.51"),
        Pod("default", "no-tier", {"app": "a"}, "10.244.0.52"),
        Pod("default", "legacy", {"app": "a", "tier": "web", "legacy": ""}, "10.244.0.53"),
        Pod("default", "not-a", {"app": "b", "tier": "web"}, "10.244.0.54"),
    ]
    cluster = Cluster([Namespace("default")], [B, *sources], [netpol("x", spec)])
    assert cluster.who_can_reach(B, 80) == {sources[0]}


def test_ipv6_ip_block() -> None:
    spec = {
        "podSelector": {},
        "ingress": [
            {"from": [{"ipBlock": {"cidr": "2001:db8::/32", "except": ["2001:db8:1::/48"]}}]}
        ],
    }
    cluster = defaults_cluster(netpol("v6", spec))
    assert cluster.allows(External("2001:db8::1"), A, 80)
    assert not cluster.allows(External("2001:db8:1::1"), A, 80)
    assert not cluster.allows(External("10.0.0.1"), A, 80)


# --- named ports ---------------------------------------------------------------------------

WEB1 = Pod("default", "web1", {"app": "web"}, "10.244.0.61", {"http": 8080, "metrics": 9100})
WEB2 = Pod("default", "web2", {"app": "web"}, "10.244.0.62", {"http": 9090})
WEB_UDP = Pod("default", "web-udp", {"app": "web"}, "10.244.0.63", {"http": 8080}, {"http": "UDP"})
CLIENT = Pod("default", "client", {"app": "client"}, "10.244.0.64")

HTTP_IN = netpol(
    "http-in",
    {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                "ports": [{"port": "http"}],
            }
        ],
    },
)
HTTP_OUT = netpol(
    "http-out",
    {
        "podSelector": {"matchLabels": {"app": "client"}},
        "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": "http"}]}],
    },
)


def named_cluster(*policies: Policy) -> Cluster:
    return Cluster([Namespace("default")], [WEB1, WEB2, WEB_UDP, CLIENT], policies)


@pytest.mark.parametrize("policy", [HTTP_IN, HTTP_OUT], ids=["ingress", "egress"])
def test_named_ports_resolve_on_the_destination_pod(policy: Policy) -> None:
    cluster = named_cluster(policy)
    assert cluster.allows(CLIENT, WEB1, 8080) and cluster.allows(CLIENT, WEB1, "http")
    assert cluster.allows(CLIENT, WEB2, 9090)
    assert not cluster.allows(CLIENT, WEB1, 9090)  # web2's http is not web1's
    assert not cluster.allows(CLIENT, WEB2, 8080)
    assert not cluster.allows(CLIENT, WEB1, "metrics")
    # The rule's protocol is TCP; web-udp's http is UDP, so it matches neither way.
    assert not cluster.allows(CLIENT, WEB_UDP, 8080, "TCP")
    assert not cluster.allows(CLIENT, WEB_UDP, 8080, "UDP")
    assert cluster.reachable_from(CLIENT, "http") == {WEB1, WEB2}


def test_a_named_port_never_matches_an_external_address() -> None:
    assert not named_cluster(HTTP_OUT).allows(CLIENT, INTERNET, 8080)


# --- additivity ----------------------------------------------------------------------------


def allow_from(name: str, app: str) -> Policy:
    spec = {
        "podSelector": {"matchLabels": {"role": "db"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": app}}}]}],
    }
    return netpol(name, spec)


def test_policies_are_additive_and_order_free() -> None:
    sources = [
        Pod("default", app, {"app": app}, f"10.244.0.{70 + i}") for i, app in enumerate("abc")
    ]
    pods = [DB, *sources]
    both = Cluster([Namespace("default")], pods, [allow_from("p", "a"), allow_from("q", "b")])
    assert both.who_can_reach(DB, 6379) == {sources[0], sources[1]}
    reversed_ = Cluster([Namespace("default")], pods, [allow_from("q", "b"), allow_from("p", "a")])
    assert reversed_.who_can_reach(DB, 6379) == {sources[0], sources[1]}
    one = Cluster([Namespace("default")], pods, [allow_from("p", "a")])
    assert one.who_can_reach(DB, 6379) == {sources[0]}


# --- malformed policies --------------------------------------------------------------------


def peer_spec(peer: Any) -> dict[str, Any]:
    return {"podSelector": {}, "ingress": [{"from": [peer]}]}


def port_spec(port: Any) -> dict[str, Any]:
    return {"podSelector": {}, "ingress": [{"ports": [port]}]}


def expression_spec(expression: Any) -> dict[str, Any]:
    return {"podSelector": {"matchExpressions": [expression]}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            expression_spec({"key": "a", "operator": "Equals", "values": ["b"]}),
            "unknown operator 'Equals'",
            id="operator",
        ),
        pytest.param(
            expression_spec({"key": "a", "operator": "In", "values": []}),
            "In needs at least one value",
            id="in-empty",
        ),
        pytest.param(
            expression_spec({"key": "a", "operator": "Exists", "values": ["b"]}),
            "Exists takes no values",
            id="exists-values",
        ),
        pytest.param(
            expression_spec({"operator": "Exists"}),
            r"matchExpressions\[0\]\.key: expected a non-empty string",
            id="expression-no-key",
        ),
        pytest.param(
            {"podSelector": {"matchLabels": {"tier": 1}}}, "not a string pair", id="label-int"
        ),
        pytest.param(
            {"podSelector": {"matchLabel": {"a": "b"}}}, "unknown field", id="selector-typo"
        ),
        pytest.param(peer_spec({"ipBlock": {"cidr": "10.0.0.0/33"}}), "not a CIDR", id="cidr-33"),
        pytest.param(peer_spec({"ipBlock": {"cidr": "not-a-cidr"}}), "not a CIDR", id="cidr-junk"),
        pytest.param(
            peer_spec({"ipBlock": {"cidr": "10.0.0.1"}}), "not a CIDR", id="cidr-no-prefix"
        ),
        pytest.param(peer_spec({"ipBlock": {}}), "not a CIDR", id="cidr-missing"),
        pytest.param(
            peer_spec({"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.1.0/24"]}}),
            "strict subset",
            id="except-outside",
        ),
        pytest.param(
            peer_spec({"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.0.0/24"]}}),
            "strict subset",
            id="except-equal",
        ),
        pytest.param(
            peer_spec({"ipBlock": {"cidr": "10.0.0.0/8", "except": ["2001:db8::/64"]}}),
            "strict subset",
            id="except-family",
        ),
        pytest.param(
            peer_spec({}), "needs podSelector, namespaceSelector or ipBlock", id="peer-empty"
        ),
        pytest.param(
            peer_spec({"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}),
            "cannot be combined",
            id="peer-both",
        ),
        pytest.param(peer_spec({"podselector": {}}), "unknown field", id="peer-typo"),
        pytest.param(
            {"podSelector": {}, "ingress": [{"form": [{"podSelector": {}}]}]},
            "unknown field",
            id="rule-typo",
        ),
        pytest.param(
            {"podSelector": {}, "ingress": [{"to": [{"podSelector": {}}]}]},
            "unknown field",
            id="ingress-to",
        ),
        pytest.param(
            {"podSelector": {}, "ingress": [{"from": {"podSelector": {}}}]},
            "expected a list",
            id="from-mapping",
        ),
        pytest.param({"podSelector": {}, "ingres": []}, "unknown field", id="spec-typo"),
        pytest.param(
            {"podSelector": {}, "policyTypes": ["Ingres"]}, "unknown policy type", id="policy-type"
        ),
        pytest.param(
            port_spec({"protocol": "ICMP", "port": 1}), "not one of TCP, UDP, SCTP", id="protocol"
        ),
        pytest.param(port_spec({"port": 0}), "not a number from 1 to 65535", id="port-0"),
        pytest.param(port_spec({"port": 70000}), "not a number from 1 to 65535", id="port-big"),
        pytest.param(port_spec({"port": "6379"}), "not a valid port name", id="port-digits"),
        pytest.param(port_spec({"port": 32768, "endPort": 32000}), "endPort", id="end-below"),
        pytest.param(port_spec({"port": "http", "endPort": 32000}), "endPort", id="end-named"),
        pytest.param(port_spec({"endPort": 32000}), "endPort", id="end-alone"),
    ],
)
def test_malformed_policies_are_refused(spec: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        defaults_cluster(netpol("bad", spec))


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        pytest.param(
            {**DEFAULT_DENY_ALL, "apiVersion": "extensions/v1beta1"}, "apiVersion", id="api-version"
        ),
        pytest.param({**DEFAULT_DENY_ALL, "kind": "Pod"}, "kind NetworkPolicy", id="kind"),
        pytest.param(
            {**DEFAULT_DENY_ALL, "metadata": {"name": "x"}}, "metadata.namespace", id="no-namespace"
        ),
        pytest.param(
            netpol("x", {}, namespace="nowhere"), "not in the cluster", id="unknown-namespace"
        ),
        pytest.param({**DEFAULT_DENY_ALL, "sepc": {}}, "unknown field", id="top-level-typo"),
    ],
)
def test_malformed_documents_are_refused(policy: Policy, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        defaults_cluster(policy)


def test_duplicate_objects_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate NetworkPolicy default/default-deny-all"):
        defaults_cluster(DEFAULT_DENY_ALL, DEFAULT_DENY_ALL)
    with pytest.raises(ValueError, match="duplicate pod default/a"):
        Cluster([Namespace("default")], [A, A])
    with pytest.raises(ValueError, match="not in the cluster"):
        Cluster([Namespace("default")], [C])


def test_bad_objects_are_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        Pod("default", "x", {}, "10.0.0.300")
    with pytest.raises(ValueError, match="not an IP address"):
        External("example.org")
    with pytest.raises(ValueError, match="must be the namespace's name"):
        Namespace("a", {"kubernetes.io/metadata.name": "b"})
    with pytest.raises(ValueError, match="unknown port"):
        Pod("default", "x", {}, "10.0.0.1", {"http": 80}, {"dns": "UDP"})
    with pytest.raises(ValueError, match="not a number from 1 to 65535"):
        Pod("default", "x", {}, "10.0.0.1", {"http": 0})


def test_bad_questions_are_refused() -> None:
    cluster = named_cluster()
    with pytest.raises(ValueError, match="neither end is a pod"):
        cluster.allows(INTERNET, External("198.51.100.1"), 80)
    with pytest.raises(ValueError, match="no TCP port named 'grpc'"):
        cluster.allows(CLIENT, WEB1, "grpc")
    with pytest.raises(ValueError, match="no TCP port named 'http'"):
        cluster.allows(CLIENT, INTERNET, "http")
    with pytest.raises(ValueError, match="not one of TCP, UDP, SCTP"):
        cluster.allows(CLIENT, WEB1, 80, "ICMP")
    with pytest.raises(ValueError, match="not a number from 1 to 65535"):
        cluster.allows(CLIENT, WEB1, 0)
    with pytest.raises(ValueError, match="not in the cluster"):
        cluster.allows(A, WEB1, 80)
    with pytest.raises(ValueError, match="not in the cluster"):
        cluster.allows(CLIENT, Pod("default", "web1", {}, "10.244.0.61"), 80)
