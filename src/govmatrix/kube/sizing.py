"""Kubernetes resources per sizing profile. The profile's topology (workers, pools, caches)
lives in govmatrix.render.sizing; these are the CPU and memory each process gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def spec(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


@dataclass(frozen=True)
class KubeSizing:
    synapse_main: Resources
    synapse_worker: Resources
    database_instances: int
    database: Resources


_SMALL = KubeSizing(
    synapse_main=Resources("250m", "512Mi", "1", "1Gi"),
    synapse_worker=Resources("100m", "256Mi", "500m", "512Mi"),
    database_instances=1,
    database=Resources("250m", "512Mi", "1", "1Gi"),
)

PROFILES: dict[str, KubeSizing] = {
    "small": _SMALL,
    "medium": KubeSizing(
        synapse_main=Resources("500m", "1Gi", "2", "2Gi"),
        synapse_worker=Resources("250m", "512Mi", "1", "1Gi"),
        database_instances=2,
        database=Resources("500m", "1Gi", "2", "2Gi"),
    ),
    "large": KubeSizing(
        synapse_main=Resources("1", "2Gi", "4", "4Gi"),
        synapse_worker=Resources("500m", "1Gi", "2", "2Gi"),
        database_instances=3,
        database=Resources("1", "4Gi", "4", "8Gi"),
    ),
}

# The same for every profile: they do little per user.
ELEMENT = Resources("50m", "64Mi", "250m", "128Mi")
ARCHIVE = Resources("100m", "256Mi", "1", "512Mi")
REDIS = Resources("50m", "64Mi", "500m", "256Mi")
INIT = Resources("50m", "64Mi", "250m", "128Mi")
JOB = Resources("50m", "128Mi", "500m", "256Mi")
# Each FastCGI process holds a compiled portal (~60 MB; govmatrix.identity.portal).
PORTAL = Resources("100m", "256Mi", "1", "512Mi")
PORTAL_NGINX = Resources("20m", "32Mi", "250m", "64Mi")
# restic's memory grows with the size of its repository's index.
BACKUP = Resources("100m", "256Mi", "1", "1Gi")
