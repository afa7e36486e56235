"""`govmatrix kube ...`: commands that run inside a department's pods."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Commands run inside the department's pods on Kubernetes.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)


@app.command("assemble-config")
def assemble_config(
    source: Annotated[
        Path, typer.Option("--from", help="The mounted ConfigMap of rendered files.")
    ],
    secrets: Annotated[Path, typer.Option("--secrets", help="The mounted Secret of values.")],
    dest: Annotated[Path, typer.Option("--to", help="The pod's (memory-backed) config directory.")],
    trust_ca: Annotated[
        Path | None,
        typer.Option(
            help="Also write ca-bundle.pem: the public CAs plus this CA (for SSL_CERT_FILE)."
        ),
    ] = None,
) -> None:
    """Copy the rendered files and fill secret placeholders (init container)."""
    from govmatrix.kube.assemble import assemble, trust_bundle
    from govmatrix.render.secrets import MissingSecret

    try:
        filled = assemble(source, secrets, dest)
        if trust_ca is not None:
            trust_bundle(trust_ca, dest)
    except (MissingSecret, FileNotFoundError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"config assembled in {dest}; secrets filled in: {', '.join(filled) or 'none'}")


@app.command("seed-users")
def seed_users_cmd(
    homeserver: Annotated[str, typer.Option(help="Synapse's internal client API URL.")],
    server_name: Annotated[str, typer.Option(help="The department's server name.")],
    shared_secret_file: Annotated[Path, typer.Option(help="registration_shared_secret file.")],
    operator_password_file: Annotated[Path, typer.Option(help="The operator admin's password.")],
    operator_service_token_file: Annotated[
        Path, typer.Option(help="The operator application service's token.")
    ],
    users_dir: Annotated[Path, typer.Option(help="One file per user: name = localpart.")],
) -> None:
    """Create or update the evaluator users (the demo stack's post-deploy Job)."""
    from govmatrix.demo.matrix import MatrixError
    from govmatrix.kube.seed import read_users, seed_users
    from govmatrix.operator import OperatorError

    try:
        seeded = seed_users(
            homeserver,
            server_name,
            shared_secret_file.read_text().strip(),
            operator_password_file.read_text().strip(),
            operator_service_token_file.read_text().strip(),
            read_users(users_dir),
        )
    except (OperatorError, MatrixError, OSError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"seeded {len(seeded)} users: {', '.join(seeded)}", highlight=False)
