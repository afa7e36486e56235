"""Container images, with the registry mirror air-gapped clusters use.

Upstream references are pinned by the estate's versions. With `kubernetes.image_registry`
set, every image is pulled from the mirror under the same path: `ghcr.io/element-hq/synapse`
becomes `REGISTRY/element-hq/synapse`.
"""

from __future__ import annotations

from dataclasses import dataclass

from govmatrix import __version__
from govmatrix.estate.schema import Department, Estate

REDIS_TAG = "7.4.2-alpine"
RESTIC_TAG = "0.18.1"  # the official image (Alpine, so it has /bin/sh for the backup script)
POSTGRES_MAJOR = 15  # the same major as on-prem (Debian 12) and the demo


@dataclass(frozen=True)
class Images:
    synapse: str
    element: str
    redis: str
    govmatrix: str  # archive service, config init container, jobs, the leaver sync
    identity: str  # the bundled provider's portal: LemonLDAP::NG and nginx (Debian's)
    postgres: str  # CloudNativePG operand image
    restic: str  # the files backup CronJob


def upstream(estate: Estate, department: Department) -> Images:
    return Images(
        synapse=f"ghcr.io/element-hq/synapse:v{department.synapse.version}",
        element=f"ghcr.io/element-hq/element-web:v{estate.estate.artifacts.element_version}",
        redis=f"docker.io/library/redis:{REDIS_TAG}",
        govmatrix=f"ghcr.io/govmatrix/govmatrix:{__version__}",
        identity=f"ghcr.io/govmatrix/identity:{__version__}",
        postgres=f"ghcr.io/cloudnative-pg/postgresql:{POSTGRES_MAJOR}",
        restic=f"docker.io/restic/restic:{RESTIC_TAG}",
    )


def mirrored(reference: str, registry: str) -> str:
    """`host/path:tag` pulled through `registry` instead of `host`."""
    path = reference.split("/", 1)[1]
    return f"{registry.rstrip('/')}/{path}"


def images(estate: Estate, department: Department) -> Images:
    refs = upstream(estate, department)
    registry = department.kubernetes.image_registry
    if not registry:
        return refs
    return Images(
        synapse=mirrored(refs.synapse, registry),
        element=mirrored(refs.element, registry),
        redis=mirrored(refs.redis, registry),
        govmatrix=mirrored(refs.govmatrix, registry),
        identity=mirrored(refs.identity, registry),
        postgres=mirrored(refs.postgres, registry),
        restic=mirrored(refs.restic, registry),
    )
