"""Single sign-on from the one renderer: Synapse's oidc_providers, and the bundled provider's
(LemonLDAP::NG) configuration, for both identity modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from govmatrix.estate import load_estate
from govmatrix.estate.loader import parse_estate
from govmatrix.estate.problems import EstateError
from govmatrix.identity.sso_login import SsoLoginError, login_form
from govmatrix.render import render, required_secrets, target_for
from govmatrix.render.secrets import fill
from govmatrix.secretgen import generate_all

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[3]
DEMO = ROOT / "inventories/demo/estate.yml"


def _demo_files(dept_id: str = "cabinet-office") -> tuple[dict, object]:
    estate = load_estate(DEMO)
    dept = estate.department(dept_id)
    target = target_for("demo", estate, dept)
    return render(estate, dept, target), (estate, dept, target)


def test_synapse_sends_people_to_their_departments_portal() -> None:
    files, _ = _demo_files()
    hs = yaml.safe_load(files["synapse/homeserver.yaml"].text)
    [provider] = hs["oidc_providers"]
    assert provider["idp_id"] == "directory"  # the leaver sync finds people by oidc-directory
    assert provider["issuer"] == "https://auth.cabinet-office.gov.test"
    assert provider["client_secret_path"].endswith("/secrets/oidc_client_secret")
    assert "client_secret" not in provider
    # Never take over an existing account by its name: only a recorded subject links.
    assert provider["allow_existing_users"] is False
    assert hs["password_config"] == {"enabled": False}  # people sign in through SSO only
    mapping = provider["user_mapping_provider"]["config"]
    assert mapping["subject_claim"] == "sub"
    assert mapping["localpart_template"] == "{{ user.preferred_username | lower }}"


def test_the_providers_config_is_valid_json_once_secrets_are_filled() -> None:
    files, (_, dept, target) = _demo_files()
    rendered = files["identity/llng-conf/lmConf-1.json"]
    assert rendered.secret  # client secret, signing key and LDAP password
    values = generate_all(required_secrets(dept, target))
    conf = json.loads(fill(rendered.text, values))
    # The PEM survives JSON escaping, newlines included.
    assert conf["oidcServicePrivateKeySig"] == values["oidc_signing_key"]
    assert conf["managerPassword"] == values["ldap_bind_password"]
    rp = conf["oidcRPMetaDataOptions"]["synapse"]
    assert rp["oidcRPMetaDataOptionsClientSecret"] == values["oidc_client_secret"]
    assert (
        rp["oidcRPMetaDataOptionsRedirectUris"]
        == "https://cabinet-office.gov.test/_synapse/client/oidc/callback"
    )
    # The OIDC subject is the directory's immutable attribute, not the login name.
    assert conf["ldapExportedVars"][rp["oidcRPMetaDataOptionsUserIDAttr"]] == "entryUUID"
    assert conf["ldapServer"] == "ldap://127.0.1.1:389"
    assert conf["oidcServiceMetaDataIssuer"] == "https://auth.cabinet-office.gov.test"
    assert conf["oidcServiceAllowImplicitFlow"] == 0
    # Synapse sends a PKCE challenge (S256); the portal refuses a code exchange without one.
    assert rp["oidcRPMetaDataOptionsRequirePKCE"] == 1
    # Synapse's secret file and the provider's config hold the same client secret.
    assert any(s.name == "oidc_client_secret" and s.file for s in required_secrets(dept, target))


def test_the_portal_gets_its_own_vhost_with_admin_apis_closed() -> None:
    files, _ = _demo_files()
    site = files["nginx/cabinet-office.conf"].text
    assert "server_name auth.cabinet-office.gov.test;" in site
    assert "fastcgi_pass 127.0.1.1:8095;" in site
    assert "(adminSessions|proxy|sessions|config|notification)" in site


def test_hosts_sign_in_through_their_portal() -> None:
    estate = load_estate(DEMO)
    dept = estate.department("cabinet-office")
    target = target_for("onprem", estate, dept)
    files = render(estate, dept, target)
    hs = yaml.safe_load(files["synapse/homeserver.yaml"].text)
    [provider] = hs["oidc_providers"]
    assert provider["issuer"] == "https://auth.cabinet-office.gov.test"
    assert provider["client_secret_path"] == f"{target.secrets_dir}/oidc_client_secret"
    assert hs["password_config"] == {"enabled": False}
    assert "identity/lemonldap-ng.ini" in files
    conf = files["identity/llng-conf/lmConf-1.json"].text
    # The estate's directory (here the default: slapd on the host, installed by the role).
    assert '"ldapServer": "ldap://127.0.0.1:389"' in conf
    site = files["nginx/cabinet-office.conf"].text
    assert "server_name auth.cabinet-office.gov.test;" in site
    assert f"fastcgi_pass {target.synapse_address}:{target.identity_port};" in site


def test_clusters_keep_password_login_for_now() -> None:
    estate = load_estate(DEMO)
    for dept in estate.departments:
        files = render(estate, dept, target_for("kubernetes", estate, dept))
        hs = yaml.safe_load(files["synapse/homeserver.yaml"].text)
        assert "oidc_providers" not in hs, dept.id
        assert "password_config" not in hs, dept.id
        assert not any(p.startswith("identity/") for p in files), dept.id


EXTERNAL = """
version: 1
estate: {name: sso-test, pki: {mode: internal-ca}}
departments:
  - id: home-office
    name: Home Office
    server_name: home-office.gov.test
    target: demo
    identity:
      provider: external
      issuer: https://login.example.test/tenant
      client_id: govmatrix-home-office
      client_secret: %s
      oidc_claims: {subject: oid}
"""


def test_an_external_issuer_is_wired_without_a_provider_of_ours() -> None:
    estate = parse_estate(EXTERNAL % "file:/etc/govmatrix/oidc-secret")
    dept = estate.department("home-office")
    target = target_for("demo", estate, dept)
    files = render(estate, dept, target)
    [provider] = yaml.safe_load(files["synapse/homeserver.yaml"].text)["oidc_providers"]
    assert provider["issuer"] == "https://login.example.test/tenant"
    assert provider["client_id"] == "govmatrix-home-office"
    # A copy among the department's secrets: Synapse never reads the operator's file.
    assert provider["client_secret_path"] == f"{target.secrets_dir}/oidc_client_secret"
    assert provider["user_mapping_provider"]["config"]["subject_claim"] == "oid"
    assert not any(p.startswith("identity/llng") for p in files)
    assert "auth.home-office" not in files["nginx/home-office.conf"].text
    [spec] = [s for s in required_secrets(dept, target) if s.name == "oidc_client_secret"]
    assert spec.ref == "file:/etc/govmatrix/oidc-secret"  # read at deploy, never generated


def test_an_external_secret_from_the_environment_is_read_not_generated() -> None:
    estate = parse_estate(EXTERNAL % "env:OIDC_SECRET")
    dept = estate.department("home-office")
    [spec] = [
        s
        for s in required_secrets(dept, target_for("demo", estate, dept))
        if s.name == "oidc_client_secret"
    ]
    assert spec.ref == "env:OIDC_SECRET"


def test_an_external_issuers_secret_cannot_be_generated() -> None:
    with pytest.raises(EstateError, match="issued by that issuer"):
        parse_estate(EXTERNAL % "generate")


def test_the_login_form_is_the_one_with_a_password() -> None:
    html = """
    <form action="/search"><input name="q"></form>
    <form method="post" action="/">
      <input type="hidden" name="token" value="abc">
      <input type="text" name="user"><input type="password" name="password">
      <input type="checkbox" name="stayconnected" value="1">
      <input type="checkbox" name="remember" value="yes" checked>
    </form>"""
    form = login_form(html)
    assert form.method == "post" and form.action == "/"
    assert form.fields == {"token": "abc", "user": "", "password": "", "remember": "yes"}
    with pytest.raises(SsoLoginError, match="no login form"):
        login_form("<form><input name='q'></form>")


def test_a_server_named_by_address_has_no_portal_and_keeps_password_login() -> None:
    estate = parse_estate(
        EXTERNAL.replace("home-office.gov.test", "192.0.2.10").split("    identity:")[0]
    )
    dept = estate.department("home-office")
    files = render(estate, dept, target_for("demo", estate, dept))
    hs = yaml.safe_load(files["synapse/homeserver.yaml"].text)
    assert "oidc_providers" not in hs and "password_config" not in hs
    assert not any(p.startswith("identity/llng") for p in files)


def test_make_setup_installs_what_the_portal_needs_on_hosts_too() -> None:
    """The demo machine (`make setup`) and the identity role install the same packages."""
    from govmatrix.identity.portal import PACKAGES

    script = (ROOT / "scripts/setup-system.sh").read_text()
    listed = {line.split()[0] for line in script.splitlines() if line.startswith("  l")}
    assert set(PACKAGES) <= listed, set(PACKAGES) - listed
