"""Demo building blocks that need no running estate: /etc/hosts blocks and port checks."""

import socket
from pathlib import Path

import pytest

from govmatrix.demo import hosts, ports

pytestmark = pytest.mark.unit


def test_hosts_block_added_replaced_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    original = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
    path.write_text(original)
    assert hosts.install({"a.gov.test": "127.0.1.1"}, "t1", path)
    assert not hosts.install({"a.gov.test": "127.0.1.1"}, "t1", path), "second install changed it"
    hosts.install({"a.gov.test": "127.0.1.1", "b.gov.test": "127.0.1.2"}, "t1", path)
    hosts.install({"other.test": "127.0.2.1"}, "t2", path)
    assert hosts.lookup("b.gov.test", path) == ["127.0.1.2"]
    assert hosts.remove("t1", path)
    assert hosts.lookup("a.gov.test", path) == []
    assert hosts.lookup("other.test", path) == ["127.0.2.1"]
    hosts.remove("t2", path)
    assert path.read_text() == original


def test_port_in_use_names_port_and_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ports.PortInUse) as caught:
            ports.check_free([("127.0.0.1", port, "test service")])
    message = str(caught.value)
    assert f"127.0.0.1:{port} (test service)" in message
    assert "python" in message.lower() or "pid" in message


def test_non_root_gets_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from govmatrix.demo import system

    monkeypatch.setattr(system.os, "geteuid", lambda: 1000)
    with pytest.raises(system.DemoError, match="needs root") as caught:
        system.require_root()
    assert "sudo make demo" in str(caught.value)


def test_unwritable_hosts_file_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1 localhost\n")
    real_open = Path.open

    def denied(self: Path, *args: object, **kwargs: object) -> object:
        # What a non-root user meets (root ignores file modes, so chmod cannot show it).
        if self == path and args and "+" in str(args[0]):
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(hosts.HostsError, match="Run it as root"):
        hosts.install({"a.gov.test": "127.0.1.1"}, "t", path)
    assert path.read_text() == "127.0.0.1 localhost\n"
