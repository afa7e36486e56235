"""A marked block in /etc/hosts that maps demo server names to their loopback addresses."""

from __future__ import annotations

from pathlib import Path

HOSTS = Path("/etc/hosts")


class HostsError(Exception):
    pass


def _markers(tag: str) -> tuple[str, str]:
    return f"# >>> govmatrix demo {tag} >>>", f"# <<< govmatrix demo {tag} <<<"


def _without_block(text: str, tag: str) -> str:
    begin, end = _markers(tag)
    out, inside = [], False
    for line in text.splitlines(keepends=True):
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif not inside:
            out.append(line)
    return "".join(out)


def _write(path: Path, text: str) -> None:
    try:
        # /etc/hosts is often a bind mount (containers): rewrite in place, never rename over it.
        with path.open("r+", encoding="utf-8") as handle:
            handle.seek(0)
            handle.write(text)
            handle.truncate()
    except PermissionError:
        raise HostsError(
            f"cannot write {path}: the demo maps each department's server name to a loopback "
            "address there. Run it as root (sudo make demo), or add the names yourself and "
            "pass --no-hosts."
        ) from None


def install(entries: dict[str, str], tag: str, path: Path = HOSTS) -> bool:
    """Put `name -> address` entries in the tagged block. Returns True if the file changed."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    begin, end = _markers(tag)
    block = [begin] + [f"{address}\t{name}" for name, address in sorted(entries.items())] + [end]
    base = _without_block(current, tag)
    if base and not base.endswith("\n"):
        base += "\n"
    text = base + "\n".join(block) + "\n"
    if text == current:
        return False
    _write(path, text)
    return True


def remove(tag: str, path: Path = HOSTS) -> bool:
    if not path.exists():
        return False
    current = path.read_text(encoding="utf-8")
    text = _without_block(current, tag)
    if text == current:
        return False
    _write(path, text)
    return True


def lookup(name: str, path: Path = HOSTS) -> list[str]:
    addresses = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and name in fields[1:]:
            addresses.append(fields[0])
    return addresses
