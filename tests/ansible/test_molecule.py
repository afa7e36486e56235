"""The Ansible roles on real systemd hosts: molecule scenarios in Debian 12 containers.

`make test` prepares the docker engine, the image and the package caches
(scripts/test-hosts.sh) before pytest runs. Each scenario runs destroy, create, prepare,
converge, idempotence (a second converge must report changed=0) and a testinfra verify;
see molecule/*/molecule.yml and molecule/*/tests/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ansible, pytest.mark.integration]

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
LOGS = ROOT / ".state" / "molecule" / "logs"


def _prerequisites() -> None:
    missing = [tool for tool in ("docker",) if shutil.which(tool) is None]
    assert not missing, f"missing {missing}; run `make test-hosts` (scripts/test-hosts.sh)"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    assert info.returncode == 0, "no docker engine; run scripts/test-hosts.sh (make test does)"
    image = subprocess.run(
        ["docker", "image", "inspect", "local/debian12-systemd:latest"], capture_output=True
    )
    assert image.returncode == 0, "no test image; run scripts/test-hosts.sh image"


@pytest.mark.parametrize("scenario", ["default", "federation"])
def test_scenario(scenario: str) -> None:
    _prerequisites()
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{scenario}.log"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PY_COLORS": "0"}
    env.pop("ANSIBLE_CONFIG", None)
    started = time.monotonic()
    with log.open("w") as handle:
        result = subprocess.run(
            [str(BIN / "molecule"), "test", "-s", scenario],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    took = time.monotonic() - started
    print(f"molecule scenario {scenario}: {took:.0f} s (log: {log})")
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
    assert result.returncode == 0, f"molecule test -s {scenario} failed; log {log}:\n{tail}"
