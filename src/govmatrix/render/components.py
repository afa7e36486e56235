"""Per-component render functions. Each yields (relative path, text, is_secret)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from govmatrix.estate.schema import OWN_CLIENT_ID
from govmatrix.operator import OPERATOR_SERVICE
from govmatrix.render import paths
from govmatrix.render.context import ARCHIVE_SENDER, Context
from govmatrix.render.environment import render_template
from govmatrix.render.secrets import placeholder

Rendered = Iterator[tuple[str, str, bool]]


def synapse(ctx: Context) -> Rendered:
    yield paths.HOMESERVER, render_template("synapse/homeserver.yaml.j2", c=ctx), False
    yield (
        paths.LOG_CONFIG,
        render_template("synapse/log.yaml.j2", c=ctx, process="homeserver"),
        False,
    )
    yield _registration(
        ctx, paths.OPERATOR_REGISTRATION, "synapse/operator-appservice.yaml.j2", "operator"
    )
    # libpq reads the database password from this file, so homeserver.yaml never holds it.
    yield (
        paths.PGPASS,
        render_template("synapse/pgpass.j2", c=ctx, password=placeholder("database_password")),
        True,
    )
    for worker in ctx.sizing.workers:
        index = ctx.sizing.workers.index(worker)
        yield (
            paths.worker_config(worker.name),
            render_template("synapse/worker.yaml.j2", c=ctx, worker=worker, index=index),
            False,
        )
        yield (
            paths.worker_log_config(worker.name),
            render_template("synapse/log.yaml.j2", c=ctx, process=worker.name),
            False,
        )


def element(ctx: Context) -> Rendered:
    yield paths.ELEMENT_CONFIG, render_template("element/config.json.j2", c=ctx), False


def wellknown(ctx: Context) -> Rendered:
    yield paths.WELLKNOWN_SERVER, render_template("wellknown/server.json.j2", c=ctx), False
    yield paths.WELLKNOWN_CLIENT, render_template("wellknown/client.json.j2", c=ctx), False


def nginx(ctx: Context) -> Rendered:
    dept = ctx.department.id
    yield paths.nginx_site(dept), render_template("nginx/site.conf.j2", c=ctx), False
    yield paths.nginx_proxy(dept), render_template("nginx/proxy.conf.j2", c=ctx), False


def archive(ctx: Context) -> Rendered:
    yield from archive_registration(ctx)
    yield paths.ARCHIVE_CONFIG, render_template("archive/archive.yaml.j2", c=ctx), False
    yield (
        paths.ARCHIVE_PGPASS,
        render_template(
            "archive/pgpass.j2", c=ctx, password=placeholder("archive_database_password")
        ),
        True,
    )


def archive_registration(ctx: Context) -> Rendered:
    yield _registration(ctx, paths.ARCHIVE_REGISTRATION, "archive/registration.yaml.j2", "archive")


_SENDERS = {"operator": OPERATOR_SERVICE, "archive": ARCHIVE_SENDER}


def _registration(ctx: Context, path: str, template: str, service: str) -> tuple[str, str, bool]:
    """An application service's registration: its sender, and its tokens as placeholders
    (secrets `<service>_as_token` and `<service>_hs_token`)."""
    text = render_template(
        template,
        c=ctx,
        sender=_SENDERS[service],
        as_token=placeholder(f"{service}_as_token"),
        hs_token=placeholder(f"{service}_hs_token"),
    )
    return path, text, True


def identity(ctx: Context) -> Rendered:
    yield paths.IDENTITY_SYNC, render_template("identity/sync.yaml.j2", c=ctx), False


@dataclass(frozen=True)
class ProviderClient:
    """A client of the bundled provider, as its configuration lists it."""

    client_id: str
    name: str
    redirect_uris: str  # space-separated, as LemonLDAP::NG takes them
    secret: str  # the placeholder the deploy tool fills in


def _provider_clients(ctx: Context) -> list[ProviderClient]:
    identity = ctx.department.identity
    assert identity.provider == "bundled"
    own = ProviderClient(
        OWN_CLIENT_ID,
        f"{ctx.department.name} messaging",
        ctx.sso_redirect_uri,
        placeholder("oidc_client_secret", json=True),
    )
    return [own] + [
        ProviderClient(
            client.client_id,
            client.name or client.client_id,
            " ".join(client.redirect_uris),
            placeholder(client.secret_name, json=True),
        )
        for client in identity.clients
    ]


def identity_provider(ctx: Context) -> Rendered:
    yield paths.IDENTITY_PROVIDER_INI, render_template("identity/lemonldap-ng.ini.j2", c=ctx), False
    if ctx.target.kind == "kubernetes":  # elsewhere the department's nginx serves the portal
        yield (
            paths.IDENTITY_PORTAL_NGINX,
            render_template("identity/portal-nginx.conf.j2", c=ctx),
            False,
        )
    yield (
        paths.IDENTITY_PROVIDER_CONF,
        render_template(
            "identity/lmConf.json.j2",
            c=ctx,
            clients=_provider_clients(ctx),
            signing_key=placeholder("oidc_signing_key", json=True),
            bind_password=placeholder("ldap_bind_password", json=True),
        ),
        True,
    )
