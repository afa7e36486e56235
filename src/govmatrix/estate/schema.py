"""The estate schema: every setting a government can write in its estate file.

Sections (synapse, archive, backup, hsm, identity, kubernetes, branding) are sub-models so
later features add fields to one section without touching the others. Every model forbids
unknown keys, so a typo is an error with a suggestion rather than a silently ignored key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from govmatrix.estate.types import (
    Cidr,
    Colour,
    Cron,
    Duration,
    SecretRef,
    ServerName,
    Slug,
    Version,
    duration_seconds,
    is_loopback_url,
)

SCHEMA_VERSION = 1

# Retention beyond this is a typo (e.g. days written as years), not a policy.
MAX_RETENTION_YEARS = 150


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sections ---------------------------------------------------------------------------


class SynapseSettings(Strict):
    version: Version = Field("1.163.2", description="Synapse release installed from PyPI.")
    profile: Literal["small", "medium", "large"] = Field(
        "small",
        description="Sizing: small is a monolith; medium and large add Synapse workers "
        "and Redis, and raise caches and database pools.",
    )
    encryption_by_default: Literal["off", "invite", "all"] = Field(
        "off",
        description="Which new rooms get end-to-end encryption switched on. The archive "
        "stores ciphertext of encrypted rooms as-is, so plain rooms keep records searchable.",
    )
    max_upload_size: Annotated[str, Field(pattern=r"^\d{1,5}[KM]$")] = "100M"


class FlagRules(Strict):
    """Thresholds of the archive's suspicious-activity rules."""

    bulk_redactions: int = Field(10, ge=2, le=10_000, description="Redactions by one user ...")
    bulk_redactions_window: Duration = "10m"
    delete_after_send_within: Duration = Field("2m", description="... of sending counts.")
    mass_leave_rooms: int = Field(10, ge=2, le=10_000)
    mass_leave_window: Duration = "10m"
    deactivation_recent_activity: Duration = "7d"
    large_export_events: int = Field(10_000, ge=1)
    history_hidden: bool = Field(True, description="Flag history visibility narrowed.")


class ArchiveSettings(Strict):
    enabled: bool = True
    retention: Duration = Field(
        "10y",
        description="Minimum keep period. The archive never deletes: disposal is out of scope.",
    )
    flags: FlagRules = FlagRules()

    @field_validator("retention")
    @classmethod
    def _sane_retention(cls, value: str) -> str:
        seconds = duration_seconds(value)
        if seconds < 86400:
            raise ValueError(f"retention '{value}' is shorter than a day; records law wants years")
        if seconds > MAX_RETENTION_YEARS * 365 * 86400:
            raise ValueError(
                f"retention '{value}' is more than {MAX_RETENTION_YEARS} years; "
                "did you mean days or months?"
            )
        return value


class BackupRepository(Strict):
    type: Literal["local", "s3"] = "local"
    path: str | None = Field(None, description="Directory, for type local.")
    bucket: str | None = None
    endpoint: str | None = Field(
        None, description="URL of the S3-compatible store, e.g. https://s3.gov.test:9000."
    )
    region: str | None = None
    access_key: SecretRef | None = None
    secret_key: SecretRef | None = None
    ca_file: Annotated[str, Field(pattern=r"^file:/\S+$")] | None = Field(
        None,
        description="file:PATH (absolute, on the host that runs the backups) of the CA "
        "certificate that signs the store's TLS certificate, for a store with a private CA. "
        "pgBackRest and restic verify the store against it; the postgres user must be able "
        "to read it.",
    )
    address_blocks: list[Cidr] = Field(
        default_factory=list,
        description="Where the object store lives. On Kubernetes these blocks, on the "
        "endpoint's port, are the backup pods' only way out, and a department with backups "
        "must list them (write 0.0.0.0/0 to allow any address).",
    )
    server_side_encryption: bool = Field(
        True,
        description="Kubernetes: CloudNativePG asks the store to encrypt WAL and base backups "
        "(SSE-S3, AES256). Set false for a store that refuses such requests (MinIO without a "
        "KMS); the bucket's own default encryption then applies.",
    )

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> BackupRepository:
        if self.type == "s3" and not self.bucket:
            raise ValueError("an s3 repository needs 'bucket'")
        return self


class BackupRetention(Strict):
    full: int = Field(4, ge=1, le=520, description="Full backups kept.")
    diff: int = Field(14, ge=1, le=3650, description="Differential backups kept.")


class BackupSettings(Strict):
    enabled: bool = True
    pitr: bool = Field(True, description="Continuous WAL archiving for point-in-time recovery.")
    full: Cron = "0 2 * * 0"
    diff: Cron = "0 2 * * 1-6"
    archive_timeout: Duration = Field("30s", description="Longest gap between WAL segments.")
    retention: BackupRetention = BackupRetention()
    repository: BackupRepository = BackupRepository()
    passphrase: SecretRef = "generate"

    @field_validator("archive_timeout")
    @classmethod
    def _rpo_bound(cls, value: str) -> str:
        if not 1 <= duration_seconds(value) <= 3600:
            raise ValueError("archive_timeout must be between 1s and 1h")
        return value


HsmKeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519", "aes-256"]


class HsmKey(Strict):
    label: str = Field(min_length=1, max_length=64)
    type: HsmKeyType
    token: str | None = Field(None, description="Token label; defaults to the HSM's token.")
    pin: SecretRef | None = Field(None, description="PIN reference; defaults to the HSM's.")


KeyRole = Literal["tls", "archive_checkpoint", "backup_kek", "signing_wrap"]


def _default_keys() -> dict[KeyRole, HsmKey]:
    return {
        "tls": HsmKey(label="tls", type="ec-p256"),
        "archive_checkpoint": HsmKey(label="archive-checkpoint", type="ed25519"),
        "backup_kek": HsmKey(label="backup-kek", type="aes-256"),
        "signing_wrap": HsmKey(label="signing-wrap", type="aes-256"),
    }


_KEY_TYPES: dict[str, tuple[str, ...]] = {
    "tls": ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"),
    "archive_checkpoint": ("ed25519",),
    "backup_kek": ("aes-256",),
    "signing_wrap": ("aes-256",),
}


class HsmSettings(Strict):
    enabled: bool = False
    module: str = Field(
        "softhsm",
        description="'softhsm' for SoftHSM2, or the path of a vendor PKCS#11 module.",
    )
    token: str | None = Field(None, description="Token label; defaults to the department id.")
    pin: SecretRef = "generate"
    keys: dict[KeyRole, HsmKey] = Field(default_factory=_default_keys)

    @model_validator(mode="after")
    def _key_types(self) -> HsmSettings:
        for role, key in self.keys.items():
            allowed = _KEY_TYPES[role]
            if key.type not in allowed:
                raise ValueError(
                    f"key '{role}' cannot be of type '{key.type}'; supported: {', '.join(allowed)}"
                )
        return self


class ClaimMapping(Strict):
    subject: str = Field("entryUUID", description="Immutable directory attribute (AD: objectGUID).")
    localpart: str = Field("uid", description="Login name attribute (AD: sAMAccountName).")
    display_name: str = "cn"
    email: str = "mail"


class Directory(Strict):
    url: str = Field("ldap://127.0.0.1:389", pattern=r"^ldaps?://")
    base_dn: str = "ou=people,dc=example,dc=test"
    bind_dn: str = "cn=govmatrix,dc=example,dc=test"
    bind_password: SecretRef = "generate"
    disabled_filter: str = Field(
        "(pwdAccountLockedTime=*)",
        description="LDAP filter for disabled accounts. Active Directory: "
        "(userAccountControl:1.2.840.113556.1.4.803:=2).",
    )
    address_blocks: list[Cidr] = Field(
        default_factory=list,
        description="Where the directory lives. On Kubernetes, the only LDAP egress the "
        "provider and the leaver sync get (required there).",
    )


class OidcClaims(Strict):
    """Which claims of an external issuer's ID token or userinfo Synapse maps."""

    subject: str = Field("sub", description="Immutable per person (Entra ID: oid).")
    localpart: str = "preferred_username"
    display_name: str = "name"
    email: str = "email"


class IdentityBase(Strict):
    claims: ClaimMapping = ClaimMapping()
    sync_interval: Duration = "15m"
    max_deactivation_share: float = Field(
        0.10, gt=0, le=1, description="Sync refuses to deactivate more than this share."
    )


def _not_generated(ref: str, why: str) -> str:
    if ref == "generate":
        raise ValueError(f"{why}: give env:, file: or vault:, not generate")
    return ref


# The bundled provider's own client (this department's Synapse) has this id.
OWN_CLIENT_ID = "synapse"


class OidcClient(Strict):
    """A service that signs people in through this department's bundled provider, besides
    the department's own Synapse: typically another department of the estate whose identity
    is `external` with this provider's portal as its issuer."""

    client_id: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9_.]{0,62}[a-z0-9])?$")]
    name: str | None = Field(None, max_length=200, description="Shown on consent and logs.")
    redirect_uris: list[Annotated[str, Field(pattern=r"^https://\S+$")]] = Field(
        min_length=1,
        description="Where the provider may send people back. A Synapse client: "
        "https://<server name>/_synapse/client/oidc/callback.",
    )
    client_secret: SecretRef

    @field_validator("client_secret")
    @classmethod
    def _secret_given(cls, value: str) -> str:
        return _not_generated(
            value, "a client's secret is shared by the provider and the client, which both read it"
        )

    @property
    def secret_name(self) -> str:
        """The secret's name among the department's secrets (placeholders take [a-z0-9_])."""
        return "oidc_client_" + re.sub(r"[^a-z0-9]", "_", self.client_id) + "_secret"


class BundledIdentity(IdentityBase):
    provider: Literal["bundled"] = "bundled"
    directory: Directory = Directory()
    portal_host: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Host name of the sign-in portal (LemonLDAP::NG); default "
        "auth.<server name>. The estate CA certifies it with the department's server.",
    )
    clients: list[OidcClient] = Field(
        default_factory=list,
        description="Other services this provider signs people in to (the department's "
        "own Synapse is always one).",
    )

    @field_validator("clients")
    @classmethod
    def _distinct_clients(cls, clients: list[OidcClient]) -> list[OidcClient]:
        seen: dict[str, str] = {}
        for client in clients:
            if client.client_id == OWN_CLIENT_ID:
                raise ValueError(
                    f"client_id '{OWN_CLIENT_ID}' is the department's own Synapse; choose another"
                )
            if client.secret_name in seen:
                raise ValueError(
                    f"clients '{seen[client.secret_name]}' and '{client.client_id}' differ "
                    "only in punctuation; give them distinct ids"
                )
            seen[client.secret_name] = client.client_id
        return clients


class ExternalIdentity(IdentityBase):
    provider: Literal["external"]
    issuer: Annotated[str, Field(pattern=r"^https://")]
    client_id: str = Field(min_length=1)
    client_secret: SecretRef
    oidc_claims: OidcClaims = OidcClaims()
    directory: Directory | None = Field(None, description="Directory for leaver sync, if any.")
    issuer_address_blocks: list[Cidr] = Field(
        default_factory=list,
        description="Where the issuer lives. On Kubernetes, the only egress Synapse gets "
        "to it, on 443 (required there).",
    )

    @field_validator("client_secret")
    @classmethod
    def _secret_given(cls, value: str) -> str:
        return _not_generated(value, "an external issuer's client secret is issued by that issuer")


Identity = Annotated[BundledIdentity | ExternalIdentity, Field(discriminator="provider")]


K8sName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]


class ManagedDatabase(Strict):
    """A cloud provider's PostgreSQL: the platform team creates the server, the databases
    `synapse` and `archive` (collation C) and their roles; govmatrix connects to it."""

    host: str = Field(min_length=1, description="DNS name or address of the server.")
    port: int = Field(5432, ge=1, le=65535)
    address_blocks: list[Cidr] = Field(
        min_length=1, description="Where the server lives; the only database egress allowed."
    )


class KubernetesSettings(Strict):
    ingress_class: str = "nginx"
    ingress_namespace: K8sName = Field(
        "ingress-nginx",
        description="Namespace of the ingress controller: the only source of client and "
        "federation traffic, and the way out for federation.",
    )
    cluster_issuer: str | None = Field(
        None,
        description="cert-manager ClusterIssuer holding the estate CA. None: each department "
        "gets an Issuer of its own over the CA secret 'estate-ca'.",
    )
    image_registry: str | None = Field(
        None,
        description="Mirror for air-gapped clusters: images become REGISTRY/<path>:<tag>.",
    )
    storage_class: str | None = None
    media_size: Annotated[str, Field(pattern=r"^\d{1,6}[MGT]i$")] = "50Gi"
    database: Literal["cnpg", "managed"] = "cnpg"
    database_size: Annotated[str, Field(pattern=r"^\d{1,6}[MGT]i$")] = "20Gi"
    managed_database: ManagedDatabase | None = Field(
        None, description="Connection settings, when database is 'managed'."
    )
    cnpg_namespace: K8sName = Field("cnpg-system", description="Where the CNPG operator runs.")
    api_server_blocks: list[Cidr] = Field(
        default_factory=lambda: ["0.0.0.0/0"],
        description="Addresses of the Kubernetes API server; CNPG's instance manager talks "
        "to it (ports 443 and 6443 only). Narrow this to your control plane.",
    )
    dns_namespace: K8sName = "kube-system"
    secret_store: str = Field(
        "govmatrix",
        description="external-secrets ClusterSecretStore the rendered YAML reads secrets from.",
    )
    service_monitor: bool = Field(False, description="Add Prometheus ServiceMonitors.")
    monitoring_namespace: K8sName = "monitoring"

    @model_validator(mode="after")
    def _managed_needs_settings(self) -> KubernetesSettings:
        if self.database == "managed" and self.managed_database is None:
            raise ValueError("database 'managed' needs 'managed_database' (host, address_blocks)")
        return self


class Branding(Strict):
    brand: str | None = Field(None, description="Name shown by Element; defaults to the name.")
    theme_colour: Colour = "#0b0c0c"
    default_country_code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "GB"


class Federation(Strict):
    allow: list[Slug] = Field(
        default_factory=list, description="Departments or partners this department federates with."
    )


class Artifacts(Strict):
    mirror: str | None = Field(None, description="Directory or URL of the artifact mirror.")
    element_version: Version = "1.12.4"


class Pki(Strict):
    mode: Literal["internal-ca", "imported-ca"] = "internal-ca"


class EstateFederation(Strict):
    require_mutual: bool = Field(
        True,
        description="A one-sided allow entry between departments is an error. Set false "
        "to accept it (the edge is then simply absent).",
    )


# --- top level ----------------------------------------------------------------------------


class Sections(Strict):
    """The per-department sections; `estate.defaults` holds the same ones."""

    synapse: SynapseSettings = SynapseSettings()
    archive: ArchiveSettings = ArchiveSettings()
    backup: BackupSettings = BackupSettings()
    hsm: HsmSettings = HsmSettings()
    identity: Identity = BundledIdentity()
    kubernetes: KubernetesSettings = KubernetesSettings()
    branding: Branding = Branding()


SECTION_NAMES = tuple(Sections.model_fields)


class Defaults(Sections):
    """Section defaults merged into every department (department values win, key by key)."""


class EstateInfo(Strict):
    name: Slug
    pki: Pki = Pki()
    federation: EstateFederation = EstateFederation()
    artifacts: Artifacts = Artifacts()
    defaults: Defaults = Defaults()


class Partner(Strict):
    id: Slug
    name: str | None = None
    server_name: ServerName
    ca_bundle: Annotated[str, Field(pattern=r"^file:\S+$")] | None = Field(
        None, description="file:PATH of the CA bundle that signs the partner's federation TLS."
    )
    address_blocks: list[Cidr] = Field(default_factory=list)


class Department(Sections):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    server_name: ServerName
    target: Literal["onprem", "kubernetes", "demo"]
    federation: Federation = Federation()
    address_blocks: list[Cidr] = Field(
        default_factory=list,
        description="Private networks the department's federation endpoint is reached on "
        "(on-prem racks). Synapse refuses private addresses by default; peers that allow "
        "this department may reach these blocks, and nothing else private.",
    )

    @field_validator("id")
    @classmethod
    def _not_reserved_namespace(cls, value: str) -> str:
        # The id names the department's Kubernetes namespace.
        if value == "default" or value.startswith("kube-"):
            raise ValueError(f"'{value}' is a reserved Kubernetes namespace; choose another id")
        return value

    @model_validator(mode="after")
    def _identity_reachable_on_kubernetes(self) -> Department:
        """A cluster runs no directory and lets pods out only to named address blocks."""
        if self.target != "kubernetes":
            return self
        identity = self.identity
        directory = identity.directory
        # A department that says nothing of identity keeps password login there
        # (render.context.deploys_identity); one that asks for the bundled provider must
        # name a directory the cluster can reach.
        if (
            "identity" in self.model_fields_set
            and identity.provider == "bundled"
            and is_loopback_url(identity.directory.url)
        ):
            raise ValueError(
                f"identity.directory.url is {identity.directory.url}, a loopback address: on "
                "Kubernetes govmatrix runs no directory; give your directory's URL "
                "(ldaps://...) and its address_blocks"
            )
        if (
            directory is not None
            and not is_loopback_url(directory.url)
            and not directory.address_blocks
        ):
            raise ValueError(
                "identity.directory.address_blocks is empty: on Kubernetes the provider and "
                "the leaver sync reach the directory only there"
            )
        if identity.provider == "external" and not identity.issuer_address_blocks:
            raise ValueError(
                "identity.issuer_address_blocks is empty: on Kubernetes Synapse reaches the "
                "issuer only there"
            )
        return self

    @property
    def brand(self) -> str:
        return self.branding.brand or self.name


class Estate(Strict):
    version: Literal[1] = Field(description="Schema version of this file.")
    estate: EstateInfo
    partners: list[Partner] = Field(default_factory=list)
    departments: list[Department] = Field(min_length=1)

    def department(self, dept_id: str) -> Department:
        for dept in self.departments:
            if dept.id == dept_id:
                return dept
        known = ", ".join(d.id for d in self.departments)
        raise KeyError(f"no department '{dept_id}' in estate (known: {known})")

    def partner(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)
