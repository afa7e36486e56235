"""Reading a department directory: a real OpenLDAP (Debian's slapd) on loopback, configured
as the demo configures it (ppolicy, a read-only service account)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import ldap3
import pytest

from govmatrix.demo.system import wait_for
from govmatrix.identity import slapd
from govmatrix.identity.directory import Attributes, DirectoryAccess, DirectoryError, read_users

pytestmark = pytest.mark.integration

SUFFIX = "dc=ministry-x,dc=test"
PEOPLE = f"ou=people,{SUFFIX}"
READER = f"cn=govmatrix,{SUFFIX}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[slapd.Slapd, str]]:
    assert shutil.which("slapd") or Path(slapd.SLAPD).exists(), "run `make setup` (slapd)"
    server = slapd.Slapd(tmp_path_factory.mktemp("slapd"), SUFFIX, free_port())
    server.write_config("admin-pw", READER)
    proc = subprocess.Popen(server.command(), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: listening(server.port), "slapd", 20)
        conn = server.connect("admin-pw")
        slapd.ensure_tree(conn, server, PEOPLE, READER, "reader-pw")
        for uid in ("alice", "bob", "carol"):
            slapd.ensure_person(
                conn, PEOPLE, slapd.Person(uid, f"{uid.title()} Civil", f"{uid}@x.test", uid * 2)
            )
        slapd.lock(conn, f"uid=bob,{PEOPLE}")
        conn.unbind()
        yield server, "reader-pw"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def access(server: slapd.Slapd, password: str) -> DirectoryAccess:
    return DirectoryAccess(
        url=server.url,
        base_dn=PEOPLE,
        bind_dn=READER,
        password=password,
        disabled_filter="(pwdAccountLockedTime=*)",
        attributes=Attributes("entryUUID", "uid", "cn", "mail"),
    )


def test_people_with_their_subject_and_disabled_state(directory: tuple[slapd.Slapd, str]) -> None:
    server, password = directory
    read = read_users(access(server, password))
    by_uid = {u.localpart: u for u in read.users}
    assert sorted(by_uid) == ["alice", "bob", "carol"]
    assert [u for u, p in by_uid.items() if p.disabled] == ["bob"]
    assert by_uid["alice"].display_name == "Alice Civil"
    assert by_uid["alice"].email == "alice@x.test"
    assert len({p.subject for p in by_uid.values()}) == 3  # entryUUID, one per person
    assert read.without_subject == ()


def test_a_locked_account_cannot_bind(directory: tuple[slapd.Slapd, str]) -> None:
    server, _ = directory

    def bind(uid: str) -> None:
        ldap3.Connection(
            ldap3.Server(server.url, get_info=ldap3.NONE),
            user=f"uid={uid},{PEOPLE}",
            password=uid * 2,
            auto_bind=True,
            raise_exceptions=True,
        ).unbind()

    bind("alice")
    with pytest.raises(ldap3.core.exceptions.LDAPInvalidCredentialsResult):
        bind("bob")


def test_the_service_account_cannot_read_passwords(directory: tuple[slapd.Slapd, str]) -> None:
    server, password = directory
    conn = ldap3.Connection(
        ldap3.Server(server.url, get_info=ldap3.NONE),
        user=READER,
        password=password,
        auto_bind=True,
        raise_exceptions=True,
    )
    conn.search(PEOPLE, "(uid=alice)", attributes=["userPassword", "cn"])
    assert conn.entries[0].cn.value == "Alice Civil"
    assert not conn.response[0]["raw_attributes"].get("userPassword")
    with pytest.raises(ldap3.core.exceptions.LDAPInsufficientAccessRightsResult):
        conn.modify(f"uid=alice,{PEOPLE}", {"cn": [(ldap3.MODIFY_REPLACE, ["Mallory"])]})
    conn.unbind()


def test_errors_name_what_to_fix(directory: tuple[slapd.Slapd, str]) -> None:
    server, password = directory
    good = access(server, password)
    with pytest.raises(DirectoryError, match=r"refused the bind as 'cn=govmatrix.*bind_password"):
        read_users(replace(good, password="wrong"))
    with pytest.raises(DirectoryError, match=r"no entry ou=nobody.*base_dn"):
        read_users(replace(good, base_dn=f"ou=nobody,{SUFFIX}"))
    with pytest.raises(DirectoryError, match="disabled_filter"):
        read_users(replace(good, disabled_filter="(pwdAccountLockedTime=*"))
    with pytest.raises(DirectoryError, match="cannot reach the directory"):
        read_users(replace(good, url=f"ldap://127.0.0.1:{free_port()}"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "govmatrix.cli", "identity", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_host_commands_set_up_a_directory_once(tmp_path: Path) -> None:
    """What the identity role runs on a host: configuration, then the tree, each reporting
    'changed' only when it changed something; the service account then reads people."""
    port = free_port()
    root, admin = tmp_path / "directory", tmp_path / "admin-password"
    bind_pw = tmp_path / "ldap_bind_password"
    bind_pw.write_text("reader-secret")
    common = [f"--root={root}", f"--suffix={SUFFIX}", f"--url=ldap://127.0.0.1:{port}"]
    common.append(f"--bind-dn={READER}")
    config = [*common, f"--admin-password-file={admin}"]
    assert _cli("directory-config", *config).stdout.strip() == "changed"
    assert _cli("directory-config", *config).stdout.strip() == "unchanged"
    assert admin.stat().st_mode & 0o777 == 0o600
    server = slapd.Slapd(root, SUFFIX, port)
    proc = subprocess.Popen(server.command(), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: listening(port), "slapd", 20)
        tree = [*config, f"--base-dn={PEOPLE}", f"--bind-password-file={bind_pw}"]
        first = _cli("directory-tree", *tree)
        assert first.stdout.strip() == "changed", first.stderr
        assert _cli("directory-tree", *tree).stdout.strip() == "unchanged"
        conn = server.connect(slapd.admin_password(admin))
        slapd.ensure_person(conn, PEOPLE, slapd.Person("dora", "Dora Civil", "d@x.test", "pw"))
        conn.unbind()
        read = read_users(access(server, "reader-secret"))
        assert [p.localpart for p in read.users] == ["dora"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    wrong = _cli(
        "directory-config",
        *common[:2],
        "--url=ldaps://127.0.0.1",
        common[3],
        f"--admin-password-file={admin}",
    )
    assert wrong.returncode == 1 and "listens on ldap://ADDRESS:PORT" in wrong.stderr
