"""`govmatrix backup ...`: backups, restores and restore drills of the demo's departments.

On-prem hosts get the same commands through the Ansible `backup` role once it exists; the
Kubernetes objects use CloudNativePG's backups and a restic CronJob (docs/backups.md).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Backups, restores and restore drills.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

DeptArg = Annotated[str, typer.Argument(help="Department id.", show_default=False)]
EstateOpt = Annotated[Path, typer.Option("--estate", help="The estate file.")]
RootOpt = Annotated[Path | None, typer.Option("--root", help="The demo's state directory.")]
DEFAULT_ESTATE = Path("inventories/demo/estate.yml")


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def _department(estate_file: Path, dept_id: str, root: Path | None):  # type: ignore[no-untyped-def]
    from govmatrix.demo.layout import Layout
    from govmatrix.demo.stack import default_root
    from govmatrix.estate import load_estate
    from govmatrix.estate.problems import EstateError

    try:
        estate = load_estate(estate_file)
        dept = estate.department(dept_id)
    except (EstateError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    if not dept.backup.enabled:
        fail(f"department '{dept_id}' has backup.enabled false in the estate")
    layout = Layout((root or default_root()).resolve())
    if not layout.estate_copy.exists():
        fail(f"no demo at {layout.root}; run 'govmatrix demo up' first")
    return layout, estate, dept


def _errors() -> tuple[type[Exception], ...]:
    from govmatrix.backup.pgbackrest import BackupError
    from govmatrix.hsm.device import HsmError

    return BackupError, HsmError


@app.command("run")
def run_backup(
    department: DeptArg,
    kind: Annotated[str, typer.Option("--type", help="full, diff or incr.")] = "diff",
    estate: EstateOpt = DEFAULT_ESTATE,
    root: RootOpt = None,
) -> None:
    """Back up the department now: its PostgreSQL cluster and its files."""
    from govmatrix.demo.backups import department_backup

    layout, est, dept = _department(estate, department, root)
    try:
        with out.status(f"{kind} backup of {department}…"):
            report = department_backup(layout, est, dept).backup(kind)
    except _errors() as exc:
        fail(str(exc))
    out.print(
        f"[green]✓[/] {department}: database backup {report.database['label']}, files snapshot "
        f"{report.files.get('snapshot_id', '')[:8]} in {report.seconds:.1f} s"
    )


@app.command("list")
def list_backups(
    department: DeptArg, estate: EstateOpt = DEFAULT_ESTATE, root: RootOpt = None
) -> None:
    """The department's database backups, WAL range and file snapshots."""
    from govmatrix.backup import pgbackrest, restic
    from govmatrix.demo.backups import department_backup

    layout, est, dept = _department(estate, department, root)
    backup = department_backup(layout, est, dept)
    try:
        info = pgbackrest.info(backup.layout)
        snaps = restic.snapshots(backup.layout, backup.passphrase("restic"), backup._s3()[1])
    except _errors() as exc:
        fail(str(exc))
    table = Table("database backup", "type", "started", "stopped", "size")
    for item in info.get("backup", []):
        start, stop = item["timestamp"]["start"], item["timestamp"]["stop"]
        table.add_row(
            item["label"],
            item["type"],
            dt.datetime.fromtimestamp(start, dt.UTC).isoformat(timespec="seconds"),
            dt.datetime.fromtimestamp(stop, dt.UTC).isoformat(timespec="seconds"),
            f"{item['info']['repository']['delta'] / 1e6:.1f} MB",
        )
    out.print(table)
    archive = (info.get("archive") or [{}])[-1]
    out.print(f"WAL archived: {archive.get('min', '-')} … {archive.get('max', '-')}")
    files = Table("files snapshot", "time")
    for snap in snaps:
        files.add_row(snap["short_id"], snap["time"][:19])
    out.print(files)


def _timestamp(value: str) -> dt.datetime | None:
    if value == "latest":
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"--to '{value}' is not an ISO 8601 time (e.g. 2026-11-23T09:30:00Z) or 'latest'")
    if stamp.tzinfo is None:
        fail(f"--to '{value}' has no time zone; add Z or an offset such as +01:00")
    return stamp


@app.command()
def restore(
    department: DeptArg,
    to: Annotated[str, typer.Option("--to", help="ISO 8601 time with zone, or 'latest'.")],
    into: Annotated[Path, typer.Option("--into", help="A new, empty directory.")],
    estate: EstateOpt = DEFAULT_ESTATE,
    root: RootOpt = None,
) -> None:
    """Restore the department's cluster and files to a point in time, into a new directory.

    One-time encryption keys are dropped from the restore (clients upload new ones)."""
    from govmatrix.backup.restore import restore as run_restore
    from govmatrix.demo.backups import department_backup

    target = _timestamp(to)
    layout, est, dept = _department(estate, department, root)
    try:
        with out.status(f"restoring {department} to {to}…"):
            report = run_restore(department_backup(layout, est, dept), into.resolve(), target)
    except _errors() as exc:
        fail(str(exc))
    out.print(
        f"[green]✓[/] restored {department} to {to} in {into}: {report.events} events, the "
        f"latest at {report.latest_event_at}; files from snapshot "
        f"{report.files_snapshot.get('short_id')}; {report.one_time_keys_dropped} one-time "
        "keys dropped"
    )
    out.print(f"cluster: {into}/postgres  files: {into}/files  report: {into}/restore.json")


@app.command()
def drill(
    department: DeptArg,
    estate: EstateOpt = DEFAULT_ESTATE,
    root: RootOpt = None,
    keep: Annotated[bool, typer.Option(help="Keep the restored data for inspection.")] = False,
) -> None:
    """Restore the latest backup into a scratch instance, start an isolated Synapse on it,
    and compare with the live department. Exits 1 on any difference."""
    import shutil

    from govmatrix.backup.drill import Drill
    from govmatrix.demo.backups import department_backup, live_department

    layout, est, dept = _department(estate, department, root)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = layout.department(department) / "drills" / stamp
    drill_run = Drill(
        department_backup(layout, est, dept), live_department(layout, est, dept), workdir
    )
    with out.status(f"restore drill of {department}…") as status:
        report = drill_run.run(lambda step: status.update(f"drill of {department}: {step}…"))
    as_json, as_text = report.write(workdir)
    if not keep:
        for sub in ("postgres", "files", "socket"):
            shutil.rmtree(workdir / sub, ignore_errors=True)
    out.print(report.text(), highlight=False)
    out.print(f"report: {as_json} and {as_text}")
    if not report.passed:
        raise typer.Exit(1)
