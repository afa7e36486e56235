"""`govmatrix identity ...`: the department's directory and its homeserver's users."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from govmatrix.identity import slapd as slapd_types

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


DirectoryRoot = Annotated[
    Path, typer.Option("--root", help="slapd's configuration and database directory.")
]
Suffix = Annotated[str, typer.Option("--suffix", help="The directory's root, e.g. dc=gov,dc=uk.")]
Url = Annotated[str, typer.Option("--url", help="Where slapd listens, e.g. ldap://127.0.0.1:389.")]
BindDn = Annotated[str, typer.Option("--bind-dn", help="The read-only service account.")]


def _directory(root: Path, suffix: str, url: str) -> slapd_types.Slapd:
    from urllib.parse import urlsplit

    from govmatrix.identity import slapd

    parts = urlsplit(url)
    if parts.scheme != "ldap" or not parts.hostname:
        fail(f"a directory govmatrix runs listens on ldap://ADDRESS:PORT, not {url}")
    return slapd.Slapd(root, suffix, parts.port or 389, parts.hostname)


AdminPasswordFile = Annotated[
    Path,
    typer.Option(
        "--admin-password-file",
        help="The directory admin's password; generated (0600) if the file does not exist. "
        "Keep it out of --root, which slapd's user owns.",
    ),
]


def _admin_password(path: Path) -> str:
    from govmatrix.identity import slapd

    return slapd.admin_password(path)


@app.command("directory-config")
def directory_config(
    root: DirectoryRoot,
    suffix: Suffix,
    url: Url,
    bind_dn: BindDn,
    admin_password_file: AdminPasswordFile,
    owner: Annotated[
        str | None, typer.Option("--owner", help="The user slapd runs as (owns --root).")
    ] = None,
) -> None:
    """Write slapd's configuration for a department directory govmatrix runs on a host
    (ppolicy, the read-only service account's access). Prints 'changed' or 'unchanged'."""
    server = _directory(root, suffix, url)
    changed = server.write_config(_admin_password(admin_password_file), bind_dn)
    if owner is not None:
        changed |= _own(owner, [root, root / "data", server.config_file])
    print("changed" if changed else "unchanged")


def _own(owner: str, paths: list[Path]) -> bool:
    import pwd

    try:
        user = pwd.getpwnam(owner)
    except KeyError:
        fail(f"no user {owner} on this host")
    changed = False
    for path in paths:
        st = path.stat()
        if (st.st_uid, st.st_gid) != (user.pw_uid, user.pw_gid):
            os.chown(path, user.pw_uid, user.pw_gid)
            changed = True
    return changed


@app.command("directory-tree")
def directory_tree(
    root: DirectoryRoot,
    suffix: Suffix,
    url: Url,
    bind_dn: BindDn,
    base_dn: Annotated[str, typer.Option("--base-dn", help="Where people are.")],
    bind_password_file: Annotated[
        Path, typer.Option("--bind-password-file", help="The service account's password.")
    ],
    admin_password_file: AdminPasswordFile,
) -> None:
    """Create the directory's tree: the root, the password policy, the people container and
    the service account (with the kept password). Prints 'changed' when it added entries."""
    import ldap3

    from govmatrix.identity import slapd

    server = _directory(root, suffix, url)
    try:
        conn = server.connect(_admin_password(admin_password_file))
        try:
            added = slapd.ensure_tree(
                conn, server, base_dn, bind_dn, bind_password_file.read_text().strip()
            )
        finally:
            conn.unbind()
    except (ldap3.core.exceptions.LDAPException, OSError) as exc:
        fail(f"cannot set up the directory at {url}: {exc}")
    print("changed" if added else "unchanged")
