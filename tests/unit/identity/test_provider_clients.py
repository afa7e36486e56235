"""A department's bundled provider as another department's external issuer: the provider
lists that department as a client, the estate checks the two sides agree, and the renderer
gives the provider every client with its secret read from the estate's reference."""

from __future__ import annotations

import json

import pytest
import yaml

from govmatrix.estate.loader import parse_estate
from govmatrix.estate.pki_plan import provider_department
from govmatrix.estate.problems import EstateError
from govmatrix.kube.secrets import Issued, generated_values
from govmatrix.render import render, required_secrets, target_for
from govmatrix.render.secrets import fill
from govmatrix.secretgen import generate_all

pytestmark = pytest.mark.unit

CALLBACK = "https://agency.gov.test/_synapse/client/oidc/callback"

ESTATE = """
version: 1
estate:
  name: shared-provider
  pki: {{mode: internal-ca}}
  defaults: {{backup: {{enabled: false}}}}
departments:
  - id: ministry
    name: Ministry
    server_name: ministry.gov.test
    target: {target}
    identity:
      provider: bundled
      clients: {clients}
  - id: agency
    name: Agency
    server_name: agency.gov.test
    target: {target}
    identity:
      provider: external
      issuer: {issuer}
      client_id: agency-messaging
      client_secret: file:/etc/govmatrix/agency-oidc
      {extra}
"""

CLIENT = (
    "[{{client_id: agency-messaging, name: Agency messaging, redirect_uris: [{}], "
    "client_secret: {}}}]"
)


def _estate(
    *,
    target: str = "demo",
    issuer: str = "https://auth.ministry.gov.test",
    redirect: str = CALLBACK,
    secret: str = "file:/etc/govmatrix/agency-oidc",
    clients: str | None = None,
    extra: str = "",
) -> str:
    return ESTATE.format(
        target=target,
        issuer=issuer,
        clients=CLIENT.format(redirect, secret) if clients is None else clients,
        extra=extra,
    )


def test_the_provider_serves_its_own_synapse_and_each_client() -> None:
    estate = parse_estate(_estate())
    ministry = estate.department("ministry")
    target = target_for("demo", estate, ministry)
    specs = required_secrets(ministry, target)
    [client_spec] = [s for s in specs if s.name == "oidc_client_agency_messaging_secret"]
    # Shared with the client: read from the estate's reference, never generated here.
    assert client_spec.ref == "file:/etc/govmatrix/agency-oidc" and client_spec.file is None
    values = generate_all(tuple(s for s in specs if s.ref is None))
    values[client_spec.name] = "shared-secret-value"
    rendered = render(estate, ministry, target)["identity/llng-conf/lmConf-1.json"]
    conf = json.loads(fill(rendered.text, values))
    parties = conf["oidcRPMetaDataOptions"]
    assert set(parties) == {"synapse", "agency-messaging"}
    agency = parties["agency-messaging"]
    assert agency["oidcRPMetaDataOptionsClientSecret"] == "shared-secret-value"
    assert agency["oidcRPMetaDataOptionsRedirectUris"] == CALLBACK
    assert agency["oidcRPMetaDataOptionsDisplayName"] == "Agency messaging"
    assert agency["oidcRPMetaDataOptionsRequirePKCE"] == 1
    assert agency["oidcRPMetaDataOptionsUserIDAttr"] == "subject"
    assert parties["synapse"]["oidcRPMetaDataOptionsClientSecret"] == values["oidc_client_secret"]
    # Both get the standard claims the agency's Synapse maps by default.
    assert conf["oidcRPMetaDataExportedVars"]["agency-messaging"] == {
        "preferred_username": "uid",
        "name": "cn",
        "email": "mail",
    }


def test_the_client_department_signs_in_at_the_providers_portal() -> None:
    estate = parse_estate(_estate())
    agency = estate.department("agency")
    assert provider_department(estate, agency) is estate.department("ministry")
    assert provider_department(estate, estate.department("ministry")) is None
    files = render(estate, agency, target_for("demo", estate, agency))
    [provider] = yaml.safe_load(files["synapse/homeserver.yaml"].text)["oidc_providers"]
    assert provider["issuer"] == "https://auth.ministry.gov.test"
    assert provider["client_id"] == "agency-messaging"
    assert not any(p.startswith("identity/llng") for p in files)


def test_a_provider_that_does_not_list_the_department_is_refused_with_the_fix() -> None:
    with pytest.raises(EstateError) as caught:
        parse_estate(_estate(clients="[]"))
    text = str(caught.value)
    assert "signs in at department 'ministry''s provider, which has no client" in text
    assert f"redirect_uris: [{CALLBACK}]" in text


def test_a_client_without_the_departments_callback_is_refused() -> None:
    with pytest.raises(EstateError, match=r"returns people to https://agency\.gov\.test/"):
        parse_estate(_estate(redirect="https://agency.gov.test/elsewhere"))


def test_an_issuer_that_differs_by_a_slash_is_refused() -> None:
    # Synapse compares the discovery document's issuer with its own setting exactly.
    with pytest.raises(EstateError, match=r"write issuer: https://auth\.ministry\.gov\.test"):
        parse_estate(_estate(issuer="https://auth.ministry.gov.test/"))


@pytest.mark.parametrize(
    ("clients", "message"),
    [
        (CLIENT.format(CALLBACK, "generate"), "both read it"),
        (f"[{{client_id: synapse, redirect_uris: [{CALLBACK}], client_secret: env:X}}]", "own"),
        (
            f"[{{client_id: agency-messaging, redirect_uris: [{CALLBACK}], client_secret: env:X}},"
            f" {{client_id: agency_messaging, redirect_uris: [{CALLBACK}], client_secret: env:Y}}]",
            "differ only in punctuation",
        ),
        ("[{client_id: agency-messaging, redirect_uris: [], client_secret: env:X}]", "at least"),
        (
            "[{client_id: agency-messaging, redirect_uris: [http://a/cb], client_secret: env:X}]",
            "https",
        ),
    ],
)
def test_bad_clients_are_refused(clients: str, message: str) -> None:
    with pytest.raises(EstateError, match=message):
        parse_estate(_estate(clients=clients))


def test_on_hosts_the_providers_copy_comes_from_a_file() -> None:
    with pytest.raises(EstateError, match=r"identity.clients.0.client_secret is 'env:AGENCY'"):
        parse_estate(_estate(target="onprem", secret="env:AGENCY"))
    parse_estate(_estate(target="onprem"))


def test_on_clusters_the_providers_copy_is_issued_from_the_store() -> None:
    extra = "issuer_address_blocks: [192.0.2.0/28]"
    text = _estate(target="kubernetes", extra=extra).replace(
        "provider: bundled",
        "provider: bundled\n      directory: {url: 'ldaps://dir.ministry.gov.test', "
        "address_blocks: [192.0.2.16/28]}",
    )
    estate = parse_estate(text)
    values = generated_values(estate.department("ministry"))
    assert Issued("oidc_client_agency_messaging_secret", "file:/etc/govmatrix/agency-oidc") in (
        values
    )
