"""`govmatrix identity ...`: the department's directory and its homeserver's users."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

app = typer.Typer(help="Single sign-on and leavers.", no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)  # one line per message, for logs and schedulers

REFUSED_EXIT = 2  # the guard stopped the run: a scheduler sees a failure, and nobody is lost


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


@app.command("sync")
def sync_cmd(
    config_file: Annotated[
        Path, typer.Option("--config", help="The department's identity/sync.yaml.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report who would be deactivated; change nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Deactivate even past the share limit (recorded in the report and the "
            "archive). An empty directory is refused even so.",
        ),
    ] = False,
) -> None:
    """Deactivate users who left the directory or are disabled there. Writes a JSON report
    to the configured report directory and prints a summary; exits 2 when the guard
    refuses the run."""
    from govmatrix.identity import config as sync_config
    from govmatrix.identity import sync
    from govmatrix.identity.directory import DirectoryError
    from govmatrix.secretref import SecretRefError

    try:
        cfg = sync_config.load(config_file)
        report = sync.run(cfg, dry_run=dry_run, force=force)
    except (sync_config.SyncConfigError, SecretRefError, DirectoryError, sync.SyncError) as exc:
        fail(str(exc))
    path = report.write(Path(cfg.report_dir))
    print(json.dumps({**sync.summary(report), "report": str(path)}))
    if report.guard_overridden:
        err.print(f"[bold yellow]forced past the guard:[/] {report.guard_overridden}")
    if report.error:
        fail(f"{report.error} (deactivated before that: {len(report.deactivated)}; see {path})")
    if report.refused:
        err.print(f"[bold red]refused:[/] {report.refused}", highlight=False)
        raise typer.Exit(REFUSED_EXIT)
