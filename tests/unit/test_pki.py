"""The estate CA and department certificates, with real X.509 checks."""

import stat
from pathlib import Path

import pytest
from cryptography import x509

from govmatrix import pki
from govmatrix.estate import Estate
from govmatrix.estate.pki_plan import plan

pytestmark = pytest.mark.unit


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_one_ca_and_a_certificate_per_department(
    demo_estate: Estate, tmp_path: Path
) -> None:
    report = pki.init(plan(demo_estate), tmp_path)
    assert report.ca == "created"
    assert sorted(report.issued) == sorted(d.id for d in demo_estate.departments)
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    assert _mode(tmp_path / "ca.key") == 0o600
    for dept in demo_estate.departments:
        assert _mode(tmp_path / dept.id / "server.key") == 0o600
        cert = x509.load_pem_x509_certificate((tmp_path / dept.id / "server.crt").read_bytes())
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        # The bundled sign-in portal shares the department's nginx and certificate.
        assert san.get_values_for_type(x509.DNSName) == [
            dept.server_name,
            f"auth.{dept.server_name}",
        ]


def test_second_run_keeps_everything(demo_estate: Estate, tmp_path: Path) -> None:
    pki.init(plan(demo_estate), tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    report = pki.init(plan(demo_estate), tmp_path)
    assert report.ca == "kept" and not report.issued
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_certificate_reissued_when_names_change(demo_estate: Estate, tmp_path: Path) -> None:
    pki.init(plan(demo_estate), tmp_path)
    renamed = demo_estate.model_copy(
        update={
            "departments": [
                d.model_copy(update={"server_name": "renamed.gov.test"})
                if d.id == "home-office"
                else d
                for d in demo_estate.departments
            ]
        }
    )
    report = pki.init(plan(renamed), tmp_path)
    assert report.issued == ["home-office"]


def test_import_without_key_writes_csrs(demo_estate: Estate, tmp_path: Path) -> None:
    source = tmp_path / "source"
    pki.init(plan(demo_estate), source)
    target = tmp_path / "imported"
    report = pki.init(plan(demo_estate), target, import_cert=source / "ca.crt")
    assert report.ca == "imported"
    assert sorted(report.csrs) == sorted(d.id for d in demo_estate.departments)
    assert not (target / "ca.key").exists()
    csr = x509.load_pem_x509_csr((target / "home-office" / "server.csr").read_bytes())
    assert csr.is_signature_valid


def test_import_with_key_issues_and_refuses_a_different_ca(
    demo_estate: Estate, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    pki.init(plan(demo_estate), source)
    target = tmp_path / "imported"
    report = pki.init(
        plan(demo_estate), target, import_cert=source / "ca.crt", import_key=source / "ca.key"
    )
    assert len(report.issued) == len(demo_estate.departments)
    other = tmp_path / "other"
    pki.init(plan(demo_estate), other)
    with pytest.raises(pki.PkiError, match="different CA"):
        pki.init(plan(demo_estate), target, import_cert=other / "ca.crt")


def test_import_rejects_mismatched_key(demo_estate: Estate, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    pki.init(plan(demo_estate), a)
    pki.init(plan(demo_estate), b)
    with pytest.raises(pki.PkiError, match="not the private key"):
        pki.init(
            plan(demo_estate), tmp_path / "c", import_cert=a / "ca.crt", import_key=b / "ca.key"
        )


def test_no_private_key_in_rendered_output(demo_estate: Estate) -> None:
    from govmatrix.render import render_all

    for files in render_all(demo_estate, "demo").values():
        for path, item in files.items():
            assert "PRIVATE KEY" not in item.text, f"{path} holds a private key"
