"""Memory-backed storage for secrets the HSM unwraps at service start.

A file there disappears on reboot and never reaches a disk; `write` refuses any directory
that is not on tmpfs or ramfs rather than silently writing a key to persistent storage.
"""

from __future__ import annotations

import os
from pathlib import Path

from govmatrix.hsm.device import HsmError

MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding `path`: the longest mount point that prefixes it."""
    target = os.path.realpath(path)
    best, fstype = "", "unknown"
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields = line.split()
            mount_point = fields[4].replace("\\040", " ")
            after = fields[fields.index("-") + 1]
            inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) >= len(best):
                best, fstype = mount_point, after
    return fstype


def ensure_dir(path: Path, owner: tuple[int, int] | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    fstype = filesystem_type(path)
    if fstype not in MEMORY_FILESYSTEMS:
        raise HsmError(
            f"{path} is on {fstype}, not memory-backed storage; unwrapped keys go to tmpfs "
            "only (mount a tmpfs there, or choose another directory)"
        )
    os.chmod(path, 0o700)
    if owner is not None:
        os.chown(path, *owner)


def write(path: Path, data: bytes, owner: tuple[int, int] | None = None) -> None:
    ensure_dir(path.parent, owner)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        if owner is not None:
            os.fchown(fd, *owner)
    finally:
        os.close(fd)
    os.replace(tmp, path)
