"""On-prem nginx with its TLS key in the HSM: what the estate accepts and what the roles get."""

from __future__ import annotations

from pathlib import Path

import pytest

from govmatrix.estate import EstateError, parse_estate
from govmatrix.onprem.bundle import bundle

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[3]
SINGLE = ROOT / "molecule" / "default" / "estate.yml"  # hsm enabled, SoftHSM2
FEDERATION = ROOT / "molecule" / "federation" / "estate.yml"  # hsm disabled

ESTATE = """\
version: 1
estate:
  name: test-estate
  defaults:
    hsm: {defaults}
departments:
  - id: aa
    name: A
    server_name: a.test
    target: {target}
    backup: {{enabled: false}}
    hsm: {hsm}
"""


def _parse(target: str = "onprem", hsm: str = "{}", defaults: str = "{}") -> None:
    parse_estate(ESTATE.format(target=target, hsm=hsm, defaults=defaults), "estate.yml")


@pytest.mark.parametrize(
    ("hsm", "defaults"),
    [
        ("{enabled: true, pin: 'env:HSM_PIN'}", "{}"),
        ("{}", "{enabled: true, pin: 'vault:secret/hsm'}"),  # inherited from estate.defaults
        (
            "{enabled: true, keys: {tls: {label: tls, type: ec-p256, pin: 'env:TLS_PIN'}}}",
            "{}",
        ),
    ],
)
def test_a_tls_pin_nginx_cannot_read_is_refused(hsm: str, defaults: str) -> None:
    with pytest.raises(EstateError) as info:
        _parse(hsm=hsm, defaults=defaults)
    (problem,) = info.value.problems
    assert problem.path == "departments[0].hsm.keys.tls.pin"
    assert "nginx reads that PIN from a file" in problem.message
    assert problem.hint and "file:PATH" in problem.hint


@pytest.mark.parametrize(
    ("target", "hsm"),
    [
        ("onprem", "{enabled: true}"),  # generate
        ("onprem", "{enabled: true, pin: 'file:/etc/govmatrix/hsm/pins/aa.pin'}"),
        ("onprem", "{enabled: false, pin: 'env:HSM_PIN'}"),
        ("kubernetes", "{enabled: true, pin: 'env:HSM_PIN'}"),  # TLS stays with cert-manager
        (  # no TLS key in the HSM: nginx keeps a software key
            "onprem",
            "{enabled: true, pin: 'env:HSM_PIN', keys: "
            "{backup_kek: {label: kek, type: aes-256}, signing_wrap: {label: w, type: aes-256}}}",
        ),
        (
            "demo",
            "{enabled: true, pin: 'env:HSM_PIN', keys: {tls: {label: tls, type: ec-p256, "
            "pin: 'file:/r/tls.pin'}}}",
        ),
    ],
)
def test_estates_the_check_accepts(target: str, hsm: str) -> None:
    _parse(target, hsm)


def test_the_roles_get_nginx_files_that_name_the_token_key() -> None:
    got = bundle(SINGLE, "ministry-a")
    tls_hsm = got["tls_hsm"]
    assert tls_hsm == {
        "key_file": "/etc/govmatrix/ministry-a/tls/server.key.uri.pem",
        "pin_file": "/etc/govmatrix/hsm/pins/ministry-a-tls.pin",
        "nginx_dir": "/etc/govmatrix/nginx",
        "environment": {
            "OPENSSL_CONF": "/etc/govmatrix/nginx/openssl-pkcs11.cnf",
            "SOFTHSM2_CONF": "/etc/govmatrix/nginx/softhsm2.conf",
        },
        "worker_user": "www-data",
    }
    site = next(f["content"] for f in got["files"] if f["path"] == "nginx/ministry-a.conf")
    # 443, the portal on 443 and 8448
    assert site.count(f"ssl_certificate_key {tls_hsm['key_file']};") == 3
    assert site.count(f"ssl_password_file {tls_hsm['pin_file']};") == 3
    assert "server.key;" not in site
    # The token and label the key file will name are the plan's.
    tls_key = got["hsm"]["keys"]["tls"]
    assert (tls_key["token"], tls_key["label"]) == ("ministry-a-tls", "tls")


def test_without_the_hsm_nginx_keeps_its_software_key() -> None:
    got = bundle(FEDERATION, "ministry-a")
    assert got["tls_hsm"] is None
    site = next(f["content"] for f in got["files"] if f["path"] == "nginx/ministry-a.conf")
    assert "ssl_certificate_key /etc/govmatrix/ministry-a/tls/server.key;" in site
    assert "ssl_password_file" not in site
