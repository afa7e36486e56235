"""The govmatrix wheel (what the on-prem archive hosts and the container image install)
carries the files the commands it runs read at runtime."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _clean_copy(repo_root: Path, dest: Path) -> Path:
    """The tracked files only: a stale build/ in a working tree would hide a missing file."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo_root, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        source = repo_root / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def test_wheel_carries_the_archive_schema(tmp_path: Path, repo_root: Path) -> None:
    source = _clean_copy(repo_root, tmp_path / "source")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("govmatrix-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # `govmatrix archive migrate` (the Kubernetes Job) reads it with importlib.resources.
    assert "govmatrix/archive/schema.sql" in names
    assert "govmatrix/py.typed" in names
