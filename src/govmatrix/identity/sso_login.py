"""A full single sign-on login, the way Element does it, without a browser.

It follows Synapse's redirect to the department's OpenID Connect provider, fills the
provider's login form (LemonLDAP::NG's, or any plain HTML form with user and password
fields), follows the authorization code back to Synapse, and exchanges the login token
Synapse hands the client for a Matrix access token. The end-to-end tests, `bench/login.py`
and operators' smoke checks use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from govmatrix.identity import AUTH_PROVIDER

MAX_REDIRECTS = 10


class SsoLoginError(RuntimeError):
    """The login did not produce an access token; the message says at which step."""


@dataclass
class LoginForm:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    """The first form holding a password field, with its inputs' default values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[LoginForm, bool]] = []
        self._current: LoginForm | None = None
        self._has_password = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = LoginForm(a.get("action", ""), a.get("method", "get").lower())
            self._has_password = False
        elif tag == "input" and self._current is not None and a.get("name"):
            if a.get("type", "text").lower() == "password":
                self._has_password = True
            if a.get("type", "text").lower() in ("checkbox", "radio") and "checked" not in a:
                return
            self._current.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._current is not None:
            self.forms.append((self._current, self._has_password))
            self._current = None


def login_form(html: str) -> LoginForm:
    parser = _FormParser()
    parser.feed(html)
    for form, has_password in parser.forms:
        if has_password:
            return form
    raise SsoLoginError("the provider's page has no login form")


@dataclass(frozen=True)
class SsoLogin:
    user_id: str
    access_token: str


def _login_token(url: str) -> str | None:
    return next(iter(parse_qs(urlsplit(url).query).get("loginToken", [])), None)


def _follow(client: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Follow redirects until a page, or until one hands the client its login token (that
    one is returned unfollowed: it points at the client, not at a server)."""
    for _ in range(MAX_REDIRECTS):
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or location is None:
            return response
        target = urljoin(str(response.url), location)
        if _login_token(target):
            return response
        response = client.get(target)
    raise SsoLoginError(f"more than {MAX_REDIRECTS} redirects")


def login(
    homeserver: str,
    username: str,
    password: str,
    *,
    verify: str | bool = True,
    idp: str = AUTH_PROVIDER,
    timeout: float = 30,
    local_address: str | None = None,
) -> SsoLogin:
    """Sign `username` in through the homeserver's SSO provider `idp`.

    `homeserver` is the client base URL (https://server). The client's own address, which
    Synapse redirects to with a login token, is the homeserver's base URL: the demo's
    Element is served there, and Synapse trusts it without a confirmation page.
    `local_address` is the source address to connect from (a benchmark's offices on
    loopback)."""
    client_url = homeserver.rstrip("/") + "/"
    transport = httpx.HTTPTransport(verify=verify, local_address=local_address)
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
        start = client.get(
            f"{client_url}_matrix/client/v3/login/sso/redirect/{idp}",
            params={"redirectUrl": client_url},
        )
        page = _follow(client, start)
        if page.status_code != 200:
            raise SsoLoginError(f"the provider answered {page.status_code} at {page.url}")
        form = login_form(page.text)
        form.fields.update({"user": username, "password": password})
        action = urljoin(str(page.url), form.action or str(page.url))
        posted = client.post(action, data=form.fields)
        back = _follow(client, posted)
        token = _login_token(back.headers.get("location", ""))
        if token is None:
            raise SsoLoginError(
                f"no login token came back (last answer {back.status_code} from {back.url}); "
                "wrong credentials, a locked account, or a refused mapping"
            )
        answer = client.post(
            f"{client_url}_matrix/client/v3/login",
            json={"type": "m.login.token", "token": token},
        )
        if answer.status_code != 200:
            raise SsoLoginError(f"Synapse refused the login token: {answer.text[:200]}")
        body = answer.json()
        return SsoLogin(body["user_id"], body["access_token"])
