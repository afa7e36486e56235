"""Element Web from its release tarball: from a local artifact mirror, or from upstream.

Air-gapped installs are first-class: `--artifacts DIR` (or estate.artifacts.mirror) holds
`element-v<version>.tar.gz`. The SHA-256 of what we install is always recorded. It counts
as verified only when it matches a hash pinned here from the upstream release; a tarball
imported from a mirror is marked unverified until someone pins its upstream hash. We never
invent a hash.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from govmatrix.hashing import sha256_file

# Sites with an internal copy of the release host set GOVMATRIX_ELEMENT_UPSTREAM to it.
RELEASE_URL = os.environ.get(
    "GOVMATRIX_ELEMENT_UPSTREAM",
    "https://github.com/element-hq/element-web/releases/download/v{v}/element-v{v}.tar.gz",
)

# SHA-256 of upstream release tarballs, checked against the release's published checksums.
# Empty until a maintainer with access to the release site pins one: see docs/demo.md.
PINNED_SHA256: dict[str, str] = {}
UNVERIFIED = "installed; SHA-256 recorded but unverified (no upstream hash pinned for this version)"


@dataclass(frozen=True)
class ElementInstall:
    status: str  # installed | kept | unavailable
    version: str
    sha256: str | None
    verified: bool
    source: str | None
    message: str


def tarball_name(version: str) -> str:
    return f"element-v{version}.tar.gz"


def _find_in_mirror(mirror: str, version: str, scratch: Path) -> Path | None:
    name = tarball_name(version)
    if mirror.startswith(("http://", "https://")):
        url = f"{mirror.rstrip('/')}/element-web/{name}"
        return _download(url, scratch / name)
    for candidate in (Path(mirror) / "element-web" / name, Path(mirror) / name):
        if candidate.is_file():
            return candidate
    return None


def _download(url: str, dest: Path) -> Path:
    with httpx.stream("GET", url, follow_redirects=True, timeout=10) as response:
        response.raise_for_status()
        with dest.open("wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
    return dest


def _extract(tarball: Path, dest: Path) -> None:
    """Unpack the release's single top-level folder into `dest` (safely: no links out)."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp, tarfile.open(tarball) as archive:
        archive.extractall(tmp, filter="data")
        entries = list(Path(tmp).iterdir())
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else Path(tmp)
        if not (top / "index.html").is_file():
            raise ValueError(f"{tarball.name} holds no index.html: not an Element Web release")
        if dest.exists() or dest.is_symlink():
            shutil.rmtree(dest) if dest.is_dir() and not dest.is_symlink() else dest.unlink()
        shutil.move(str(top), dest)
    dest.chmod(0o755)


def _record(dest: Path) -> Path:
    return dest / ".govmatrix-artifact.json"


def install(version: str, dest: Path, mirror: str | None) -> ElementInstall:
    """Install Element Web `version` into `dest` (the folder nginx serves)."""
    record = _record(dest)
    if record.exists():
        info = json.loads(record.read_text())
        if info.get("version") == version:
            return ElementInstall(**{**info, "status": "kept", "message": "already installed"})
    with tempfile.TemporaryDirectory() as scratch:
        tarball: Path | None = None
        source = None
        errors = []
        if mirror:
            try:
                tarball = _find_in_mirror(mirror, version, Path(scratch))
                source = f"mirror:{mirror}" if tarball else None
                if tarball is None:
                    errors.append(f"{tarball_name(version)} is not in the mirror {mirror}")
            except httpx.HTTPError as exc:
                errors.append(f"mirror {mirror}: {exc}")
        if tarball is None:
            url = RELEASE_URL.format(v=version)
            try:
                tarball = _download(url, Path(scratch) / tarball_name(version))
                source = url
            except httpx.HTTPError as exc:
                errors.append(f"{url}: {exc.__class__.__name__}: {exc}")
        if tarball is None:
            _placeholder(dest, version, errors)
            return ElementInstall(
                "unavailable",
                version,
                None,
                False,
                None,
                "Element Web could not be fetched (" + "; ".join(errors) + "). The demo "
                f"carries on without it; put {tarball_name(version)} in a directory and pass "
                "--artifacts DIR to install it.",
            )
        digest = sha256_file(tarball)
        pinned = PINNED_SHA256.get(version)
        if pinned is not None and pinned != digest:
            raise ValueError(
                f"{tarball.name} from {source} has SHA-256 {digest}, but release {version} is "
                f"pinned to {pinned}: refusing to install it"
            )
        _extract(tarball, dest)
    result = ElementInstall(
        "installed",
        version,
        digest,
        pinned is not None,
        source,
        "verified against the pinned upstream hash" if pinned else UNVERIFIED,
    )
    record.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def _placeholder(dest: Path, version: str, errors: list[str]) -> None:
    """A page that says plainly that Element Web is missing, and how to add it."""
    if dest.exists() and not _record(dest).exists() and not (dest / ".placeholder").exists():
        return  # someone else's files: leave them alone
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o755)
    (dest / ".placeholder").write_text("\n".join(errors) + "\n")
    (dest / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Element Web not installed</title>\n"
        "<h1>Element Web is not installed</h1>\n"
        f"<p>The demo could not fetch Element Web {version}. The homeserver works; use any "
        "Matrix client, or install Element from an artifact mirror:</p>\n"
        f"<pre>govmatrix demo up --artifacts DIR   # DIR holds {tarball_name(version)}</pre>\n"
    )
