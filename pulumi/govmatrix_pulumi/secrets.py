"""Secret values as Pulumi secrets: generated once per department with pulumi-random (kept
in the stack's encrypted state), or read from the estate PKI, then made into the Secrets
govmatrix.kube's objects mount."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumi_tls as tls

from govmatrix import secretref
from govmatrix.estate.schema import Department
from govmatrix.kube.demo import USERS_SECRET, Demo
from govmatrix.kube.meta import labels, namespace_of
from govmatrix.kube.secrets import (
    FromPki,
    Generated,
    Issued,
    KubeSecret,
    Source,
    generated_values,
    kube_secrets,
)
from govmatrix.secretgen import ed25519_pem_from_seed, signing_key_from_seed
from govmatrix_pulumi.settings import SettingsError

SIGNING_KEY_ID = "a_k8s"


def _from_seed(seed: random.RandomBytes, kind: str) -> pulumi.Output[str]:
    def make(encoded: str) -> str:
        raw = base64.b64decode(encoded)
        return (
            signing_key_from_seed(raw, SIGNING_KEY_ID)
            if kind == "signing_key"
            else ed25519_pem_from_seed(raw)
        )

    return pulumi.Output.secret(seed.base64.apply(make))


def _read_ref(department: Department, spec: Issued) -> str:
    try:
        return secretref.read(spec.ref, f"department '{department.id}': {spec.name}")
    except secretref.SecretRefError as exc:
        raise SettingsError(
            f"{exc}; or give it to the stack as a secret: pulumi config set --secret --path "
            f"'govmatrix:issued.{department.id}.{spec.name}' VALUE"
        ) from None


def _issued(
    department: Department, spec: Issued, issued: pulumi.Output[Any] | None
) -> pulumi.Output[str]:
    """A value issued elsewhere: from the stack's secret config `govmatrix:issued` when it
    has one for the department, else from the estate's reference (env: or file:, read on
    the machine running Pulumi)."""
    if issued is None:
        return pulumi.Output.secret(_read_ref(department, spec))

    def pick(values: Any) -> str:
        given = ((values or {}).get(department.id) or {}).get(spec.name)
        return str(given) if given else _read_ref(department, spec)

    return pulumi.Output.secret(issued.apply(pick))


def generate(
    department: Department,
    opts: pulumi.ResourceOptions,
    issued: pulumi.Output[Any] | None = None,
) -> dict[str, pulumi.Output[str]]:
    """One value per secret the department needs, stable across updates."""
    values: dict[str, pulumi.Output[str]] = {}
    for spec in generated_values(department):
        name = f"{department.id}-{spec.name.replace('_', '-')}"
        if isinstance(spec, Issued):
            values[spec.name] = _issued(department, spec, issued)
        elif spec.kind == "rsa_pem":
            # PKCS#1 ("RSA PRIVATE KEY"), which LemonLDAP::NG reads.
            key = tls.PrivateKey(name, algorithm="RSA", rsa_bits=2048, opts=opts)
            values[spec.name] = pulumi.Output.secret(key.private_key_pem)
        elif spec.kind in ("signing_key", "ed25519_pem"):
            seed = random.RandomBytes(name, length=32, opts=opts)
            values[spec.name] = _from_seed(seed, spec.kind)
        else:
            length = 32 if spec.kind == "password" else 48
            password = random.RandomPassword(name, length=length, special=False, opts=opts)
            values[spec.name] = pulumi.Output.secret(password.result)
    return values


def pki_values(pki_dir: Path | None) -> dict[str, pulumi.Output[str]]:
    if pki_dir is None:
        return {}
    missing = [name for name in ("ca.crt", "ca.key") if not (pki_dir / name).is_file()]
    if missing:
        raise SettingsError(
            f"govmatrix:pkiDir is {pki_dir}, which has no {' or '.join(missing)}: run "
            f"'govmatrix pki init ESTATE --dir {pki_dir}' first"
        )
    return {
        "ca.crt": pulumi.Output.from_input((pki_dir / "ca.crt").read_text()),
        "ca.key": pulumi.Output.secret((pki_dir / "ca.key").read_text()),
    }


def _value(
    secret: KubeSecret,
    key: str,
    source: Source,
    generated: dict[str, pulumi.Output[str]],
    pki: dict[str, pulumi.Output[str]],
) -> pulumi.Input[str]:
    if isinstance(source, Generated | Issued):
        return generated[source.name]
    if isinstance(source, FromPki):
        if source.name not in pki:
            raise SettingsError(
                f"secret '{secret.name}' needs the estate CA ({source.name}): set govmatrix:pkiDir "
                "to the directory of 'govmatrix pki init', or give the department a "
                "kubernetes.cluster_issuer"
            )
        return pki[source.name]
    return str(source.value)


def create(
    department: Department,
    generated: dict[str, pulumi.Output[str]],
    pki: dict[str, pulumi.Output[str]],
    opts: pulumi.ResourceOptions,
) -> list[k8s.core.v1.Secret]:
    out = []
    for secret in kube_secrets(department):
        data = {key: _value(secret, key, source, generated, pki) for key, source in secret.keys}
        out.append(_secret(department, secret.name, secret.type, data, opts))
    return out


def _secret(
    department: Department,
    name: str,
    kind: str,
    data: dict[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    return k8s.core.v1.Secret(
        f"{department.id}-secret-{name}",
        metadata={
            "name": name,
            "namespace": namespace_of(department),
            "labels": labels(department, "govmatrix", "secrets"),
        },
        type=kind,
        string_data=pulumi.Output.secret(data),
        opts=opts,
    )


def demo_users(
    department: Department, demo: Demo, opts: pulumi.ResourceOptions
) -> tuple[k8s.core.v1.Secret, dict[str, pulumi.Output[str]]]:
    passwords: dict[str, pulumi.Output[str]] = {}
    for user in demo.users:
        password = random.RandomPassword(
            f"{department.id}-demo-{user}", length=20, special=False, opts=opts
        )
        passwords[user] = pulumi.Output.secret(password.result)
    secret = _secret(department, USERS_SECRET, "Opaque", dict(passwords), opts)
    return secret, passwords
