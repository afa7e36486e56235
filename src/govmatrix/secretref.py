"""Reading a secret from its estate reference at run time.

The estate names secrets, never holds them (estate.types.SecretRef): `env:NAME`,
`file:PATH`, `vault:PATH` or `generate`. At run time govmatrix reads `env:` and `file:`;
`vault:` is resolved by the deploy tool (Ansible, Pulumi) into a file, and `generate` into
the file the target generated.
"""

from __future__ import annotations

import os
from pathlib import Path


class SecretRefError(ValueError):
    pass


def read(ref: str, what: str, generated: Path | None = None) -> str:
    """The value `ref` points at; `generated` is where a `generate` secret was written.
    `what` names the secret in errors (which setting to fix)."""
    if ref.startswith("env:"):
        name = ref.removeprefix("env:")
        value = os.environ.get(name)
        if not value:
            raise SecretRefError(f"{what}: environment variable {name} is not set")
        return value
    if ref.startswith("file:"):
        path = Path(ref.removeprefix("file:"))
    elif ref == "generate" and generated is not None:
        path = generated
    else:
        raise SecretRefError(
            f"{what}: '{ref}' must be resolved by the deploy tool into a file; at run time "
            "govmatrix reads env: and file: references"
        )
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise SecretRefError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise SecretRefError(f"{what}: {path} is empty")
    return value
