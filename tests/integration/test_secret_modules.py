"""The host-side modules, run by real Ansible on this machine (connection local): secrets
are generated once, valid for what reads them, 0600, never printed; placeholders are
filled on the host; diffs mask values; check mode writes nothing."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
SPECS = [
    {"name": "signing_key", "kind": "signing_key", "file": "signing.key", "owner": "root"},
    {"name": "macaroon", "kind": "token", "file": "macaroon", "owner": "root"},
    {"name": "db", "kind": "password", "file": ".db", "owner": "root"},
    {"name": "checkpoint", "kind": "ed25519_pem", "file": "checkpoint.key", "owner": "root"},
]


def play(tmp: Path, tasks: list[dict], *flags: str) -> subprocess.CompletedProcess[str]:
    book = tmp / "play.yml"
    book.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    return subprocess.run(
        [str(PLAYBOOK), "-i", "localhost,", "-c", "local", str(book), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "HOME": str(tmp)},
    )


def results(run: subprocess.CompletedProcess[str]) -> list[dict]:
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads(run.stdout)
    return [task["hosts"]["localhost"] for task in data["plays"][0]["tasks"]]


def secrets_task(directory: Path) -> dict:
    return {"govmatrix_secrets": {"directory": str(directory), "secrets": SPECS}}


def test_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    check = results(play(tmp_path, [secrets_task(directory)], "--check"))[0]
    assert check["changed"] and not any(directory.iterdir()), "check mode wrote files"
    first = results(play(tmp_path, [secrets_task(directory)]))[0]
    assert first["changed"] and sorted(first["generated"]) == sorted(s["name"] for s in SPECS)
    values = {p.name: p.read_text() for p in directory.iterdir()}
    for path in directory.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
    second = results(play(tmp_path, [secrets_task(directory)]))[0]
    assert not second["changed"]
    assert values == {p.name: p.read_text() for p in directory.iterdir()}
    output = json.dumps([first, second])
    assert all(value.strip() not in output for value in values.values()), "a value was printed"
    (directory / "macaroon").chmod(0o644)
    fixed = results(play(tmp_path, [secrets_task(directory)]))[0]
    assert fixed["permissions_fixed"] == ["macaroon"]


def test_generated_secrets_are_valid_keys(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    results(play(tmp_path, [secrets_task(directory)]))
    algorithm, version, seed = (directory / "signing.key").read_text().split()
    assert algorithm == "ed25519" and version.startswith("a_")
    assert len(base64.b64decode(seed + "=" * (-len(seed) % 4))) == 32
    key = load_pem_private_key((directory / "checkpoint.key").read_bytes(), password=None)
    assert key.__class__.__name__.startswith("Ed25519")
    assert len((directory / "macaroon").read_text()) >= 43  # 32 random bytes, urlsafe


def files_task(tmp: Path, directory: Path, content: str, **extra: object) -> dict:
    spec = {
        "dest": str(tmp / "conf" / "pgpass"),
        "content": content,
        "owner": "root",
        "mode": "0600",
        "secret": True,
    }
    return {
        "govmatrix_files": {
            "directories": [{"path": str(tmp / "conf"), "owner": "root", "mode": "0750"}],
            "files": [spec],
            "secrets_dir": str(directory),
            "secrets": SPECS,
        },
        **extra,
    }


def test_placeholders_are_filled_on_the_host_and_diffs_masked(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    dest = tmp_path / "conf" / "pgpass"
    template = "127.0.0.1:5432:synapse:synapse:@@secret:db@@\n"
    first = results(
        play(tmp_path, [secrets_task(directory), files_task(tmp_path, directory, template)])
    )[1]
    password = (directory / ".db").read_text()
    assert first["changed"]
    assert dest.read_text() == template.replace("@@secret:db@@", password)
    assert dest.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "conf").stat().st_mode & 0o777 == 0o750
    assert not results(play(tmp_path, [files_task(tmp_path, directory, template)]))[0]["changed"]
    other = files_task(tmp_path, directory, "other:@@secret:db@@\n")
    diff = results(play(tmp_path, [other], "--check", "--diff"))[0]
    assert diff["changed"]
    assert password not in json.dumps(diff), "the diff shows the secret"
    assert "@@secret:db@@" in diff["diff"][0]["before"]
    assert dest.read_text().startswith("127.0.0.1"), "check mode wrote the file"
    dest.chmod(0o644)
    fixed = results(play(tmp_path, [files_task(tmp_path, directory, template)]))[0]
    assert fixed["changed"] and dest.stat().st_mode & 0o777 == 0o600


def test_a_missing_secret_is_a_clear_error(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    task = files_task(tmp_path, directory, "@@secret:db@@", ignore_errors=True)
    result = results(play(tmp_path, [task]))[0]
    assert result["failed"] and "run govmatrix_secrets first" in result["msg"]


def test_the_providers_signing_key_is_an_rsa_key_its_portal_reads(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    spec = {"name": "oidc_signing_key", "kind": "rsa_pem", "file": ".oidc", "owner": "root"}
    task = {"govmatrix_secrets": {"directory": str(directory), "secrets": [spec]}}
    results(play(tmp_path, [task]))
    pem = (directory / ".oidc").read_text()
    # PKCS#1, the form LemonLDAP::NG's Crypt::OpenSSL::RSA reads in every version.
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert load_pem_private_key(pem.encode(), password=None).key_size == 2048


def test_a_secret_issued_elsewhere_is_copied_from_its_file_and_followed(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    source = tmp_path / "ldap-bind.password"
    spec = {
        "name": "ldap_bind_password",
        "kind": "password",
        "file": "ldap_bind_password",
        "owner": "root",
        "source": str(source),
    }
    task = {"govmatrix_secrets": {"directory": str(directory), "secrets": [spec]}}
    missing = results(play(tmp_path, [{**task, "ignore_errors": True}]))[0]
    assert missing["failed"] and str(source) in missing["msg"]
    source.write_text("issued-by-the-directory-team\n")
    first = results(play(tmp_path, [task]))[0]
    assert first["copied"] == ["ldap_bind_password"] and not first["generated"]
    copy = directory / "ldap_bind_password"
    assert copy.read_text() == "issued-by-the-directory-team"
    assert copy.stat().st_mode & 0o777 == 0o600
    assert not results(play(tmp_path, [task]))[0]["changed"]
    source.write_text("rotated\n")
    assert results(play(tmp_path, [task]))[0]["copied"] == ["ldap_bind_password"]
    assert copy.read_text() == "rotated"
    assert "rotated" not in json.dumps(results(play(tmp_path, [task])))


def test_json_placeholders_are_escaped_and_masked_in_diffs(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    results(play(tmp_path, [secrets_task(directory)]))
    pem = (directory / "checkpoint.key").read_text()
    template = '{"key": "@@secret:checkpoint:json@@"}\n'
    results(play(tmp_path, [files_task(tmp_path, directory, template)]))
    dest = tmp_path / "conf" / "pgpass"
    assert json.loads(dest.read_text())["key"] == pem  # newlines survive the JSON string
    other = files_task(tmp_path, directory, '{"other": "@@secret:checkpoint:json@@"}\n')
    diff = results(play(tmp_path, [other], "--check", "--diff"))[0]
    body = pem.splitlines()[1]
    assert body not in json.dumps(diff), "the diff shows the key"
    assert "@@secret:checkpoint:json@@" in diff["diff"][0]["before"]
