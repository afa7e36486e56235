"""The estate CA on disk: create or import it, and issue each department's certificate.

One CA per estate, whichever target a department runs on, so departments deployed by the
demo, Ansible and Kubernetes trust each other over federation. Re-running is safe: the CA
and keys are kept, and a certificate is re-issued only when it no longer fits the plan
(wrong names, another CA, or near expiry).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from govmatrix.estate.pki_plan import CertificatePlan, PkiPlan
from govmatrix.estate.schema import Estate, Partner

CA_DAYS = 3650
SERVER_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)

PrivateKey = ec.EllipticCurvePrivateKey
# A server key the CA certifies: its own software key, or a key held in an HSM.
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class PkiError(Exception):
    pass


@dataclass
class PkiReport:
    ca: str = "kept"  # created | imported | kept
    issued: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    csrs: list[str] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with the final mode so a key is never readable by others, not even briefly.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path}: expected an EC private key")
    return key


def _load_or_create_key(path: Path, curve: ec.EllipticCurve) -> PrivateKey:
    if path.exists():
        return _load_key(path)
    key = ec.generate_private_key(curve)
    _write(path, _key_pem(key), 0o600)
    return key


def partner_ca_source(estate_file: Path, partner: Partner) -> Path | None:
    """The CA bundle a partner's `ca_bundle: file:PATH` names, relative to the estate file."""
    if partner.ca_bundle is None:
        return None
    source = (estate_file.parent / partner.ca_bundle.removeprefix("file:")).resolve()
    if not source.is_file():
        raise PkiError(
            f"partner '{partner.id}' names CA bundle {partner.ca_bundle}, but {source} "
            "does not exist"
        )
    return source


class EstatePki:
    """The PKI directory: ca.crt, ca.key (0600), <department>/server.{crt,key,csr}."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)

    @property
    def ca_cert_path(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key_path(self) -> Path:
        return self.dir / "ca.key"

    def server_cert_path(self, department: str) -> Path:
        return self.dir / department / "server.crt"

    def server_key_path(self, department: str) -> Path:
        return self.dir / department / "server.key"

    def csr_path(self, department: str) -> Path:
        return self.dir / department / "server.csr"

    def ca_certificate(self) -> x509.Certificate:
        if not self.ca_cert_path.exists():
            raise PkiError(f"no estate CA at {self.ca_cert_path}; run 'govmatrix pki init' first")
        return x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())

    # --- CA ------------------------------------------------------------------------------

    def ensure_ca(self, common_name: str, report: PkiReport) -> None:
        if self.ca_cert_path.exists():
            report.ca = "kept"
            return
        key = _load_or_create_key(self.ca_key_path, ec.SECP384R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA384())
        )
        _write(self.ca_cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        report.ca = "created"

    def import_ca(self, cert_file: Path, key_file: Path | None, report: PkiReport) -> None:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not constraints.ca:
            raise PkiError(f"{cert_file} is not a CA certificate (basicConstraints CA:FALSE)")
        if key_file is not None:
            key = _load_key(key_file)
            if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
                raise PkiError(f"{key_file} is not the private key of {cert_file}")
            _write(self.ca_key_path, _key_pem(key), 0o600)
        _write(self.ca_cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        report.ca = "imported"

    # --- department certificates ---------------------------------------------------------

    def ensure_department(self, cert: CertificatePlan, report: PkiReport) -> None:
        key = _load_or_create_key(self.server_key_path(cert.department), ec.SECP256R1())
        if not self.ca_key_path.exists():
            # The CA key lives elsewhere (an imported or offline CA): hand over a CSR.
            csr = _csr(cert, key)
            _write(
                self.csr_path(cert.department), csr.public_bytes(serialization.Encoding.PEM), 0o644
            )
            report.csrs.append(cert.department)
            return
        if self._fits(cert):
            report.kept.append(cert.department)
            return
        issued = self._issue(cert, key.public_key())
        _write(
            self.server_cert_path(cert.department),
            issued.public_bytes(serialization.Encoding.PEM) + self.ca_cert_path.read_bytes(),
            0o644,
        )
        report.issued.append(cert.department)

    def ensure_for_public_key(
        self, plan: CertificatePlan, public_key: PublicKey, path: Path
    ) -> bool:
        """A certificate at `path` for a key this directory does not hold (an HSM's): the CA
        signs the public key directly, so no CSR is needed. Names and validity are those of
        the software path. Kept while it fits (same names, CA and key, not near expiry);
        returns True when it was (re)issued."""
        if self._fits(plan, path, public_key):
            return False
        if not self.ca_key_path.exists():
            raise PkiError(
                f"the estate CA key is not in {self.dir} (an imported or offline CA), so "
                f"{plan.department}'s HSM-held TLS key cannot be certified here; have the CA "
                f"sign a CSR made with the HSM key and place the certificate at {path}"
            )
        issued = self._issue(plan, public_key)
        _write(
            path,
            issued.public_bytes(serialization.Encoding.PEM) + self.ca_cert_path.read_bytes(),
            0o644,
        )
        return True

    def _fits(
        self, plan: CertificatePlan, path: Path | None = None, public_key: PublicKey | None = None
    ) -> bool:
        path = path or self.server_cert_path(plan.department)
        if not path.exists():
            return False
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        if public_key is not None and not _same_key(cert.public_key(), public_key):
            return False
        ca = self.ca_certificate()
        if cert.issuer != ca.subject or cert.not_valid_after_utc - RENEW_BEFORE < _now():
            return False
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return _names(cert) == (set(plan.dns_names), set(plan.ip_addresses))

    def _issue(self, plan: CertificatePlan, public_key: PublicKey) -> x509.Certificate:
        ca_key = _load_key(self.ca_key_path)
        ca = self.ca_certificate()
        now = _now()
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, plan.common_name)]))
            .issuer_name(ca.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(_san(plan)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )


def _spki(key: object) -> bytes:
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        return b""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _same_key(a: object, b: PublicKey) -> bool:
    return _spki(a) == _spki(b)


def _san(plan: CertificatePlan) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in plan.dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in plan.ip_addresses]
    return names


def _names(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (
        set(san.get_values_for_type(x509.DNSName)),
        {str(ip) for ip in san.get_values_for_type(x509.IPAddress)},
    )


def _csr(plan: CertificatePlan, key: PrivateKey) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, plan.common_name)]))
        .add_extension(x509.SubjectAlternativeName(_san(plan)), critical=False)
        .sign(key, hashes.SHA256())
    )


def init(
    plan: PkiPlan,
    directory: str | Path,
    *,
    import_cert: Path | None = None,
    import_key: Path | None = None,
) -> PkiReport:
    """Make (or import) the estate CA, then a key and certificate or CSR per department."""
    pki = EstatePki(directory)
    report = PkiReport()
    if import_cert is not None:
        if pki.ca_cert_path.exists():
            existing = pki.ca_cert_path.read_bytes()
            incoming = x509.load_pem_x509_certificate(import_cert.read_bytes())
            if existing != incoming.public_bytes(serialization.Encoding.PEM):
                raise PkiError(
                    f"{pki.ca_cert_path} already holds a different CA; refusing to replace it "
                    "(departments would stop trusting each other). Move it away first."
                )
        pki.import_ca(import_cert, import_key, report)
    else:
        pki.ensure_ca(plan.ca_common_name, report)
    for cert in plan.certificates:
        pki.ensure_department(cert, report)
    return report


def partner_ca_texts(estate_file: Path, estate: Estate) -> dict[str, str]:
    """PEM text of every partner's CA bundle, by partner id (for Kubernetes ConfigMaps)."""
    texts = {}
    for partner in estate.partners:
        source = partner_ca_source(estate_file, partner)
        if source is not None:
            texts[partner.id] = source.read_text(encoding="utf-8")
    return texts
