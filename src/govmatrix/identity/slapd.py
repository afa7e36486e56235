"""A department directory of its own: Debian's OpenLDAP (slapd), for the demo and the tests.

Production departments point at their own Active Directory or LDAP; the demo and the tests
run one slapd per department on loopback, with:
- the ppolicy overlay, so an account is disabled the OpenLDAP way (`pwdAccountLockedTime`,
  the estate's default disabled filter) and a locked account cannot bind;
- a read-only service account for govmatrix (the estate's bind DN), which may read people
  but not their passwords;
- people as inetOrgPerson entries under the estate's base DN; OpenLDAP gives each its
  immutable `entryUUID`, the OIDC subject.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import ldap3

from govmatrix.materialise import write_file

SLAPD = "/usr/sbin/slapd"
SCHEMAS = ("core", "cosine", "nis", "inetorgperson")
LOCKED_FOREVER = "000001010000Z"  # ppolicy: locked until an administrator unlocks


def ssha(password: str, salt: bytes | None = None) -> str:
    """An OpenLDAP {SSHA} userPassword value (what slappasswd produces)."""
    salt = salt if salt is not None else secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


@dataclass(frozen=True)
class Slapd:
    root: Path  # configuration, database and pid file
    suffix: str  # the directory's root, e.g. dc=ministry-a,dc=demo
    port: int
    address: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"ldap://{self.address}:{self.port}"

    @property
    def admin_dn(self) -> str:
        return f"cn=admin,{self.suffix}"

    @property
    def policy_dn(self) -> str:
        return f"cn=default,ou=policies,{self.suffix}"

    @property
    def config_file(self) -> Path:
        return self.root / "slapd.conf"

    def command(self) -> list[str]:
        """slapd in the foreground (`-d 0`), for a supervisor, listening on loopback only."""
        return [SLAPD, "-f", str(self.config_file), "-h", self.url, "-d", "0"]

    def write_config(self, admin_password: str, reader_dn: str) -> bool:
        """True if the file changed."""
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        schemas = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
        # The admin password is stored hashed; the file is still private (it names the
        # service account and holds the database's settings). A salt derived from the
        # (random, generated) password keeps the file unchanged from one run to the next.
        salt = hashlib.sha256(b"govmatrix-slapd" + admin_password.encode()).digest()[:8]
        text = f"""# Written by govmatrix: a department directory (OpenLDAP) on loopback.
{schemas}
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {self.root}/slapd.pid
argsfile {self.root}/slapd.args

database mdb
suffix "{self.suffix}"
rootdn "{self.admin_dn}"
rootpw {ssha(admin_password, salt)}
directory {data}
maxsize 268435456
index objectClass eq
index uid eq
index entryUUID eq
overlay ppolicy
ppolicy_default "{self.policy_dn}"

access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by dn.exact="{reader_dn}" read
    by self read
    by * none
"""
        return write_file(self.config_file, text, 0o600)

    def connect(self, admin_password: str) -> ldap3.Connection:
        return connect(self.url, self.admin_dn, admin_password)


def admin_password(path: Path) -> str:
    """The directory admin's password: generated once into `path` (0600), then kept."""
    if not path.exists():
        write_file(path, secrets.token_urlsafe(24) + "\n", 0o600)
    return path.read_text().strip()


def connect(url: str, bind_dn: str, password: str) -> ldap3.Connection:
    """A bound connection that raises on every LDAP error (for seeding and tests)."""
    server = ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=5)
    return ldap3.Connection(
        server, user=bind_dn, password=password, auto_bind=True, raise_exceptions=True
    )


def _ensure(conn: ldap3.Connection, dn: str, classes: list[str], attrs: dict[str, object]) -> bool:
    """Add `dn` unless it exists; True if added."""
    try:
        conn.add(dn, classes, attrs)
    except ldap3.core.exceptions.LDAPEntryAlreadyExistsResult:
        return False
    return True


def _rdn_value(dn: str) -> str:
    return dn.split(",")[0].split("=", 1)[1]


def ensure_tree(
    conn: ldap3.Connection, directory: Slapd, people_dn: str, reader_dn: str, reader_password: str
) -> bool:
    """The suffix, the default password policy (locking enforced), the people container
    and the read-only service account. True if any of them was added."""
    suffix = directory.suffix
    top = _rdn_value(suffix)
    added = _ensure(conn, suffix, ["top", "dcObject", "organization"], {"dc": top, "o": top})
    policies = directory.policy_dn.split(",", 1)[1]
    added |= _ensure(conn, policies, ["top", "organizationalUnit"], {"ou": _rdn_value(policies)})
    added |= _ensure(
        conn,
        directory.policy_dn,
        ["top", "device", "pwdPolicy"],
        {"cn": "default", "pwdAttribute": "userPassword", "pwdLockout": "TRUE"},
    )
    added |= _ensure(conn, people_dn, ["top", "organizationalUnit"], {"ou": _rdn_value(people_dn)})
    added |= _ensure(
        conn,
        reader_dn,
        ["top", "organizationalRole", "simpleSecurityObject"],
        {"cn": _rdn_value(reader_dn), "userPassword": ssha(reader_password)},
    )
    set_password(conn, reader_dn, reader_password)  # the kept secret wins over an old one
    return added


def set_password(conn: ldap3.Connection, dn: str, password: str) -> None:
    conn.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [ssha(password)])]})


@dataclass(frozen=True)
class Person:
    uid: str
    name: str
    email: str
    password: str


def ensure_person(conn: ldap3.Connection, people_dn: str, person: Person) -> str:
    """Add the person, or give an existing entry this password."""
    dn = f"uid={person.uid},{people_dn}"
    added = _ensure(
        conn,
        dn,
        ["top", "inetOrgPerson"],
        {
            "uid": person.uid,
            "cn": person.name,
            "sn": person.name.split()[-1],
            "displayName": person.name,
            "mail": person.email,
            "userPassword": ssha(person.password),
        },
    )
    if not added:
        set_password(conn, dn, person.password)
    return dn


def lock(conn: ldap3.Connection, dn: str) -> None:
    """Disable an account the OpenLDAP way: ppolicy refuses its binds from now on."""
    conn.modify(dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED_FOREVER])]})


def remove(conn: ldap3.Connection, dn: str) -> None:
    conn.delete(dn)
