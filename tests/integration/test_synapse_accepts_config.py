"""Synapse's own config parser (matrix-synapse at the estate's pinned version, installed by
`make setup`) loads the rendered homeserver.yaml of every department of both example
estates, on every target, with --no-secrets-in-config. The files it points to are real
generated ones: signing key, secret files, estate CA and a partner CA."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from govmatrix import pki
from govmatrix.estate import Estate
from govmatrix.estate.federation import build
from govmatrix.estate.pki_plan import plan
from govmatrix.hsm.plan import uses_hsm
from govmatrix.materialise import materialise
from govmatrix.render import TARGET_KINDS, render, required_secrets, target_for
from govmatrix.render.sizing import PROFILES
from govmatrix.secretgen import generate_all, signing_key
from tests.conftest import relocate

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("synapse_config_probe.py")


@pytest.fixture(scope="module")
def synapse_python(repo_root: Path, example_estates: dict[str, Estate]) -> Path:
    python = repo_root / ".venv-synapse" / "bin" / "python"
    assert python.exists(), "Synapse venv missing: run 'make setup'"
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('matrix-synapse'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name, estate in example_estates.items():
        for dept in estate.departments:
            assert dept.synapse.version == version, (
                f"{name}/{dept.id} pins Synapse {dept.synapse.version}, but .venv-synapse holds "
                f"{version}: set SYNAPSE_VERSION in the Makefile"
            )
    return python


def _deploy(estate: Estate, kind: str, root: Path) -> list[dict]:
    """Materialise every department of `estate` on target `kind` under `root`."""
    pki_dir = root / "pki-src"
    pki.init(plan(estate), pki_dir)
    partner_ca = root / "partner-ca"
    pki.init(plan(estate), partner_ca)  # a second, independent CA stands in for a partner's
    graph = build(estate)
    jobs = []
    for dept in estate.departments:
        target = relocate(target_for(kind, estate, dept), root / kind / dept.id)
        files = render(estate, dept, target, graph=graph)
        specs = required_secrets(dept, target)
        materialise(files, target, specs, generate_all(specs))
        if target.memory_dir and uses_hsm(dept, target):
            # What the HSM unseals at start (govmatrix.hsm.signing), for Synapse to read.
            key = Path(target.memory_dir) / "signing.key"
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_text(signing_key())
        ca_dir = Path(target.ca_dir)
        (ca_dir / "partners").mkdir(parents=True, exist_ok=True)
        (ca_dir / "ca.crt").write_bytes((pki_dir / "ca.crt").read_bytes())
        for partner in graph.departments[dept.id].partners:
            (ca_dir / "partners" / f"{partner}.pem").write_bytes(
                (partner_ca / "ca.crt").read_bytes()
            )
        if target.log_dir:
            Path(target.log_dir).mkdir(parents=True, exist_ok=True)
        homeserver = f"{target.config_dir}/synapse/homeserver.yaml"
        jobs.append({"name": f"{kind}/{dept.id}", "configs": [homeserver]})
        for worker in PROFILES[dept.synapse.profile].workers:
            jobs.append(
                {
                    "name": f"{kind}/{dept.id}/{worker.name}",
                    "configs": [
                        homeserver,
                        f"{target.config_dir}/synapse/workers/{worker.name}.yaml",
                    ],
                }
            )
    return jobs


@pytest.mark.parametrize("estate_name", ["demo", "uk-example"])
def test_synapse_loads_every_rendered_config(
    estate_name: str, example_estates: dict[str, Estate], synapse_python: Path, tmp_path: Path
) -> None:
    estate = example_estates[estate_name]
    jobs = [job for kind in TARGET_KINDS for job in _deploy(estate, kind, tmp_path)]
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    proc = subprocess.run(
        [synapse_python, PROBE, jobs_file], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    failures = [f"{r['name']}: {r['error']}" for r in results if not r["ok"]]
    assert not failures, "Synapse rejected rendered configs:\n" + "\n".join(failures)
    assert len(results) == len(jobs)

    graph = build(estate)
    for result in results:
        _kind, dept_id, *worker = result["name"].split("/")
        dept = estate.department(dept_id)
        facts = result["facts"]
        assert facts["server_name"] == dept.server_name
        assert facts["federation_domain_whitelist"] == sorted(graph.departments[dept_id].whitelist)
        assert facts["enable_registration"] is False
        assert facts["trusted_key_servers"] == []
        assert facts["database_engine"] == "psycopg2"
        assert facts["passfile"].endswith("/synapse/pgpass")
        assert facts["redis_enabled"] == PROFILES[dept.synapse.profile].uses_workers
        # Synapse loaded the operator service (govmatrix.operator), and the archive's.
        registrations = [Path(f).name for f in facts["app_service_config_files"]]
        if dept.archive.enabled:
            assert facts["redaction_retention_period"] is None
            assert facts["msc2815_enabled"] is True
            assert registrations == ["operator.yaml", "archive.yaml"]
        else:
            assert registrations == ["operator.yaml"]
        if worker:
            assert facts["worker_app"] == "synapse.app.generic_worker"
            assert facts["worker_name"] == worker[0]


def test_inline_secret_is_refused(
    demo_estate: Estate, synapse_python: Path, tmp_path: Path
) -> None:
    """The probe really runs with --no-secrets-in-config: an inline secret must fail."""
    jobs = _deploy(demo_estate, "demo", tmp_path)
    config = Path(jobs[0]["configs"][0])
    config.write_text(config.read_text() + "\nmacaroon_secret_key: inline-secret-value\n")
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps(jobs[:1]))
    proc = subprocess.run(
        [synapse_python, PROBE, jobs_file], capture_output=True, text=True, timeout=300
    )
    (result,) = json.loads(proc.stdout)
    assert not result["ok"]
    assert "macaroon_secret_key" in result["error"]
