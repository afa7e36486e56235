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

DeptArg = Annotated[str, typer.Argument(help="Department id.", show_default=False)]
EstateOpt = Annotated[Path, typer.Option("--estate", help="The estate file.")]
TargetOpt = Annotated[str, typer.Option("--target", help="demo or onprem.")]
RootOpt = Annotated[Path | None, typer.Option("--root", help="The demo's state directory.")]
DEFAULT_ESTATE = Path("inventories/demo/estate.yml")


def load_plan(estate_file: Path, dept_id: str, target_kind: str, root: Path | None) -> HsmPlan:
    """The department's HSM plan, or a clear exit when it has none."""
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
    department: DeptArg,
    estate: EstateOpt = DEFAULT_ESTATE,
    target: TargetOpt = "demo",
    root: RootOpt = None,
) -> None:
    """Create the department's tokens (SoftHSM2 only) and keys. Safe to run again."""
    from govmatrix.hsm.device import HsmError
    from govmatrix.hsm.provision import init as run_init

    hsm = load_plan(estate, department, target, root)
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
    department: DeptArg,
    estate: EstateOpt = DEFAULT_ESTATE,
    target: TargetOpt = "demo",
    root: RootOpt = None,
) -> None:
    """Check that every key of the department can be reached with its PIN."""
    from govmatrix.hsm.provision import check

    hsm = load_plan(estate, department, target, root)
    problems = check(hsm)
    for problem in problems:
        err.print(f"[red]✗[/] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"[green]✓[/] {len(hsm.keys)} keys reachable in {', '.join(hsm.tokens)}")
