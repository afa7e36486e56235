"""Where each rendered file lands, relative to the target's config directory.

Both the renderer (file names) and templates (absolute paths that point at each other)
read these, so a file is named in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from govmatrix.render.targets import Target

HOMESERVER = "synapse/homeserver.yaml"
LOG_CONFIG = "synapse/log.yaml"
PGPASS = "synapse/pgpass"
ARCHIVE_REGISTRATION = "synapse/appservices/archive.yaml"
OPERATOR_REGISTRATION = "synapse/appservices/operator.yaml"
ARCHIVE_CONFIG = "archive/archive.yaml"
ARCHIVE_PGPASS = "archive/pgpass"
ELEMENT_CONFIG = "element/config.json"
IDENTITY_SYNC = "identity/sync.yaml"
IDENTITY_PORTAL_NGINX = "identity/portal-nginx.conf"  # Kubernetes: nginx in the portal pod
# LemonLDAP::NG reads one configuration per installation: each department gets its own ini
# (LLNG_DEFAULTCONFFILE) and File-backend directory, which holds lmConf-<cfgNum>.json.
IDENTITY_PROVIDER_INI = "identity/lemonldap-ng.ini"
IDENTITY_PROVIDER_CONF_DIR = "identity/llng-conf"
IDENTITY_PROVIDER_CONF = f"{IDENTITY_PROVIDER_CONF_DIR}/lmConf-1.json"
# Served at /.well-known/matrix/{server,client} where no nginx of ours inlines them.
WELLKNOWN_SERVER = "wellknown/server"
WELLKNOWN_CLIENT = "wellknown/client"


def worker_config(name: str) -> str:
    return f"synapse/workers/{name}.yaml"


def worker_log_config(name: str) -> str:
    return f"synapse/workers/{name}.log.yaml"


def nginx_site(department_id: str) -> str:
    return f"nginx/{department_id}.conf"


def nginx_proxy(department_id: str) -> str:
    return f"nginx/{department_id}.proxy.conf"


@dataclass(frozen=True)
class Absolute:
    """Absolute paths on the target host, for templates."""

    target: Target
    department_id: str

    def config(self, relative: str) -> str:
        return f"{self.target.config_dir}/{relative}"

    def secret(self, name: str) -> str:
        return f"{self.target.secrets_dir}/{name}"

    @property
    def ca_cert(self) -> str:
        return f"{self.target.ca_dir}/ca.crt"

    def partner_ca(self, partner_id: str) -> str:
        return f"{self.target.ca_dir}/partners/{partner_id}.pem"

    @property
    def server_cert(self) -> str:
        return f"{self.target.tls_dir}/server.crt"

    @property
    def server_key(self) -> str:
        return f"{self.target.tls_dir}/server.key"

    @property
    def media_store(self) -> str:
        return f"{self.target.data_dir}/media_store"

    def log_file(self, process: str) -> str:
        assert self.target.log_dir is not None
        return f"{self.target.log_dir}/{process}.log"
