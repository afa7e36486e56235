"""Write a rendered department onto a local filesystem, as a target does at deploy time.

Rendered files go under the target's config directory. Secret-bearing files get their
placeholders filled and mode 0600; the secret files Synapse reads by path go to the
target's secrets directory, also 0600. Writes are atomic (write, then rename) so a
crash never leaves a half-written config behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from govmatrix.render import RenderedFile, Target
from govmatrix.render.secrets import SecretSpec, fill


def write_file(path: Path, text: str, mode: int) -> bool:
    """Write atomically with `mode`; return True if the content or mode changed."""
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def materialise(
    files: dict[str, RenderedFile],
    target: Target,
    secret_specs: tuple[SecretSpec, ...],
    secret_values: dict[str, str],
) -> list[Path]:
    """Deploy rendered files and secret files; return the paths that changed."""
    missing = [s.name for s in secret_specs if s.name not in secret_values]
    if missing:
        raise KeyError(f"no value for secrets: {', '.join(missing)}")
    changed = []
    config_dir = Path(target.config_dir)
    for relative, item in files.items():
        text = fill(item.text, secret_values) if item.secret else item.text
        path = config_dir / relative
        if write_file(path, text, item.mode):
            changed.append(path)
    secrets_dir = Path(target.secrets_dir)
    secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    for spec in secret_specs:
        if spec.file is None:
            continue
        path = secrets_dir / spec.file
        if write_file(path, secret_values[spec.name], 0o600):
            changed.append(path)
    return changed
