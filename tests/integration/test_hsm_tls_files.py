"""The files behind HSM-backed TLS: the key file nginx reads (a PKCS#11 URI for OpenSSL's
pkcs11-provider, no key material, no PIN), the estate CA certifying a public key read from
the token, and the key loaded through the provider as nginx's worker user.

Real SoftHSM2, real `openssl` with pkcs11-provider (skipped where it is not installed).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from govmatrix import pki
from govmatrix.estate import Estate
from govmatrix.estate.federation import build
from govmatrix.estate.pki_plan import plan as pki_plan
from govmatrix.estate.schema import Department, HsmKey
from govmatrix.hsm import access, provision, tls
from govmatrix.hsm.device import HsmError, read_pin
from govmatrix.hsm.plan import HsmPlan, plan
from govmatrix.render.context import make_context
from govmatrix.render.environment import render_template
from govmatrix.render.targets import target_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("softhsm2-util") is None, reason="needs softhsm2 (make setup)"),
]

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
_numbers = itertools.count()
# hsm_root may be a demo's root that outlives this session (the shared end-to-end demo):
# tokens from an earlier session must not be mistaken for this one's.
_SESSION = secrets.token_hex(3)


def _provider_installed() -> bool:
    try:
        tls.provider_module()
    except HsmError:
        return False
    return True


needs_provider = pytest.mark.skipif(
    not _provider_installed(), reason="needs pkcs11-provider (make setup)"
)


# --- the key file --------------------------------------------------------------------------


def _asn1parse(pem: str) -> str:
    return subprocess.run(
        [OPENSSL, "asn1parse"], input=pem, capture_output=True, text=True, check=True
    ).stdout


def test_key_file_is_the_uri_wrapped_for_pkcs11_provider() -> None:
    uri = tls.key_uri("cabinet-office-tls", "tls")
    assert uri == "pkcs11:token=cabinet-office-tls;object=tls;type=private"
    pem = tls.uri_pem(uri)
    assert pem.startswith("-----BEGIN PKCS#11 PROVIDER URI-----\n")
    assert pem.endswith("-----END PKCS#11 PROVIDER URI-----\n")
    parsed = _asn1parse(pem)
    # SEQUENCE { VisibleString description, UTF8String uri }: the layout pkcs11-provider's
    # decoder (and its tools/uri2pem.py) uses.
    assert "cons: SEQUENCE" in parsed
    assert "VISIBLESTRING     :PKCS#11 Provider URI v1.0" in parsed
    assert f"UTF8STRING        :{uri}" in parsed
    assert tls.parse_uri_pem(pem) == uri
    # Names only: no key material and no PIN, not even a pin-source.
    assert "PRIVATE KEY" not in pem and "pin" not in uri


def test_odd_labels_are_percent_encoded_and_long_uris_use_long_der_lengths() -> None:
    uri = tls.key_uri("dept;x", "tls key/1%" + "k" * 150)
    assert ";object=tls%20key%2F1%25" in uri and "token=dept%3Bx" in uri
    assert tls.uri_attributes(uri) == {
        "token": "dept;x",
        "object": "tls key/1%" + "k" * 150,
        "type": "private",
    }
    pem = tls.uri_pem(uri)
    assert tls.parse_uri_pem(pem) == uri
    assert f"UTF8STRING        :{uri}" in _asn1parse(pem)
    with pytest.raises(HsmError, match="not a PKCS#11 private-key URI"):
        tls.uri_pem("pkcs11:token=t;object=o;type=public")
    with pytest.raises(HsmError, match="not a 'PKCS#11 PROVIDER URI' PEM file"):
        tls.parse_uri_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


# --- where the renderer points nginx ---------------------------------------------------------


def test_only_a_target_with_an_hsm_points_nginx_at_the_key_file(demo_estate: Estate) -> None:
    dept = demo_estate.department("cabinet-office")
    graph = build(demo_estate)
    for kind in ("demo", "onprem"):
        ctx = make_context(demo_estate, dept, target_for(kind, demo_estate, dept), graph)
        assert ctx.tls_key_path == f"{ctx.target.tls_dir}/server.key.uri.pem"
        assert ctx.tls_pin_path == f"{ctx.target.hsm_dir}/pins/cabinet-office-tls.pin"
    # Kubernetes keeps TLS keys with cert-manager.
    kube = make_context(demo_estate, dept, target_for("kubernetes", demo_estate, dept), graph)
    assert kube.tls_key_path == kube.paths.server_key
    assert kube.tls_pin_path is None


def test_demo_nginx_runs_several_workers_as_the_user_given_the_tokens() -> None:
    conf = render_template("demo/nginx.conf.j2", root=Path("/r"), sites=[])
    assert f"user {tls.WORKER_USER} {tls.WORKER_USER};" in conf
    workers = int(conf.split("worker_processes ", 1)[1].split(";", 1)[0])
    assert workers >= 3
    assert "env OPENSSL_CONF;" in conf and "env SOFTHSM2_CONF;" in conf
    assert "pid=$pid" in conf


# --- the CA certifies a public key it does not hold ----------------------------------------


@pytest.fixture
def estate_pki(demo_estate: Estate, tmp_path: Path) -> pki.EstatePki:
    pki.init(pki_plan(demo_estate), tmp_path / "pki")
    return pki.EstatePki(tmp_path / "pki")


def _cert_plan(estate: Estate, dept_id: str) -> pki.CertificatePlan:
    return next(c for c in pki_plan(estate).certificates if c.department == dept_id)


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_certificate_for_a_public_key_matches_the_software_path(
    demo_estate: Estate, estate_pki: pki.EstatePki, tmp_path: Path
) -> None:
    held_elsewhere = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = tmp_path / "tls" / "server.crt"
    cert_plan = _cert_plan(demo_estate, "home-office")
    assert estate_pki.ensure_for_public_key(cert_plan, held_elsewhere, path)
    pem = path.read_bytes()
    issued, ca = x509.load_pem_x509_certificates(pem)
    assert ca == estate_pki.ca_certificate()  # the chain, as for software keys
    issued.verify_directly_issued_by(ca)
    assert issued.public_key() == held_elsewhere
    software = x509.load_pem_x509_certificate(
        estate_pki.server_cert_path("home-office").read_bytes()
    )
    assert issued.subject == software.subject
    for ext in (x509.SubjectAlternativeName, x509.BasicConstraints, x509.ExtendedKeyUsage):
        assert (
            issued.extensions.get_extension_for_class(ext).value
            == software.extensions.get_extension_for_class(ext).value
        )
    validity = issued.not_valid_after_utc - issued.not_valid_before_utc
    assert abs(validity - (software.not_valid_after_utc - software.not_valid_before_utc)) < (
        dt.timedelta(minutes=1)
    )
    # Kept while it fits; re-issued for another key.
    assert not estate_pki.ensure_for_public_key(cert_plan, held_elsewhere, path)
    assert path.read_bytes() == pem
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert estate_pki.ensure_for_public_key(cert_plan, other, path)
    assert x509.load_pem_x509_certificate(path.read_bytes()).public_key() == other
    # Without the CA key (an offline CA) a fitting certificate is kept, a missing one named.
    estate_pki.ca_key_path.unlink()
    assert not estate_pki.ensure_for_public_key(cert_plan, other, path)
    with pytest.raises(pki.PkiError, match=r"CA key is not in .* CSR"):
        estate_pki.ensure_for_public_key(cert_plan, held_elsewhere, path)


# --- a real token, through the provider ----------------------------------------------------


def _plan(estate: Estate, root: Path, tls_type: str = "ec-p256") -> HsmPlan:
    base = estate.departments[0]
    dept_id = f"tls-{_SESSION}-{next(_numbers)}"
    keys = {**base.hsm.keys, "tls": HsmKey.model_validate({"label": "tls", "type": tls_type})}
    settings = base.hsm.model_copy(update={"enabled": True, "keys": keys})
    dept = Department.model_validate(
        {**base.model_dump(), "id": dept_id, "hsm": settings.model_dump()}
    )
    result = plan(dept, target_for("demo", estate, base, root=str(root)))
    assert result is not None
    hsm = HsmPlan(**{**result.__dict__, "department_id": dept_id})
    provision.init(hsm)
    return hsm


@needs_provider
@pytest.mark.parametrize("tls_type", ["ec-p256", "rsa-2048"])
def test_the_provider_loads_the_token_key_as_the_worker_user(
    demo_estate: Estate, hsm_root: Path, tmp_path: Path, tls_type: str
) -> None:
    hsm = _plan(demo_estate, hsm_root, tls_type)
    public = tls.public_key(hsm)
    key_file = tmp_path / "server.key.uri.pem"
    assert tls.write_key_file(hsm, key_file)
    assert not tls.write_key_file(hsm, key_file)  # idempotent
    assert key_file.stat().st_mode & 0o777 == 0o600
    tmp_path.chmod(tmp_path.stat().st_mode | 0o001)  # the worker user reads nginx/ in it
    nginx_dir = tmp_path / "nginx"
    env = tls.nginx_environment(nginx_dir, hsm)
    conf, softhsm_conf = Path(env["OPENSSL_CONF"]), Path(env["SOFTHSM2_CONF"])
    tls.write_provider_config(conf, hsm)
    tls.write_softhsm_config(softhsm_conf, hsm)
    pin = read_pin(hsm, hsm.key("tls").token)
    for written in (conf, softhsm_conf, key_file):
        assert pin not in written.read_text()
    assert "pkcs11-module-quirks = no-deinit" in conf.read_text()
    assert "pkcs11-module-cache-pins = cache" in conf.read_text()

    # As root, the way nginx's master loads it: the public half is the token's.
    proc = subprocess.run(
        [OPENSSL, "pkey", "-in", str(key_file), "-passin", "stdin", "-pubout"],
        input=pin + "\n",
        env={**os.environ, "OPENSSL_CONF": str(conf), "SOFTHSM2_CONF": str(softhsm_conf)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert serialization.load_pem_public_key(proc.stdout.encode()) == public

    # As the worker user, once the TLS token (and only it) is opened to its group.
    opened = tls.grant_worker_access(hsm)
    assert [d.stat().st_gid for d in opened] == [_gid(tls.WORKER_USER)]
    # The department's other token (archive, backup and signing-wrap keys) stays root-only.
    main_token = access.token_dir(hsm, hsm.key("backup_kek").token)
    assert main_token not in opened and main_token.stat().st_mode & 0o077 == 0
    assert (Path(hsm.hsm_dir) / "pins").stat().st_mode & 0o077 == 0
    tls.check_as_worker(key_file, pin, public, openssl_conf=conf, softhsm_conf=softhsm_conf)

    # The estate CA certifies exactly that key.
    estate_pki = pki.EstatePki(tmp_path / "pki")
    pki.init(pki_plan(demo_estate), estate_pki.dir)
    cert_path = tmp_path / "server.crt"
    estate_pki.ensure_for_public_key(
        _cert_plan(demo_estate, demo_estate.departments[0].id), public, cert_path
    )
    assert _spki(x509.load_pem_x509_certificate(cert_path.read_bytes())) == tls.spki(public)

    # Another key's public half is refused; a wrong configuration is named, not hung on.
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(HsmError, match="resolves to a different key"):
        tls.check_as_worker(key_file, pin, stranger, openssl_conf=conf, softhsm_conf=softhsm_conf)
    with pytest.raises(HsmError, match=r"cannot load .* make setup"):
        tls.check_as_worker(
            key_file, pin, public, openssl_conf=tmp_path / "missing.cnf", softhsm_conf=softhsm_conf
        )


def _gid(group: str) -> int:
    import grp

    return grp.getgrnam(group).gr_gid


def test_a_missing_provider_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "PROVIDER_MODULE_NAME", "no-such-provider.so")
    with pytest.raises(HsmError, match=r"pkcs11-provider is not installed .*sudo make setup"):
        tls.provider_module()


def test_a_missing_tls_key_names_the_fix(demo_estate: Estate, hsm_root: Path) -> None:
    hsm = _plan(demo_estate, hsm_root)
    key = hsm.key("tls")
    renamed = {
        **hsm.keys,
        "tls": key.__class__("tls", "no-such-tls", key.type, key.token, "generate"),
    }
    with pytest.raises(HsmError, match=r"key 'no-such-tls' \(tls\) is missing .*hsm init"):
        tls.public_key(HsmPlan(**{**hsm.__dict__, "keys": renamed}))


# --- on-prem: which group opens which token ------------------------------------------------


def _mode(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_gid, st.st_mode & 0o7777


def test_each_service_group_gets_the_token_of_its_key_and_nothing_else(
    demo_estate: Estate, hsm_root: Path
) -> None:
    hsm = _plan(demo_estate, hsm_root)
    grants = {
        "archive_checkpoint": access.Grant("daemon", write=True),
        "tls": access.Grant(tls.WORKER_USER),
    }
    assert access.grant(hsm, grants)
    expected = {
        "archive_checkpoint": (_gid("daemon"), 0o770, 0o660),
        "tls": (_gid(tls.WORKER_USER), 0o750, 0o640),
        "backup_kek": (0, 0o700, 0o600),  # the department's main token: root only
    }
    for role, (gid, dir_mode, file_mode) in expected.items():
        directory = access.token_dir(hsm, hsm.key(role).token)  # type: ignore[arg-type]
        assert _mode(directory) == (gid, dir_mode), role
        files = list(directory.iterdir())
        assert files and all(_mode(f) == (gid, file_mode) for f in files), role
    assert _mode(Path(hsm.hsm_dir) / "tokens") == (0, 0o755)
    assert access.grant(hsm, grants) == []  # idempotent: the next converge changes nothing

    # A group is never given a token that holds another service's key.
    tls_key = hsm.key("tls")
    shared = {
        **hsm.keys,
        "tls": tls_key.__class__(
            **{**tls_key.__dict__, "token": hsm.key("archive_checkpoint").token}
        ),
    }
    with pytest.raises(HsmError, match="holds keys for different services"):
        access.grant(HsmPlan(**{**hsm.__dict__, "keys": shared}), grants)
