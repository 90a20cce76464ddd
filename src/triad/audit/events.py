"""One function per kind of audit event (DESIGN.md §3.6)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from triad.audit.service import Actor, record, snapshot


def _etype(obj: Any) -> str:
    return obj.__tablename__


def created(session: Session, *, actor: Actor, obj: Any, reason: str | None = None) -> None:
    session.flush()
    record(session, actor=actor, action=f"{_etype(obj)}.created", entity_type=_etype(obj),
           entity_id=obj.id, after=snapshot(obj), reason=reason)


def updated(session: Session, *, actor: Actor, obj: Any, before: dict[str, Any],
            reason: str | None = None) -> None:
    session.flush()
    after = snapshot(obj)
    changed = {k for k in after if after.get(k) != before.get(k)}
    record(session, actor=actor, action=f"{_etype(obj)}.updated", entity_type=_etype(obj),
           entity_id=obj.id, before={k: before.get(k) for k in sorted(changed)},
           after={k: after[k] for k in sorted(changed)}, reason=reason)


def login(session: Session, *, user: Any, ip: str | None) -> None:
    record(session, actor=Actor.of(user), action="user.login", entity_type="user_account",
           entity_id=user.id, after={"ip": ip})


def login_failed(session: Session, *, user: Any, ip: str | None) -> None:
    record(session, actor=Actor("anonymous"), action="user.login_failed", entity_type="user_account",
           entity_id=user.id, after={"ip": ip, "failed_logins": user.failed_logins})


def logout(session: Session, *, user: Any) -> None:
    record(session, actor=Actor.of(user), action="user.logout", entity_type="user_account",
           entity_id=user.id)


def api_token_created(session: Session, *, actor: Actor, token: Any) -> None:
    record(session, actor=actor, action="api_token.created", entity_type="api_token",
           entity_id=token.id, after={"name": token.name, "prefix": token.prefix, "user_id": token.user_id})
