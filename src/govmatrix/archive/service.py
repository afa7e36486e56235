"""The archive's ASGI service: the application-service API Synapse pushes events to.

Synapse sends every event of every room a department user is in (non-exclusive user
namespace) as numbered transactions, and resends a transaction until it gets a 200. The
service answers 200 only after the events are committed, so a crash at any point loses
nothing: Synapse resends, and ingestion is idempotent per transaction and per event.
"""

from __future__ import annotations

import hmac
import logging
import threading
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from govmatrix.archive import checkpoints, media
from govmatrix.archive import flags as flag_rules
from govmatrix.archive.config import ArchiveConfig
from govmatrix.archive.store import Attachment, SearchQuery, Store, audit, media_info, search

log = logging.getLogger("govmatrix.archive")


def _error(status: int, errcode: str, message: str) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "error": message}, status_code=status)


class Refused(Exception):
    """Raised by the token dependencies: answered before the body is even validated."""

    def __init__(self, status: int, errcode: str, message: str):
        super().__init__(message)
        self.response = _error(status, errcode, message)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    return token or None


REQUIRED_EVENT_FIELDS = {"event_id": str, "room_id": str, "sender": str, "type": str}


def malformed(event: dict[str, Any]) -> str | None:
    for name, kind in REQUIRED_EVENT_FIELDS.items():
        if not isinstance(event.get(name), kind):
            return f"event without a string '{name}'"
    if not isinstance(event.get("origin_server_ts", 0), int):
        return "origin_server_ts must be an integer"
    if not isinstance(event.get("content", {}), dict):
        return "content must be an object"
    return None


def is_pruned(event: dict[str, Any]) -> bool:
    """Synapse resends events loaded again from its database: one redacted meanwhile arrives
    with its content stripped and `unsigned.redacted_because` set."""
    unsigned = event.get("unsigned")
    return isinstance(unsigned, dict) and unsigned.get("redacted_because") is not None


class Archive:
    def __init__(self, config: ArchiveConfig):
        self.config = config
        self.store = Store(config.database)
        self.hs_token = config.secret(config.hs_token_path)
        self.as_token = config.secret(config.as_token_path)
        self.key = checkpoints.signer(config)
        self.homeserver = httpx.Client(base_url=config.homeserver_url, timeout=30)
        self._stop = threading.Event()

    # --- ingestion ------------------------------------------------------------------------

    def _admin_get(self, path: str) -> dict[str, Any]:
        response = self.homeserver.get(path, headers={"Authorization": f"Bearer {self.as_token}"})
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def _readers(self, room_id: str) -> list[str]:
        """Local members of the room, most powerful first: MSC2815 lets a member with redact
        power read originals, and the archive may act as any local user (its namespace)."""
        room = quote(room_id)
        members = self._admin_get(f"/_synapse/admin/v1/rooms/{room}/members")["members"]
        state = self._admin_get(f"/_synapse/admin/v1/rooms/{room}/state")["state"]
        levels: dict[str, Any] = next(
            (e["content"] for e in state if e["type"] == "m.room.power_levels"), {}
        )
        users = levels.get("users", {})
        default = levels.get("users_default", 0)
        local = [m for m in members if m.endswith(":" + self.config.server_name)]
        return sorted(local, key=lambda m: -int(users.get(m, default)))

    def recover_original(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Fetch the unredacted original of an event that arrived pruned (MSC2815)."""
        path = (
            f"/_matrix/client/v3/rooms/{quote(event['room_id'])}/event/{quote(event['event_id'])}"
        )
        try:
            readers = self._readers(event["room_id"])
        except httpx.HTTPError as exc:
            log.error("cannot list members of %s: %s", event["room_id"], exc)
            return None
        for reader in readers[:3]:
            response = self.homeserver.get(
                path,
                params={"fi.mau.msc2815.include_unredacted_content": "true", "user_id": reader},
                headers={"Authorization": f"Bearer {self.as_token}"},
            )
            if response.status_code == 200:
                original: dict[str, Any] = response.json()
                return original
            log.warning(
                "recovering %s as %s: %s %s",
                event["event_id"],
                reader,
                response.status_code,
                response.text[:200],
            )
        log.error(
            "cannot recover the original of %s; archiving it as received (pruned)",
            event["event_id"],
        )
        return None

    def ingest(self, txn_id: str, events: list[dict[str, Any]]) -> int:
        recovered: set[str] = set()
        ready = []
        for event in events:
            if is_pruned(event) and not self.store.has_event(event.get("event_id", "")):
                original = self.recover_original(event)
                if original is not None and original.get("content"):
                    event = original
                    recovered.add(event["event_id"])
            ready.append(event)
        # Media first, outside the database transaction: if the homeserver cannot hand it
        # over now, the whole transaction fails and Synapse resends it, so nothing is lost.
        attachments = [
            self.fetch_media(e["event_id"], mxc)
            for e in ready
            if not self.store.has_event(e["event_id"])
            for mxc in media.media_urls(e)
        ]
        new = self.store.ingest(txn_id, ready, recovered, attachments)
        if new:
            raised = self.store.raise_flags(new, self.config.flags)
            for user in flag_rules.self_leavers(new, self.config.server_name):
                if self.deactivated(user):
                    raised += self.store.flag_deactivation(user, self.config.flags)
            for flag in raised:
                log.warning("flag %s: %s %s", flag.rule, flag.user_id, flag.detail)
        return len(new)

    def deactivated(self, user: str) -> bool:
        try:
            return bool(
                self._admin_get(f"/_synapse/admin/v2/users/{quote(user)}").get("deactivated")
            )
        except httpx.HTTPError as exc:
            log.error("cannot ask the homeserver whether %s is deactivated: %s", user, exc)
            return False

    def fetch_media(self, event_id: str, mxc: str) -> Attachment:
        """Download and store one file; a 404 is recorded (the homeserver no longer has it),
        any other failure propagates so the transaction is retried."""
        try:
            data, content_type = media.fetch(self.homeserver, self.as_token, mxc)
        except media.MissingMedia as exc:
            return Attachment(event_id, mxc, None, 0, None, str(exc))
        digest = media.store(self.config.media_dir, data)
        return Attachment(event_id, mxc, digest, len(data), content_type, None)

    # --- checkpoints ----------------------------------------------------------------------

    def checkpoint_loop(self) -> None:
        while not self._stop.wait(self.config.checkpoint_interval_s):
            try:
                checkpoints.take(
                    self.store, self.key, self.config.server_name, self.config.checkpoint_log
                )
            except Exception:
                log.exception("checkpoint failed")

    def stop(self) -> None:
        self._stop.set()
        checkpoints.take(self.store, self.key, self.config.server_name, self.config.checkpoint_log)


class SearchRequest(BaseModel):
    """A records officer's search. A case reference is required, and a term or a sender:
    a query that names neither would be browsing, and is refused."""

    model_config = ConfigDict(extra="forbid")

    case: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{2,63}$",
        description="The FOI request or inquiry this search serves, e.g. FOI-2026-0042.",
    )
    terms: str | None = Field(None, max_length=500, description="Words that must all appear.")
    sender: str | None = Field(None, pattern=r"^@[^:\s]+:[^\s]+$", max_length=255)
    room: str | None = Field(None, pattern=r"^![^\s]+$", max_length=255)
    from_ts: int | None = Field(None, ge=0, le=2**53, description="Milliseconds since 1970.")
    to_ts: int | None = Field(None, ge=0, le=2**53)
    after: int = Field(0, ge=0, le=2**62, description="Pagination cursor from 'next'.")
    limit: int = Field(50, ge=1, le=200)

    @field_validator("terms", "sender", "room")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        # PostgreSQL takes no NUL in text or jsonb (the audit log keeps the query): refuse
        # control characters here, not with a 500. (pydantic refuses lone surrogates.)
        if value is not None and any(ord(c) < 32 for c in value):
            raise ValueError("control characters are not allowed")
        return value


class SearchHit(BaseModel):
    seq: int
    event_id: str
    room_id: str
    sender: str
    type: str
    origin_server_ts: int
    body: str | None
    encrypted: bool
    media: list[str] = Field(description="SHA-256 of attached media: GET /api/v1/media/{sha256}")
    redacted_by: list[str]
    event: dict[str, Any]


class SearchResponse(BaseModel):
    case: str
    count: int
    next: int | None = Field(description="Pass as 'after' for the next page; null at the end.")
    results: list[SearchHit]


def create_app(config: ArchiveConfig) -> FastAPI:
    archive = Archive(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        thread = threading.Thread(target=archive.checkpoint_loop, daemon=True)
        thread.start()
        yield
        archive.stop()

    app = FastAPI(
        title="govmatrix compliance archive",
        description="Receives a department's events from Synapse; searchable, not browsable.",
        version="1",
        lifespan=lifespan,
    )
    app.state.archive = archive
    officer_token = config.secret(config.officer_token_path)

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        return exc.response

    def homeserver(request: Request) -> None:
        token = _bearer(request) or request.query_params.get("access_token")
        if not token:
            raise Refused(401, "M_UNAUTHORIZED", "missing homeserver token")
        if not hmac.compare_digest(token, archive.hs_token):
            raise Refused(403, "M_FORBIDDEN", "wrong homeserver token")

    def officer(request: Request) -> str:
        token = _bearer(request)
        if not token:
            raise Refused(401, "M_UNAUTHORIZED", "a records-officer token is required")
        if not hmac.compare_digest(token, officer_token):
            raise Refused(403, "M_FORBIDDEN", "not a records-officer token")
        return request.headers.get("x-records-officer", "records-officer")[:100]

    from_homeserver = [Depends(homeserver)]

    @app.put("/_matrix/app/v1/transactions/{txn_id}", dependencies=from_homeserver)
    async def transaction(txn_id: str, request: Request) -> JSONResponse:
        """A transaction of events from the homeserver. 200 only once they are committed."""
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "M_NOT_JSON", "body is not JSON")
        events = body.get("events", []) if isinstance(body, dict) else None
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return _error(400, "M_BAD_JSON", "'events' must be a list of events")
        problems = [p for e in events if (p := malformed(e))]
        if problems:
            return _error(400, "M_BAD_JSON", problems[0])
        count = await run_in_threadpool(archive.ingest, txn_id, events)
        log.info("txn %s: %d events, %d new", txn_id, len(events), count)
        return JSONResponse({})

    @app.get("/_matrix/app/v1/users/{user_id}", dependencies=from_homeserver)
    async def user_query(user_id: str) -> JSONResponse:
        """The archive creates no users: its namespace is non-exclusive."""
        return _error(404, "M_NOT_FOUND", "no such user")

    @app.get("/_matrix/app/v1/rooms/{alias}", dependencies=from_homeserver)
    async def room_query(alias: str) -> JSONResponse:
        return _error(404, "M_NOT_FOUND", "no such room")

    @app.post("/_matrix/app/v1/ping", dependencies=from_homeserver)
    async def ping() -> JSONResponse:
        return JSONResponse({})

    @app.post(
        "/api/v1/search",
        response_model=SearchResponse,
        responses={400: {"description": "Browsing refused"}, 401: {}, 403: {}},
    )
    async def search_archive(query: SearchRequest, who: str = Depends(officer)) -> Any:
        """Search the archive for one case. Every search is written to the access audit log.
        There is no endpoint that lists everything."""
        logged = query.model_dump(exclude={"case"})
        terms = (query.terms or "").strip()
        if not terms and not query.sender:
            await run_in_threadpool(
                audit,
                archive.store,
                who,
                query.case,
                logged,
                "refused: no term and no sender (browsing)",
                0,
            )
            return _error(
                400, "M_BROWSING_REFUSED", "a search needs at least one term or a named sender"
            )
        q = SearchQuery(
            terms or None,
            query.sender,
            query.room,
            query.from_ts,
            query.to_ts,
            query.after,
            query.limit + 1,
        )
        rows = await run_in_threadpool(search, archive.store, q)
        page, more = rows[: query.limit], len(rows) > query.limit
        await run_in_threadpool(
            audit, archive.store, who, query.case, logged, "answered", len(page)
        )
        return SearchResponse(
            case=query.case,
            count=len(page),
            next=page[-1]["seq"] if more else None,
            results=[SearchHit(**row) for row in page],
        )

    @app.get(
        "/api/v1/media/{sha256}",
        response_class=FileResponse,
        responses={200: {"content": {"application/octet-stream": {}}}, 401: {}, 403: {}, 404: {}},
    )
    async def get_media(
        who: str = Depends(officer),
        sha256: str = Path(pattern=r"^[0-9a-f]{64}$"),
        case: str = Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{2,63}$"),
    ) -> Any:
        """One archived file, by the SHA-256 a search result names, for a case. Audited."""
        info = await run_in_threadpool(media_info, archive.store, sha256)
        await run_in_threadpool(
            audit,
            archive.store,
            who,
            case,
            {"media": sha256},
            "media" if info else "media: not found",
            1 if info else 0,
        )
        if info is None:
            return _error(404, "M_NOT_FOUND", "no such media in the archive")
        return FileResponse(
            media.path_for(config.media_dir, sha256),
            media_type=info[1] or "application/octet-stream",
        )

    @app.get("/api/v1/flags", responses={401: {}, 403: {}})
    async def list_flags(
        who: str = Depends(officer),
        case: str = Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{2,63}$"),
        after: int = Query(0, ge=0, le=2**62),
        limit: int = Query(50, ge=1, le=200),
    ) -> Any:
        """Suspicious-activity flags raised by the archive's rules, oldest first. Audited."""

        def read() -> list[dict[str, Any]]:
            with archive.store._lock:
                rows = flag_rules.listing(archive.store.conn, after, limit + 1)
                archive.store.conn.commit()
            return rows

        rows = await run_in_threadpool(read)
        page = rows[:limit]
        await run_in_threadpool(
            audit, archive.store, who, case, {"flags_after": after}, "flags", len(page)
        )
        return {
            "case": case,
            "count": len(page),
            "flags": page,
            "next": page[-1]["id"] if len(rows) > limit else None,
        }

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
