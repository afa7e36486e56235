#!/usr/bin/python
"""Generate a department's secrets on the host, once, and keep their files 0600."""

from __future__ import annotations

DOCUMENTATION = r"""
module: govmatrix_secrets
short_description: Create a govmatrix department's secrets on the host
description:
  - Each secret is a file in I(directory). A missing one is generated on the host with a
    cryptographically secure generator; an existing one is never changed, only its owner
    and mode are corrected. Values never leave the host and are never returned.
options:
  directory:
    description: The department's secrets directory.
    type: path
    required: true
  secrets:
    description:
      - Secret specs from the govmatrix_render lookup (name, kind, file, owner, source).
      - With I(source), the secret was issued elsewhere (the estate's file reference) and is
        copied from that file on the host, kept in step with it, never generated.
    type: list
    elements: dict
    required: true
"""

import base64
import os
import secrets as secrets_lib
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule

# PKCS#8 header of an Ed25519 private key: the 32-byte seed follows (RFC 8410).
_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


def generate(kind):
    if kind == "signing_key":
        # Synapse's signing key file: "ed25519 <key id> <unpadded base64 seed>".
        seed = base64.b64encode(secrets_lib.token_bytes(32)).decode().rstrip("=")
        return f"ed25519 a_{secrets_lib.token_hex(2)} {seed}\n"
    if kind == "ed25519_pem":
        der = base64.b64encode(_ED25519_PKCS8_PREFIX + secrets_lib.token_bytes(32)).decode()
        return f"-----BEGIN PRIVATE KEY-----\n{der}\n-----END PRIVATE KEY-----\n"
    if kind in ("token", "password"):
        return secrets_lib.token_urlsafe(32)
    if kind == "rsa_pem":
        # PKCS#1, which LemonLDAP::NG's Crypt::OpenSSL::RSA reads (the bundled provider's
        # ID-token signing key). OpenSSL is on every Debian host (ca-certificates needs it).
        return subprocess.run(
            ["openssl", "genrsa", "-traditional", "2048"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    raise ValueError(f"unknown secret kind {kind!r}")


def _private_file(path, text, place):
    """Write `text` to a 0600 temporary file next to `path`, then `place` it there."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        place(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_new(path, text):
    # os.link fails if the file appeared meanwhile: never overwrite a generated secret.
    _private_file(path, text, os.link)


def replace(path, text):
    _private_file(path, text, os.replace)


def main():
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "secrets": {"type": "list", "elements": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    directory = module.params["directory"]
    generated, fixed = [], []
    if not os.path.isdir(directory):
        if module.check_mode:  # created earlier in this (check-mode) run
            names = [spec["name"] for spec in module.params["secrets"]]
            module.exit_json(changed=True, generated=names, permissions_fixed=[])
        module.fail_json(msg=f"secrets directory {directory} does not exist; create it first")
    copied = []
    for spec in module.params["secrets"]:
        path = os.path.join(directory, spec["file"])
        source = spec.get("source")
        if source:
            try:
                with open(source, encoding="utf-8") as handle:
                    value = handle.read().strip()
            except OSError as exc:
                module.fail_json(
                    msg=f"secret {spec['name']} is read from {source} on this host: "
                    f"{exc.strerror}; put it there (root-only) first"
                )
            current = None
            if os.path.exists(path):
                with open(path, encoding="utf-8") as handle:
                    current = handle.read()
            if current != value:
                copied.append(spec["name"])
                if not module.check_mode:
                    replace(path, value)
        elif not os.path.exists(path):
            generated.append(spec["name"])
            if not module.check_mode:
                try:
                    write_new(path, generate(spec["kind"]))
                except ValueError as exc:
                    module.fail_json(msg=str(exc))
        if os.path.exists(path):
            attrs = module.load_file_common_arguments(
                {"owner": spec["owner"], "group": spec["owner"], "mode": "0600"}, path=path
            )
            if module.set_fs_attributes_if_different(attrs, False):
                fixed.append(spec["name"])
    module.exit_json(
        changed=bool(generated or fixed or copied),
        generated=generated,
        copied=copied,
        permissions_fixed=fixed,
    )


if __name__ == "__main__":
    main()
