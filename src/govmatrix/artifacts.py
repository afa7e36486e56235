"""The artifact mirror: release files that sites cannot fetch from the internet.

`govmatrix artifacts import FILE --mirror DIR` copies a release tarball into the mirror and
records its SHA-256 beside it, at import. The record says whether the hash was verified
against one pinned from the upstream release; without such a pin it is marked unverified.
A hash is never invented: deployers install only what matches the recorded hash.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from govmatrix.demo.element import PINNED_SHA256, tarball_name
from govmatrix.hashing import sha256_file

_ELEMENT_NAME = re.compile(r"^element-v(\d+\.\d+\.\d+(?:-rc\.\d+)?)\.tar\.gz$")


class ArtifactError(ValueError):
    pass


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    version: str
    sha256: str
    verified: bool  # matches a hash pinned from the upstream release
    imported_at: str
    source: str


def record_path(tarball: Path) -> Path:
    return tarball.with_name(tarball.name + ".json")


def import_element(file: Path, mirror: Path) -> ArtifactRecord:
    match = _ELEMENT_NAME.match(file.name)
    if not match:
        raise ArtifactError(
            f"{file.name}: expected an Element Web release tarball named element-vX.Y.Z.tar.gz"
        )
    version = match.group(1)
    digest = sha256_file(file)
    pinned = PINNED_SHA256.get(version)
    if pinned is not None and pinned != digest:
        raise ArtifactError(
            f"{file.name} has SHA-256 {digest}, but release {version} is pinned to {pinned}: "
            "refusing to import it"
        )
    dest = mirror / "element-web" / tarball_name(version)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.resolve() != file.resolve():
        shutil.copyfile(file, dest)
    record = ArtifactRecord(
        name=dest.name,
        version=version,
        sha256=digest,
        verified=pinned is not None,
        imported_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=str(file.resolve()),
    )
    record_path(dest).write_text(json.dumps(asdict(record), indent=2) + "\n")
    return record
