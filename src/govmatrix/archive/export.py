"""Case exports: a self-contained bundle that can be checked offline.

A bundle holds the events of one case (JSONL), a readable HTML transcript with the media,
the media files, a chain proof (each event's position and links), and a manifest of every
file's SHA-256. The archive verifies its whole chain before exporting, then signs the
manifest with its checkpoint key. `verify-export` checks the signature (against a pinned
key when given), every file hash, and every event's chain link, without the database.

Linking a partial export to a signed chain head would need the content of every event in
between, which would reveal events outside the case; the bundle therefore carries the
archive's signed attestation instead, made right after a full verification.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canonicaljson import encode_canonical_json
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from govmatrix.archive import chain, media
from govmatrix.archive.config import ArchiveConfig
from govmatrix.hashing import sha256_file

FORMAT = "govmatrix.archive.export.v1"


def public_key_b64(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _transcript(
    case: str, server_name: str, rows: list[dict[str, Any]], media_for: dict[str, list[str]]
) -> str:
    lines = [
        "<!doctype html><meta charset=utf-8>",
        f"<title>Archive export {html.escape(case)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        ".meta{color:#555;font-size:.85em}.redacted{color:#a00}</style>",
        f"<h1>Case {html.escape(case)}</h1>",
        f"<p class=meta>Exported from the compliance archive of {html.escape(server_name)}. "
        "Times are UTC.</p>",
    ]
    room = None
    for row in rows:
        if row["room_id"] != room:
            room = row["room_id"]
            lines.append(f"<h2>Room {html.escape(room)}</h2>")
        when = dt.datetime.fromtimestamp(row["origin_server_ts"] / 1000, dt.UTC)
        body = row["body"] if row["body"] is not None else f"[{row['type']}]"
        if row["encrypted"]:
            body = "[encrypted: ciphertext kept, not readable by the archive]"
        lines.append(
            f"<div><p class=meta>#{row['seq']} {when:%Y-%m-%d %H:%M:%S} "
            f"{html.escape(row['sender'])} <code>{html.escape(row['event_id'])}</code></p>"
            f"<p>{html.escape(body)}</p>"
        )
        for sha in media_for.get(row["event_id"], []):
            lines.append(f"<p><a href='media/{sha}'>attachment {sha[:12]}…</a></p>")
        if row["redacted_by"]:
            lines.append(
                f"<p class=redacted>deleted by the sender afterwards "
                f"({html.escape(', '.join(row['redacted_by']))}); the original is "
                "shown above</p>"
            )
        lines.append("</div>")
    return "\n".join(lines) + "\n"


def write_bundle(
    out: Path,
    case: str,
    query: dict[str, Any],
    config: ArchiveConfig,
    key: chain.Signer,
    rows: list[dict[str, Any]],
    links: dict[int, tuple[str, str]],
    media_for: dict[str, list[str]],
    head: tuple[int, str],
) -> Path:
    """Write the bundle folder; `links` maps seq to (prev_hash hex, hash hex)."""
    if out.exists():
        raise FileExistsError(f"{out} exists; choose a new folder for the export")
    (out / "media").mkdir(parents=True)
    with (out / "events.jsonl").open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row["event"], sort_keys=True, ensure_ascii=False) + "\n")
    proof = [
        {
            "seq": row["seq"],
            "event_id": row["event_id"],
            "prev_hash": links[row["seq"]][0],
            "hash": links[row["seq"]][1],
        }
        for row in rows
    ]
    (out / "chain-proof.json").write_text(json.dumps(proof, indent=1) + "\n")
    for shas in media_for.values():
        for sha in shas:
            shutil.copyfile(media.path_for(config.media_dir, sha), out / "media" / sha)
    (out / "transcript.html").write_text(_transcript(case, config.server_name, rows, media_for))
    files = {
        str(path.relative_to(out)): sha256_file(path)
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "format": FORMAT,
        "case": case,
        "query": query,
        "server_name": config.server_name,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "events": len(rows),
        "archive_head": {"seq": head[0], "hash": head[1]},
        "archive_verified_before_export": True,
        "key_id": chain.key_id(key.public_key()),
        "public_key": public_key_b64(key.public_key()),
        "files": files,
    }
    text = bytes(encode_canonical_json(manifest)).decode()
    (out / "manifest.json").write_text(text + "\n")
    (out / "manifest.sig").write_text(chain.sign(key, text) + "\n")
    return out


@dataclass
class ExportCheck:
    problems: list[str] = field(default_factory=list)
    events: int = 0
    key_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(bundle: Path, pinned_public_key: str | None = None) -> ExportCheck:
    check = ExportCheck()
    try:
        text = (bundle / "manifest.json").read_text().strip()
        manifest = json.loads(text)
        signature = (bundle / "manifest.sig").read_text().strip()
    except (OSError, ValueError) as exc:
        check.problems.append(f"manifest unreadable: {exc}")
        return check
    check.key_id = manifest.get("key_id", "")
    key_b64 = manifest.get("public_key", "")
    if pinned_public_key and pinned_public_key != key_b64:
        check.problems.append("the manifest is signed by another key than the pinned one")
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_b64))
    if not chain.signature_valid(public, text, signature):
        check.problems.append("manifest signature does not verify")
    on_disk = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()}
    listed = set(manifest["files"])
    for extra in sorted(on_disk - listed - {"manifest.json", "manifest.sig"}):
        check.problems.append(f"{extra}: not in the manifest")
    for name in sorted(listed):
        path = bundle / name
        if not path.is_file():
            check.problems.append(f"{name}: missing")
        elif sha256_file(path) != manifest["files"][name]:
            check.problems.append(f"{name}: SHA-256 differs from the manifest (modified)")
    proof = json.loads((bundle / "chain-proof.json").read_text())
    events = [json.loads(line) for line in (bundle / "events.jsonl").read_text().splitlines()]
    for item, event in zip(proof, events, strict=False):
        check.events += 1
        if event.get("event_id") != item["event_id"]:
            check.problems.append(f"event seq {item['seq']}: proof and events out of order")
        elif chain.link(bytes.fromhex(item["prev_hash"]), event).hex() != item["hash"]:
            check.problems.append(
                f"event seq {item['seq']} {item['event_id']}: content does not "
                "match its chain link (modified)"
            )
    if len(proof) != len(events) or len(events) != manifest["events"]:
        check.problems.append("event count differs between manifest, proof and events")
    return check
