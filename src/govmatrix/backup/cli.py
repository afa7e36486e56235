"""`govmatrix backup ...`: backups, restores and restore drills.

A demo department is named by its id; on an on-prem host the commands take the
department's backup.json (`--config`), which the Ansible `backup` role writes. The
Kubernetes objects use CloudNativePG's backups and a restic CronJob (docs/backups.md).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from govmatrix.backup.department import DepartmentBackup
    from govmatrix.backup.drill import LiveDepartment
    from govmatrix.demo.layout import Layout
    from govmatrix.estate.schema import Department, Estate

app = typer.Typer(help="Backups, restores and restore drills.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

DeptArg = Annotated[str | None, typer.Argument(help="Department id (demo).", show_default=False)]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="The department's backup.json (on hosts, from Ansible)."),
]
EstateOpt = Annotated[Path, typer.Option("--estate", help="The estate file.")]
RootOpt = Annotated[Path | None, typer.Option("--root", help="The demo's state directory.")]
DEFAULT_ESTATE = Path("inventories/demo/estate.yml")


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def _department(
    estate_file: Path, dept_id: str | None, root: Path | None
) -> tuple[Layout, Estate, Department]:
    from govmatrix.demo.layout import Layout
    from govmatrix.demo.stack import default_root
    from govmatrix.estate import load_estate
    from govmatrix.estate.problems import EstateError

    if dept_id is None:
        fail("name a department (demo) or give --config (a host's backup.json)")
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


def _backup(
    estate_file: Path, dept_id: str | None, root: Path | None, config: Path | None
) -> DepartmentBackup:
    """The department's backups: from a host's backup.json, or from the demo."""
    from govmatrix.backup.department import DepartmentBackup

    if config is not None:
        from govmatrix.backup import host_config

        try:
            layout, hsm = host_config.load(config)
        except (OSError, ValueError, KeyError) as exc:
            fail(f"cannot read {config}: {exc}")
        return DepartmentBackup(layout, hsm)
    from govmatrix.demo.backups import department_backup

    return department_backup(*_department(estate_file, dept_id, root))


def _errors() -> tuple[type[Exception], ...]:
    from govmatrix.backup.pgbackrest import BackupError
    from govmatrix.hsm.device import HsmError

    return BackupError, HsmError


@app.command("run")
def run_backup(
    department: DeptArg = None,
    kind: Annotated[str, typer.Option("--type", help="full, diff or incr.")] = "diff",
    estate: EstateOpt = DEFAULT_ESTATE,
    root: RootOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Back up the department now: its PostgreSQL cluster and its files."""
    backup = _backup(estate, department, root, config)
    department = backup.layout.stanza
    try:
        with out.status(f"{kind} backup of {department}…"):
            report = backup.backup(kind)
    except _errors() as exc:
        fail(str(exc))
    out.print(
        f"[green]✓[/] {department}: database backup {report.database['label']}, files snapshot "
        f"{report.files.get('snapshot_id', '')[:8]} in {report.seconds:.1f} s"
    )


@app.command("list")
def list_backups(
    department: DeptArg = None,
    estate: EstateOpt = DEFAULT_ESTATE,
    root: RootOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The department's database backups, WAL range and file snapshots."""
    from govmatrix.backup import pgbackrest, restic

    backup = _backup(estate, department, root, config)
    try:
        info = pgbackrest.info(backup.ready().layout)
        snaps = restic.snapshots(
            backup.layout, backup.passphrase("restic"), backup.s3_credentials()[1]
        )
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
    to: Annotated[str, typer.Option("--to", help="ISO 8601 time with zone, or 'latest'.")],
    into: Annotated[Path, typer.Option("--into", help="A new, empty directory.")],
    department: DeptArg = None,
    estate: EstateOpt = DEFAULT_ESTATE,
    root: RootOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Restore the department's cluster and files to a point in time, into a new directory.

    One-time encryption keys are dropped from the restore (clients upload new ones)."""
    from govmatrix.backup.restore import restore as run_restore

    target = _timestamp(to)
    backup = _backup(estate, department, root, config)
    department = backup.layout.stanza
    try:
        with out.status(f"restoring {department} to {to}…"):
            report = run_restore(backup, into.resolve(), target)
    except _errors() as exc:
        fail(str(exc))
    out.print(
        f"[green]✓[/] restored {department} to {to} in {into}: {report.events} events, the "
        f"latest at {report.latest_event_at}; files from snapshot "
        f"{report.files_snapshot.get('short_id')}; {report.one_time_keys_dropped} one-time "
        "keys dropped"
    )
    out.print(f"cluster: {into}/postgres  files: {into}/files  report: {into}/restore.json")


# Drills on a host (--config) work here: postgres and Synapse's user reach into it.
HOST_DRILLS = Path("/var/lib/govmatrix-drills")


@app.command()
def drill(
    department: DeptArg = None,
    estate: EstateOpt = DEFAULT_ESTATE,
    root: RootOpt = None,
    config: ConfigOpt = None,
    keep: Annotated[bool, typer.Option(help="Keep the restored data for inspection.")] = False,
) -> None:
    """Restore the latest backup into a scratch instance, start an isolated Synapse on it,
    and compare with the live department. Exits 1 on any difference."""
    import shutil

    from govmatrix.backup.drill import Drill

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    backup, live, workdir = _drill_parts(estate, department, root, config)
    workdir = workdir / stamp
    name = backup.layout.stanza
    drill_run = Drill(backup, live, workdir)
    with out.status(f"restore drill of {name}…") as status:
        report = drill_run.run(lambda step: status.update(f"drill of {name}: {step}…"))
    as_json, as_text = report.write(workdir)
    if not keep:
        for sub in ("postgres", "files", "socket"):
            shutil.rmtree(workdir / sub, ignore_errors=True)
    out.print(report.text(), highlight=False)
    out.print(f"report: {as_json} and {as_text}")
    if not report.passed:
        raise typer.Exit(1)


def _drill_parts(
    estate_file: Path, dept_id: str | None, root: Path | None, config: Path | None
) -> tuple[DepartmentBackup, LiveDepartment, Path]:
    """The department's backups, how the drill reaches the live department, and where the
    drills' work directories go: from a host's backup.json, or from the demo."""
    if config is not None:
        from govmatrix.backup import host_config, host_live

        backup = _backup(estate_file, None, None, config)
        try:
            live = host_config.load_live(config)
        except (OSError, ValueError) as exc:
            fail(f"cannot read {config}: {exc}")
        if live is None:
            fail(f"{config} has no 'live' settings; re-run the Ansible backup role")
        base = HOST_DRILLS / backup.layout.stanza
        for directory in (HOST_DRILLS, base):  # traversable by postgres and Synapse's user
            directory.mkdir(mode=0o711, exist_ok=True)
        return backup, host_live.live_department(live), base
    from govmatrix.demo.backups import department_backup, live_department

    layout, est, dept = _department(estate_file, dept_id, root)
    return (
        department_backup(layout, est, dept),
        live_department(layout, est, dept),
        layout.department(dept.id) / "drills",
    )


@app.command()
def prepare(
    config: Annotated[Path, typer.Option("--config", help="The host's backup.json.")],
) -> None:
    """Seal missing passphrases, write pgbackrest.conf and its in-memory include (at boot,
    before PostgreSQL archives WAL)."""
    backup = _backup(DEFAULT_ESTATE, None, None, config)
    try:
        backup.prepare()
    except _errors() as exc:
        fail(str(exc))
    out.print(f"{backup.layout.stanza}: pgBackRest ready ({backup.layout.config_file})")


@app.command()
def init(config: Annotated[Path, typer.Option("--config", help="The host's backup.json.")]) -> None:
    """Create the stanza and the restic repository, and a first full backup if none exists.
    Prints 'initialised' when it took that first backup, else 'present'."""
    backup = _backup(DEFAULT_ESTATE, None, None, config)
    try:
        backup.prepare()
        took = backup.initialise()
    except _errors() as exc:
        fail(str(exc))
    out.print("initialised" if took else "present")
