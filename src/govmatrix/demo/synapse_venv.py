"""The Synapse the estate pins, in a virtualenv the unprivileged demo user can run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from govmatrix.demo.layout import DEMO_USER, Layout
from govmatrix.demo.system import DemoError, run

REPO_VENV = Path(__file__).resolve().parents[3] / ".venv-synapse"
BASE_PYTHON = "/usr/bin/python3"  # Debian's: readable by every user, unlike one under /root
# oidc: single sign-on through the department's provider (authlib).
EXTRAS = "postgres,redis,oidc"
# One module per extra: a venv of the right version but without an extra is rebuilt.
EXTRA_MODULES = ("psycopg2", "txredisapi", "authlib")


def installed_version(python: Path) -> str | None:
    """Synapse's version in the venv of `python`, if it has every extra the demo needs."""
    if not python.exists():
        return None
    script = (
        f"import importlib.metadata as m, {', '.join(EXTRA_MODULES)}; "
        "print(m.version('matrix-synapse'))"
    )
    proc = subprocess.run(
        [str(python), "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def synapse_python(version: str, layout: Layout) -> Path:
    """The interpreter of a venv holding matrix-synapse==version (installing it if needed)."""
    for venv in (REPO_VENV, layout.root / "venvs" / f"synapse-{version}"):
        python = venv / "bin" / "python"
        if installed_version(python) == version:
            _check_runnable(python)
            return python
    venv = layout.root / "venvs" / f"synapse-{version}"
    run([BASE_PYTHON, "-m", "venv", str(venv)])
    # pip honours PIP_INDEX_URL / pip.conf, so an internal mirror works without flags here.
    run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"matrix-synapse[{EXTRAS}]=={version}",
        ],
        timeout=1200,
    )
    python = venv / "bin" / "python"
    _check_runnable(python)
    return python


def _check_runnable(python: Path) -> None:
    proc = run([str(python), "-c", "import synapse"], user=DEMO_USER, check=False)
    if proc.returncode != 0:
        raise DemoError(
            f"{python} cannot be run by the '{DEMO_USER}' user ({proc.stderr.strip()[-300:]}). "
            f"Synapse's venv must be built from {BASE_PYTHON} in a directory every user can "
            "read; run 'make setup'."
        )
