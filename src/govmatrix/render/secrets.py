"""Secrets a department needs, and the placeholders that stand for them in rendered files.

The renderer never sees a secret value. Secret-bearing files carry `@@secret:NAME@@`
placeholders; each target generates or fetches the values and fills them in at deploy time,
writing the result with mode 0600. Secrets Synapse reads by path are listed here too, so
every target creates the same files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

# `@@secret:NAME:json@@` is filled JSON-escaped, for a value (a PEM key) inside a JSON string.
PLACEHOLDER_RE = re.compile(r"@@secret:([a-z0-9_]+)(?::json)?@@")

SecretKind = Literal["token", "password", "signing_key", "ed25519_pem", "rsa_pem"]


@dataclass(frozen=True)
class SecretSpec:
    name: str
    kind: SecretKind
    file: str | None  # relative to the target's secrets_dir, when Synapse reads it as a file
    # An estate reference (env:, file:, vault:) the value is read from instead of being
    # generated: a secret someone else issued, such as an external issuer's client secret.
    ref: str | None = None


def placeholder(name: str, *, json: bool = False) -> str:
    return f"@@secret:{name}:json@@" if json else f"@@secret:{name}@@"


def department_secrets(
    *,
    workers: bool,
    archive: bool,
    hsm: bool = False,
    directory_password: bool = False,
    directory_password_ref: str | None = None,
    sso_client_secret: bool = False,
    sso_client_secret_ref: str | None = None,
    identity_provider: bool = False,
    provider_client_secrets: tuple[tuple[str, str], ...] = (),
) -> tuple[SecretSpec, ...]:
    specs = [] if hsm else [SecretSpec("signing_key", "signing_key", "signing.key")]
    specs += [
        SecretSpec("macaroon_secret_key", "token", "macaroon_secret_key"),
        SecretSpec("registration_shared_secret", "token", "registration_shared_secret"),
        SecretSpec("form_secret", "token", "form_secret"),
        SecretSpec("database_password", "password", None),
        # The department's first server admin (`govmatrix-admin`), for operators and deploys.
        SecretSpec("operator_password", "password", None),
        # The operator application service (govmatrix.operator): how tools act as an admin.
        SecretSpec("operator_as_token", "token", "operator_as_token"),
        SecretSpec("operator_hs_token", "token", None),
    ]
    if workers:
        specs.append(SecretSpec("worker_replication_secret", "token", "worker_replication_secret"))
    if archive:
        specs += [
            SecretSpec("archive_as_token", "token", "archive_as_token"),
            SecretSpec("archive_hs_token", "token", "archive_hs_token"),
            SecretSpec("archive_database_password", "password", None),
            SecretSpec("archive_officer_token", "token", "archive_officer_token"),
        ]
        if not hsm:  # with the HSM, the checkpoint key is generated inside it
            specs.append(
                SecretSpec("archive_checkpoint_key", "ed25519_pem", "archive_checkpoint.key")
            )
    if directory_password:
        # The directory's read-only service account, which the leaver sync and the bundled
        # provider bind as; generated unless the estate gives a reference.
        specs.append(
            SecretSpec(
                "ldap_bind_password", "password", "ldap_bind_password", directory_password_ref
            )
        )
    if sso_client_secret:
        # Synapse's OpenID Connect client secret: shared with the bundled provider, or
        # issued by an external one (then read from the estate's reference).
        specs.append(
            SecretSpec("oidc_client_secret", "token", "oidc_client_secret", sso_client_secret_ref)
        )
    if identity_provider:
        # The bundled provider signs ID tokens with it (RS256); only its config holds it.
        specs.append(SecretSpec("oidc_signing_key", "rsa_pem", None))
        # Its other clients' secrets (name, estate reference): each shared with its client,
        # so read from the reference both sides are given; only its config holds them.
        specs += [SecretSpec(name, "token", None, ref) for name, ref in provider_client_secrets]
    return tuple(specs)


class MissingSecret(KeyError):
    pass


def fill(text: str, values: dict[str, str]) -> str:
    """Replace every placeholder; an unknown name is an error, never an empty string."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise MissingSecret(f"no value for secret '{name}'")
        if match.group(0).endswith(":json@@"):
            return json.dumps(values[name])[1:-1]
        return values[name]

    return PLACEHOLDER_RE.sub(one, text)
