"""Fetch the media behind archived events through Synapse's authenticated media API, and
keep it content-addressed by SHA-256 (deduplicated)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx

MEDIA_MSGTYPES = {"m.image", "m.file", "m.video", "m.audio"}


def media_urls(event: dict[str, Any]) -> list[str]:
    content = event.get("content")
    if not isinstance(content, dict):
        return []
    if event.get("type") != "m.sticker" and content.get("msgtype") not in MEDIA_MSGTYPES:
        return []
    urls = []
    for candidate in (content.get("url"), (content.get("file") or {}).get("url")):
        if isinstance(candidate, str) and candidate.startswith("mxc://"):
            urls.append(candidate)
    return urls


def path_for(media_dir: str, sha256: str) -> Path:
    return Path(media_dir) / sha256[:2] / sha256


class MissingMedia(Exception):
    """The homeserver answered that the media does not exist (404): record, do not retry."""


def fetch(client: httpx.Client, token: str, mxc: str) -> tuple[bytes, str | None]:
    server, media_id = mxc.removeprefix("mxc://").split("/", 1)
    response = client.get(
        f"/_matrix/client/v1/media/download/{server}/{media_id}",
        headers={"Authorization": f"Bearer {token}"},
        params={"allow_redirect": "false"},
    )
    if response.status_code == 404:
        raise MissingMedia(f"{mxc}: {response.text[:200]}")
    response.raise_for_status()
    return response.content, response.headers.get("content-type")


def store(media_dir: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = path_for(media_dir, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.tmp")
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    return digest
