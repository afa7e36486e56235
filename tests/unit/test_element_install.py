"""Element Web installation from an artifact mirror, with the FIXTURE bundle."""

import io
import json
import tarfile
from pathlib import Path

import pytest

from govmatrix.demo import element
from govmatrix.hashing import sha256_file
from tests.fixtures.element_bundle import FIXTURE_MARKER, make_bundle

pytestmark = pytest.mark.unit
VERSION = "1.12.4"


def test_install_from_mirror_records_unverified_hash(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    bundle = make_bundle(mirror / "element-web", VERSION)
    dest = tmp_path / "element"
    result = element.install(VERSION, dest, str(mirror))
    assert result.status == "installed"
    assert result.verified is False, "a mirror import must never be marked verified"
    assert result.sha256 == sha256_file(bundle)
    assert FIXTURE_MARKER in (dest / "index.html").read_text()
    record = json.loads((dest / ".govmatrix-artifact.json").read_text())
    assert record["sha256"] == result.sha256 and record["source"] == f"mirror:{mirror}"
    again = element.install(VERSION, dest, str(mirror))
    assert again.status == "kept" and again.sha256 == result.sha256


def test_pinned_hash_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    make_bundle(mirror, VERSION)
    monkeypatch.setitem(element.PINNED_SHA256, VERSION, "0" * 64)
    with pytest.raises(ValueError, match="refusing to install"):
        element.install(VERSION, tmp_path / "element", str(mirror))


def test_pinned_hash_match_is_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    bundle = make_bundle(mirror, VERSION)
    monkeypatch.setitem(element.PINNED_SHA256, VERSION, sha256_file(bundle))
    assert element.install(VERSION, tmp_path / "element", str(mirror)).verified is True


def test_unreachable_upstream_leaves_an_honest_placeholder(tmp_path: Path) -> None:
    dest = tmp_path / "element"
    result = element.install(VERSION, dest, str(tmp_path / "empty-mirror"))
    assert result.status == "unavailable"
    assert "carries on" in result.message and "--artifacts" in result.message
    assert "not installed" in (dest / "index.html").read_text()


def test_tarball_escaping_its_folder_is_refused(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / f"element-v{VERSION}.tar.gz", "w:gz") as archive:
        data = b"x"
        info = tarfile.TarInfo("../../evil")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(tarfile.TarError):
        element.install(VERSION, tmp_path / "element", str(mirror))
    assert not (tmp_path.parent / "evil").exists()


def test_tarball_without_index_is_refused(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / f"element-v{VERSION}.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("something/readme.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="not an Element Web release"):
        element.install(VERSION, tmp_path / "element", str(mirror))
