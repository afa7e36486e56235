"""The `govmatrix` command line."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from govmatrix.estate import Estate, EstateError, load_estate
from govmatrix.estate.federation import build as build_graph

app = typer.Typer(
    help="govmatrix: sovereign, federated Matrix for a whole government, from one estate file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
pki_app = typer.Typer(help="The estate CA and department certificates.", no_args_is_help=True)
app.add_typer(pki_app, name="pki")
artifacts_app = typer.Typer(help="The artifact mirror for air-gapped sites.", no_args_is_help=True)
app.add_typer(artifacts_app, name="artifacts")


def _register_subcommands() -> None:
    from govmatrix.archive.cli import app as archive_app
    from govmatrix.backup.cli import app as backup_app
    from govmatrix.demo.cli import app as demo_app
    from govmatrix.hsm.cli import app as hsm_app
    from govmatrix.identity.cli import app as identity_app
    from govmatrix.kube.cli import app as kube_app

    app.add_typer(demo_app, name="demo")
    app.add_typer(archive_app, name="archive")
    app.add_typer(kube_app, name="kube")
    app.add_typer(hsm_app, name="hsm")
    app.add_typer(backup_app, name="backup")
    app.add_typer(identity_app, name="identity")


_register_subcommands()

out = Console()
err = Console(stderr=True)
EXIT_INVALID = 2

EstateArg = Annotated[Path, typer.Argument(help="The estate file (YAML).", show_default=False)]


class _State:
    debug = False


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _State.debug = debug


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _load(path: Path, *, as_json: bool = False) -> Estate:
    try:
        return load_estate(path)
    except EstateError as exc:
        if _State.debug:
            raise
        if as_json:
            print(
                json.dumps(
                    {"valid": False, "problems": [p.as_dict() for p in exc.problems]}, indent=2
                )
            )
        else:
            for problem in exc.problems:
                err.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)
            noun = "problem" if len(exc.problems) == 1 else "problems"
            err.print(f"[bold red]{path}: {len(exc.problems)} {noun}[/]", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None


# --- validate ---------------------------------------------------------------------------------


@app.command()
def validate(
    estate_file: EstateArg,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check an estate file; report every problem with file:line:column. Exit 2 if invalid."""
    estate = _load(estate_file, as_json=as_json)
    graph = build_graph(estate)
    if as_json:
        print(
            json.dumps(
                {
                    "valid": True,
                    "estate": estate.estate.name,
                    "version": estate.version,
                    "departments": [
                        {"id": d.id, "server_name": d.server_name, "target": d.target}
                        for d in estate.departments
                    ],
                    "partners": [p.id for p in estate.partners],
                    "federation_edges": [list(e) for e in graph.edges],
                },
                indent=2,
            )
        )
        return
    out.print(
        f"[green]✓[/] {estate_file}: estate '{estate.estate.name}' is valid — "
        f"{len(estate.departments)} departments, {len(estate.partners)} partners, "
        f"{len(graph.edges)} mutual federation links",
        highlight=False,
    )


# --- render -----------------------------------------------------------------------------------


class TargetChoice(StrEnum):
    demo = "demo"
    onprem = "onprem"
    kubernetes = "kubernetes"


@app.command()
def render(
    estate_file: EstateArg,
    target: Annotated[TargetChoice, typer.Option("--target", "-t", help="Where it runs.")],
    department: Annotated[
        list[str] | None,
        typer.Option("--department", "-d", help="Only this department (repeatable)."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write files under DIR/<department>/.")
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="Print only this file, byte for byte.")
    ] = None,
    root: Annotated[
        str | None, typer.Option("--root", help="Demo state directory the paths point into.")
    ] = None,
) -> None:
    """Render config files. Secret-bearing files hold placeholders and are written 0600.

    With --target kubernetes and --out, writes each department's Kubernetes objects instead
    (one YAML file per object and a kustomization); the config files are in its ConfigMap."""
    from govmatrix.render import render as render_department
    from govmatrix.render import target_for

    estate = _load(estate_file)
    if target is TargetChoice.kubernetes and out_dir is not None and file is None:
        _write_manifests(estate_file, estate, department, out_dir)
        return
    wanted = department or [d.id for d in estate.departments]
    graph = build_graph(estate)
    rendered = {}
    for dept_id in wanted:
        try:
            dept = estate.department(dept_id)
        except KeyError as exc:
            _fail(str(exc.args[0]), EXIT_INVALID)
        tgt = target_for(target.value, estate, dept, root=root)
        rendered[dept_id] = render_department(estate, dept, tgt, graph=graph)
    if file is not None:
        if len(rendered) != 1:
            _fail("--file needs exactly one --department")
        files = next(iter(rendered.values()))
        if file not in files:
            _fail(f"no rendered file '{file}'; rendered: {', '.join(files)}")
        sys.stdout.write(files[file].text)
        return
    if out_dir is None:
        for dept_id, files in rendered.items():
            for path, item in files.items():
                marker = "  (secret: placeholders, deploy 0600)" if item.secret else ""
                print(f"# ==> {dept_id}/{path}{marker}")
                sys.stdout.write(item.text)
        return
    count = 0
    for dept_id, files in rendered.items():
        for path, item in files.items():
            dest = out_dir / dept_id / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, item.mode)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(item.text)
            os.chmod(dest, item.mode)
            count += 1
    out.print(f"[green]✓[/] wrote {count} files for {len(rendered)} departments to {out_dir}")


def _write_manifests(
    estate_file: Path, estate: Estate, wanted: list[str] | None, out_dir: Path
) -> None:
    from govmatrix.kube import Options, estate_objects
    from govmatrix.kube.manifests import stale, write_department
    from govmatrix.pki import PkiError, partner_ca_texts

    try:
        departments = [estate.department(d) for d in wanted or [d.id for d in estate.departments]]
        options = Options(partner_cas=partner_ca_texts(estate_file, estate))
    except (KeyError, PkiError) as exc:
        _fail(str(exc.args[0]), EXIT_INVALID)
    count = 0
    for dept_id, objects in estate_objects(estate, departments, options).items():
        folder = out_dir / dept_id
        count += len(write_department(folder, objects)) - 1
        for path in stale(folder, objects):
            err.print(f"[yellow]![/] {path} names no object any more; remove it", highlight=False)
    out.print(
        f"[green]✓[/] wrote {count} Kubernetes objects for {len(departments)} departments "
        f"to {out_dir} (one folder each, with a kustomization.yaml)"
    )


# --- graph ------------------------------------------------------------------------------------


class GraphFormat(StrEnum):
    table = "table"
    json = "json"
    dot = "dot"
    svg = "svg"
    png = "png"


@app.command()
def graph(
    estate_file: EstateArg,
    fmt: Annotated[
        GraphFormat, typer.Option("--format", help="Output format.")
    ] = GraphFormat.table,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write to a file.")] = None,
) -> None:
    """Show who federates with whom (mutual edges), allow-lists and refusals."""
    from govmatrix import graph as graphs

    estate = _load(estate_file, as_json=as_json or fmt is GraphFormat.json)
    fed = build_graph(estate)
    if as_json:
        fmt = GraphFormat.json
    if fmt is GraphFormat.table:
        table = Table(title=f"Federation of '{estate.estate.name}' (mutual edges only)")
        for column in (
            "department",
            "server name",
            "target",
            "federates with",
            "partners",
            "refused",
        ):
            table.add_column(column, overflow="fold")
        for dept in estate.departments:
            info = fed.departments[dept.id]
            table.add_row(
                dept.id,
                dept.server_name,
                dept.target,
                ", ".join(info.peers) or "—",
                ", ".join(info.partners) or "—",
                ", ".join(info.refused) or "—",
            )
        Console(width=max(out.width, 160) if out_file is None else 200).print(table)
        return
    payload: bytes
    if fmt is GraphFormat.json:
        data: dict[str, Any] = {
            "estate": estate.estate.name,
            "edges": [list(e) for e in fed.edges],
            "partner_edges": [list(e) for e in fed.partner_edges],
            "departments": {
                d: {
                    "peers": list(i.peers),
                    "partners": list(i.partners),
                    "refused": list(i.refused),
                    "federation_domain_whitelist": list(i.whitelist),
                    "partner_ca_bundles": list(i.partner_ca_bundles),
                }
                for d, i in fed.departments.items()
            },
        }
        payload = (json.dumps(data, indent=2) + "\n").encode()
    else:
        dot = graphs.to_dot(estate, fed)
        if fmt is GraphFormat.dot:
            payload = dot.encode()
        else:
            if out_file is None:
                _fail(f"--format {fmt.value} writes binary data; give --out FILE")
            try:
                payload = graphs.render_image(dot, fmt.value)
            except graphs.GraphvizMissing as exc:
                _fail(str(exc))
    if out_file is None:
        sys.stdout.buffer.write(payload)
    else:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_bytes(payload)
        err.print(f"[green]✓[/] wrote {out_file}", highlight=False)


# --- schema -----------------------------------------------------------------------------------

SCHEMA_PATH = Path("docs/estate.schema.json")


@app.command()
def schema(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Where to write it.")] = SCHEMA_PATH,
    check: Annotated[
        bool, typer.Option("--check", help="Fail if the file differs from the code.")
    ] = False,
) -> None:
    """Write the estate JSON Schema (for editor autocompletion and validation)."""
    from govmatrix.estate.jsonschema import schema_text

    text = schema_text()
    if check:
        current = out_file.read_text(encoding="utf-8") if out_file.exists() else ""
        if current != text:
            _fail(f"{out_file} is out of date; run 'govmatrix schema' and commit it")
        out.print(f"[green]✓[/] {out_file} matches the code")
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text, encoding="utf-8")
    out.print(f"[green]✓[/] wrote {out_file}")


# --- migrate ----------------------------------------------------------------------------------


@app.command()
def migrate(
    estate_file: EstateArg,
    write: Annotated[bool, typer.Option("--write", help="Rewrite the file in place.")] = False,
) -> None:
    """Upgrade an estate written for an older schema version to the current one."""
    import yaml

    from govmatrix.estate import migrations
    from govmatrix.estate.loader import read_located, validate_located

    source = str(estate_file)
    try:
        located = read_located(estate_file.read_bytes(), source, check_version=False)
        if "version" not in located.data:
            _fail(f"{source}: no 'version' key; add 'version: 1' if it was written for v1")
        data, applied = migrations.migrate(located.data)
    except EstateError as exc:
        for problem in exc.problems:
            err.print(f"[red]✗[/] {problem}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    except (OSError, ValueError) as exc:
        _fail(str(exc), EXIT_INVALID)
    if not applied:
        out.print(f"[green]✓[/] {source} is already at version {data['version']}")
        return
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    located.data = data
    validate_located(located, source)
    if write:
        backup = estate_file.with_name(estate_file.name + ".bak")
        backup.write_bytes(estate_file.read_bytes())
        estate_file.write_text(text, encoding="utf-8")
        out.print(f"[green]✓[/] migrated {source} to version {data['version']} (backup: {backup})")
    else:
        sys.stdout.write(text)


# --- pki --------------------------------------------------------------------------------------


@artifacts_app.command("import")
def artifacts_import(
    file: Annotated[Path, typer.Argument(help="Release file, e.g. element-v1.12.4.tar.gz.")],
    mirror: Annotated[Path, typer.Option("--mirror", help="The artifact mirror directory.")],
) -> None:
    """Copy a release tarball into the artifact mirror and record its SHA-256 at import."""
    from govmatrix.artifacts import ArtifactError, import_element

    try:
        record = import_element(file, mirror)
    except (ArtifactError, OSError) as exc:
        _fail(str(exc))
    state = "verified against the pinned upstream hash" if record.verified else "UNVERIFIED"
    out.print(f"[green]✓[/] {record.name}: sha256 {record.sha256} ({state})", highlight=False)
    if not record.verified:
        out.print(
            "  No upstream hash is pinned for this release: compare the SHA-256 above with "
            "the checksum the release publishes before deploying it.",
            highlight=False,
        )


@pki_app.command("init")
def pki_init(
    estate_file: EstateArg,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="PKI directory [default: .state/pki/<estate name>]."),
    ] = None,
    import_ca: Annotated[
        Path | None, typer.Option("--import-ca", help="Use this existing CA certificate.")
    ] = None,
    import_key: Annotated[
        Path | None,
        typer.Option("--import-key", help="Its private key; without it, CSRs are written."),
    ] = None,
) -> None:
    """Create (or import) the one estate CA, and a key and certificate (or CSR) per department."""
    from govmatrix import pki
    from govmatrix.estate.pki_plan import plan

    estate = _load(estate_file)
    target_dir = directory or Path(".state/pki") / estate.estate.name
    if import_key is not None and import_ca is None:
        _fail("--import-key needs --import-ca")
    try:
        report = pki.init(plan(estate), target_dir, import_cert=import_ca, import_key=import_key)
    except (pki.PkiError, OSError, ValueError) as exc:
        _fail(str(exc))
    out.print(f"[green]✓[/] estate CA {report.ca}: {target_dir / 'ca.crt'}", highlight=False)
    if report.issued:
        out.print(f"  issued certificates: {', '.join(report.issued)}")
    if report.kept:
        out.print(f"  kept (still valid): {', '.join(report.kept)}")
    if report.csrs:
        out.print(
            f"  CSRs to sign with your CA: {', '.join(report.csrs)} "
            f"(in {target_dir}/<department>/server.csr)"
        )


@pki_app.command("certify-key")
def pki_certify_key(
    estate_file: EstateArg,
    department: Annotated[str, typer.Option("--department", help="Department id.")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="PEM public key of the department's TLS key.")
    ],
    cert_out: Annotated[Path, typer.Option("--out", help="Where the certificate goes.")],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="PKI directory [default: .state/pki/<estate name>]."),
    ] = None,
) -> None:
    """Certify a TLS key the estate CA does not hold (an HSM's), from its public half; the
    certificate is kept while it fits. Prints 'issued' or 'kept'."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from govmatrix import pki
    from govmatrix.estate.pki_plan import plan

    estate = _load(estate_file)
    target_dir = directory or Path(".state/pki") / estate.estate.name
    plans = {c.department: c for c in plan(estate).certificates}
    if department not in plans:
        _fail(f"no certificate for department '{department}' in {estate_file}")
    try:
        key = serialization.load_pem_public_key(public_key.read_bytes())
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the public key {public_key}: {exc}")
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        _fail(f"{public_key}: the estate CA certifies EC and RSA TLS keys only")
    try:
        issued = pki.EstatePki(target_dir).ensure_for_public_key(plans[department], key, cert_out)
    except (pki.PkiError, OSError) as exc:
        _fail(str(exc))
    out.print("issued" if issued else "kept")


def main() -> None:
    try:
        app()
    except Exception as exc:  # pragma: no cover - last resort, keeps tracebacks opt-in
        if _State.debug or os.environ.get("GOVMATRIX_DEBUG"):
            raise
        err.print(f"[bold red]error:[/] {exc} (run with --debug for details)")
        sys.exit(1)


if __name__ == "__main__":
    main()
