"""Benchmark: the Pulumi program under mocks (pulumi.runtime.set_mocks) for estates of 10,
50 and 100 generated departments (bench/estate_compile.py's federation pattern), every
department selected. Timed: the whole program run, from reading the estate to the last
resource registration, in one process. Prints JSON.

Goal (issue #6): <= 30 s for 100 departments, growing linearly.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.unit.pulumi.mocks import run_program  # noqa: E402

from estate_compile import generate  # noqa: E402
from govmatrix.estate import load_estate  # noqa: E402
from govmatrix.estate.pki_plan import plan  # noqa: E402
from govmatrix.pki import init as pki_init  # noqa: E402


def one(n: int, work: Path) -> dict[str, float | int]:
    estate_file = work / f"estate-{n}.yml"
    estate_file.write_text(generate(n))
    (work / "partner.pem").write_text((ROOT / "inventories/demo/partners/nato-ca.pem").read_text())
    pki_dir = work / f"pki-{n}"
    pki_init(plan(load_estate(estate_file)), pki_dir)
    started = time.perf_counter()
    run = run_program({"estate": str(estate_file), "departments": "all", "pkiDir": str(pki_dir)})
    seconds = time.perf_counter() - started
    assert len(run.outputs) == n
    return {
        "departments": n,
        "seconds": round(seconds, 2),
        "resources": len(run.mocks.resources),
        "ms_per_department": round(1000 * seconds / n, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [one(int(n), Path(tmp)) for n in args.sizes.split(",")]
    largest = results[-1]
    print(
        json.dumps(
            {
                "benchmark": "pulumi_mocks",
                "python": platform.python_version(),
                "results": results,
                "goal": {"departments": 100, "max_seconds": 30},
                "goal_met": largest["departments"] >= 100 and largest["seconds"] <= 30,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
