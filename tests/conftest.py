"""Shared fixtures: the example estates, and helpers to deploy renders into a temp dir."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from govmatrix.estate import Estate, load_estate
from govmatrix.render import Target

ROOT = Path(__file__).resolve().parents[1]

# Tests never reach outside this machine: point the Element release download at a closed
# loopback port, so "cannot fetch Element" is exercised without leaving loopback.
os.environ["GOVMATRIX_ELEMENT_UPSTREAM"] = "http://127.0.0.1:9/element-v{v}.tar.gz"
EXAMPLES = {
    "demo": ROOT / "inventories" / "demo" / "estate.yml",
    "uk-example": ROOT / "inventories" / "uk-example" / "estate.yml",
}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def example_estates() -> dict[str, Estate]:
    return {name: load_estate(path) for name, path in EXAMPLES.items()}


@pytest.fixture(scope="session")
def demo_estate(example_estates: dict[str, Estate]) -> Estate:
    return example_estates["demo"]


@pytest.fixture(scope="session")
def uk_estate(example_estates: dict[str, Estate]) -> Estate:
    return example_estates["uk-example"]


PATH_FIELDS = (
    "config_dir",
    "data_dir",
    "log_dir",
    "secrets_dir",
    "tls_dir",
    "ca_dir",
    "hsm_dir",
    "memory_dir",
    "element_root",
)


def relocate(target: Target, root: Path) -> Target:
    """The same target with every filesystem path moved under `root` (for tests)."""
    changes = {
        name: str(root) + value
        for name in PATH_FIELDS
        if (value := getattr(target, name)) is not None
    }
    return dataclasses.replace(target, **changes)


@pytest.fixture(scope="session")
def kube_objects(example_estates: dict[str, Estate]) -> dict[str, dict[str, list[dict]]]:
    """Every department of both example estates as Kubernetes objects (rendered YAML mode)."""
    from govmatrix.kube import Options, estate_objects
    from govmatrix.pki import partner_ca_texts

    return {
        name: estate_objects(
            estate,
            estate.departments,
            Options(partner_cas=partner_ca_texts(EXAMPLES[name], estate)),
        )
        for name, estate in example_estates.items()
    }


def pod_specs(item: dict) -> list[dict]:
    """The pod spec inside a workload object, if it has one."""
    kind = item["kind"]
    if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet"):
        return [item["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [item["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if kind == "Pod":
        return [item["spec"]]
    return []


def govmatrix_cli(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """`govmatrix ARGS` from the checkout, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "govmatrix.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=check,
    )


@pytest.fixture(scope="session")
def hsm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo-layout state root for every test that drives SoftHSM2 in this process: a
    process initialises a PKCS#11 module once, with one SOFTHSM2_CONF
    (govmatrix.hsm.device.library). Traversable by other users, as a demo root is (nginx's
    workers reach the TLS tokens under it). When a test has already loaded SoftHSM2 with a
    demo's configuration (the end-to-end tests read the running demo's tokens), that demo's
    root is the one: tests use token labels of their own there."""
    # Test files under the base temp dir are read by nginx's worker user too.
    base = tmp_path_factory.getbasetemp()
    for path in (base, *base.parents):
        if path == Path("/"):
            break
        path.chmod(path.stat().st_mode | 0o001)
    loaded = os.environ.get("SOFTHSM2_CONF", "")
    if loaded.endswith("/hsm/softhsm2.conf") and Path(loaded).is_file():
        return Path(loaded).parent.parent
    root = tmp_path_factory.mktemp("hsm-root")
    root.chmod(root.stat().st_mode | 0o001)
    return root
