"""checkov scans the rendered Kubernetes manifests of both example estates, from its own
venv (`make tools`, part of `make test`; it cannot share one with Pulumi). Zero failed
checks; waivers live in .checkov.yaml only, each with its reason."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, govmatrix_cli

pytestmark = pytest.mark.integration


def _checkov(repo_root: Path, folder: Path) -> dict[str, Any]:
    checkov = repo_root / ".venv-checkov" / "bin" / "checkov"
    assert checkov.exists(), "checkov venv missing: run 'make tools'"
    # No network: checkov's optional downloads (guidelines, external modules) stay off.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(folder),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
            "--skip-download",
            "--config-file",
            str(repo_root / ".checkov.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_rendered_manifests_pass_checkov(tmp_path: Path, repo_root: Path) -> None:
    for name, estate in EXAMPLES.items():
        govmatrix_cli(
            "render", str(estate), "-t", "kubernetes", "-o", str(tmp_path / name), check=True
        )
    report = _checkov(repo_root, tmp_path)
    failed = [
        f"{f['check_id']} {f['check_name']}: {f['resource']} ({Path(f['file_path']).name})"
        for f in report["results"].get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed[:40])
    assert report["summary"]["resource_count"] > 900
    assert report["summary"]["parsing_errors"] == 0


def test_checkov_catches_a_bad_deployment(tmp_path: Path, repo_root: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad, namespace: x}\n"
        "spec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
        "    spec:\n      containers:\n        - name: c\n          image: nginx:latest\n"
        "          securityContext: {privileged: true}\n"
    )
    failed = {f["check_id"] for f in _checkov(repo_root, tmp_path)["results"]["failed_checks"]}
    assert {"CKV_K8S_16", "CKV_K8S_11", "CKV_K8S_13"} <= failed  # privileged, no limits
