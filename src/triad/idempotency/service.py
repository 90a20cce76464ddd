"""Reserving, completing and releasing idempotency keys.

Like every service these functions never commit: the edge (``idempotency.api``) runs each of them in
a short transaction of its own, apart from the endpoint's transaction. See docs/decisions/0020.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triad.core.db import utcnow
from triad.core.errors import BadRequest, Conflict, ValidationFailed
from triad.idempotency.models import DONE, RUNNING, IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
STILL_RUNNING = "a request with this Idempotency-Key is still being processed"
DIFFERENT_REQUEST = "this Idempotency-Key was used with a different request"


def _header_error(message: str) -> list[dict[str, str]]:
    return [{"field": HEADER, "location": "header", "message": message}]


def check_key(values: list[str]) -> str:
    """The key sent in the ``Idempotency-Key`` header(s), or BadRequest naming the header.

    A key is 1 to 255 printable ASCII characters (space to ``~``), sent once.
    """
    if len(values) != 1:
        msg = "send one Idempotency-Key header, not several"
    elif not values[0]:
        msg = "the Idempotency-Key header is empty"
    elif len(values[0]) > MAX_KEY_LENGTH:
        msg = f"the Idempotency-Key header is longer than {MAX_KEY_LENGTH} characters"
    elif any(not " " <= c <= "~" for c in values[0]):
        msg = "the Idempotency-Key header may hold printable ASCII characters only"
    else:
        return values[0]
    raise BadRequest(msg, errors=_header_error(msg))


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Reservation:
    """Either ``record_id`` (this request holds the key and must act) or ``replay`` (answer with it)."""

    record_id: int | None = None
    replay: StoredResponse | None = None


def reserve(*, session: Session, user_id: int, key: str, method: str, path: str, request_hash: str,
            ttl: dt.timedelta, now: dt.datetime | None = None) -> Reservation:
    """Claim ``key`` for ``user_id``, or find the earlier request that claimed it.

    Args:
        ttl: how long the key is kept; an expired row is replaced as if it were absent.
    Returns:
        ``Reservation(record_id=...)`` when a new 'running' row was inserted (flushed, not committed),
        or ``Reservation(replay=...)`` when the same request already completed.
    Raises:
        Conflict: the earlier request with this key is still running.
        ValidationFailed: the key was used with a different method, path or body.
    """
    now = now or utcnow()
    mine = (IdempotencyRecord.user_id == user_id) & (IdempotencyRecord.key == key)
    for _ in range(3):  # a row released or replaced between our insert and our read: try again
        record = IdempotencyRecord(user_id=user_id, key=key, method=method, path=path[:2000],
                                   request_hash=request_hash, status=RUNNING, created_at=now, expires_at=now + ttl)
        try:
            with session.begin_nested():
                session.add(record)
                session.flush()
        except IntegrityError:
            pass  # the unique (user_id, key) constraint: someone holds it
        else:
            return Reservation(record_id=record.id)
        existing = session.scalars(select(IdempotencyRecord).where(mine)
                                   .execution_options(populate_existing=True)).one_or_none()
        if existing is None:
            continue
        if existing.expires_at <= now:
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == existing.id,
                                                            IdempotencyRecord.expires_at <= now)
                            .execution_options(synchronize_session=False))
            session.expunge(existing)
            continue
        if existing.status == RUNNING:
            raise Conflict(STILL_RUNNING, errors=_header_error(STILL_RUNNING))
        if existing.request_hash != request_hash:
            raise ValidationFailed(DIFFERENT_REQUEST, errors=_header_error(DIFFERENT_REQUEST))
        return Reservation(replay=StoredResponse(status=existing.response_status or 200,
                                                 body=existing.response_body or b"",
                                                 headers=dict(existing.response_headers or {})))
    raise Conflict(STILL_RUNNING, errors=_header_error(STILL_RUNNING))


def complete(*, session: Session, record_id: int, response: StoredResponse) -> bool:
    """Store the response of the request holding ``record_id`` and mark it done. False if the row is gone."""
    result = session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id, IdempotencyRecord.status == RUNNING)
        .values(status=DONE, response_status=response.status, response_body=response.body,
                response_headers=response.headers)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def release(*, session: Session, record_id: int) -> None:
    """Forget a reservation whose request failed (5xx or an exception), so the client may retry."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id,
                                                    IdempotencyRecord.status == RUNNING)
                    .execution_options(synchronize_session=False))


def purge_expired(*, session: Session, now: dt.datetime | None = None) -> int:
    """Delete expired keys (they are ignored and replaced anyway); returns how many went."""
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= (now or utcnow()))
                             .execution_options(synchronize_session=False))
    return result.rowcount
