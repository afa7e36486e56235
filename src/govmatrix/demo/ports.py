"""Find out whether the demo's ports are free, and who holds them if not."""

from __future__ import annotations

import socket

import psutil

from govmatrix.demo.system import DemoError


class PortInUse(DemoError):
    pass


def holder(address: str, port: int) -> str:
    """A description of the process listening on address:port, as far as we can see."""
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        return "another process (run as root to see which)"
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr:
            continue
        if conn.laddr.port == port and conn.laddr.ip in (address, "0.0.0.0", "::"):
            if conn.pid is None:
                return "an unknown process"
            try:
                proc = psutil.Process(conn.pid)
                return f"{proc.name()} (pid {conn.pid}: {' '.join(proc.cmdline())[:120]})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return "an unknown process"


def is_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def check_free(wanted: list[tuple[str, int, str]]) -> None:
    """Raise PortInUse naming every (address, port, purpose) already taken."""
    taken = [
        f"{address}:{port} ({purpose}) is in use by {holder(address, port)}"
        for address, port, purpose in wanted
        if not is_free(address, port)
    ]
    if taken:
        raise PortInUse(
            "ports the demo needs are taken:\n  "
            + "\n  ".join(taken)
            + "\nStop those processes, or run 'govmatrix demo down' if an earlier demo holds them."
        )


def listening_on(addresses: set[str]) -> list[str]:
    """Listening sockets on any of `addresses` (to prove `down` left nothing behind)."""
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.ip in addresses:
            found.append(f"{conn.laddr.ip}:{conn.laddr.port} (pid {conn.pid})")
    return sorted(found)
