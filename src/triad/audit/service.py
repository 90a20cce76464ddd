"""Writing and verifying the audit trail.

Every change to money, vendor status, approvals, guidelines and contracts is
recorded here in the same transaction as the change (the caller commits).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Text, cast, insert, inspect, select, type_coerce, update
from sqlalchemy.orm import Session

from triad.audit.models import GENESIS, AuditEvent, AuditHead
from triad.core.db import json_dumps, json_dumps_large, utcnow

# Columns never copied into the trail.
SECRET_COLUMNS = {"password_hash", "token_hash"}


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, or a named system process (``system:demo``, ``cli``)."""

    label: str
    user_id: int | None = None

    @classmethod
    def of(cls, user: Any) -> Actor:
        return cls(label=user.username, user_id=user.id)


SYSTEM = Actor("system")


def snapshot(obj: Any) -> dict[str, Any]:
    """Column values of an ORM object, JSON-ready (Decimals and dates as text)."""
    mapper = inspect(obj).mapper
    data = {
        c.key: getattr(obj, c.key)
        for c in mapper.column_attrs
        if c.key not in SECRET_COLUMNS and c.key not in ("created_at", "updated_at")
    }
    return _canonical(data)


def _canonical(value: Any) -> Any:
    return None if value is None else json.loads(json_dumps(value))


def _timestamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _is_plain(value: Any) -> bool:
    """Already what ``_canonical`` would return: str/int/bool/None, lists and str-keyed dicts of them."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return True
    if t is dict:
        return all(type(k) is str and _is_plain(v) for k, v in value.items())
    if t is list:
        return all(_is_plain(v) for v in value)
    return False


def compute_hash(prev_hash: str, *, seq: int, at: dt.datetime | str, actor: str, actor_id: int | None,
                 action: str, entity_type: str, entity_id: str | None, before: Any, after: Any,
                 reason: str | None) -> str:
    """``at``: the event time, or its ``_timestamp`` text when the caller formatted it once for many events."""
    payload = json_dumps(
        {
            "seq": seq,
            "at": at if isinstance(at, str) else _timestamp(at),
            "actor": actor,
            "actor_id": actor_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "before": before,
            "after": after,
            "reason": reason,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


def _bump_head(session: Session, count: int) -> tuple[int, str]:
    """Reserve ``count`` sequence numbers: the head row is bumped first (UPDATE ... RETURNING), which takes the
    write lock on both SQLite and PostgreSQL, so concurrent writers queue up instead of forking the chain.
    Returns the new last seq and the hash the next event links to."""
    row = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(last_seq=AuditHead.last_seq + count)
        .returning(AuditHead.last_seq, AuditHead.last_hash)
    ).one_or_none()
    if row is None:
        raise RuntimeError("audit_head is missing: run `triad db upgrade`")
    return row[0], row[1]


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction.

    The head row is bumped first (UPDATE ... RETURNING), which takes the write
    lock on both SQLite and PostgreSQL, so concurrent writers queue up instead
    of forking the chain.
    """
    seq, prev_hash = _bump_head(session, 1)
    at = utcnow()
    before_c, after_c = _canonical(before), _canonical(after)
    eid = None if entity_id is None else str(entity_id)
    digest = compute_hash(
        prev_hash, seq=seq, at=at, actor=actor.label, actor_id=actor.user_id, action=action,
        entity_type=entity_type, entity_id=eid, before=before_c, after=after_c, reason=reason,
    )
    event = AuditEvent(
        seq=seq, at=at, actor=actor.label, actor_id=actor.user_id, action=action,
        entity_type=entity_type, entity_id=eid, before=before_c, after=after_c, reason=reason,
        prev_hash=prev_hash, hash=digest,
    )
    session.add(event)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=digest))
    session.flush()
    return event


def compute_hash_dumped(prev_hash: str, *, seq: int, at: str, actor: str, actor_id: int | None, action: str,
                        entity_type: str, entity_id: str | None, before_text: str, after_text: str,
                        reason: str | None) -> str:
    """``compute_hash`` for ``before`` and ``after`` given as their ``json_dumps`` text (``at`` as ``_timestamp``
    text): the payload is the same text (keys sorted, compact), built around the two texts instead of
    serialising them again. tests/unit/test_audit_dumped.py holds it equal to ``compute_hash``."""
    fields = {"action": json_dumps(action), "actor": json_dumps(actor), "actor_id": json_dumps(actor_id),
              "after": after_text, "at": json_dumps(at), "before": before_text, "entity_id": json_dumps(entity_id),
              "entity_type": json_dumps(entity_type), "reason": json_dumps(reason), "seq": json_dumps(seq)}
    # the hash of f"{prev_hash}\n{payload}" with payload "{" + ",".join(f"{key}:{value}") + "}", fed in pieces:
    # a large text (an import's 25 MB event) is encoded once instead of copied into each concatenation
    digest = hashlib.sha256(f"{prev_hash}\n{{".encode())
    small = []
    for n, (k, v) in enumerate(sorted(fields.items())):
        small.append(("," if n else "") + json_dumps(k) + ":")
        if len(v) > 4096:
            digest.update("".join(small).encode())
            digest.update(v.encode())
            small = []
        else:
            small.append(v)
    digest.update(("".join(small) + "}").encode())
    return digest.hexdigest()


def record_large(session: Session, *, actor: Actor, action: str, entity_type: str, entity_id: Any = None,
                 after: dict[str, Any], reason: str | None = None) -> int:
    """``record`` for one large event (an import file naming every record it changed), serialised once:
    ``record_json`` of ``json_dumps(after)``. ``record`` stores ``json.loads(json_dumps(after))``, whose
    text is the same for data with string keys (the only kind an event holds). The text is made by
    ``json_dumps_large`` (the same text, faster; no floats). Returns the event's ``seq``."""
    return record_json(session, actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
                       after_json=json_dumps_large(after), reason=reason)


def record_json(session: Session, *, actor: Actor, action: str, entity_type: str, entity_id: Any = None,
                after_json: str, reason: str | None = None) -> int:
    """``record`` for an event whose ``after`` the caller gives as canonical JSON text already (exactly what
    ``json_dumps`` makes of it: sorted keys, no spaces, ASCII escapes), built once for a large payload such as
    a whole AP batch, payment file or vendor import (decisions 0027, 0028). The text is both hashed
    (``compute_hash_dumped``) and stored (bypassing the column's own serialiser), so the stored event, its
    hash and the chain are exactly what ``record(..., after=json.loads(after_json))`` writes. No ORM object
    is created. Returns the event's ``seq``."""
    seq, prev_hash = _bump_head(session, 1)
    at = utcnow()
    eid = None if entity_id is None else str(entity_id)
    digest = compute_hash_dumped(prev_hash, seq=seq, at=_timestamp(at), actor=actor.label, actor_id=actor.user_id,
                                 action=action, entity_type=entity_type, entity_id=eid, before_text="null",
                                 after_text=after_json, reason=reason)
    session.execute(insert(AuditEvent.__table__).values(
        seq=seq, at=at, actor=actor.label, actor_id=actor.user_id, action=action, entity_type=entity_type,
        entity_id=eid, before=None, after=_json_text(session, after_json), reason=reason, prev_hash=prev_hash,
        hash=digest))
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=digest))
    return seq


def _json_text(session: Session, text: str) -> Any:
    """A bound JSON text stored as it is: PostgreSQL casts it to the json column's type (which keeps the text);
    SQLite stores the text (a CAST there would apply numeric affinity)."""
    bound = type_coerce(text, Text)
    return cast(bound, JSON) if session.get_bind().dialect.name == "postgresql" else bound


def record_many(session: Session, *, actor: Actor, events: list[dict[str, Any]]) -> int:
    """Append several events at once (bulk intake): one head bump, one multi-row insert.

    Each item has the keyword arguments of ``record`` except ``actor``. The chain is exactly
    what calling ``record`` for each item in order would have written.
    """
    if not events:
        return 0
    last_seq, prev_hash = _bump_head(session, len(events))
    seq = last_seq - len(events)
    at = utcnow()
    at_text = _timestamp(at)
    rows = []
    for ev in events:
        seq += 1
        # plain JSON values are inserted as they are (the rows are written right here, nothing keeps them)
        before_c, after_c = ((v if _is_plain(v) else _canonical(v)) for v in (ev.get("before"), ev.get("after")))
        eid = None if ev.get("entity_id") is None else str(ev["entity_id"])
        digest = compute_hash(prev_hash, seq=seq, at=at_text, actor=actor.label, actor_id=actor.user_id,
                              action=ev["action"], entity_type=ev["entity_type"], entity_id=eid, before=before_c,
                              after=after_c, reason=ev.get("reason"))
        rows.append({"seq": seq, "at": at, "actor": actor.label, "actor_id": actor.user_id, "action": ev["action"],
                     "entity_type": ev["entity_type"], "entity_id": eid, "before": before_c, "after": after_c,
                     "reason": ev.get("reason"), "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    session.execute(insert(AuditEvent.__table__), rows)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev_hash))
    return len(rows)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(session: Session) -> VerifyResult:
    """Walk the chain in order; report the first event that was altered or removed."""
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    stmt = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)
    for ev in session.scalars(stmt):
        if ev.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, f"event {expected_seq} is missing")
        if ev.prev_hash != prev_hash:
            return VerifyResult(False, checked, ev.seq, f"event {ev.seq} does not link to event {ev.seq - 1}")
        digest = compute_hash(
            ev.prev_hash, seq=ev.seq, at=ev.at, actor=ev.actor, actor_id=ev.actor_id, action=ev.action,
            entity_type=ev.entity_type, entity_id=ev.entity_id, before=ev.before, after=ev.after,
            reason=ev.reason,
        )
        if digest != ev.hash:
            return VerifyResult(False, checked, ev.seq, f"event {ev.seq} was altered (hash mismatch)")
        prev_hash = ev.hash
        expected_seq += 1
        checked += 1
    head = session.get(AuditHead, 1)
    if head is None:
        return VerifyResult(False, checked, None, "audit_head row is missing")
    if head.last_seq != expected_seq - 1 or head.last_hash != prev_hash:
        return VerifyResult(
            False, checked, expected_seq,
            f"the chain ends at event {expected_seq - 1} but the head records event {head.last_seq}: "
            f"event {expected_seq} onwards was removed",
        )
    return VerifyResult(True, checked)
