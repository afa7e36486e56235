"""Checks of a converged department host, shared by the molecule scenarios (testinfra).

Each takes a testinfra host whose inventory variables come from the govmatrix_estate
inventory plugin, so the same checks serve any department.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from shlex import quote
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from govmatrix.render.sizing import PROFILES

GOVMATRIX = Path(sys.executable).parent / "govmatrix"
# What the issue asks for: `systemd-analyze security` exposure of 2.0 or lower.
EXPOSURE_GOAL = 2.0


def _plain(value: Any) -> Any:
    # testinfra hands over Ansible's untrusted strings as {"__ansible_unsafe": "..."}.
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def variables(host: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in host.ansible.get_variables().items()}


def layout(host: Any) -> dict[str, str]:
    v = variables(host)
    dept = v["govmatrix_department"]
    return {
        "dept": dept,
        "server_name": v["govmatrix_server_name"],
        "config": f"/etc/govmatrix/{dept}",
        "secrets": f"/etc/govmatrix/{dept}/secrets",
        "estate": v["govmatrix_estate_file"],
    }


def workers(host: Any) -> tuple[Any, ...]:
    return PROFILES[variables(host)["govmatrix_settings"]["synapse"]["profile"]].workers


def runs(host: Any, component: str) -> bool:
    return component in variables(host)["govmatrix_components"]


def database_apart(host: Any) -> bool:
    return variables(host)["govmatrix_database_address"] != "127.0.0.1"


def check_services(host: Any) -> None:
    units = ["postgresql"] if runs(host, "postgresql") else []
    if runs(host, "synapse"):
        units += ["govmatrix-synapse", "govmatrix-archive", "nginx"]
        units += [f"govmatrix-synapse-worker@{w.name}" for w in workers(host)]
        if workers(host):
            units.append("redis-server")
    for unit in units:
        service = host.service(unit)
        assert service.is_running, f"{unit} is not running"
        assert service.is_enabled, f"{unit} is not enabled"
    assert host.service("nftables").is_enabled


def listening(host: Any) -> set[tuple[str, int]]:
    found = set()
    for line in host.check_output("ss -Hltn").splitlines():
        local = line.split()[3]
        address, port = local.rsplit(":", 1)
        found.add((address.strip("[]"), int(port)))
    return found


def check_ports(host: Any) -> None:
    sockets = listening(host)
    public = {(a, p) for a, p in sockets if a in ("0.0.0.0", "::", "*")}
    if not runs(host, "reverse_proxy"):
        # A database host apart: PostgreSQL on loopback and its own address, nothing public.
        assert not public, f"public listeners on a database host: {sorted(public)}"
        address = variables(host)["govmatrix_database_address"]
        assert {a for a, p in sockets if p == 5432} <= {"127.0.0.1", "::1", address}
        assert (address, 5432) in sockets, "PostgreSQL does not listen for the app host"
        return
    # Only nginx faces the network: HTTPS, the HTTP redirect and federation.
    assert {p for _, p in public} == {80, 443, 8448}, f"public listeners: {sorted(public)}"
    internal = {p: a for a, p in sockets if p in (8008, 8090, 5432)}
    if database_apart(host):
        assert 5432 not in internal, "PostgreSQL runs on the app host, not the database host"
        internal[5432] = "127.0.0.1"
    assert internal.get(8008) == "127.0.0.1", "Synapse must listen on loopback only"
    generic = [w for w in workers(host) if w.role == "generic"]
    for port in [8101 + i for i in range(len(generic))] + ([9093] if generic else []):
        found = {a for a, p in sockets if p == port}
        assert found == {"127.0.0.1"}, f"worker or replication port {port}: {found}"
    assert internal.get(8090) == "127.0.0.1", "the archive must listen on loopback only"
    assert internal.get(5432) in ("127.0.0.1", "::1"), "PostgreSQL must stay local"


def uses_hsm(host: Any) -> bool:
    return bool(variables(host)["govmatrix_settings"]["hsm"]["enabled"])


def check_files(host: Any) -> None:
    lay = layout(host)
    if uses_hsm(host):
        # Sealed by the HSM; the checkpoint key lives in it.
        keys = [(f"{lay['secrets']}/signing.key.sealed", "root", 0o600)]
        for gone in (
            f"{lay['secrets']}/signing.key",
            f"{lay['secrets']}/archive_checkpoint.key",
            f"{lay['config']}/tls/server.key",
        ):
            assert not host.file(gone).exists, f"{gone} exists: keys must stay in the HSM"
    else:
        keys = [
            (f"{lay['secrets']}/signing.key", "matrix-synapse", 0o600),
            (f"{lay['secrets']}/archive_checkpoint.key", "govmatrix-archive", 0o600),
        ]
    expectations = [
        *keys,
        (f"{lay['config']}/synapse/homeserver.yaml", "root", 0o644),
        (f"{lay['config']}/synapse/pgpass", "matrix-synapse", 0o600),
        (f"{lay['config']}/synapse/appservices/archive.yaml", "matrix-synapse", 0o600),
        (f"{lay['config']}/archive/pgpass", "govmatrix-archive", 0o600),
        (f"{lay['config']}/archive/archive.yaml", "root", 0o644),
        (f"{lay['secrets']}/macaroon_secret_key", "matrix-synapse", 0o600),
        (f"{lay['secrets']}/.database_password", "root", 0o600),
        # With the HSM, nginx's key file only names the key in its token.
        (f"{lay['config']}/tls/server.key{'.uri.pem' if uses_hsm(host) else ''}", "root", 0o600),
        ("/etc/govmatrix/pki/ca.crt", "root", 0o644),
    ]
    for path, owner, mode in expectations:
        f = host.file(path)
        assert f.exists, f"{path} missing"
        assert f.user == owner, f"{path}: owner {f.user}, expected {owner}"
        assert f.mode == mode, f"{path}: mode {oct(f.mode)}, expected {oct(mode)}"
    secrets_dir = host.file(lay["secrets"])
    assert secrets_dir.mode == 0o711 and secrets_dir.user == "root"
    # Every placeholder was filled in on the host.
    for path in (f"{lay['config']}/synapse/pgpass", f"{lay['config']}/archive/pgpass"):
        assert "@@secret:" not in host.file(path).content_string


def check_homeserver_is_the_renderers(host: Any) -> None:
    """The role writes byte for byte what `govmatrix render --target onprem` prints (with
    the database host's address, when the department's database runs apart)."""
    lay = layout(host)
    on_host = host.file(f"{lay['config']}/synapse/homeserver.yaml").content
    if database_apart(host):
        from govmatrix.onprem.bundle import bundle

        address = variables(host)["govmatrix_database_address"]
        files = bundle(lay["estate"], lay["dept"], database_host=address)["files"]
        expected = next(f for f in files if f["path"] == "synapse/homeserver.yaml")
        assert on_host == expected["content"].encode(), "homeserver.yaml differs from the render"
        assert f'host: "{address}"'.encode() in on_host
        return
    rendered = subprocess.run(
        [
            str(GOVMATRIX),
            "render",
            lay["estate"],
            "--target",
            "onprem",
            "--department",
            lay["dept"],
            "--file",
            "synapse/homeserver.yaml",
        ],
        check=True,
        capture_output=True,
    ).stdout
    assert on_host == rendered, "homeserver.yaml on the host differs from the render"


def check_health(host: Any) -> None:
    lay = layout(host)
    probe = (
        "import ssl, urllib.request, sys\n"
        "ctx = ssl.create_default_context(cafile='/etc/govmatrix/pki/ca.crt')\n"
        "url = sys.argv[1]\n"
        "print(urllib.request.urlopen(url, context=ctx, timeout=10).read().decode())\n"
    )
    # Through nginx with the estate CA, by server name (resolved to this host).
    for url, expect in [
        ("http://127.0.0.1:8008/health", "OK"),
        (f"https://{lay['server_name']}/_matrix/client/versions", "versions"),
        (f"https://{lay['server_name']}:8448/_matrix/federation/v1/version", "Synapse"),
        (f"https://{lay['server_name']}/", "govmatrix test fixture"),
        ("http://127.0.0.1:8090/healthz", "ok"),
    ]:
        body = host.check_output(f"python3 -c {quote(probe)} {quote(url)}")
        assert expect in body, f"{url}: {body[:200]}"


def check_admin_api_not_public(host: Any) -> None:
    """The server name resolves to the host's network address (not loopback), so this is
    a request from the network: nginx must refuse the admin API."""
    lay = layout(host)
    probe = (
        "import ssl, urllib.request, urllib.error, sys\n"
        "ctx = ssl.create_default_context(cafile='/etc/govmatrix/pki/ca.crt')\n"
        "try:\n"
        "    print(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
    )
    url = f"https://{lay['server_name']}/_synapse/admin/v1/server_version"
    code = host.check_output(f"python3 -c {quote(probe)} {quote(url)}")
    assert code.strip() == "403", f"admin API answered {code!r} from the network"


def check_base(host: Any) -> None:
    timesync = host.file("/etc/systemd/timesyncd.conf.d/govmatrix.conf")
    assert re.search(r"^NTP=\S+", timesync.content_string, re.M), "no NTP servers configured"
    assert host.service("systemd-timesyncd").is_enabled
    auto = host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'Unattended-Upgrade "1"' in auto
    assert host.package("unattended-upgrades").is_installed
    rules = host.check_output("nft list ruleset")
    assert "policy drop" in rules and "8448" in rules


def exposure(host: Any, unit: str) -> float:
    out = host.check_output(f"systemd-analyze security {unit}")
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", out)
    assert match, out[-300:]
    return float(match.group(1))


# The portal, the directory and the leaver sync, where the identity role runs them.
IDENTITY_UNITS = ("govmatrix-identity", "govmatrix-directory", "govmatrix-identity-sync")


def check_exposure(host: Any) -> dict[str, float]:
    units = ["govmatrix-synapse", "govmatrix-archive"]
    units += [f"govmatrix-synapse-worker@{w.name}" for w in workers(host)]
    units += [u for u in IDENTITY_UNITS if host.file(f"/etc/systemd/system/{u}.service").exists]
    levels = {u: exposure(host, u) for u in units}
    print(json.dumps({"systemd_analyze_security_exposure": levels}))
    for unit, level in levels.items():
        assert level <= EXPOSURE_GOAL, f"{unit}: exposure {level} > {EXPOSURE_GOAL}"
    return levels


HOST_GOVMATRIX = "/opt/govmatrix/archive/bin/govmatrix"
HOST_PYTHON = "/opt/govmatrix/archive/bin/python"
# Persistent disk: everything but the memory-backed and virtual filesystems.
_SCAN = "grep -rlF --exclude-dir=proc --exclude-dir=sys --exclude-dir=run --exclude-dir=dev"


def found_on_disk(host: Any, needle: str) -> list[str]:
    result = host.run(f"{_SCAN} -e {quote(needle)} / 2>/dev/null")
    return [line for line in result.stdout.splitlines() if line]


def check_hsm(host: Any) -> None:
    """Every key reachable in SoftHSM2; the signing key unsealed only on tmpfs, for Synapse,
    and nowhere on persistent disk."""
    lay = layout(host)
    plan = f"{lay['config']}/hsm/plan.json"
    status = host.run(f"{HOST_GOVMATRIX} hsm status --plan {plan}")
    assert status.rc == 0, status.stderr
    unsealed = host.file(f"/run/govmatrix/{lay['dept']}/signing.key")
    assert unsealed.user == "matrix-synapse" and unsealed.mode == 0o600
    assert host.run(f"stat -f -c %T /run/govmatrix/{lay['dept']}").stdout.strip() == "tmpfs"
    seed = unsealed.content_string.split()[2]
    assert found_on_disk(host, seed) == []


_HANDSHAKES = """
import json, socket, ssl, sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization as s
from govmatrix.hsm import tls
from govmatrix.hsm.plan import HsmPlan
plan_file, ca, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
hsm = HsmPlan.from_dict(json.load(open(plan_file)))
token_key = tls.spki(tls.public_key(hsm))
ctx = ssl.create_default_context(cafile=ca)
served = {}
for port in (443, 8448):
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=name) as conn:
                cert = x509.load_der_x509_certificate(conn.getpeercert(binary_form=True))
                served[port] = served.get(port, 0) + (tls.spki(cert.public_key()) == token_key)
print(json.dumps(served))
"""


def check_hsm_tls(host: Any) -> None:
    """nginx's TLS key stays in the HSM: its key file only names the key, its workers load
    it through pkcs11-provider, and handshakes on 443 and 8448 (verified with the estate CA)
    are signed by the token's key, through every worker."""
    lay = layout(host)
    key_file = host.file(f"{lay['config']}/tls/server.key.uri.pem").content_string
    assert key_file.startswith("-----BEGIN PKCS#11 PROVIDER URI-----")
    # nginx overwrites its own /proc environ (process titles): ask systemd, and nginx for
    # the `env` directives that pass the variables on to its workers.
    environment = host.check_output("systemctl show nginx --value -p Environment")
    assert "OPENSSL_CONF=/etc/govmatrix/nginx/openssl-pkcs11.cnf" in environment.split()
    directives = host.check_output(
        f"env {environment} nginx -T 2>/dev/null | grep -E '^env '"
    ).splitlines()
    assert {"env OPENSSL_CONF;", "env SOFTHSM2_CONF;"} <= set(directives), directives
    worker_count = len(host.check_output("pgrep -f 'nginx: worker process'").split())
    assert worker_count >= 2, "the production process model has several workers"
    count = 6 * worker_count
    served = json.loads(
        host.check_output(
            f"{HOST_PYTHON} -c {quote(_HANDSHAKES)} {lay['config']}/hsm/plan.json "
            f"/etc/govmatrix/pki/ca.crt {lay['server_name']} {count}"
        )
    )
    assert served == {"443": count, "8448": count}, served


def check_backups(host: Any) -> None:
    """Timers active, WAL archived, a full backup in the repository, and neither repository
    passphrase anywhere on persistent disk."""
    lay = layout(host)
    for timer in ("govmatrix-backup-full.timer", "govmatrix-backup-diff.timer"):
        assert host.service(timer).is_running, f"{timer} is not active"
        assert host.service(timer).is_enabled, f"{timer} is not enabled"
    config = f"{lay['config']}/backup/backup.json"
    # What the timers start, in its sandbox: an incremental backup of database and files.
    run = host.run("systemctl start govmatrix-backup@incr.service")
    assert run.rc == 0, host.run("journalctl -u govmatrix-backup@incr.service -n 30").stdout
    listing = host.run(f"{HOST_GOVMATRIX} backup list --config {config}")
    assert listing.rc == 0, listing.stderr
    stanza = json.loads(host.file(config).content_string)["stanza"]
    conf = f"{lay['config']}/backup/pgbackrest.conf"
    info = host.check_output(
        f"runuser -u postgres -- pgbackrest --config={conf} "
        f"--config-include-path=/run/govmatrix/{lay['dept']}.backup --stanza={stanza} "
        "info --output=json"
    )
    kinds = [b["type"] for b in json.loads(info)[0]["backup"]]
    assert kinds[0] == "full" and "incr" in kinds, kinds
    archive_mode = host.run("runuser -u postgres -- psql -tAc 'SHOW archive_mode'")
    assert archive_mode.stdout.strip() == "on"
    cipher = host.file(f"/run/govmatrix/{lay['dept']}.backup/cipher.conf").content_string
    pgbackrest_pass = cipher.split("repo1-cipher-pass=")[1].split()[0]
    code = (
        "import sys; from pathlib import Path; "
        "from govmatrix.backup import host_config; "
        "from govmatrix.backup.department import DepartmentBackup; "
        f"layout, hsm = host_config.load(Path({config!r})); "
        "print(DepartmentBackup(layout, hsm).passphrase('restic'))"
    )
    restic_pass = host.check_output(f"{HOST_PYTHON} -c {quote(code)}").strip()
    for name, value in (("pgBackRest", pgbackrest_pass), ("restic", restic_pass)):
        assert len(value) >= 32
        assert found_on_disk(host, value) == [], f"{name} passphrase on persistent disk"


def check_restore_drill(host: Any) -> None:
    """The drill on the host: the latest backup restored into a scratch cluster, an isolated
    Synapse on it serving the live signing key, and every event, the archive chain head and
    the media compared with the live department."""
    config = f"{layout(host)['config']}/backup/backup.json"
    drill = host.run(f"{HOST_GOVMATRIX} backup drill --config {config}")
    assert drill.rc == 0, (drill.stdout[-4000:], drill.stderr[-2000:])
    assert "PASSED" in drill.stdout and "serving the live server's signing key" in drill.stdout


# Run on the host with govmatrix's virtualenv: directory people, then their full SSO login
# through nginx, the portal and Synapse (by server name, verified with the estate CA).
_SSO = """
import json, secrets, sys
import httpx, yaml
from govmatrix.identity import slapd
from govmatrix.identity.sso_login import SsoLoginError, login
sync_file, server_name, ca, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cfg = yaml.safe_load(open(sync_file))
d = cfg["directory"]
admin = open("/etc/govmatrix/directory-admin-password").read().strip()
suffix = d["base_dn"].split(",", 1)[1]
conn = slapd.connect(d["url"], f"cn=admin,{suffix}", admin)
people = {}
for n in range(count):
    person = slapd.Person(f"molly{n}", f"Molly {n}", f"molly{n}@{server_name}",
                          secrets.token_urlsafe(12))
    people[person.uid] = (slapd.ensure_person(conn, d["base_dn"], person), person.password)
base = f"https://{server_name}"
signed_in = {uid: login(base, uid, pw, verify=ca) for uid, (_, pw) in people.items()}
try:
    login(base, "molly0", "wrong-password", verify=ca)
    wrong = "token"
except SsoLoginError as exc:
    wrong = str(exc)
flows = httpx.get(f"{base}/_matrix/client/v3/login", verify=ca).json()["flows"]
slapd.lock(conn, people["molly0"][0])
print(json.dumps({
    "users": {uid: s.user_id for uid, s in signed_in.items()},
    "leaver_token": signed_in["molly0"].access_token,
    "leaver_password": people["molly0"][1],
    "wrong_password": wrong,
    "flows": [f["type"] for f in flows],
}))
"""

_LOGIN = """
import sys
from govmatrix.identity.sso_login import login
login(sys.argv[1], sys.argv[2], sys.argv[3], verify=sys.argv[4])
"""

_WHOAMI = """
import sys, httpx
r = httpx.get("http://127.0.0.1:8008/_matrix/client/v3/account/whoami",
              headers={"Authorization": f"Bearer {sys.argv[1]}"})
print(r.status_code)
"""


def check_identity(host: Any) -> None:
    """The department's own portal on its own directory: people sign in through it (password
    login is off), a wrong password gets no token, and a person locked in the directory is
    deactivated by the leaver sync, run by its unit as the timer runs it."""
    lay = layout(host)
    for unit in ("govmatrix-identity", "govmatrix-directory"):
        assert host.service(unit).is_running and host.service(unit).is_enabled, unit
    timer = host.service("govmatrix-identity-sync.timer")
    assert timer.is_running and timer.is_enabled
    sockets = listening(host)
    assert {a for a, p in sockets if p in (389, 8095)} == {"127.0.0.1"}, sorted(sockets)
    for path, owner in (
        (f"{lay['config']}/identity/llng-conf/lmConf-1.json", "govmatrix-identity"),
        (f"{lay['secrets']}/oidc_client_secret", "matrix-synapse"),
        (f"{lay['secrets']}/ldap_bind_password", "root"),
        (f"{lay['secrets']}/operator_as_token", "root"),
    ):
        f = host.file(path)
        assert (f.user, f.mode) == (owner, 0o600), (path, f.user, oct(f.mode))
    conf = host.file(f"{lay['config']}/identity/llng-conf/lmConf-1.json").content_string
    assert "@@secret:" not in conf
    # The signing key survived JSON escaping on the host: the portal's config holds a key.
    key = json.loads(conf)["oidcServicePrivateKeySig"].encode()
    assert isinstance(load_pem_private_key(key, password=None), rsa.RSAPrivateKey)
    sync_file = f"{lay['config']}/identity/sync.yaml"
    share = variables(host)["govmatrix_settings"]["identity"]["max_deactivation_share"]
    count = int(1 / share) + 1  # one leaver among them stays under the guard's limit
    result = json.loads(
        host.check_output(
            f"{HOST_PYTHON} -c {quote(_SSO)} {sync_file} {lay['server_name']} "
            f"/etc/govmatrix/pki/ca.crt {count}"
        )
    )
    assert result["users"]["molly1"] == f"@molly1:{lay['server_name']}"
    assert result["wrong_password"] != "token"
    assert "m.login.sso" in result["flows"] and "m.login.password" not in result["flows"]
    token = result["leaver_token"]
    assert host.check_output(f"{HOST_PYTHON} -c {quote(_WHOAMI)} {token}").strip() == "200"
    run = host.run("systemctl start govmatrix-identity-sync.service")
    journal = host.run(
        "journalctl -u govmatrix-identity-sync.service -n 30 --no-pager -o cat"
    ).stdout
    assert run.rc == 0, journal
    summary = json.loads(next(x for x in reversed(journal.splitlines()) if '"deactivated"' in x))
    assert summary["deactivated"] == 1, summary
    assert host.check_output(f"{HOST_PYTHON} -c {quote(_WHOAMI)} {token}").strip() == "401"
    again = host.run(
        f"{HOST_PYTHON} -c {quote(_LOGIN)} https://{lay['server_name']} molly0 "
        f"{quote(result['leaver_password'])} /etc/govmatrix/pki/ca.crt"
    )
    assert again.rc == 1 and "SsoLoginError" in again.stderr, (again.stdout, again.stderr)
