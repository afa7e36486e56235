"""Kubernetes NetworkPolicy semantics, evaluated over plain data.

Why: to know who can open a connection to whom from NetworkPolicy YAML alone, without a
cluster or a network plugin. The rules follow the upstream page
https://kubernetes.io/docs/concepts/services-networking/network-policies/ and the
``networking.k8s.io/v1`` API reference:

* A pod is isolated for ingress (egress) only if a policy in its own namespace selects it and
  has ``Ingress`` (``Egress``) in ``policyTypes``; a non-isolated direction allows everything.
* An isolated direction allows the union of the rules of every policy that applies to it.
* A connection is allowed only if the source's egress AND the destination's ingress allow it.
* A pod cannot block access to itself.

Policies are checked when the ``Cluster`` is built, and anything malformed (an unknown field,
operator or protocol, a bad CIDR, a peer that selects nothing) raises ``ValueError``: a typo
such as ``form:`` for ``from:`` would otherwise read as "all sources" and silently allow.

Out of scope, because the data does not carry it: traffic from a pod's own node (always
allowed upstream), ``hostNetwork`` pods, Service address rewriting, and reply traffic.

``ipBlock`` is matched against every address, pod IPs included. Upstream says ipBlock "should
be cluster-external IPs" and network plugins differ on whether it matches pod IPs; matching
them is the conservative reading for a reachability question, as it can only add connections.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

Direction = Literal["Ingress", "Egress"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
NAME_LABEL = "kubernetes.io/metadata.name"
API_VERSION = "networking.k8s.io/v1"
# IANA_SVC_NAME, as Kubernetes validates a named port: at most 15 lowercase letters, digits
# and single inner dashes, with at least one letter (so "6379" is not a name).
_PORT_NAME = re.compile(r"^(?=.*[a-z])(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)$")

_V = TypeVar("_V")


def _frozen(mapping: Mapping[str, _V]) -> Mapping[str, _V]:
    """A read-only copy, so a frozen dataclass cannot change under a caller's feet."""
    return MappingProxyType(dict(mapping))


def _check_ip(ip: str, what: str) -> None:
    try:
        if not isinstance(ip, str):  # ip_address() would take an int, too
            raise ValueError
        ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"{what}: {ip!r} is not an IP address") from None


def _check_protocol(protocol: object, where: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"{where}: protocol {protocol!r} is not one of TCP, UDP, SCTP")
    return str(protocol)


def _check_port_number(number: object, where: str) -> int:
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
        raise ValueError(f"{where}: port {number!r} is not a number from 1 to 65535")
    return number


# --- the cluster's objects ---------------------------------------------------------------


@dataclass(frozen=True)
class Namespace:
    """A namespace and its labels, with the ``kubernetes.io/metadata.name`` label the API
    server always sets (selectors can and do target it)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.labels.get(NAME_LABEL, self.name) != self.name:
            raise ValueError(f"namespace {self.name}: {NAME_LABEL} must be the namespace's name")
        object.__setattr__(self, "labels", _frozen({**self.labels, NAME_LABEL: self.name}))

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True)
class Pod:
    """A pod: where it lives, its labels, its IP, and its named container ports.

    ``ports`` maps a container port's name to its number; ``protocols`` gives the protocol of a
    named port when it is not TCP (the Kubernetes default), since a named port in a policy only
    resolves to a container port of the policy's protocol.
    """

    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str
    ports: Mapping[str, int] = field(default_factory=dict)
    protocols: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        what = f"pod {self.key}"
        _check_ip(self.ip, what)
        for name, number in self.ports.items():
            _check_port_number(number, f"{what} port {name!r}")
        for name, protocol in self.protocols.items():
            if name not in self.ports:
                raise ValueError(f"{what}: protocol given for unknown port {name!r}")
            _check_protocol(protocol, f"{what} port {name!r}")
        for attribute in ("labels", "ports", "protocols"):
            object.__setattr__(self, attribute, _frozen(getattr(self, attribute)))

    def __hash__(self) -> int:
        return hash((self.namespace, self.name))

    @property
    def key(self) -> str:
        """``namespace/name``, unique in a cluster."""
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str, protocol: str) -> int | None:
        """The number of the container port called ``name`` on ``protocol``, if there is one."""
        if self.protocols.get(name, "TCP") != protocol:
            return None
        return self.ports.get(name)


@dataclass(frozen=True)
class External:
    """An address outside the cluster: only the pod end of a connection has policy."""

    ip: str

    def __post_init__(self) -> None:
        _check_ip(self.ip, "external address")


Endpoint = Pod | External


# --- parsed policies -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Expression:
    """One ``matchExpressions`` entry."""

    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes label-selector semantics: ``NotIn`` also matches a missing key."""
        match self.operator:
            case "In":
                return labels.get(self.key) in self.values
            case "NotIn":
                return labels.get(self.key) not in self.values
            case "Exists":
                return self.key in labels
            case _:  # "DoesNotExist"; anything else was rejected when parsing.
                return self.key not in labels


@dataclass(frozen=True)
class _Selector:
    """A label selector: ``matchLabels`` and ``matchExpressions`` ANDed; empty matches all."""

    labels: Mapping[str, str]
    expressions: tuple[_Expression, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.labels.items()) and all(
            e.matches(labels) for e in self.expressions
        )


@dataclass(frozen=True)
class _IPBlock:
    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...]

    def contains(self, ip: str) -> bool:
        address = ipaddress.ip_address(ip)
        return address in self.cidr and not any(address in e for e in self.excepts)


@dataclass(frozen=True)
class _Peer:
    """One ``from``/``to`` entry. Without ``namespaces``, pods come from the policy's own
    namespace; with it and without ``pods``, every pod of the matching namespaces counts."""

    pods: _Selector | None
    namespaces: _Selector | None
    ip_block: _IPBlock | None


@dataclass(frozen=True)
class _Port:
    """One ``ports`` entry; ``number`` None means every port of ``protocol``."""

    protocol: str
    number: int | str | None
    end: int | None

    def matches(self, port: int, protocol: str, dest: Endpoint) -> bool:
        """Named ports resolve on the destination pod, for ingress and egress rules alike."""
        if protocol != self.protocol:
            return False
        if self.number is None:
            return True
        if isinstance(self.number, str):
            return isinstance(dest, Pod) and dest.named_port(self.number, protocol) == port
        return self.number <= port <= (self.end or self.number)


@dataclass(frozen=True)
class _Rule:
    """An ingress or egress rule: empty ``peers`` (``ports``) means all peers (ports)."""

    peers: tuple[_Peer, ...]
    ports: tuple[_Port, ...]


@dataclass(frozen=True)
class _Policy:
    namespace: str
    name: str
    selector: _Selector
    types: frozenset[str]
    ingress: tuple[_Rule, ...]
    egress: tuple[_Rule, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def applies(self, pod: Pod, direction: Direction) -> bool:
        """Whether this policy isolates ``pod`` in ``direction`` (and so its rules count)."""
        return (
            direction in self.types
            and pod.namespace == self.namespace
            and self.selector.matches(pod.labels)
        )

    def rules(self, direction: Direction) -> tuple[_Rule, ...]:
        return self.ingress if direction == "Ingress" else self.egress


# --- reading policy dicts ------------------------------------------------------------------


def _mapping(value: object, where: str, known: Iterable[str] | None = None) -> Mapping[str, Any]:
    """A YAML mapping; null is empty, and an unknown key is an error, never ignored."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(value).__name__}")
    if known is not None and (unknown := sorted(set(value) - set(known))):
        raise ValueError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    return value


def _list(value: object, where: str) -> list[Any]:
    """A YAML list; null is empty, as in the Kubernetes API."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _each(value: object, where: str, parse: Callable[[object, str], _V]) -> tuple[_V, ...]:
    return tuple(parse(item, f"{where}[{i}]") for i, item in enumerate(_list(value, where)))


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _strings(value: Mapping[str, Any], where: str) -> dict[str, str]:
    """Label values must be strings: YAML ``tier: 1`` or ``on: true`` is not a label match."""
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ValueError(f"{where}: label {key!r}: {item!r} is not a string pair")
    return dict(value)


def _expression(value: object, where: str) -> _Expression:
    raw = _mapping(value, where, ("key", "operator", "values"))
    operator = raw.get("operator")
    if operator not in OPERATORS:
        raise ValueError(
            f"{where}.operator: unknown operator {operator!r}; "
            "expected In, NotIn, Exists or DoesNotExist"
        )
    values = _list(raw.get("values"), f"{where}.values")
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where}.values: every value must be a string")
    if operator in ("In", "NotIn") and not values:
        raise ValueError(f"{where}.values: {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise ValueError(f"{where}.values: {operator} takes no values")
    return _Expression(_string(raw.get("key"), f"{where}.key"), operator, frozenset(values))


def _selector(value: object, where: str) -> _Selector:
    raw = _mapping(value, where, ("matchLabels", "matchExpressions"))
    labels = _strings(
        _mapping(raw.get("matchLabels"), f"{where}.matchLabels"), f"{where}.matchLabels"
    )
    expressions = _each(raw.get("matchExpressions"), f"{where}.matchExpressions", _expression)
    return _Selector(_frozen(labels), expressions)


def _network(value: object, where: str) -> IPNetwork:
    """A CIDR with an explicit prefix length; host bits are allowed, as the API server allows."""
    try:
        if not isinstance(value, str) or "/" not in value:
            raise ValueError
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a CIDR") from None


def _ip_block(value: object, where: str) -> _IPBlock:
    raw = _mapping(value, where, ("cidr", "except"))
    cidr = _network(raw.get("cidr"), f"{where}.cidr")
    excepts = _each(raw.get("except"), f"{where}.except", _network)
    for i, block in enumerate(excepts):
        inside = block.network_address in cidr and block.broadcast_address in cidr
        if not inside or block.prefixlen <= cidr.prefixlen:
            raise ValueError(f"{where}.except[{i}]: {block} is not a strict subset of {cidr}")
    return _IPBlock(cidr, excepts)


def _peer(value: object, where: str) -> _Peer:
    raw = _mapping(value, where, ("podSelector", "namespaceSelector", "ipBlock"))
    pods, namespaces, block = (raw.get(k) for k in ("podSelector", "namespaceSelector", "ipBlock"))
    if pods is None and namespaces is None and block is None:
        raise ValueError(f"{where}: a peer needs podSelector, namespaceSelector or ipBlock")
    if block is not None and (pods is not None or namespaces is not None):
        raise ValueError(f"{where}: ipBlock cannot be combined with a selector in one peer")
    return _Peer(
        None if pods is None else _selector(pods, f"{where}.podSelector"),
        None if namespaces is None else _selector(namespaces, f"{where}.namespaceSelector"),
        None if block is None else _ip_block(block, f"{where}.ipBlock"),
    )


def _port(value: object, where: str) -> _Port:
    raw = _mapping(value, where, ("protocol", "port", "endPort"))
    protocol = _check_protocol(raw.get("protocol", "TCP"), f"{where}.protocol")
    number: int | str | None = raw.get("port")
    if isinstance(number, str):
        if not _PORT_NAME.match(number):
            raise ValueError(f"{where}.port: {number!r} is not a valid port name")
    elif number is not None:
        number = _check_port_number(number, f"{where}.port")
    if raw.get("endPort") is None:
        return _Port(protocol, number, None)
    end = _check_port_number(raw["endPort"], f"{where}.endPort")
    if not isinstance(number, int) or end < number:
        raise ValueError(f"{where}.endPort: needs a numeric port no greater than {end}")
    return _Port(protocol, number, end)


def _rule(value: object, where: str, peers: str) -> _Rule:
    raw = _mapping(value, where, (peers, "ports"))
    return _Rule(
        _each(raw.get(peers), f"{where}.{peers}", _peer),
        _each(raw.get("ports"), f"{where}.ports", _port),
    )


def _policy_types(spec: Mapping[str, Any], where: str) -> frozenset[str]:
    """Explicit types, or the API default: Ingress, plus Egress if there are egress rules."""
    types = _list(spec.get("policyTypes"), where)
    if not types:
        return frozenset({"Ingress", "Egress"} if spec.get("egress") else {"Ingress"})
    if unknown := [t for t in types if t not in ("Ingress", "Egress")]:
        raise ValueError(f"{where}: unknown policy type(s) {unknown}; expected Ingress, Egress")
    return frozenset(types)


def _parse_policy(document: Mapping[str, Any]) -> _Policy:
    """Check one NetworkPolicy dict and read it; ``ValueError`` names the offending field.

    ``metadata.namespace`` is required: kubectl would take it from the context, but a policy
    applied to the wrong namespace isolates the wrong pods.
    """
    raw = _mapping(document, "NetworkPolicy", ("apiVersion", "kind", "metadata", "spec"))
    metadata = _mapping(raw.get("metadata"), "NetworkPolicy metadata")
    name = _string(metadata.get("name"), "NetworkPolicy metadata.name")
    namespace = _string(metadata.get("namespace"), f"NetworkPolicy {name}: metadata.namespace")
    where = f"NetworkPolicy {namespace}/{name}"
    if raw.get("apiVersion") != API_VERSION or raw.get("kind") != "NetworkPolicy":
        raise ValueError(f"{where}: expected apiVersion {API_VERSION}, kind NetworkPolicy")
    spec = _mapping(
        raw.get("spec"), f"{where}: spec", ("podSelector", "policyTypes", "ingress", "egress")
    )
    return _Policy(
        namespace=namespace,
        name=name,
        selector=_selector(spec.get("podSelector"), f"{where}: spec.podSelector"),
        types=_policy_types(spec, f"{where}: spec.policyTypes"),
        ingress=_each(spec.get("ingress"), f"{where}: spec.ingress", _ingress_rule),
        egress=_each(spec.get("egress"), f"{where}: spec.egress", _egress_rule),
    )


def _ingress_rule(value: object, where: str) -> _Rule:
    return _rule(value, where, "from")


def _egress_rule(value: object, where: str) -> _Rule:
    return _rule(value, where, "to")


def _index(items: Iterable[_V], key: Callable[[_V], str], what: str) -> dict[str, _V]:
    """Items by key; a duplicate is an error, as the API server would refuse it."""
    index: dict[str, _V] = {}
    for item in items:
        if key(item) in index:
            raise ValueError(f"duplicate {what} {key(item)}")
        index[key(item)] = item
    return index


# --- evaluation ----------------------------------------------------------------------------


class Cluster:
    """A snapshot of namespaces, pods and NetworkPolicy dicts, answering reachability."""

    def __init__(
        self,
        namespaces: Iterable[Namespace],
        pods: Iterable[Pod],
        policies: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.namespaces: Mapping[str, Namespace] = _index(namespaces, lambda n: n.name, "namespace")
        self.pods: Mapping[str, Pod] = _index(pods, lambda p: p.key, "pod")
        parsed = _index(map(_parse_policy, policies), lambda p: p.key, "NetworkPolicy")
        owners = [(f"pod {p.key}", p.namespace) for p in self.pods.values()]
        owners += [(f"NetworkPolicy {p.key}", p.namespace) for p in parsed.values()]
        for what, namespace in owners:
            if namespace not in self.namespaces:
                raise ValueError(f"{what}: namespace {namespace!r} is not in the cluster")
        self._policies = tuple(parsed.values())

    def is_isolated(self, pod: Pod, direction: Direction) -> bool:
        """Whether some policy in the pod's namespace selects it for ``direction``."""
        return bool(self._applying(self._member(pod), direction))

    def allows(
        self, source: Endpoint, dest: Endpoint, port: int | str, protocol: str = "TCP"
    ) -> bool:
        """Whether a new connection from ``source`` to ``dest`` on ``port`` is allowed.

        ``port`` is the destination port, by number or by the destination pod's port name.
        Both the source's egress and the destination's ingress must allow it; an external end
        has no policy of its own, and a pod can always reach itself.
        """
        for end in (source, dest):
            if isinstance(end, Pod):
                self._member(end)
        if isinstance(source, External) and isinstance(dest, External):
            raise ValueError("neither end is a pod, so no NetworkPolicy applies")
        number = _resolve(dest, port, _check_protocol(protocol, "connection"))
        if source == dest:
            return True
        return self._side_allows("Egress", source, dest, dest, number, protocol) and (
            self._side_allows("Ingress", dest, source, dest, number, protocol)
        )

    def who_can_reach(self, dest: Pod, port: int | str, protocol: str = "TCP") -> frozenset[Pod]:
        """The cluster's other pods that may open a connection to ``dest`` on ``port``."""
        return frozenset(
            p for p in self.pods.values() if p != dest and self.allows(p, dest, port, protocol)
        )

    def reachable_from(self, source: Pod, port: int | str, protocol: str = "TCP") -> frozenset[Pod]:
        """The cluster's other pods ``source`` may connect to on ``port``; with a port name,
        only pods that have a port of that name and protocol."""
        return frozenset(
            p
            for p in self.pods.values()
            if p != source
            and (isinstance(port, int) or p.named_port(port, protocol) is not None)
            and self.allows(source, p, port, protocol)
        )

    def _member(self, pod: Pod) -> Pod:
        if self.pods.get(pod.key) != pod:
            raise ValueError(f"pod {pod.key} is not in the cluster as given")
        return pod

    def _applying(self, pod: Pod, direction: Direction) -> tuple[_Policy, ...]:
        return tuple(p for p in self._policies if p.applies(pod, direction))

    def _side_allows(
        self,
        direction: Direction,
        subject: Endpoint,
        peer: Endpoint,
        dest: Endpoint,
        port: int,
        protocol: str,
    ) -> bool:
        """One end's verdict: everything if it is not isolated, else the union of the rules."""
        if not isinstance(subject, Pod):
            return True
        applying = self._applying(subject, direction)
        return not applying or any(
            self._rule_allows(policy.namespace, rule, peer, dest, port, protocol)
            for policy in applying
            for rule in policy.rules(direction)
        )

    def _rule_allows(
        self, namespace: str, rule: _Rule, peer: Endpoint, dest: Endpoint, port: int, protocol: str
    ) -> bool:
        """A rule allows a connection matching one of its peers AND one of its ports."""
        return (
            not rule.peers or any(self._peer_matches(p, namespace, peer) for p in rule.peers)
        ) and (not rule.ports or any(p.matches(port, protocol, dest) for p in rule.ports))

    def _peer_matches(self, peer: _Peer, namespace: str, end: Endpoint) -> bool:
        """Whether ``end`` is the peer entry of a policy in ``namespace``."""
        if peer.ip_block is not None:
            return peer.ip_block.contains(end.ip)
        if not isinstance(end, Pod):
            return False
        if peer.namespaces is None:
            in_namespace = end.namespace == namespace
        else:
            in_namespace = peer.namespaces.matches(self.namespaces[end.namespace].labels)
        return in_namespace and (peer.pods is None or peer.pods.matches(end.labels))


def _resolve(dest: Endpoint, port: int | str, protocol: str) -> int:
    """The connection's destination port number; a name resolves on the destination pod."""
    if not isinstance(port, str):
        return _check_port_number(port, "connection")
    number = dest.named_port(port, protocol) if isinstance(dest, Pod) else None
    if number is None:
        where = dest.key if isinstance(dest, Pod) else dest.ip
        raise ValueError(f"connection: {where} has no {protocol} port named {port!r}")
    return number
