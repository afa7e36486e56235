"""TLS keys that stay in the HSM, served by nginx through OpenSSL 3's pkcs11-provider.

nginx 1.22 -> OpenSSL 3 -> pkcs11-provider (bookworm-backports) -> the PKCS#11 module.
nginx's `ssl_certificate_key` is a PEM file that only *names* the key: a PKCS#11 URI
(RFC 7512) wrapped as "-----BEGIN PKCS#11 PROVIDER URI-----". It holds no key material and
no PIN. nginx's master reads the token's PIN from a root-only file (`ssl_password_file`);
the provider keeps it (`pkcs11-module-cache-pins = cache`) and, after fork(), each worker
re-initialises the module and logs in again with it, so no worker reuses the master's
PKCS#11 handles (the libp11 0.4.12 failure) and no worker needs to read the PIN file.

A URI `pin-source=file:` does not work for this with pkcs11-provider 1.0: the master reads
it, but a worker logging in after fork() reads the file again, as the worker user, and falls
back to a PIN prompt (failed handshakes). One `pkcs11-module-token-pin` would give every
department's TLS token the same PIN. `ssl_password_file` is per nginx server, so per token.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, ObjectClass

from govmatrix.hsm import access, keys
from govmatrix.hsm.device import HsmError, session
from govmatrix.hsm.plan import HsmPlan
from govmatrix.materialise import write_file
from govmatrix.pki import PublicKey

PEM_LABEL = "PKCS#11 PROVIDER URI"
URI_DESCRIPTION = b"PKCS#11 Provider URI v1.0"
PROVIDER_MODULE_NAME = "pkcs11.so"
PROVIDER_CONF_NAME = "openssl-pkcs11.cnf"  # nginx's OPENSSL_CONF, in its directory
SOFTHSM_CONF_NAME = "softhsm2.conf"  # nginx's SOFTHSM2_CONF, in its directory
# nginx's workers run as this user (`user` in templates/demo/nginx.conf.j2); they open the
# TLS tokens again after fork(), so SoftHSM2's files of those tokens must be readable by it.
WORKER_USER = "www-data"
SETUP_HINT = (
    "run 'sudo make setup', which installs pkcs11-provider from bookworm-backports "
    "(apt-get install -t bookworm-backports pkcs11-provider)"
)
_URI_SAFE = "-._~"  # RFC 3986 unreserved; everything else in a value is percent-encoded
_CURVES: dict[str, ec.EllipticCurve] = {
    "ec-p256": ec.SECP256R1(),
    "ec-p384": ec.SECP384R1(),
}


# --- the PEM file nginx reads as its key ---------------------------------------------------


def key_uri(token: str, label: str) -> str:
    """The RFC 7512 URI of a token's private key (no PIN, no module path)."""
    token_part, label_part = quote(token, safe=_URI_SAFE), quote(label, safe=_URI_SAFE)
    return f"pkcs11:token={token_part};object={label_part};type=private"


def _tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        length = bytes([len(body)])
    else:
        raw = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def uri_pem(uri: str) -> str:
    """pkcs11-provider's key file: DER SEQUENCE { VisibleString desc, UTF8String uri } in PEM."""
    if not uri.startswith("pkcs11:") or "type=private" not in uri:
        raise HsmError(f"not a PKCS#11 private-key URI: {uri}")
    der = _tlv(0x30, _tlv(0x1A, URI_DESCRIPTION) + _tlv(0x0C, uri.encode()))
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {PEM_LABEL}-----\n" + "\n".join(lines) + f"\n-----END {PEM_LABEL}-----\n"


def parse_uri_pem(text: str) -> str:
    """The URI inside a key file written by `uri_pem`."""
    match = re.fullmatch(
        rf"-----BEGIN {PEM_LABEL}-----\n([A-Za-z0-9+/=\n]+)-----END {PEM_LABEL}-----\n", text
    )
    if match is None:
        raise HsmError(f"not a '{PEM_LABEL}' PEM file")
    der = base64.b64decode(match.group(1))

    def read(data: bytes, tag: int) -> tuple[bytes, bytes]:
        if not data or data[0] != tag:
            raise HsmError(f"'{PEM_LABEL}' file: expected DER tag {tag:#x}")
        length, offset = data[1], 2
        if length & 0x80:
            size = length & 0x7F
            length, offset = int.from_bytes(data[2 : 2 + size], "big"), 2 + size
        return data[offset : offset + length], data[offset + length :]

    body, _ = read(der, 0x30)
    description, rest = read(body, 0x1A)
    uri, _ = read(rest, 0x0C)
    if description != URI_DESCRIPTION:
        raise HsmError(f"'{PEM_LABEL}' file: unknown description {description!r}")
    return uri.decode()


def uri_attributes(uri: str) -> dict[str, str]:
    """The path attributes of a PKCS#11 URI, percent-decoded (for checks and tests)."""
    path = uri.removeprefix("pkcs11:").split("?", 1)[0]
    return {k: unquote(v) for k, v in (part.split("=", 1) for part in path.split(";") if part)}


def write_key_file(hsm: HsmPlan, path: Path) -> bool:
    """The department's TLS key file for nginx: the URI only. True if it changed."""
    key = hsm.key("tls")
    return write_file(path, uri_pem(key_uri(key.token, key.label)), 0o600)


# --- the key's public half, read from the token --------------------------------------------


def _ec_public_key(curve: ec.EllipticCurve, raw: bytes) -> ec.EllipticCurvePublicKey:
    """From CKA_EC_POINT: the uncompressed point, DER-wrapped as an OCTET STRING by most
    modules (PKCS#11 2.40), bare by a few."""
    candidates = []
    if len(raw) > 2 and raw[0] == 0x04:
        if raw[1] < 0x80 and raw[1] == len(raw) - 2:
            candidates.append(raw[2:])
        elif raw[1] == 0x81 and len(raw) > 3 and raw[2] == len(raw) - 3:
            candidates.append(raw[3:])
    candidates.append(raw)
    for point in candidates:
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        except ValueError:
            continue
    raise HsmError(f"cannot decode the TLS key's EC point ({len(raw)} bytes)")


def public_key(hsm: HsmPlan) -> PublicKey:
    """The TLS key's public half, from its public-key object in the token.

    Logs in once (python-pkcs11) to check the private key is there: a missing token or key
    or a wrong PIN fails here with a message naming the fix, before nginx tries (OpenSSL
    retries a wrong PIN several times, which can lock a real HSM's token)."""
    key = hsm.key("tls")
    with session(hsm, key.token) as sess:
        keys.require(sess, key, hsm.department_id)
        found = list(
            sess.get_objects({Attribute.LABEL: key.label, Attribute.CLASS: ObjectClass.PUBLIC_KEY})
        )
        if len(found) != 1:
            raise HsmError(
                f"token '{key.token}' holds {len(found)} public keys labelled '{key.label}' "
                "(expected one, beside the private key); the certificate is issued for it"
            )
        obj = found[0]
        if key.type.startswith("rsa-"):
            modulus = int.from_bytes(obj[Attribute.MODULUS], "big")
            exponent = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
            return rsa.RSAPublicNumbers(exponent, modulus).public_key()
        if key.type not in _CURVES:
            raise HsmError(f"TLS key type {key.type} is not supported for nginx")
        return _ec_public_key(_CURVES[key.type], bytes(obj[Attribute.EC_POINT]))


def spki(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- OpenSSL and SoftHSM2 configuration for nginx ------------------------------------------


def provider_module() -> Path:
    """pkcs11-provider's module in the OpenSSL modules directory, or a clear error."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise HsmError(f"the openssl command is not installed; {SETUP_HINT}")
    out = subprocess.run(
        [openssl, "version", "-m"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r'MODULESDIR: "([^"]+)"', out)
    directory = Path(match.group(1) if match else "/usr/lib/x86_64-linux-gnu/ossl-modules")
    module = directory / PROVIDER_MODULE_NAME
    if not module.is_file():
        raise HsmError(
            f"pkcs11-provider is not installed ({module} is missing), so nginx cannot use "
            f"TLS keys held in the HSM; {SETUP_HINT}"
        )
    return module


def provider_config(module_path: str, provider: Path) -> str:
    """OPENSSL_CONF for nginx: the default provider plus pkcs11-provider. No PIN in here."""
    return f"""\
# OpenSSL configuration of nginx (OPENSSL_CONF), written by govmatrix: loads pkcs11-provider
# so nginx signs TLS handshakes with keys that never leave the HSM. No PIN here: nginx's
# master reads each token's PIN from its ssl_password_file, and the provider keeps it so
# every worker logs in again after fork().
openssl_conf = openssl_init

[openssl_init]
providers = provider_sect
alg_section = algorithm_sect

[provider_sect]
default = default_sect
pkcs11 = pkcs11_sect

[default_sect]
activate = 1

[pkcs11_sect]
module = {provider}
pkcs11-module-path = {module_path}
# Without it SoftHSM2 crashes in C_Finalize at process exit (OpenSSL 3 atexit ordering).
pkcs11-module-quirks = no-deinit
# Keep the PIN nginx's master supplied, for the workers' logins after fork().
pkcs11-module-cache-pins = cache
activate = 1

[algorithm_sect]
# Digests, ciphers and public-key operations stay with the default provider; only
# operations on token keys go to pkcs11.
default_properties = ?provider=default
"""


def write_provider_config(path: Path, hsm: HsmPlan) -> bool:
    return write_file(path, provider_config(hsm.module_path, provider_module()), 0o644)


def write_softhsm_config(path: Path, hsm: HsmPlan) -> bool:
    """nginx's copy of the SoftHSM2 configuration: the module reads it again in every worker,
    as the worker user, and the provisioning copy is root-only. It names the token
    directory only; no secrets."""
    assert hsm.softhsm_conf is not None
    return write_file(path, Path(hsm.softhsm_conf).read_text(), 0o644)


def write_nginx_files(hsm: HsmPlan, key_file: Path, nginx_dir: Path) -> bool:
    """A host's nginx files for the department's HSM-held key (on-prem): the key file naming
    the key, and nginx's OpenSSL and SoftHSM2 configuration in `nginx_dir` (one per host:
    one nginx loads one PKCS#11 module). True if any changed."""
    changed = write_key_file(hsm, key_file)
    changed |= write_provider_config(nginx_dir / PROVIDER_CONF_NAME, hsm)
    if hsm.softhsm_conf is not None:
        changed |= write_softhsm_config(nginx_dir / SOFTHSM_CONF_NAME, hsm)
    return changed


def nginx_env_files(nginx_dir: Path, hsm: HsmPlan) -> tuple[Path, Path | None]:
    """OPENSSL_CONF and SOFTHSM2_CONF (None for a vendor module) of nginx in `nginx_dir`."""
    softhsm = nginx_dir / SOFTHSM_CONF_NAME if hsm.softhsm_conf is not None else None
    return nginx_dir / PROVIDER_CONF_NAME, softhsm


def read_pin_file(path: Path) -> str:
    """The PIN as nginx reads an ssl_password_file: its first line."""
    return (path.read_text().splitlines() or [""])[0]


def nginx_environment(
    nginx_dir: Path, hsm: HsmPlan, tls_files: Iterable[Path] = ()
) -> dict[str, str]:
    """nginx's environment for HSM-held keys. GOVMATRIX_TLS_KEYS digests the provider and
    module configuration and the certificates and key files, so a change of any of them
    changes nginx's program definition and the supervisor restarts it (a reload would keep
    the master's provider state and cached PINs)."""
    openssl_conf, softhsm_conf = nginx_env_files(nginx_dir, hsm)
    env = {"OPENSSL_CONF": str(openssl_conf)}
    if softhsm_conf is not None:
        env["SOFTHSM2_CONF"] = str(softhsm_conf)
    digest = hashlib.sha256()
    for path in (*(Path(v) for v in env.values()), *tls_files):
        digest.update(str(path).encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"(missing)")
    env["GOVMATRIX_TLS_KEYS"] = digest.hexdigest()[:16]
    return env


def grant_worker_access(hsm: HsmPlan, group: str = WORKER_USER) -> list[Path]:
    """Let nginx's workers (`group`) open the TLS token, and nothing else of the HSM
    directory (the demo; on hosts the hsm role runs `govmatrix hsm grant`): the HSM
    directory becomes traversable by the group, and govmatrix.hsm.access gives the group the
    TLS token while the department's other tokens stay root-only. The PIN files stay
    root-only. Returns the token directories opened to the group."""
    import grp

    access.set_owner(Path(hsm.hsm_dir), grp.getgrnam(group).gr_gid, 0o710)
    access.grant(hsm, {"tls": access.Grant(group)})
    return [access.token_dir(hsm, hsm.key("tls").token)]


# --- the check before nginx starts ---------------------------------------------------------


def check_as_worker(
    key_file: Path,
    pin: str,
    expected: PublicKey,
    *,
    openssl_conf: Path,
    softhsm_conf: Path | None,
    user: str = WORKER_USER,
    timeout: float = 60,
) -> None:
    """Load the key the way an nginx worker will: as `user`, through pkcs11-provider, and
    compare its public half with the token's. The key file (root-only: nginx's master reads
    it) comes on stdin, the PIN through a pipe: never argv, never another file.
    Fails with a message naming the fix instead of letting nginx hang or crash-loop."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise HsmError(f"the openssl command is not installed; {SETUP_HINT}")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OPENSSL_CONF": str(openssl_conf)}
    if softhsm_conf is not None:
        env["SOFTHSM2_CONF"] = str(softhsm_conf)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, pin.encode() + b"\n")  # a PIN fits the pipe's buffer
        os.close(write_end)
        write_end = -1
        proc = subprocess.run(
            [openssl, "pkey", "-passin", f"fd:{read_end}", "-pubout"],
            input=key_file.read_text(),
            env=env,
            user=user,
            group=user,
            extra_groups=[],
            pass_fds=(read_end,),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HsmError(
            f"loading {key_file} through pkcs11-provider as {user} did not finish in "
            f"{timeout:.0f} s (a PIN prompt, or an unresponsive HSM)"
        ) from None
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    # pkcs11-provider writes an RSA key as PKCS#1 ("BEGIN RSA PUBLIC KEY"), EC as SPKI.
    if proc.returncode != 0 or "PUBLIC KEY-----" not in proc.stdout:
        detail = " ".join(
            line.strip()
            for line in proc.stderr.splitlines()
            if line.strip() and not line.startswith("Enter ")
        )[-600:]
        raise HsmError(
            f"nginx's worker user {user} cannot load {key_file} through pkcs11-provider "
            f"(OPENSSL_CONF={openssl_conf}, SOFTHSM2_CONF={softhsm_conf}): "
            f"{detail or f'exit status {proc.returncode}'}. If pkcs11-provider is missing, "
            f"{SETUP_HINT}; otherwise check that {user} may read both files and the token's "
            "directory"
        )
    loaded = serialization.load_pem_public_key(proc.stdout.encode())
    if not isinstance(loaded, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)) or spki(
        loaded
    ) != spki(expected):
        raise HsmError(
            f"{key_file} resolves to a different key than the token's TLS key "
            "(another object with the same label?)"
        )
