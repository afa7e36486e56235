"""The Kubernetes Secrets a department needs, described once for both ways of filling them:

- rendered YAML (GitOps): external-secrets `ExternalSecret`s that read every value from the
  platform's secret store, so no value is ever written into a manifest;
- Pulumi: `Secret`s whose values are Pulumi secrets from pulumi-random (see pulumi/).

The backup Secret (govmatrix.kube.backup) holds the restic password and the object store's
credentials. In rendered YAML every one of them is read from the store like any other
value; put the credentials your object store issued there. Pulumi generates them, so a
store that lets its administrator register given keys (MinIO, Ceph RGW) can use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govmatrix.estate.schema import Department
from govmatrix.kube import backup
from govmatrix.kube.meta import SECRETS, metadata, obj
from govmatrix.render import required_secrets
from govmatrix.render.secrets import SecretKind
from govmatrix.render.targets import kubernetes_target

Obj = dict[str, Any]

ESTATE_CA_SECRET = "estate-ca"
DB_SYNAPSE_SECRET = "db-synapse"
DB_ARCHIVE_SECRET = "db-archive"
DB_MIGRATE_SECRET = "db-archive-migrate"
# The archive schema migration logs in as this role, a member of the schema's owner role.
ARCHIVE_MIGRATE_ROLE = "archive_migrate"


@dataclass(frozen=True)
class Generated:
    """A value generated once per department (kind says how)."""

    name: str
    kind: SecretKind


@dataclass(frozen=True)
class Issued:
    """A value someone else issued (an external issuer's client secret, the directory's bind
    password), named by an estate reference. Rendered YAML reads it from the store like a
    generated one; Pulumi reads the reference (env: or file:) when it runs."""

    name: str
    ref: str


@dataclass(frozen=True)
class FromPki:
    """A value from the estate PKI (`govmatrix pki`), the same for every department."""

    name: str  # "ca.crt" or "ca.key"


@dataclass(frozen=True)
class Fixed:
    value: str


Source = Generated | Issued | FromPki | Fixed


# The backups' values (the Secret `backup`), apart from the Secret the Synapse pods mount.
BACKUP_VALUES = (
    Generated("backup_s3_access_key_id", "password"),
    Generated("backup_s3_secret_access_key", "password"),
    Generated("backup_restic_password", "token"),
)


@dataclass(frozen=True)
class KubeSecret:
    name: str
    type: str
    keys: tuple[tuple[str, Source], ...]


def generated_values(department: Department) -> tuple[Generated | Issued, ...]:
    """Every value the department's Secrets hold, generated or issued elsewhere, each once."""
    values: list[Generated | Issued] = [
        Issued(spec.name, spec.ref) if spec.ref else Generated(spec.name, spec.kind)
        for spec in required_secrets(department, kubernetes_target(department))
    ]
    if department.archive.enabled and department.kubernetes.database == "cnpg":
        values.append(Generated("archive_migrate_password", "password"))
    if backup.enabled(department):
        values += BACKUP_VALUES
    return tuple(values)


def kube_secrets(department: Department) -> tuple[KubeSecret, ...]:
    by_name = {value.name: value for value in generated_values(department)}
    backup_values = {value.name for value in BACKUP_VALUES}
    out = [
        KubeSecret(
            SECRETS,
            "Opaque",
            tuple((name, by_name[name]) for name in by_name if name not in backup_values),
        ),
    ]
    if backup.enabled(department):
        out.append(_backup_secret(department, by_name))
    if department.kubernetes.database == "cnpg":
        out.append(_basic_auth(DB_SYNAPSE_SECRET, "synapse", by_name["database_password"]))
        if department.archive.enabled:
            out.append(
                _basic_auth(DB_ARCHIVE_SECRET, "archive", by_name["archive_database_password"])
            )
            out.append(
                _basic_auth(
                    DB_MIGRATE_SECRET, ARCHIVE_MIGRATE_ROLE, by_name["archive_migrate_password"]
                )
            )
    if department.kubernetes.cluster_issuer is None:
        out.append(
            KubeSecret(
                ESTATE_CA_SECRET,
                "kubernetes.io/tls",
                (("tls.crt", FromPki("ca.crt")), ("tls.key", FromPki("ca.key"))),
            )
        )
    return tuple(out)


def _backup_secret(department: Department, by_name: dict[str, Generated | Issued]) -> KubeSecret:
    """Only the backups mount it: the Synapse and archive pods never see these values."""
    access_key, secret_key, restic_password = (by_name[v.name] for v in BACKUP_VALUES)
    keys: list[tuple[str, Source]] = [
        (backup.ACCESS_KEY_ID, access_key),
        (backup.SECRET_ACCESS_KEY, secret_key),
        (backup.RESTIC_PASSWORD, restic_password),
    ]
    if department.backup.repository.region:
        keys.append((backup.REGION, Fixed(department.backup.repository.region)))
    return KubeSecret(backup.SECRET, "Opaque", tuple(keys))


def _basic_auth(name: str, username: str, password: Generated | Issued) -> KubeSecret:
    return KubeSecret(
        name, "kubernetes.io/basic-auth", (("username", Fixed(username)), ("password", password))
    )


def remote_key(department: Department, source: Generated | Issued | FromPki) -> str:
    """Where the value lives in the secret store."""
    if isinstance(source, FromPki):
        return f"govmatrix/estate-ca/{source.name}"
    return f"govmatrix/{department.id}/{source.name}"


def external_secret(department: Department, secret: KubeSecret) -> Obj:
    """An ExternalSecret that makes `secret` from the store; literals go in its template."""
    data = [
        {"secretKey": key, "remoteRef": {"key": remote_key(department, source)}}
        for key, source in secret.keys
        if not isinstance(source, Fixed)
    ]
    template: Obj = {"type": secret.type, "engineVersion": "v2"}
    literals = {key: source.value for key, source in secret.keys if isinstance(source, Fixed)}
    if literals:
        template["mergePolicy"] = "Merge"
        template["data"] = literals
    return obj(
        "external-secrets.io/v1",
        "ExternalSecret",
        metadata(department, secret.name, "govmatrix", "secrets"),
        spec={
            "refreshInterval": "1h",
            "secretStoreRef": {
                "kind": "ClusterSecretStore",
                "name": department.kubernetes.secret_store,
            },
            "target": {"name": secret.name, "creationPolicy": "Owner", "template": template},
            "data": data,
        },
    )
