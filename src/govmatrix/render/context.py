"""Everything templates read, computed once per department in plain Python.

Templates stay free of logic beyond loops and conditionals; decisions (which CA files,
which workers, which ports) are made here, where they can be tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from govmatrix.estate.federation import DepartmentFederation, FederationGraph
from govmatrix.estate.pki_plan import portal_host
from govmatrix.estate.schema import OWN_CLIENT_ID, Department, Directory, Estate, OidcClaims
from govmatrix.estate.types import duration_seconds, is_loopback_url
from govmatrix.hsm.plan import HsmPlan
from govmatrix.hsm.plan import plan as hsm_plan
from govmatrix.identity import IDP_ID
from govmatrix.render import paths
from govmatrix.render.paths import Absolute
from govmatrix.render.sizing import PROFILES, Sizing
from govmatrix.render.targets import Target

ARCHIVE_SENDER = "_govmatrix_archive"


def deploys_identity(department: Department, target: Target) -> bool:
    """Whether the target deploys the department's identity (single sign-on, leaver sync).
    The demo (its supervisor) and on-prem (the `identity` role) always do. A cluster runs no
    directory, so there it takes one the department names: a department rendered onto a
    cluster with the default loopback directory (the Kubernetes demo stack) keeps password
    login. (The estate refuses that for departments whose target is kubernetes.)"""
    if target.kind in ("demo", "onprem"):
        return True
    identity = department.identity
    if identity.provider == "external":
        return True
    return not is_loopback_url(identity.directory.url)


def runs_leaver_sync(department: Department, target: Target) -> bool:
    """Whether the target deploys the leaver sync (identity/sync.yaml and its schedule), for a
    department with a directory."""
    directory = department.identity.directory
    return (
        directory is not None
        and deploys_identity(department, target)
        and (target.kind != "kubernetes" or not is_loopback_url(directory.url))
    )


def runs_identity_provider(department: Department, target: Target) -> bool:
    """Whether the target runs the department's bundled OpenID Connect provider
    (LemonLDAP::NG)."""
    # A server named by address has no host name for the portal (and its certificate).
    return (
        department.identity.provider == "bundled"
        and deploys_identity(department, target)
        and portal_host(department) is not None
    )


def uses_sso(department: Department, target: Target) -> bool:
    """Synapse signs people in through OpenID Connect: with an external issuer or the bundled
    provider, where the target deploys identity."""
    return department.identity.provider == "external" or runs_identity_provider(department, target)


@dataclass(frozen=True)
class SingleSignOn:
    issuer: str
    client_id: str
    claims: OidcClaims  # claim names Synapse maps to the Matrix account
    client_secret_path: str


@dataclass(frozen=True)
class Context:
    estate: Estate
    department: Department
    target: Target
    federation: DepartmentFederation
    sizing: Sizing
    paths: Absolute
    ca_files: tuple[str, ...]
    host: str  # server name without port: the TLS and nginx server_name
    user_regex: str  # every local user: the archive's non-exclusive namespace
    # Private addresses Synapse may reach: the target's own plus the address blocks of the
    # peers and partners this department federates with.
    federation_ip_whitelist: tuple[str, ...]
    hsm: HsmPlan | None  # None: keys are plain 0600 files (no HSM, or a target without one)

    @property
    def signing_key_path(self) -> str:
        if self.hsm is not None and self.target.memory_dir is not None:
            return f"{self.target.memory_dir}/signing.key"  # unsealed there at start
        return self.paths.secret("signing.key")

    @property
    def tls_key_in_hsm(self) -> bool:
        """nginx uses the TLS key in the HSM (pkcs11-provider; govmatrix.hsm.tls), where the
        deploy tool provisions it: the demo (DemoStack._hsm_tls) and on-prem (the Ansible
        reverse_proxy role). Kubernetes keeps TLS keys with cert-manager."""
        return (
            self.hsm is not None
            and "tls" in self.hsm.keys
            and self.target.kind in ("demo", "onprem")
        )

    @property
    def tls_key_path(self) -> str:
        """nginx's ssl_certificate_key. With the HSM: a PEM file that only names the key in
        its token (a PKCS#11 URI for pkcs11-provider; no key material, no PIN)."""
        if self.tls_key_in_hsm:
            return f"{self.target.tls_dir}/server.key.uri.pem"
        return self.paths.server_key

    @property
    def directory(self) -> Directory | None:
        """The department's directory, which the leaver sync reads (bundled: the provider's
        own; external: the one given for sync, if any)."""
        return self.department.identity.directory

    @property
    def runs_directory(self) -> bool:
        """Whether govmatrix runs the department's directory (OpenLDAP): the demo, for every
        bundled department (on its loopback address); on-prem, for a bundled department whose
        directory URL is a loopback address (the `identity` role installs slapd on the
        host). Any other URL names the department's own directory (AD or LDAP)."""
        if self.department.identity.provider != "bundled" or self.directory is None:
            return False
        if self.target.kind == "demo":
            return True
        return self.target.kind == "onprem" and is_loopback_url(self.directory.url)

    @property
    def directory_url(self) -> str | None:
        if self.directory is None:
            return None
        if self.runs_directory and self.target.kind == "demo":
            return f"ldap://{self.target.public_address}:{self.target.directory_port}"
        return self.directory.url

    @property
    def tls_pin_path(self) -> str | None:
        """With the HSM: the root-only file nginx's master reads the TLS token's PIN from
        (ssl_password_file). None without the HSM, or when the PIN is not in a file (env:,
        vault:), which nginx cannot read; the deploy tool must then refuse to start it."""
        if not self.tls_key_in_hsm:
            return None
        assert self.hsm is not None
        token = self.hsm.key("tls").token
        ref = self.hsm.pin_ref(token)
        if ref == "generate":
            return self.hsm.generated_pin_file(token)
        if ref.startswith("file:"):
            return ref.removeprefix("file:")
        return None

    @property
    def portal_host(self) -> str | None:
        """The bundled provider's sign-in host (nginx vhost, certificate name)."""
        return portal_host(self.department)

    @property
    def runs_identity_provider(self) -> bool:
        return runs_identity_provider(self.department, self.target)

    @property
    def sso(self) -> SingleSignOn | None:
        if not uses_sso(self.department, self.target):
            return None
        identity = self.department.identity
        if identity.provider == "external":
            # Issued elsewhere: the deploy tool reads the estate's reference and keeps a copy
            # among the department's secrets, which Synapse reads.
            path = self.paths.secret("oidc_client_secret")
            return SingleSignOn(identity.issuer, identity.client_id, identity.oidc_claims, path)
        # The bundled provider releases the directory's attributes as the standard claims.
        return SingleSignOn(
            f"https://{self.portal_host}",
            OWN_CLIENT_ID,
            OidcClaims(),
            self.paths.secret("oidc_client_secret"),
        )

    @property
    def sso_idp_id(self) -> str:
        return IDP_ID

    @property
    def identity_conf_dir(self) -> str:
        return paths.IDENTITY_PROVIDER_CONF_DIR

    @property
    def portal_pod_port(self) -> int:
        """Kubernetes: the port of nginx in the portal's pod, behind the ingress controller."""
        return 8080

    @property
    def identity_state_dir(self) -> str:
        """The bundled provider's sessions and caches (its user owns it)."""
        return f"{self.target.data_dir}/identity"

    @property
    def sso_redirect_uri(self) -> str:
        return f"{self.public_baseurl}_synapse/client/oidc/callback"

    @property
    def public_baseurl(self) -> str:
        return f"https://{self.department.server_name}/"

    @property
    def retention_days(self) -> int:
        return duration_seconds(self.department.archive.retention) // 86400

    @staticmethod
    def seconds(duration: str) -> int:
        return duration_seconds(duration)


def _host(server_name: str) -> str:
    if server_name.startswith("["):
        return server_name[: server_name.index("]") + 1]
    return server_name.split(":")[0]


def make_context(
    estate: Estate, department: Department, target: Target, graph: FederationGraph
) -> Context:
    federation = graph.departments[department.id]
    paths = Absolute(target, department.id)
    partner_cas = tuple(
        paths.partner_ca(p)
        for p in federation.partners
        if (partner := estate.partner(p)) is not None and partner.ca_bundle
    )
    return Context(
        estate=estate,
        department=department,
        target=target,
        federation=federation,
        sizing=PROFILES[department.synapse.profile],
        paths=paths,
        ca_files=(paths.ca_cert, *partner_cas),
        host=_host(department.server_name),
        user_regex=f"@.*:{re.escape(department.server_name)}",
        federation_ip_whitelist=_ip_whitelist(estate, target, federation),
        hsm=hsm_plan(department, target),
    )


def _ip_whitelist(
    estate: Estate, target: Target, federation: DepartmentFederation
) -> tuple[str, ...]:
    blocks: list[str] = list(target.federation_ip_whitelist)
    for peer in federation.peers:
        blocks += estate.department(peer).address_blocks
    for partner_id in federation.partners:
        if (partner := estate.partner(partner_id)) is not None:
            blocks += partner.address_blocks
    return tuple(dict.fromkeys(blocks))
