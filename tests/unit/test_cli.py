"""The govmatrix CLI: exit codes, JSON output, no tracebacks on bad input."""

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govmatrix.cli import app
from govmatrix.estate import Estate
from govmatrix.render import render, target_for

pytestmark = pytest.mark.unit

runner = CliRunner()
DEMO = "inventories/demo/estate.yml"


@pytest.fixture(autouse=True)
def _in_repo(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_root)


def test_help_everywhere() -> None:
    for args in (
        [],
        ["validate"],
        ["render"],
        ["graph"],
        ["schema"],
        ["pki"],
        ["pki", "init"],
        ["migrate"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_validate_ok_and_json() -> None:
    result = runner.invoke(app, ["validate", DEMO, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["valid"] is True
    assert [d["id"] for d in data["departments"]] == [
        "cabinet-office",
        "home-office",
        "hm-treasury",
    ]


def test_invalid_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "version: 1\n"
        "estate: {name: x-y}\n"
        "departments:\n"
        "  - {id: aa, name: A, server_name: 'a b', target: demo}\n"
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{bad}:4:" in result.output
    as_json = runner.invoke(app, ["validate", str(bad), "--json"])
    assert as_json.exit_code == 2
    problems = json.loads(as_json.stdout)["problems"]
    assert problems[0]["path"] == "departments[0].server_name" and problems[0]["line"] == 4


def test_missing_file_exits_2() -> None:
    result = runner.invoke(app, ["validate", "no/such/estate.yml"])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_debug_shows_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\n")
    result = runner.invoke(app, ["--debug", "validate", str(bad)])
    assert result.exit_code != 0
    assert result.exception is not None


def test_render_file_is_byte_identical_to_library(demo_estate: Estate) -> None:
    result = runner.invoke(
        app,
        ["render", DEMO, "-t", "onprem", "-d", "home-office", "--file", "synapse/homeserver.yaml"],
    )
    assert result.exit_code == 0, result.output
    dept = demo_estate.department("home-office")
    expected = render(demo_estate, dept, target_for("onprem", demo_estate, dept))[
        "synapse/homeserver.yaml"
    ]
    assert result.stdout == expected.text


def test_render_out_marks_secret_files_0600(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", DEMO, "-t", "demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    registration = tmp_path / "cabinet-office" / "synapse" / "appservices" / "archive.yaml"
    assert stat.S_IMODE(registration.stat().st_mode) == 0o600
    assert "@@secret:archive_as_token@@" in registration.read_text()
    homeserver = tmp_path / "cabinet-office" / "synapse" / "homeserver.yaml"
    assert stat.S_IMODE(homeserver.stat().st_mode) == 0o644


def test_render_unknown_department_exits_2() -> None:
    result = runner.invoke(app, ["render", DEMO, "-t", "demo", "-d", "nope"])
    assert result.exit_code == 2
    assert "no department 'nope'" in result.output


def test_graph_json_and_dot() -> None:
    result = runner.invoke(app, ["graph", DEMO, "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["edges"] == [["cabinet-office", "hm-treasury"], ["cabinet-office", "home-office"]]
    assert data["departments"]["home-office"]["refused"] == ["hm-treasury"]
    dot = runner.invoke(app, ["graph", DEMO, "--format", "dot"])
    assert dot.exit_code == 0
    assert '"cabinet-office" -- "home-office"' in dot.stdout
    assert '"home-office" -- "hm-treasury"' not in dot.stdout


def test_graph_table_lists_refusals() -> None:
    result = runner.invoke(app, ["graph", DEMO])
    assert result.exit_code == 0
    assert "hm-treasury" in result.stdout and "refused" in result.stdout


def test_schema_check(tmp_path: Path) -> None:
    assert runner.invoke(app, ["schema", "--check"]).exit_code == 0
    stale = tmp_path / "stale.json"
    stale.write_text("{}")
    assert runner.invoke(app, ["schema", "--check", "--out", str(stale)]).exit_code == 1


def test_pki_init_and_rerun(tmp_path: Path) -> None:
    first = runner.invoke(app, ["pki", "init", DEMO, "--dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "created" in first.output
    second = runner.invoke(app, ["pki", "init", DEMO, "--dir", str(tmp_path)])
    assert "kept" in second.output


def test_migrate_current_version_is_noop() -> None:
    result = runner.invoke(app, ["migrate", DEMO])
    assert result.exit_code == 0
    assert "already at version 1" in result.output


def test_pki_certify_key_certifies_a_key_it_does_not_hold_once(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pki_dir = tmp_path / "pki"
    assert runner.invoke(app, ["pki", "init", DEMO, "--dir", str(pki_dir)]).exit_code == 0
    key = ec.generate_private_key(ec.SECP256R1())  # stands in for the HSM's key pair
    public = tmp_path / "tls.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    out = tmp_path / "server-hsm.crt"
    args = ["pki", "certify-key", DEMO, "--dir", str(pki_dir), "--public-key", str(public)]
    first = runner.invoke(app, [*args, "--department", "cabinet-office", "--out", str(out)])
    assert first.exit_code == 0 and first.output.strip() == "issued", first.output
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert cert.public_key() == key.public_key()
    ca = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    again = runner.invoke(app, [*args, "--department", "cabinet-office", "--out", str(out)])
    assert again.exit_code == 0 and again.output.strip() == "kept"

    unknown = runner.invoke(app, [*args, "--department", "nobody", "--out", str(out)])
    assert unknown.exit_code == 1 and "no certificate for department 'nobody'" in unknown.output
    public.write_text("not a key\n")
    bad = runner.invoke(app, [*args, "--department", "cabinet-office", "--out", str(out)])
    assert bad.exit_code == 1 and "cannot read the public key" in bad.output
