"""Where and how a department runs: the only thing that differs between demo, on-prem and
Kubernetes renders. Templates never branch on paths; they read them from a `Target`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Literal

from govmatrix.estate.schema import Department, Estate

TargetKind = Literal["demo", "onprem", "kubernetes"]
TARGET_KINDS: tuple[TargetKind, ...] = ("demo", "onprem", "kubernetes")

DEFAULT_DEMO_ROOT = "/var/lib/govmatrix-demo"
# Demo departments get 127.0.1.1, 127.0.1.2, ...: one loopback address each, so every
# department uses the standard ports (443, 8448, 5432) without clashing.
DEMO_NET = "127.0.1."
MAX_DEMO_DEPARTMENTS = 250


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    config_dir: str  # rendered config files
    data_dir: str  # media store and other state
    log_dir: str | None  # None: log to stderr (journald, container logs)
    secrets_dir: str  # secret files Synapse reads by path (0600)
    tls_dir: str  # this department's server certificate and key
    ca_dir: str  # estate CA and partner CA bundles
    element_root: str  # Element Web static files (shared by departments on a host)
    # The archive's outside checkpoint log: separate (ideally write-once) storage.
    checkpoint_log_dir: str
    public_address: str  # nginx listen address; "" for all addresses
    synapse_address: str  # Synapse listeners bind here; never public
    database_host: str
    database_port: int
    redis_host: str
    archive_address: str  # host Synapse reaches the archive service on
    admin_networks: tuple[str, ...]  # may reach /_synapse/admin through nginx
    # Loopback is in Synapse's default federation deny-list; the demo federates over it.
    federation_ip_whitelist: tuple[str, ...] = ()
    client_port: int = 443
    federation_port: int = 8448
    synapse_port: int = 8008
    replication_port: int = 9093
    worker_base_port: int = 8101
    archive_port: int = 8090
    redis_port: int = 6379
    directory_port: int = 389  # the demo's bundled directory (slapd), per department
    identity_port: int = 8095  # the bundled provider's FastCGI server (LemonLDAP::NG)
    redirect_http: bool = True  # serve port 80 only to redirect to HTTPS
    # Where Synapse and the archive differ between binding and being reached (Kubernetes:
    # bind all addresses, be reached by Service name). None: the same address.
    synapse_service: str | None = None
    archive_listen: str | None = None
    # A client-API listener for the department's own services (the archive, deploy jobs),
    # so the public listener can be reachable from the ingress controller alone.
    internal_port: int | None = None
    metrics_port: int | None = None  # Prometheus metrics listener, when monitored
    # Federation senders have no HTTP listener; give them one for health probes.
    worker_health: bool = False
    # Where a target keeps HSM state (SoftHSM tokens, PIN files; root only). None: the
    # target does not drive an HSM (Kubernetes: keys stay with cert-manager and Secrets).
    hsm_dir: str | None = None
    # Memory-backed directory (tmpfs) for secrets unwrapped by the HSM at service start,
    # such as Synapse's signing key. Never a persistent disk.
    memory_dir: str | None = None

    @property
    def synapse_host(self) -> str:
        return self.synapse_service or self.synapse_address

    @property
    def archive_bind(self) -> str:
        return self.archive_listen or self.archive_address

    @property
    def internal_api_port(self) -> int:
        return self.internal_port or self.synapse_port

    def with_overrides(self, **changes: object) -> Target:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def demo_memory_dir(root: str | None, department_id: str) -> str:
    """/dev/shm is tmpfs on every Linux (POSIX shared memory needs it); /run is not in every
    container. A non-default state root gets its own subtree, so two demos never share."""
    base = (root or DEFAULT_DEMO_ROOT).rstrip("/")
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    suffix = "" if base == DEFAULT_DEMO_ROOT else f"-{digest}"
    return f"/dev/shm/govmatrix-demo{suffix}/{department_id}"


def demo_address(estate: Estate, department: Department) -> str:
    index = [d.id for d in estate.departments].index(department.id)
    if index >= MAX_DEMO_DEPARTMENTS:
        raise ValueError(f"the demo runs at most {MAX_DEMO_DEPARTMENTS} departments")
    return f"{DEMO_NET}{index + 1}"


def target_for(
    kind: TargetKind, estate: Estate, department: Department, *, root: str | None = None
) -> Target:
    """The standard layout of each target kind. `root` relocates the demo's state directory."""
    if kind == "demo":
        base = (root or DEFAULT_DEMO_ROOT).rstrip("/")
        home = f"{base}/{department.id}"
        address = demo_address(estate, department)
        return Target(
            kind="demo",
            config_dir=f"{home}/config",
            data_dir=f"{home}/data",
            log_dir=f"{home}/logs",
            secrets_dir=f"{home}/secrets",
            tls_dir=f"{home}/tls",
            ca_dir=f"{base}/pki",
            element_root=f"{base}/element",
            checkpoint_log_dir=f"{base}/checkpoint-logs/{department.id}",
            public_address=address,
            synapse_address=address,
            database_host=address,
            database_port=5432,
            redis_host=address,
            archive_address=address,
            admin_networks=("127.0.0.0/8",),
            federation_ip_whitelist=("127.0.0.0/8",),
            redirect_http=False,
            hsm_dir=f"{base}/hsm",
            memory_dir=demo_memory_dir(root, department.id),
        )
    if kind == "onprem":
        return Target(
            kind="onprem",
            config_dir=f"/etc/govmatrix/{department.id}",
            data_dir=f"/var/lib/govmatrix/{department.id}",
            log_dir=None,
            secrets_dir=f"/etc/govmatrix/{department.id}/secrets",
            tls_dir=f"/etc/govmatrix/{department.id}/tls",
            ca_dir="/etc/govmatrix/pki",
            element_root="/var/www/govmatrix/element",
            checkpoint_log_dir=f"/var/log/govmatrix-archive/{department.id}",
            public_address="",
            synapse_address="127.0.0.1",
            database_host="127.0.0.1",
            database_port=5432,
            redis_host="127.0.0.1",
            archive_address="127.0.0.1",
            admin_networks=("127.0.0.1/32", "::1/128"),
            hsm_dir="/etc/govmatrix/hsm",
            # systemd's RuntimeDirectory of the Synapse unit: tmpfs, gone when it stops.
            memory_dir=f"/run/govmatrix/{department.id}",
        )
    if kind == "kubernetes":
        return kubernetes_target(department)
    raise ValueError(f"unknown target '{kind}'; expected one of {', '.join(TARGET_KINDS)}")


# Service names inside a department's namespace (govmatrix.kube creates them).
KUBE_SYNAPSE_SERVICE = "synapse"
KUBE_ARCHIVE_SERVICE = "archive"
KUBE_REDIS_SERVICE = "redis"
KUBE_DATABASE_CLUSTER = "db"  # CloudNativePG names its read-write Service '<cluster>-rw'


def kubernetes_target(department: Department) -> Target:
    """The Kubernetes layout: the same for every department (its namespace tells them apart)."""
    settings = department.kubernetes
    if settings.database == "managed" and settings.managed_database is not None:
        database_host, database_port = (
            settings.managed_database.host,
            settings.managed_database.port,
        )
    else:
        database_host, database_port = f"{KUBE_DATABASE_CLUSTER}-rw", 5432
    return Target(
        kind="kubernetes",
        config_dir="/config",
        data_dir="/data",
        log_dir=None,
        secrets_dir="/secrets",
        tls_dir="/tls",
        ca_dir="/ca",
        element_root="/app",
        checkpoint_log_dir="/checkpoint-log",
        public_address="",
        synapse_address="0.0.0.0",
        database_host=database_host,
        database_port=database_port,
        redis_host=KUBE_REDIS_SERVICE,
        archive_address=KUBE_ARCHIVE_SERVICE,
        admin_networks=(),
        # The ingress controller serves federation on 443 with the client API.
        federation_port=443,
        redirect_http=False,
        synapse_service=KUBE_SYNAPSE_SERVICE,
        archive_listen="0.0.0.0",
        internal_port=8009,
        metrics_port=9000 if settings.service_monitor else None,
        worker_health=True,
    )
