"""Runs of the Pulumi program under mocks, shared by the program and policy tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from govmatrix.estate import Estate
from govmatrix.estate.pki_plan import plan
from govmatrix.pki import init as pki_init
from tests.conftest import EXAMPLES
from tests.unit.pulumi.mocks import Run, issued_values, run_program


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory, demo_estate: Estate) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    pki_init(plan(demo_estate), folder)
    return folder


@pytest.fixture(scope="session")
def demo_run(pki_dir: Path) -> Run:
    return run_program(
        {
            "estate": str(EXAMPLES["demo"]),
            "departments": "all",
            "pkiDir": str(pki_dir),
            "demo": {"expires": "2026-12-31", "users": ["alice", "bob"]},
        }
    )


@pytest.fixture(scope="session")
def uk_run() -> Run:
    return run_program(
        {
            "estate": "../inventories/uk-example/estate.yml",
            "issued": issued_values(EXAMPLES["uk-example"]),
        }
    )
