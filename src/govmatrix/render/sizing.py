"""Sizing profiles: Synapse worker topology, caches and database pools per profile.

Values are chosen for a department of the profile's size; they live here, not in templates,
so every target gets the same tuning.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Worker:
    name: str
    role: str  # "generic" (client + federation inbound) or "federation_sender"


@dataclass(frozen=True)
class Sizing:
    cp_min: int
    cp_max: int
    cache_factor: float
    event_cache_size: str
    workers: tuple[Worker, ...]

    @property
    def uses_workers(self) -> bool:
        return bool(self.workers)

    def of_role(self, role: str) -> tuple[Worker, ...]:
        return tuple(w for w in self.workers if w.role == role)


def _workers(generic: int, senders: int) -> tuple[Worker, ...]:
    return tuple(Worker(f"generic{i + 1}", "generic") for i in range(generic)) + tuple(
        Worker(f"fedsender{i + 1}", "federation_sender") for i in range(senders)
    )


PROFILES: dict[str, Sizing] = {
    "small": Sizing(cp_min=5, cp_max=10, cache_factor=0.5, event_cache_size="10K", workers=()),
    "medium": Sizing(
        cp_min=5, cp_max=20, cache_factor=1.0, event_cache_size="50K", workers=_workers(2, 1)
    ),
    "large": Sizing(
        cp_min=10, cp_max=30, cache_factor=2.0, event_cache_size="200K", workers=_workers(4, 2)
    ),
}
