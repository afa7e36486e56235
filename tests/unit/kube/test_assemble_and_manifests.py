"""The pod-side config assembly, and the YAML folders `govmatrix render --target kubernetes
--out` writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from govmatrix.kube.assemble import assemble
from govmatrix.render.secrets import MissingSecret
from tests.conftest import EXAMPLES, govmatrix_cli

pytestmark = pytest.mark.unit


def _configmap_mount(root: Path, files: dict[str, str]) -> Path:
    """What kubelet makes of a ConfigMap volume: files behind a '..data' symlink."""
    data = root / "..2026_11_23_06_00_00.000000001"
    for path, text in files.items():
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        (data / path).write_text(text)
    (root / "..data").symlink_to(data.name)
    for top in {p.split("/")[0] for p in files}:
        (root / top).symlink_to(f"..data/{top}")
    return root


def test_assemble_fills_placeholders_into_0600_files(tmp_path: Path) -> None:
    rendered = _configmap_mount(
        tmp_path / "rendered",
        {
            "synapse/homeserver.yaml": "server_name: x\n",
            "synapse/pgpass": "db-rw:5432:synapse:synapse:@@secret:database_password@@\n",
        },
    )
    secrets = tmp_path / "values"
    secrets.mkdir()
    (secrets / "database_password").write_text("s3cret-value")
    dest = tmp_path / "config"
    assert assemble(rendered, secrets, dest) == ["synapse/pgpass"]
    assert (dest / "synapse/pgpass").read_text() == "db-rw:5432:synapse:synapse:s3cret-value\n"
    assert stat.S_IMODE((dest / "synapse/pgpass").stat().st_mode) == 0o600
    assert stat.S_IMODE((dest / "synapse/homeserver.yaml").stat().st_mode) == 0o644
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "synapse/homeserver.yaml",
        "synapse/pgpass",
    ]


def test_assemble_refuses_a_missing_secret(tmp_path: Path) -> None:
    rendered = _configmap_mount(
        tmp_path / "r", {"archive/pgpass": "@@secret:archive_database_password@@"}
    )
    (tmp_path / "values").mkdir()
    with pytest.raises(MissingSecret, match="archive_database_password"):
        assemble(rendered, tmp_path / "values", tmp_path / "config")
    assert not (tmp_path / "config" / "archive" / "pgpass").exists()


def test_assemble_refuses_an_empty_config_map(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    with pytest.raises(FileNotFoundError, match="no rendered files"):
        assemble(tmp_path / "r", tmp_path / "values", tmp_path / "config")


def test_render_writes_one_folder_per_department(tmp_path: Path) -> None:
    result = govmatrix_cli("render", str(EXAMPLES["demo"]), "-t", "kubernetes", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cabinet-office",
        "hm-treasury",
        "home-office",
    ]
    folder = tmp_path / "home-office"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert sorted(listed) == sorted(
        p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    namespace = yaml.safe_load((folder / "namespace-home-office.yaml").read_text())
    assert namespace["kind"] == "Namespace"
    config = yaml.safe_load((folder / "configmap-govmatrix-config.yaml").read_text())
    assert config["data"]["synapse__homeserver.yaml"].startswith("# Synapse configuration")
    # A second run with an object gone leaves its file, and says so.
    (folder / "deployment-gone.yaml").write_text("kind: Deployment\n")
    again = govmatrix_cli(
        "render",
        str(EXAMPLES["demo"]),
        "-t",
        "kubernetes",
        "-o",
        str(tmp_path),
        "-d",
        "home-office",
    )
    assert again.returncode == 0
    assert "deployment-gone.yaml names no object" in again.stderr.replace("\n", "")


def test_render_names_an_unknown_department(tmp_path: Path) -> None:
    result = govmatrix_cli(
        "render", str(EXAMPLES["demo"]), "-t", "kubernetes", "-o", str(tmp_path), "-d", "nope"
    )
    assert result.returncode == 2
    assert "no department 'nope'" in result.stderr
