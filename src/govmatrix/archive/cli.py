"""`govmatrix archive ...` commands."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from govmatrix.archive import config as archive_config

app = typer.Typer(help="The compliance archive: serve, verify.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The archive's archive.yaml.")]


@app.command()
def serve(config: ConfigOpt) -> None:
    """Run the archive service (the application service Synapse pushes events to)."""
    import uvicorn

    from govmatrix.archive.service import create_app

    cfg = archive_config.load(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(
        create_app(cfg),
        host=cfg.listen.address,
        port=cfg.listen.port,
        log_level="warning",
        access_log=False,
    )


@app.command()
def verify(
    config: ConfigOpt,
    dsn: Annotated[str | None, typer.Option(help="Connect with this libpq DSN instead.")] = None,
) -> None:
    """Recompute the hash chain and check every checkpoint, in the database and the outside
    log. Exits 1 and names the first bad row when anything does not match."""
    import psycopg

    from govmatrix.archive.checkpoints import load_key
    from govmatrix.archive.store import connect
    from govmatrix.archive.verify import verify as run_verify

    cfg = archive_config.load(config)
    public = load_key(cfg.checkpoint_key_path).public_key()
    conn = psycopg.connect(dsn) if dsn else connect(cfg.database)
    with conn:
        report = run_verify(conn, public, cfg.checkpoint_log)
    summary = (
        f"{report.events} events, {report.checkpoints} checkpoints in the database, "
        f"{report.log_entries} in the outside log, head seq {report.head_seq}, "
        f"{report.access_entries} access-log entries"
    )
    if report.ok:
        out.print(f"[green]✓[/] archive intact: {summary}", highlight=False)
        return
    err.print(f"[bold red]✗ archive verification failed[/] ({summary})", highlight=False)
    err.print(f"first bad: {report.first_bad}", highlight=False)
    for problem in report.problems[:50]:
        err.print(f"  - {problem}", highlight=False)
    raise typer.Exit(1)
