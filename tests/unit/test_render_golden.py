"""Golden files: the full render of one demo department, so config changes show as diffs.

After an intended change, run `make golden` and review the diff of tests/golden/.
"""

import os
from pathlib import Path

import pytest

from govmatrix.estate import Estate
from govmatrix.render import render, target_for

pytestmark = pytest.mark.unit

DEPARTMENT = "cabinet-office"
GOLDEN_ROOT = "/var/lib/govmatrix-demo"


def _golden_dir(repo_root: Path) -> Path:
    return repo_root / "tests" / "golden" / "demo" / DEPARTMENT


def test_cabinet_office_matches_golden(demo_estate: Estate, repo_root: Path) -> None:
    dept = demo_estate.department(DEPARTMENT)
    files = render(demo_estate, dept, target_for("demo", demo_estate, dept, root=GOLDEN_ROOT))
    golden = _golden_dir(repo_root)
    if os.environ.get("GOVMATRIX_UPDATE_GOLDEN"):
        for path, item in files.items():
            (golden / path).parent.mkdir(parents=True, exist_ok=True)
            (golden / path).write_text(item.text, encoding="utf-8")
    on_disk = {
        str(p.relative_to(golden)): p.read_text(encoding="utf-8")
        for p in sorted(golden.rglob("*"))
        if p.is_file()
    }
    assert sorted(on_disk) == sorted(files), "rendered file set changed: run 'make golden'"
    for path, item in files.items():
        assert item.text == on_disk[path], f"{path} differs from golden: run 'make golden'"
