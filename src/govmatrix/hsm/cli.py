"""`govmatrix hsm ...`: a department's keys in its PKCS#11 tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from govmatrix.hsm.plan import HsmPlan

app = typer.Typer(help="Keys in the department's HSM (PKCS#11).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

DeptArg = Annotated[
    str | None, typer.Argument(help="Department id (with --estate).", show_default=False)
]
PlanOpt = Annotated[
    Path | None,
    typer.Option("--plan", help="The department's HSM plan (on hosts, written by Ansible)."),
]
EstateOpt = Annotated[Path, typer.Option("--estate", help="The estate file.")]
TargetOpt = Annotated[str, typer.Option("--target", help="demo or onprem.")]
RootOpt = Annotated[Path | None, typer.Option("--root", help="The demo's state directory.")]
DEFAULT_ESTATE = Path("inventories/demo/estate.yml")


def load_plan(
    estate_file: Path,
    dept_id: str | None,
    target_kind: str,
    root: Path | None,
    plan_file: Path | None = None,
) -> HsmPlan:
    """The department's HSM plan (from a plan file, or the estate), or a clear exit."""
    import json

    if plan_file is not None:
        try:
            return HsmPlan.from_dict(json.loads(plan_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(f"cannot read the HSM plan {plan_file}: {exc}")
    if dept_id is None:
        fail("name a department (with --estate) or give --plan")
    from govmatrix.estate import load_estate
    from govmatrix.estate.problems import EstateError
    from govmatrix.hsm.plan import HsmPlanError, plan
    from govmatrix.render.targets import target_for

    if target_kind not in ("demo", "onprem"):
        fail("--target must be demo or onprem (Kubernetes keeps keys in cert-manager and Secrets)")
    try:
        estate = load_estate(estate_file)
        dept = estate.department(dept_id)
        target = target_for(target_kind, estate, dept, root=str(root) if root else None)  # type: ignore[arg-type]
        hsm = plan(dept, target)
    except (EstateError, KeyError, HsmPlanError) as exc:
        fail(str(exc).strip("'\""))
    if hsm is None:
        fail(f"department '{dept_id}' does not use an HSM (hsm.enabled is false in the estate)")
    return hsm


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


@app.command()
def init(
    department: DeptArg = None,
    estate: EstateOpt = DEFAULT_ESTATE,
    target: TargetOpt = "demo",
    root: RootOpt = None,
    plan: PlanOpt = None,
) -> None:
    """Create the department's tokens (SoftHSM2 only) and keys. Safe to run again."""
    from govmatrix.hsm.device import HsmError
    from govmatrix.hsm.provision import init as run_init

    hsm = load_plan(estate, department, target, root, plan)
    try:
        report = run_init(hsm)
    except HsmError as exc:
        fail(str(exc))
    table = Table("key", "token", "label", "type", "state")
    for key in report.keys:
        state = "created" if key.created else "present"
        table.add_row(key.role, key.token, key.label, key.type, state)
    out.print(table)
    if report.tokens_created:
        created = ", ".join(report.tokens_created)
        out.print(f"tokens created: {created} (PINs in {hsm.hsm_dir}/pins)")


@app.command()
def status(
    department: DeptArg = None,
    estate: EstateOpt = DEFAULT_ESTATE,
    target: TargetOpt = "demo",
    root: RootOpt = None,
    plan: PlanOpt = None,
) -> None:
    """Check that every key of the department can be reached with its PIN."""
    from govmatrix.hsm.provision import check

    hsm = load_plan(estate, department, target, root, plan)
    problems = check(hsm)
    for problem in problems:
        err.print(f"[red]✗[/] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"[green]✓[/] {len(hsm.keys)} keys reachable in {', '.join(hsm.tokens)}")


SealedOpt = Annotated[Path, typer.Option("--sealed", help="The sealed signing key file.")]


@app.command("seal-signing-key")
def seal_signing_key(
    plan: Annotated[Path, typer.Option("--plan", help="The department's HSM plan.")],
    sealed: SealedOpt,
    adopt: Annotated[
        Path | None,
        typer.Option(help="A plain signing key to adopt (then deleted), keeping the identity."),
    ] = None,
) -> None:
    """Create Synapse's signing key sealed by the HSM, once; prints 'created' or 'present'."""
    from govmatrix.hsm import signing
    from govmatrix.hsm.device import HsmError

    hsm = load_plan(DEFAULT_ESTATE, None, "onprem", None, plan)
    existing = adopt.read_text() if adopt is not None and adopt.exists() else None
    try:
        created = signing.ensure_sealed(hsm, sealed, existing)
    except HsmError as exc:
        fail(str(exc))
    if adopt is not None and sealed.exists():
        adopt.unlink(missing_ok=True)
    out.print("created" if created else "present")


@app.command("unseal-signing-key")
def unseal_signing_key(
    plan: Annotated[Path, typer.Option("--plan", help="The department's HSM plan.")],
    sealed: SealedOpt,
    to: Annotated[Path, typer.Option("--to", help="Destination on tmpfs.")],
    owner: Annotated[str, typer.Option(help="User that may read it (Synapse's).")],
) -> None:
    """Open the sealed signing key into memory-backed storage, for Synapse to read at start."""
    import pwd

    from govmatrix.hsm import signing
    from govmatrix.hsm.device import HsmError

    hsm = load_plan(DEFAULT_ESTATE, None, "onprem", None, plan)
    entry = pwd.getpwnam(owner)
    try:
        signing.unseal_to_memory(hsm, sealed, to, (entry.pw_uid, entry.pw_gid))
    except HsmError as exc:
        fail(str(exc))


@app.command("grant")
def grant(
    plan: Annotated[Path, typer.Option("--plan", help="The department's HSM plan.")],
    key: Annotated[
        list[str],
        typer.Option(
            "--key",
            help="ROLE=GROUP or ROLE=GROUP:rw: the group may open the token of that key "
            "(repeat). Tokens of keys not named become root-only.",
        ),
    ],
) -> None:
    """Give system groups the SoftHSM2 tokens of their keys, and nothing else; prints the
    paths changed, or 'unchanged'."""
    from govmatrix.hsm import access
    from govmatrix.hsm.device import HsmError

    hsm = load_plan(DEFAULT_ESTATE, None, "onprem", None, plan)
    grants: dict[str, access.Grant] = {}
    for item in key:
        role, sep, spec = item.partition("=")
        group, _, mode = spec.partition(":")
        if not sep or not group or mode not in ("", "r", "rw"):
            fail(f"--key {item}: expected ROLE=GROUP or ROLE=GROUP:rw")
        grants[role] = access.Grant(group, write=mode == "rw")
    try:
        changed = access.grant(hsm, grants)  # type: ignore[arg-type]
    except (HsmError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    for path in changed:
        out.print(f"changed {path}", highlight=False)
    if not changed:
        out.print("unchanged")


@app.command("nginx-tls")
def nginx_tls(
    plan: Annotated[Path, typer.Option("--plan", help="The department's HSM plan.")],
    key_file: Annotated[Path, typer.Option(help="nginx's ssl_certificate_key to write.")],
    pin_file: Annotated[Path, typer.Option(help="nginx's ssl_password_file (exists).")],
    nginx_dir: Annotated[Path, typer.Option(help="Where nginx's OpenSSL config goes.")],
) -> None:
    """Write nginx's files for the department's HSM-held TLS key, then load the key the way
    an nginx worker will. Prints JSON: whether a file changed, and the key's public half
    (for the estate CA to certify)."""
    import json

    from cryptography.hazmat.primitives import serialization

    from govmatrix.hsm import tls
    from govmatrix.hsm.device import HsmError

    hsm = load_plan(DEFAULT_ESTATE, None, "onprem", None, plan)
    try:
        public = tls.public_key(hsm)  # one login: token, key and PIN are there
        changed = tls.write_nginx_files(hsm, key_file, nginx_dir)
        openssl_conf, softhsm_conf = tls.nginx_env_files(nginx_dir, hsm)
        tls.check_as_worker(
            key_file,
            tls.read_pin_file(pin_file),
            public,
            openssl_conf=openssl_conf,
            softhsm_conf=softhsm_conf,
        )
    except (HsmError, OSError) as exc:
        fail(str(exc))
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    print(json.dumps({"changed": changed, "public_key": pem}))
