"""`govmatrix archive ...` commands."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from govmatrix.archive import config as archive_config

app = typer.Typer(
    help="The compliance archive: serve, verify, search, export, verify-export, flags.",
    no_args_is_help=True,
)
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
def enroll(
    config: ConfigOpt,
    shared_secret_file: Annotated[
        Path, typer.Option(help="Synapse's registration_shared_secret file.")
    ],
    operator_password_file: Annotated[
        Path, typer.Option(help="Password file of the department's operator admin.")
    ],
    operator_service_token_file: Annotated[
        Path,
        typer.Option(
            help="The operator application service's token file (govmatrix.operator): how "
            "the enrolment acts as a server admin, password login on or off."
        ),
    ],
) -> None:
    """Create the archive's Matrix user as a server admin, once (deploy step; idempotent).
    Prints 'enrolled' when it changed something, 'unchanged' otherwise."""
    from govmatrix.archive.enroll import EnrolError, enrol

    try:
        result = enrol(
            archive_config.load(config),
            shared_secret_file,
            operator_password_file,
            operator_service_token_file,
        )
    except (EnrolError, OSError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"{'enrolled' if result.changed else 'unchanged'}: {result.user_id}", highlight=False)


@app.command()
def migrate(
    owner: Annotated[str, typer.Option(help="Role that owns the schema.")] = "archive_owner",
    app_role: Annotated[str, typer.Option(help="The service's role (SELECT, INSERT).")] = (
        "archive"
    ),
    password_file: Annotated[
        Path | None, typer.Option(help="Password of the connecting role (else libpq's own).")
    ] = None,
) -> None:
    """Create or update the archive schema (idempotent). Connects with libpq's environment
    (PGHOST, PGDATABASE, PGUSER, ...) as a role that is the owner or a member of it."""
    import psycopg

    from govmatrix.archive.store import migrate as run_migrate

    password = password_file.read_text().strip() if password_file else None
    try:
        with psycopg.connect("", password=password) as conn:
            run_migrate(conn, owner, app_role)
    except psycopg.Error as exc:
        err.print(f"[bold red]error:[/] archive schema migration failed: {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"archive schema up to date (owner {owner}, service role {app_role})")


@app.command()
def verify(
    config: ConfigOpt,
    dsn: Annotated[str | None, typer.Option(help="Connect with this libpq DSN instead.")] = None,
) -> None:
    """Recompute the hash chain and check every checkpoint, in the database and the outside
    log. Exits 1 and names the first bad row when anything does not match."""
    import psycopg

    from govmatrix.archive.checkpoints import signer
    from govmatrix.archive.store import connect
    from govmatrix.archive.verify import verify as run_verify

    cfg = archive_config.load(config)
    public = signer(cfg).public_key()
    conn = psycopg.connect(dsn) if dsn else connect(cfg.database)
    with conn:
        report = run_verify(conn, public, cfg.checkpoint_log)
    summary = (
        f"{report.events} events, {report.checkpoints} checkpoints in the database, "
        f"{report.log_entries} in the outside log, head seq {report.head_seq}, "
        f"{report.access_entries} access-log entries; {report.encrypted} events are encrypted "
        "(kept as ciphertext, not searchable)"
    )
    if report.ok:
        out.print(f"[green]✓[/] archive intact: {summary}", highlight=False)
        return
    err.print(f"[bold red]✗ archive verification failed[/] ({summary})", highlight=False)
    err.print(f"first bad: {report.first_bad}", highlight=False)
    for problem in report.problems[:50]:
        err.print(f"  - {problem}", highlight=False)
    raise typer.Exit(1)


@app.command()
def export(
    config: ConfigOpt,
    case: Annotated[str, typer.Option("--case", help="FOI request or inquiry reference.")],
    out_dir: Annotated[Path, typer.Option("--out", help="New folder for the bundle.")],
    terms: Annotated[str | None, typer.Option(help="Words that must all appear.")] = None,
    sender: Annotated[str | None, typer.Option(help="Only this sender.")] = None,
    room: Annotated[str | None, typer.Option(help="Only this room.")] = None,
    officer: Annotated[str, typer.Option(help="Who exports (recorded).")] = "records-officer",
) -> None:
    """Export one case's events: JSONL, HTML transcript with media, manifest, chain proof.

    The archive is verified first; the export is recorded in the access audit log."""
    from govmatrix.archive import export as exporting
    from govmatrix.archive.chain import key_id
    from govmatrix.archive.checkpoints import signer
    from govmatrix.archive.store import SearchQuery, Store, audit, connect, search
    from govmatrix.archive.verify import verify as run_verify

    if not (terms or "").strip() and not sender:
        err.print("[bold red]error:[/] an export needs --terms or --sender (browsing is refused)")
        raise typer.Exit(2)
    cfg = archive_config.load(config)
    key = signer(cfg)
    with connect(cfg.database) as conn:
        report = run_verify(conn, key.public_key(), cfg.checkpoint_log)
        if not report.ok:
            err.print(
                f"[bold red]error:[/] refusing to export: the archive fails verification "
                f"(first bad: {report.first_bad})"
            )
            raise typer.Exit(1)
        store = Store(cfg.database)
        query = {"terms": terms, "sender": sender, "room": room}
        rows = search(store, SearchQuery(terms, sender, room, None, None, 0, 10_000_000))
        seqs = [r["seq"] for r in rows]
        links = {
            seq: (bytes(prev).hex(), bytes(h).hex())
            for seq, prev, h in conn.execute(
                "SELECT seq, prev_hash, hash FROM archive_events WHERE seq = ANY(%s)", (seqs,)
            )
        }
        media_for: dict[str, list[str]] = {}
        for event_id, sha in conn.execute(
            "SELECT event_id, sha256 FROM archive_event_media"
            " WHERE event_id = ANY(%s) AND sha256 IS NOT NULL ORDER BY mxc",
            ([r["event_id"] for r in rows],),
        ):
            media_for.setdefault(event_id, []).append(sha)
        head_row = conn.execute(
            "SELECT seq, hash FROM archive_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        head = (int(head_row[0]), bytes(head_row[1]).hex()) if head_row else (0, "")
    bundle = exporting.write_bundle(out_dir, case, query, cfg, key, rows, links, media_for, head)
    audit(store, officer, case, query, "exported", len(rows))
    if len(rows) >= cfg.flags.large_export_events:
        from govmatrix.archive.flags import Flag, record

        with store._lock, store.conn.transaction():
            record(
                store.conn,
                [
                    Flag(
                        "large_export",
                        officer,
                        None,
                        (),
                        f"case {case}: {len(rows)} events exported",
                    )
                ],
            )
    out.print(
        f"[green]✓[/] exported {len(rows)} events for case {case} to {bundle}; "
        f"signed by {key_id(key.public_key())}",
        highlight=False,
    )


@app.command("verify-export")
def verify_export(
    bundle: Annotated[Path, typer.Argument(help="An export folder.")],
    key: Annotated[
        str | None, typer.Option(help="The department's published archive key (base64).")
    ] = None,
) -> None:
    """Check an export offline: signature, every file's SHA-256, every event's chain link."""
    from govmatrix.archive.export import verify_bundle

    check = verify_bundle(bundle, key)
    if check.ok:
        pinned = "pinned key" if key else f"key {check.key_id} (not pinned: pass --key)"
        out.print(
            f"[green]✓[/] export intact: {check.events} events, signed by {pinned}", highlight=False
        )
        return
    err.print("[bold red]✗ export verification failed[/]")
    for problem in check.problems:
        err.print(f"  - {problem}", highlight=False)
    raise typer.Exit(1)


@app.command()
def flags(
    config: ConfigOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Suspicious-activity flags raised by the archive's rules."""
    import json

    from rich.table import Table

    from govmatrix.archive.flags import listing
    from govmatrix.archive.store import connect

    cfg = archive_config.load(config)
    with connect(cfg.database) as conn:
        rows = listing(conn, 0, 100_000)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Flags raised by the archive of {cfg.server_name}")
    for column in ("id", "when", "rule", "user", "room", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["raised_at"][:19],
            row["rule"],
            row["user_id"],
            row["room_id"] or "—",
            row["detail"],
        )
    out.print(table)


@app.command("search")
def search_cmd(
    config: ConfigOpt,
    case: Annotated[str, typer.Option("--case", help="FOI request or inquiry reference.")],
    terms: Annotated[str | None, typer.Option(help="Words that must all appear.")] = None,
    sender: Annotated[str | None, typer.Option(help="Only this sender.")] = None,
    room: Annotated[str | None, typer.Option(help="Only this room.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    officer: Annotated[str, typer.Option(help="Who searches (recorded).")] = "records-officer",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Search one case on the archive's host, as the API does: a term or a sender is
    required, and the search is written to the access audit log."""
    import json

    from rich.table import Table

    from govmatrix.archive.store import SearchQuery, Store, audit, search

    cfg = archive_config.load(config)
    store = Store(cfg.database)
    query = {"terms": terms, "sender": sender, "room": room}
    if not (terms or "").strip() and not sender:
        audit(store, officer, case, query, "refused: no term and no sender (browsing)", 0)
        err.print("[bold red]error:[/] a search needs --terms or --sender (browsing is refused)")
        raise typer.Exit(2)
    rows = search(store, SearchQuery(terms, sender, room, None, None, 0, limit))
    audit(store, officer, case, query, "answered", len(rows))
    if as_json:
        print(
            json.dumps(
                [
                    {k: v for k, v in r.items() if k != "event"} | {"event": r["event"]}
                    for r in rows
                ],
                indent=2,
                default=str,
            )
        )
        return
    table = Table(title=f"case {case}: {len(rows)} results")
    for column in ("seq", "when (UTC)", "sender", "room", "text"):
        table.add_column(column, overflow="fold")
    import datetime as dt

    for r in rows:
        when = dt.datetime.fromtimestamp(r["origin_server_ts"] / 1000, dt.UTC)
        text = "[encrypted]" if r["encrypted"] else (r["body"] or f"[{r['type']}]")
        if r["redacted_by"]:
            text += "  (deleted by sender later)"
        table.add_row(str(r["seq"]), f"{when:%Y-%m-%d %H:%M:%S}", r["sender"], r["room_id"], text)
    out.print(table)
