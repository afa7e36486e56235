"""`govmatrix assemble-config`: runs in a pod's init container. Copies the rendered files
from the ConfigMap mount and fills secret placeholders from the Secret mount, into the
memory-backed config directory the pod's processes read.

A missing secret value stops the pod (the init container fails, naming the secret):
nothing starts half-configured.
"""

from __future__ import annotations

import os
from pathlib import Path

from govmatrix.materialise import write_file
from govmatrix.render.secrets import PLACEHOLDER_RE, fill


def _rendered_files(root: Path) -> dict[str, str]:
    """Files under a ConfigMap mount. kubelet keeps them in a '..<timestamp>' directory behind
    symlinks ('..data', then one per top-level entry): follow the links, skip the '..' names."""
    files: dict[str, str] = {}
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".."))
        relative = Path(folder).relative_to(root)
        if any(part.startswith("..") for part in relative.parts):
            continue
        for name in sorted(names):
            if not name.startswith(".."):
                files[str(relative / name)] = (Path(folder) / name).read_text(encoding="utf-8")
    return files


def _secret_values(root: Path) -> dict[str, str]:
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(root.iterdir())
        if not path.name.startswith("..") and path.is_file()
    }


def assemble(rendered: Path, secrets: Path, dest: Path) -> list[str]:
    """Write every file; return the relative paths of the secret-bearing ones (mode 0600)."""
    files = _rendered_files(rendered)
    if not files:
        raise FileNotFoundError(f"no rendered files under {rendered}")
    values = _secret_values(secrets) if secrets.is_dir() else {}
    # Fill everything before writing anything: a missing value leaves no partial config.
    outputs = {
        relative: (fill(text, values), 0o600) if PLACEHOLDER_RE.search(text) else (text, 0o644)
        for relative, text in files.items()
    }
    for relative, (text, mode) in outputs.items():
        write_file(dest / relative, text, mode)
    return [relative for relative, (_, mode) in outputs.items() if mode == 0o600]


TRUST_BUNDLE = "ca-bundle.pem"


def trust_bundle(ca_file: Path, dest: Path) -> Path:
    """The public CAs (Mozilla's, from certifi) plus `ca_file`, as one PEM file for
    SSL_CERT_FILE: Synapse's OpenID Connect client then trusts the bundled provider's
    certificate (from the estate CA) and public issuers alike."""
    import certifi

    text = Path(certifi.where()).read_text(encoding="ascii")
    extra = ca_file.read_text(encoding="ascii")
    if "-----BEGIN CERTIFICATE-----" not in extra:
        raise FileNotFoundError(f"no certificate in {ca_file}")
    path = dest / TRUST_BUNDLE
    write_file(path, text.rstrip("\n") + "\n" + extra, 0o644)
    return path
