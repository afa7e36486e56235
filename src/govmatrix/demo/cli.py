"""`govmatrix demo ...` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from govmatrix.demo.stack import DemoStack, default_root
from govmatrix.demo.system import DemoError

DEFAULT_ESTATE = Path(__file__).resolve().parents[3] / "inventories" / "demo" / "estate.yml"

app = typer.Typer(
    help="Run an estate locally: real Synapse, PostgreSQL and nginx on loopback.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

EstateOpt = Annotated[Path, typer.Option("--estate", "-e", help="Estate file.")]
RootOpt = Annotated[Path, typer.Option("--root", help="State directory.")]


def _stack(estate: Path, root: Path, artifacts: str | None = None) -> DemoStack:
    from govmatrix.cli import _load

    _load(estate)  # prints located problems and exits 2 if the estate is invalid
    return DemoStack(estate, root, artifacts=artifacts, console=err)


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(1)


@app.command()
def up(
    estate: EstateOpt = DEFAULT_ESTATE,
    root: RootOpt = default_root(),
    artifacts: Annotated[
        str | None, typer.Option("--artifacts", help="Artifact mirror (dir or URL) for Element.")
    ] = None,
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="Seed users and rooms.")] = True,
) -> None:
    """Bring the estate up (a second run reports health and changes nothing)."""
    try:
        stack = _stack(estate, root, artifacts)
        was_running = stack.supervisor.running()
        report = stack.up(seed=seed)
        status = stack.status()
    except DemoError as exc:
        _fail(exc)
        return
    if report.element is not None and report.element.status == "unavailable":
        err.print(f"[yellow]![/] {report.element.message}", highlight=False)
    if was_running and not report.started and not report.restarted:
        out.print(f"[green]✓[/] already up; nothing changed ({report.seconds:.1f}s)")
    else:
        out.print(
            f"[green]✓[/] demo up in {report.seconds:.1f}s "
            f"(started {len(report.started)}, restarted {len(report.restarted)})"
        )
    _summary(status)
    if not status["healthy"]:
        raise typer.Exit(1)


def _summary(status: dict[str, Any]) -> None:
    table = Table(title="govmatrix demo", show_lines=True)
    columns = ("department", "URL (client, Element; sign-in)", "federates with", "users", "health")
    for column in columns:
        table.add_column(column, overflow="fold")
    for dept in status["departments"]:
        peers = (
            ", ".join(f"{p['id']} {'✓' if p['reachable'] else '✗'}" for p in dept["peers"]) or "—"
        )
        users = "\n".join(u["user_id"] for u in dept["users"]) or "—"
        health = "[green]healthy[/]" if dept["healthy"] else "[red]unhealthy[/]"
        urls = dept["client_url"]
        if issuer := dept["identity"].get("issuer"):
            urls += f"\nsign in: {issuer}"
        if provider := dept["identity"].get("provider_department"):
            urls += f" ({provider}'s directory)"
        table.add_row(f"{dept['name']}\n{dept['address']}", urls, peers, users, health)
    out.print(table)
    out.print(f"Passwords and admin tokens: {status['credentials_file']} (0600, root only)")
    if any(d["identity"].get("issuer") for d in status["departments"]):
        out.print(
            "People sign in with single sign-on: their directory passwords are under "
            "<department>.directory.people in that file."
        )
    out.print(f"Logs: {status['root']}/logs   CA to trust: {status['root']}/pki/ca.crt")
    element = status["element"]
    if element.get("status") == "unavailable":
        out.print(
            "Element Web: not installed (see above); any Matrix client works against the URLs."
        )
    else:
        verified = "verified" if element.get("verified") else "SHA-256 recorded, unverified"
        out.print(f"Element Web {element.get('version')}: {verified}")


@app.command()
def status(
    estate: EstateOpt = DEFAULT_ESTATE,
    root: RootOpt = default_root(),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Health per department, federation to each allowed peer, users and credentials."""
    try:
        data = _stack(estate, root).status()
    except DemoError as exc:
        _fail(exc)
        return
    if as_json:
        print(json.dumps(data, indent=2))
    elif not data["running"]:
        out.print("the demo is not running (govmatrix demo up)")
    else:
        _summary(data)
    if not data["healthy"]:
        raise typer.Exit(1)


@app.command()
def down(estate: EstateOpt = DEFAULT_ESTATE, root: RootOpt = default_root()) -> None:
    """Stop every process and remove the /etc/hosts entries. State is kept."""
    try:
        _stack(estate, root).down()
    except DemoError as exc:
        _fail(exc)
    out.print("[green]✓[/] demo down: no processes, no listening ports")


@app.command()
def reset(estate: EstateOpt = DEFAULT_ESTATE, root: RootOpt = default_root()) -> None:
    """Stop everything and delete the state directory."""
    try:
        _stack(estate, root).reset()
    except DemoError as exc:
        _fail(exc)
    out.print(f"[green]✓[/] demo reset: {root} removed")


@app.command()
def seed(estate: EstateOpt = DEFAULT_ESTATE, root: RootOpt = default_root()) -> None:
    """Create users, a room per federating pair and a few messages (idempotent)."""
    from govmatrix.demo.seed import seed as run_seed

    try:
        run_seed(_stack(estate, root))
    except DemoError as exc:
        _fail(exc)
    out.print("[green]✓[/] seeded")
