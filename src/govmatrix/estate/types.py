"""Constrained scalar types shared by the estate schema.

Each type validates one kind of value and says, in its error message, what a good
value looks like: these messages reach operators verbatim through the loader.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from croniter import croniter
from pydantic import AfterValidator, Field

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")
_DNS_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_SECRET_REF_RE = re.compile(r"^(?:env:[A-Za-z_][A-Za-z0-9_]*|file:\S+|vault:\S+|generate)$")
_DURATION_RE = re.compile(r"^(\d{1,6})([smhdwy])$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:rc\d+)?$")


def _slug(value: str) -> str:
    if not SLUG_RE.fullmatch(value):
        raise ValueError(
            "must be 2-63 characters of lowercase letters, digits and '-', "
            "starting with a letter and not ending with '-' (it names files, "
            "databases and Kubernetes namespaces)"
        )
    return value


def check_server_name(value: str) -> str:
    """A Matrix server name: hostname or IP literal, with an optional port (spec appendix)."""
    host, port = value, None
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            raise ValueError("IPv6 literal is missing its closing ']'")
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError("only ':port' may follow an IPv6 literal")
            port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"'{host}' is not a valid IPv6 address") from None
    else:
        if value.count(":") == 1:
            host, port = value.split(":")
        elif ":" in value:
            raise ValueError(
                "an IPv6 server name must be written in brackets, e.g. '[2001:db8::1]'"
            )
        if not host:
            raise ValueError("is empty")
        if len(host) > 255:
            raise ValueError("hostname is longer than 255 characters")
        labels = host.split(".")
        if not all(_DNS_LABEL_RE.fullmatch(label) for label in labels):
            raise ValueError(
                f"'{value}' is not a valid Matrix server name: use a DNS name such as "
                "'home-office.gov.test' (letters, digits, '-' and '.'), an IP literal, "
                "and optionally ':port'"
            )
    port_ok = port is None or (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535)
    if not port_ok:
        raise ValueError(f"port '{port}' must be a number from 1 to 65535")
    return value


def _secret_ref(value: str) -> str:
    if not _SECRET_REF_RE.fullmatch(value):
        # Never echo the value: it may be the very secret we refuse to store.
        raise ValueError(
            "a literal secret is not allowed in the estate; reference it instead as "
            "'env:NAME', 'file:PATH', 'vault:PATH' or 'generate'"
        )
    return value


def _cron(value: str) -> str:
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(
            f"'{value}' is not a valid 5-field cron schedule (minute hour day month weekday), "
            "e.g. '0 2 * * 0'"
        )
    return value


def duration_seconds(value: str) -> int:
    match = _DURATION_RE.fullmatch(value)
    if not match:
        raise ValueError(
            f"'{value}' is not a duration: write a whole number and a unit, "
            "s, m, h, d, w or y (e.g. '30s', '15m', '7y')"
        )
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def _duration(value: str) -> str:
    duration_seconds(value)
    return value


def _colour(value: str) -> str:
    if not _COLOUR_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a colour; write it as '#rrggbb'")
    return value


def _version(value: str) -> str:
    if not _VERSION_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a release version such as '1.163.2'")
    return value


def is_loopback_url(url: str) -> bool:
    """Whether a URL's host is this machine: localhost or a loopback address."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a CIDR block: {exc}") from None
    return value


Slug = Annotated[str, AfterValidator(_slug)]
ServerName = Annotated[str, AfterValidator(check_server_name)]
SecretRef = Annotated[
    str,
    AfterValidator(_secret_ref),
    Field(
        description="A reference to a secret, never its value: env:NAME, file:PATH, "
        "vault:PATH or generate.",
        json_schema_extra={"pattern": _SECRET_REF_RE.pattern},
    ),
]
Cron = Annotated[
    str,
    AfterValidator(_cron),
    Field(description="A 5-field cron schedule (minute hour day month weekday)."),
]
Duration = Annotated[
    str,
    AfterValidator(_duration),
    Field(
        description="A duration: a whole number and a unit (s, m, h, d, w, y).",
        json_schema_extra={"pattern": _DURATION_RE.pattern},
    ),
]
Colour = Annotated[
    str, AfterValidator(_colour), Field(json_schema_extra={"pattern": _COLOUR_RE.pattern})
]
Version = Annotated[
    str, AfterValidator(_version), Field(json_schema_extra={"pattern": _VERSION_RE.pattern})
]
Cidr = Annotated[str, AfterValidator(_cidr)]
