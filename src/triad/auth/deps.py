"""FastAPI dependencies: the database session, the current user, permission checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from triad.auth import service
from triad.auth.models import User
from triad.core.errors import NotAuthenticated, PermissionDenied
from triad.core.permissions import Perm, has

SESSION_COOKIE = "triad_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_db(request: Request) -> Iterator[Session]:
    """One session per request. Routes commit explicitly; anything uncommitted is rolled back."""
    session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


DbSession = Annotated[Session, Depends(get_db)]


def current_user(request: Request, session: DbSession) -> User:
    """The caller: a Bearer API token, or a web session cookie (with X-CSRF-Token on unsafe methods)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        user = service.resolve_api_token(session=session, token=auth[7:].strip())
        if user is None:
            raise NotAuthenticated("invalid, expired or revoked API token")
        _save_touch(session)
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        ws = service.resolve_session(session=session, token=cookie)
        _save_touch(session)
        if ws is not None:
            if request.method not in SAFE_METHODS and not service.check_csrf(
                cookie, request.headers.get("x-csrf-token")
            ):
                raise PermissionDenied("missing or wrong X-CSRF-Token header")
            return ws.user
    raise NotAuthenticated("log in or send an API token (Authorization: Bearer …)")


def _save_touch(session: Session) -> None:
    """Persist last-seen/last-used stamps (and expiries) before the route's own work starts."""
    if session.dirty:
        session.commit()


CurrentUser = Annotated[User, Depends(current_user)]


def require(perm: Perm):
    """Route dependency: the current user, if their role holds ``perm``."""

    def _dep(user: CurrentUser) -> User:
        if not has(user.role, perm):
            raise PermissionDenied(f"your role ({user.role}) lacks the permission {perm.value}")
        return user

    return Depends(_dep)
