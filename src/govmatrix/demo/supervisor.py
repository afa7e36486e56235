"""The demo's process supervisor: supervisord, driven over its XML-RPC socket."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from govmatrix.demo.layout import Layout
from govmatrix.demo.system import DemoError, run, wait_for
from govmatrix.render.environment import render_template


@dataclass(frozen=True)
class Program:
    name: str
    argv: tuple[str, ...]
    log: Path
    user: str | None = None
    directory: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    startsecs: int = 3
    stopsignal: str = "TERM"

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    @property
    def environment(self) -> str:
        return ",".join(f'{k}="{v}"' for k, v in sorted(self.env.items()))


def write_config(layout: Layout, programs: list[Program]) -> bool:
    text = render_template(
        "demo/supervisord.conf.j2",
        root=layout.root,
        socket=layout.supervisor_socket,
        pidfile=layout.supervisord_pid,
        logs=layout.logs,
        programs=programs,
    )
    path = layout.supervisord_conf
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    path.chmod(0o600)
    return True


class Supervisor:
    def __init__(self, layout: Layout):
        self.layout = layout

    def _proxy(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.layout.supervisor_socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def running(self) -> bool:
        if not self.layout.supervisor_socket.exists():
            return False
        try:
            return cast(str, self._proxy().supervisor.getState()["statename"]) == "RUNNING"
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return False

    def start_daemon(self) -> None:
        if self.running():
            self.reread()
            return
        self.layout.run.mkdir(parents=True, exist_ok=True)
        binary = Path(sys.executable).with_name("supervisord")
        run([str(binary), "-c", str(self.layout.supervisord_conf)])
        wait_for(self.running, "supervisord to accept commands", 20)

    def reread(self) -> None:
        """Apply a changed config: add new programs, drop removed ones."""
        added, changed, removed = self._proxy().supervisor.reloadConfig()[0]
        for name in removed:
            self._proxy().supervisor.stopProcessGroup(name)
            self._proxy().supervisor.removeProcessGroup(name)
        for name in added:
            self._proxy().supervisor.addProcessGroup(name)
        for name in changed:
            self._proxy().supervisor.stopProcessGroup(name)
            self._proxy().supervisor.removeProcessGroup(name)
            self._proxy().supervisor.addProcessGroup(name)

    def state(self, name: str) -> str:
        try:
            return cast(str, self._proxy().supervisor.getProcessInfo(name)["statename"])
        except xmlrpc.client.Fault:
            return "UNKNOWN"

    def states(self) -> dict[str, dict[str, Any]]:
        if not self.running():
            return {}
        return {info["name"]: info for info in self._proxy().supervisor.getAllProcessInfo()}

    def start(self, name: str) -> bool:
        """Start `name` unless it runs already. Returns True if it was started now.

        Does not wait for supervisord's `startsecs`: callers wait on real health checks,
        so processes start in parallel."""
        if self.state(name) in ("RUNNING", "STARTING"):
            return False
        try:
            self._proxy().supervisor.startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            tail = self.tail(name)
            raise DemoError(
                f"{name} failed to start ({fault.faultString}); last log lines:\n{tail}"
            ) from None
        return True

    def restart(self, name: str) -> None:
        if self.state(name) in ("RUNNING", "STARTING", "BACKOFF"):
            self._proxy().supervisor.stopProcess(name, True)
        self.start(name)

    def signal(self, name: str, signal: str) -> None:
        self._proxy().supervisor.signalProcess(name, signal)

    def tail(self, name: str, length: int = 3000) -> str:
        try:
            text, _, _ = self._proxy().supervisor.tailProcessStdoutLog(name, 0, length)
            return cast(str, text)
        except (xmlrpc.client.Fault, OSError):
            return "(no log)"

    def shutdown(self, timeout: float = 60) -> None:
        """Stop every program and supervisord itself, and wait until its pid is gone."""
        if not self.running():
            return
        pid = int(self.layout.supervisord_pid.read_text().strip())
        with contextlib.suppress(OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            self._proxy().supervisor.shutdown()

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_for(gone, "supervisord to stop", timeout)
