"""What Ansible deploys for one department: the renderer's files for target `onprem`, plus
where each goes, who owns it, and which secrets the host must hold.

Called on the controller by the lookup plugin (`plugins/lookup/govmatrix_render.py`). The
files are exactly `govmatrix render --target onprem`: secret-bearing ones still carry
their placeholders, which the host fills in from secrets generated on the host.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from govmatrix import __version__
from govmatrix.archive.store import ARCHIVE_DB_ROLE, ARCHIVE_OWNER_ROLE, migration_sql
from govmatrix.estate import load_estate
from govmatrix.estate.federation import build as build_graph
from govmatrix.estate.schema import Department, Estate
from govmatrix.hsm import tls as hsm_tls
from govmatrix.hsm.plan import plan as hsm_plan
from govmatrix.onprem import ARCHIVE_USER, SYNAPSE_USER
from govmatrix.onprem.backup import bundle_part as backup_part
from govmatrix.onprem.identity import IDENTITY_USER
from govmatrix.onprem.identity import bundle_part as identity_part
from govmatrix.pki import PkiError, partner_ca_source
from govmatrix.render import Target, render, required_secrets, target_for
from govmatrix.render.context import Context, make_context, uses_sso
from govmatrix.render.secrets import SecretSpec
from govmatrix.render.sizing import PROFILES

__all__ = ["ARCHIVE_USER", "SYNAPSE_USER", "BundleError", "bundle"]

# Which role deploys a rendered file: the first directory of its relative path.
_COMPONENT_OF_DIR = {
    "synapse": "synapse",
    "element": "element_web",
    "nginx": "reverse_proxy",
    "archive": "archive",
    "identity": "identity",
}


class BundleError(ValueError):
    pass


def _component(relative: str) -> str:
    return _COMPONENT_OF_DIR[relative.split("/", 1)[0]]


# Secrets Synapse does not read by path: the leaver sync (root) reads the directory's
# password; root's deploy steps and the sync act as an admin with the operator service token.
_ROOT_SECRETS = {"ldap_bind_password", "operator_as_token"}


def _secret_owner(spec: SecretSpec) -> str:
    if spec.file is None or spec.name in _ROOT_SECRETS:
        return "root"  # only filled into files, or read by a root service
    if spec.name.startswith("archive_"):
        return ARCHIVE_USER
    return SYNAPSE_USER


def _file_owner(component: str, secret: bool) -> str:
    if not secret:
        return "root"
    return {"archive": ARCHIVE_USER, "identity": IDENTITY_USER}.get(component, SYNAPSE_USER)


def _ca_files(
    estate: Estate, estate_file: Path, department: Department, ca_dir: str, pki_dir: Path | None
) -> list[dict[str, str]]:
    """The estate CA and the CAs of allowed partners, as files for the host (public data)."""
    files = []
    if pki_dir is not None:
        ca = pki_dir / "ca.crt"
        if not ca.is_file():
            raise BundleError(f"no estate CA at {ca}; run 'govmatrix pki init' first")
        files.append(_public_file(f"{ca_dir}/ca.crt", ca.read_text()))
    for partner_id in department.federation.allow:
        partner = estate.partner(partner_id)
        if partner is None:
            continue
        try:
            source = partner_ca_source(estate_file, partner)
        except PkiError as exc:
            raise BundleError(str(exc)) from None
        if source is not None:
            files.append(_public_file(f"{ca_dir}/partners/{partner.id}.pem", source.read_text()))
    return files


def _workers(department: Department, target: Target) -> list[dict[str, Any]]:
    """Synapse workers of the department's sizing profile; HTTP ports for generic ones."""
    sizing = PROFILES[department.synapse.profile]
    generic = sizing.of_role("generic")
    return [
        {
            "name": worker.name,
            "role": worker.role,
            "port": target.worker_base_port + generic.index(worker) if worker in generic else None,
        }
        for worker in sizing.workers
    ]


# nginx's OpenSSL and SoftHSM2 configuration when TLS keys are in the HSM: one per host,
# as one nginx serves every department on it and loads one PKCS#11 module.
NGINX_HSM_DIR = "/etc/govmatrix/nginx"


def _tls_hsm(ctx: Context) -> dict[str, Any] | None:
    """What the reverse_proxy role needs for a TLS key held in the HSM, or None."""
    dept = ctx.department
    if not ctx.tls_key_in_hsm:
        return None
    assert ctx.hsm is not None
    token = ctx.hsm.key("tls").token
    if ctx.tls_pin_path is None:
        raise BundleError(
            f"department '{dept.id}': the PIN of TLS token '{token}' is "
            f"{ctx.hsm.pin_ref(token)}, but nginx reads it from a file; give hsm.keys.tls.pin "
            "as file:PATH (root-only on the host) or generate"
        )
    openssl_conf, softhsm_conf = hsm_tls.nginx_env_files(Path(NGINX_HSM_DIR), ctx.hsm)
    environment = {"OPENSSL_CONF": str(openssl_conf)}
    if softhsm_conf is not None:
        environment["SOFTHSM2_CONF"] = str(softhsm_conf)
    return {
        "key_file": ctx.tls_key_path,
        "pin_file": ctx.tls_pin_path,
        "nginx_dir": NGINX_HSM_DIR,
        "environment": environment,
        "worker_user": hsm_tls.WORKER_USER,
    }


def _public_file(dest: str, content: str) -> dict[str, str]:
    return {"dest": dest, "content": content, "owner": "root", "mode": "0644"}


def bundle(
    estate_file: str | Path,
    department_id: str,
    *,
    database_host: str | None = None,
    pki_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Everything the roles need for one department, as plain data (JSON-compatible)."""
    path = Path(estate_file).resolve()
    estate = load_estate(path)
    dept = estate.department(department_id)
    if dept.target != "onprem":
        raise BundleError(f"department '{dept.id}' has target '{dept.target}', not 'onprem'")
    target = target_for("onprem", estate, dept)
    if database_host:
        target = target.with_overrides(database_host=database_host)
    files = []
    # One federation graph and context for the whole bundle: the render and each part.
    graph = build_graph(estate)
    ctx = make_context(estate, dept, target, graph)
    for relative, item in render(estate, dept, target, graph=graph).items():
        component = _component(relative)
        files.append(
            {
                "path": relative,
                "dest": f"{target.config_dir}/{relative}",
                "component": component,
                "content": item.text,
                "secret": item.secret,
                "mode": f"{item.mode:04o}",
                "owner": _file_owner(component, item.secret),
            }
        )
    secrets = [
        {
            "name": spec.name,
            "kind": spec.kind,
            # Secrets no service reads by path are still kept on the host, hidden.
            "file": spec.file or f".{spec.name}",
            "owner": _secret_owner(spec),
            # Issued elsewhere: copied from this file on the host (the estate allows only
            # file: references on-prem), never generated.
            "source": spec.ref.removeprefix("file:") if spec.ref else None,
        }
        for spec in required_secrets(dept, target)
    ]
    hsm = hsm_plan(dept, target)
    return {
        "govmatrix_version": __version__,
        "department": dept.id,
        "server_name": dept.server_name,
        "target": dataclasses.asdict(target),
        "files": files,
        "secrets": secrets,
        "ca_files": _ca_files(
            estate, path, dept, target.ca_dir, Path(pki_dir) if pki_dir else None
        ),
        "users": {"synapse": SYNAPSE_USER, "archive": ARCHIVE_USER, "identity": IDENTITY_USER},
        "workers": _workers(dept, target),
        "archive_schema_sql": migration_sql(ARCHIVE_OWNER_ROLE, ARCHIVE_DB_ROLE)
        if dept.archive.enabled
        else "",
        # None when the department keeps plain key files (hsm.enabled false).
        "hsm": hsm.to_dict() if hsm else None,
        # None when nginx keeps a software key file (no HSM, or no TLS key in it).
        "tls_hsm": _tls_hsm(ctx),
        "backup": backup_part(dept, target),
        # Synapse signs people in through OpenID Connect (the host trusts the estate CA).
        "sso": uses_sso(dept, target),
        # None when the department runs neither a provider nor a sync on its host.
        "identity": identity_part(ctx),
    }
