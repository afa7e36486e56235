"""What the `identity` role deploys on a department's host: the bundled provider
(LemonLDAP::NG's FastCGI server, the same command the demo supervises), the directory when
govmatrix runs it (slapd, for a directory URL on loopback), and the leaver sync's timer."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from govmatrix.estate.types import duration_seconds
from govmatrix.identity import portal, slapd
from govmatrix.render import paths
from govmatrix.render.context import Context, runs_leaver_sync

IDENTITY_USER = "govmatrix-identity"  # the portal's FastCGI server
DIRECTORY_ROOT = "/var/lib/govmatrix-directory"  # slapd's configuration and database
# Root-only, outside the directory slapd's user owns.
DIRECTORY_ADMIN_PASSWORD = "/etc/govmatrix/directory-admin-password"


def bundle_part(ctx: Context) -> dict[str, Any] | None:
    """None when the department has neither a provider nor a sync on its host."""
    department, target = ctx.department, ctx.target
    sync = runs_leaver_sync(department, target)
    if not (ctx.runs_identity_provider or sync):
        return None
    directory = ctx.directory
    part: dict[str, Any] = {
        "user": IDENTITY_USER,
        "packages": list(portal.PACKAGES) if ctx.runs_identity_provider else [],
        "provider": None,
        "directory": None,
        "sync": None,
    }
    if ctx.runs_identity_provider:
        part["provider"] = {
            "command": portal.fastcgi_command(
                f"{target.synapse_address}:{target.identity_port}",
                f"{ctx.identity_state_dir}/fastcgi.pid",
            ),
            "environment": portal.environment(f"{target.config_dir}/{paths.IDENTITY_PROVIDER_INI}"),
            "state_dir": ctx.identity_state_dir,
            "config_dir": f"{target.config_dir}/identity",
            "address": target.synapse_address,
            "port": target.identity_port,
            "portal_host": ctx.portal_host,
            "files": [paths.IDENTITY_PROVIDER_INI, paths.IDENTITY_PROVIDER_CONF],
        }
    if ctx.runs_directory:
        assert directory is not None
        url = urlsplit(directory.url)
        server = slapd.Slapd(
            Path(DIRECTORY_ROOT),
            directory.base_dn.split(",", 1)[1],
            url.port or 389,
            url.hostname or "127.0.0.1",
        )
        part["directory"] = {
            "root": DIRECTORY_ROOT,
            "admin_password_file": DIRECTORY_ADMIN_PASSWORD,
            "command": server.command(),
            "url": directory.url,
            "address": server.address,
            "port": server.port,
            "suffix": server.suffix,
            "base_dn": directory.base_dn,
            "bind_dn": directory.bind_dn,
        }
    if sync:
        part["sync"] = {
            "path": paths.IDENTITY_SYNC,
            "config": f"{target.config_dir}/{paths.IDENTITY_SYNC}",
            "interval_seconds": duration_seconds(department.identity.sync_interval),
            "report_dir": f"{target.data_dir}/identity-reports",
        }
    return part
