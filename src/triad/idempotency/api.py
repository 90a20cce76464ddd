"""The HTTP edge of idempotency keys.

``idempotent()`` is a route dependency; ``install(app)`` (called once by ``create_app``) adds the ASGI
middleware that hashes the raw request body as it streams in and holds back the response of a request
that reserved a key until that response is stored. Decision record: docs/decisions/0020-idempotency-keys.md.

Order of one request that sends ``Idempotency-Key`` to an idempotent route:

1. the route's other dependencies authenticate and authorise the caller (401/403 reserve nothing);
2. ``idempotent()`` checks the header (400), then reserves the key in a short transaction of its own,
   committed before the endpoint starts: the same key running → 409, used with another request → 422,
   done with this request → the stored response, replayed without calling the endpoint;
3. the endpoint acts and commits its own transaction, as every route does;
4. when the whole response is out of the application (and the request's session is closed), the
   middleware stores it and marks the key done in a third short transaction — or deletes the
   reservation on a 5xx or an exception, so the client may retry — and only then sends it.

Between 3 and 4 the action is committed but the key still says 'running': a repeat arriving in that
window gets 409 and retries later; it can never act a second time.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from fastapi.params import Depends as DependsParam
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triad.auth.deps import CurrentUser, DbSession
from triad.config import get_settings
from triad.core.errors import BadRequest
from triad.idempotency import service
from triad.idempotency.service import HEADER, StoredResponse

log = logging.getLogger("triad.idempotency")

SCOPE_KEY = "triad.idempotency"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("content-type", "location")  # what a replay repeats besides status and body
_HEADER_BYTES = HEADER.lower().encode()


class _Exchange:
    """What the middleware and the dependency share about one request (kept in the ASGI scope)."""

    def __init__(self, scope: Scope) -> None:
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        self.hasher = hashlib.sha256(scope["method"].encode() + b" " + target + b"\n")
        self.boundary = _multipart_boundary(scope)
        self.chunks: list[bytes] = []  # multipart bodies are hashed whole, once their boundary is replaced
        self.body_complete = False
        self.record_id: int | None = None
        self.session_factory: sessionmaker[Session] | None = None


def _multipart_boundary(scope: Scope) -> bytes | None:
    """The boundary of a multipart/form-data request, or None for any other body."""
    for name, value in scope["headers"]:
        if name == b"content-type" and value.lower().startswith(b"multipart/form-data"):
            for part in value.split(b";")[1:]:
                key, _, val = part.strip().partition(b"=")
                if key.lower() == b"boundary" and val:
                    return val.strip(b'"')
    return None


class Replayed(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the dependency to answer with a stored response instead of calling the endpoint."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.stored = stored


class IdempotencyMiddleware:
    """Hashes the raw body of requests that carry an Idempotency-Key, and stores their response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(name == _HEADER_BYTES for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        ex = scope[SCOPE_KEY] = _Exchange(scope)

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                if ex.boundary is None:
                    ex.hasher.update(message.get("body", b""))
                else:
                    ex.chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    if ex.boundary is not None:
                        # clients pick a random boundary per request; the same form must hash the same
                        ex.hasher.update(b"".join(ex.chunks).replace(b"--" + ex.boundary, b"--<boundary>"))
                        ex.chunks = []
                    ex.body_complete = True
            return message

        held: list[Message] = []

        async def holding_send(message: Message) -> None:
            if ex.record_id is None:  # no reservation (no idempotent route, a refusal, a replay)
                await send(message)
            else:
                held.append(message)

        try:
            await self.app(scope, hashing_receive, holding_send)
        except Exception:
            if ex.record_id is not None:
                await run_in_threadpool(_finish, ex, None)
            raise
        if ex.record_id is None:
            return
        stored = _stored(held)
        await run_in_threadpool(_finish, ex, stored if stored is not None and stored.status < 500 else None)
        for message in held:
            await send(message)


def _stored(held: list[Message]) -> StoredResponse | None:
    start = next((m for m in held if m["type"] == "http.response.start"), None)
    if start is None:
        return None
    headers = {}
    for name, value in start.get("headers", []):
        name = name.decode("latin-1").lower()
        if name in KEPT_HEADERS:
            headers[name] = value.decode("latin-1")
    body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
    return StoredResponse(status=start["status"], body=body, headers=headers)


def _finish(ex: _Exchange, stored: StoredResponse | None) -> None:
    """Mark the key done with ``stored``, or delete the reservation when ``stored`` is None."""
    record_id = ex.record_id
    try:
        with ex.session_factory() as s:  # set by the dependency together with record_id
            if stored is None:
                service.release(session=s, record_id=record_id)
            else:
                service.complete(session=s, record_id=record_id, response=stored)
            s.commit()
    except Exception:
        # The key stays 'running': repeats get 409 until it expires, never a second action.
        log.exception("could not %s idempotency key %s", "release" if stored is None else "store", record_id)


def _reserve(ex: _Exchange, session: Session, *, user_id: int, key: str, method: str, path: str,
             request_hash: str) -> service.Reservation:
    # End the transaction authentication left open on the request's session (on SQLite it holds the
    # write lock, taken by BEGIN IMMEDIATE), so the reservation commits on its own, before the endpoint.
    session.commit()
    ttl = get_settings().idempotency_ttl
    with ex.session_factory() as s:
        reservation = service.reserve(session=s, user_id=user_id, key=key, method=method, path=path,
                                      request_hash=request_hash, ttl=ttl)
        s.commit()
    return reservation


async def _idempotency(
    request: Request, user: CurrentUser, session: DbSession,
    idempotency_key: Annotated[str | None, Header(
        alias=HEADER, description="Optional. A repeat with the same key and body returns the first response "
        "(header Idempotent-Replayed: true) without acting again; 1-255 printable ASCII characters, kept for "
        "TRIAD_IDEMPOTENCY_TTL_HOURS per caller.")] = None,
) -> None:
    values = request.headers.getlist(HEADER)
    if not values:
        return
    key = service.check_key(values)
    ex: _Exchange | None = request.scope.get(SCOPE_KEY)
    if ex is None:
        raise RuntimeError("idempotent() needs the middleware: call triad.idempotency.install(app)")
    if not ex.body_complete:  # the route takes no body, so nothing has read it yet
        try:
            await request.body()
        except RuntimeError as exc:  # the stream was consumed but never finished (client went away)
            raise BadRequest("the request body did not arrive completely") from exc
    ex.session_factory = request.app.state.session_factory
    reservation = await run_in_threadpool(
        _reserve, ex, session, user_id=user.id, key=key, method=request.method, path=request.url.path,
        request_hash=ex.hasher.copy().hexdigest())
    if reservation.replay is not None:
        raise Replayed(reservation.replay)
    ex.record_id = reservation.record_id


def idempotent() -> DependsParam:
    """Route dependency: honour an ``Idempotency-Key`` header. Put it after the permission check::

        @router.post("/exports", dependencies=[require(Perm.ap_export), idempotent()])
    """
    return Depends(_idempotency)


async def _replay(request: Request, exc: Replayed) -> Response:
    stored = exc.stored
    return Response(stored.body, status_code=stored.status, headers={**stored.headers, REPLAYED_HEADER: "true"})


def install(app: FastAPI) -> None:
    """Add the middleware and the replay handler to ``app`` (``create_app`` does it)."""
    app.add_middleware(IdempotencyMiddleware)
    app.add_exception_handler(Replayed, _replay)
