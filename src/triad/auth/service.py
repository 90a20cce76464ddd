"""Users, passwords (argon2id), web sessions, API tokens and login throttling."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triad.audit import events
from triad.audit.service import Actor, snapshot
from triad.auth.models import ApiToken, User, WebSession
from triad.auth.schemas import UserCreate, UserUpdate
from triad.config import get_settings
from triad.core.db import utcnow
from triad.core.errors import Conflict, ValidationFailed
from triad.core.permissions import Role
from triad.firms.models import LawFirm

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- users


def create_user(*, session: Session, data: UserCreate, actor: Actor) -> User:
    """Create a user. Args: data (validated), actor (who). Returns the new user."""
    if session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise Conflict(f"username {data.username!r} is taken")
    if data.firm_id is not None and session.get(LawFirm, data.firm_id) is None:
        raise ValidationFailed(f"law firm {data.firm_id} does not exist",
                               errors=[{"field": "firm_id", "message": "unknown law firm"}])
    user = User(
        username=data.username, email=str(data.email), full_name=data.full_name, role=data.role.value,
        firm_id=data.firm_id, password_hash=hash_password(data.password), is_active=data.is_active,
    )
    session.add(user)
    events.created(session, actor=actor, obj=user)
    return user


def update_user(*, session: Session, user: User, data: UserUpdate, actor: Actor) -> User:
    before = snapshot(user)
    fields = data.model_dump(exclude_unset=True)
    password = fields.pop("password", None)
    for key, value in fields.items():
        if value is None and key in ("email", "full_name", "is_active"):
            raise ValidationFailed(f"{key} cannot be empty", errors=[{"field": key, "message": "required"}])
        setattr(user, key, str(value) if key == "email" else value)
    if password:
        user.password_hash = hash_password(password)
        # A password change ends every open session and revokes every API token of that user.
        session.execute(
            update(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
        session.execute(
            update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    events.updated(session, actor=actor, obj=user, before=before,
                   reason="password changed" if password else None)
    return user


# ---------------------------------------------------------------- login and throttling


@dataclass
class LoginResult:
    user: User | None
    error: str | None = None
    retry_after: int = 0


class _IpThrottle:
    """Failed attempts per client address (covers unknown usernames). In-process, bounded."""

    def __init__(self, max_entries: int = 10_000):
        self._lock = threading.Lock()
        self._fails: dict[str, tuple[int, float]] = {}
        self._max = max_entries

    def wait(self, key: str, free: int | None = None) -> int:
        """Seconds ``key`` must still wait. Failures are forgotten after a quiet spell of the
        maximum delay; a successful login does not reset them (so one good account cannot be
        used to clear the counter between guesses at others)."""
        s = get_settings()
        free = s.login_free_failures * 3 if free is None else free
        with self._lock:
            count, last = self._fails.get(key, (0, 0.0))
            if count and time.monotonic() - last > s.login_max_delay_seconds:
                self._fails.pop(key, None)
                return 0
        over = count - free
        if over <= 0:
            return 0
        delay = min(2 ** over, s.login_max_delay_seconds)
        return max(0, int(last + delay - time.monotonic()) + 1)

    def fail(self, ip: str) -> None:
        with self._lock:
            if len(self._fails) >= self._max:
                self._fails.clear()
            count, _ = self._fails.get(ip, (0, 0.0))
            self._fails[ip] = (count + 1, time.monotonic())

    def clear(self) -> None:
        with self._lock:
            self._fails.clear()


ip_throttle = _IpThrottle()
unknown_names = _IpThrottle()  # failures against usernames that do not exist, treated like real accounts


LOCKED_MESSAGE = "Too many failed attempts. Try again later."


def authenticate(*, session: Session, username: str, password: str, ip: str | None) -> LoginResult:
    """Check a username and password; slow down repeated failures.

    After ``login_free_failures`` failures an account must wait 2, 4, 8 ...
    seconds (capped) before the next attempt is even checked. The caller commits
    whatever the result, so failure counts persist.
    """
    s = get_settings()
    ip_key = ip or "?"
    now = utcnow()
    wait = ip_throttle.wait(ip_key)
    if wait:
        return LoginResult(None, LOCKED_MESSAGE, wait)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        # Same work and the same answers as for a real account, so probing reveals nothing.
        name_key = username.strip().lower()[:100]
        wait = unknown_names.wait(name_key, free=s.login_free_failures)
        if wait:
            return LoginResult(None, LOCKED_MESSAGE, wait)
        verify_password(_DUMMY_HASH, password)
        ip_throttle.fail(ip_key)
        unknown_names.fail(name_key)
        return LoginResult(None, "Unknown username or wrong password.")
    if user.locked_until and user.locked_until > now:
        retry = int((user.locked_until - now).total_seconds()) + 1
        return LoginResult(None, LOCKED_MESSAGE, retry)
    if not verify_password(user.password_hash, password) or not user.is_active:
        # Atomic increment: parallel failures all count, and the lock follows from the stored count.
        failed = session.execute(
            update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
        ).scalar_one()
        over = failed - s.login_free_failures
        if over > 0:
            locked = now + dt.timedelta(seconds=min(2**over, s.login_max_delay_seconds))
            session.execute(update(User).where(User.id == user.id).values(locked_until=locked))
        session.expire(user, ["failed_logins", "locked_until"])
        ip_throttle.fail(ip_key)
        events.login_failed(session, user=user, ip=ip)
        return LoginResult(None, "Unknown username or wrong password.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return LoginResult(user)


# ---------------------------------------------------------------- web sessions


def start_session(*, session: Session, user: User, ip: str | None = None) -> str:
    """Open a server-side session with a new random token; returns the token (cookie value)."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=token_digest(token), user_id=user.id))
    events.login(session, user=user, ip=ip)
    return token


def resolve_session(*, session: Session, token: str) -> WebSession | None:
    """The live session for a cookie token, or None if unknown, ended, idle or too old."""
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == token_digest(token)))
    if ws is None or ws.ended_at is not None:
        return None
    s = get_settings()
    now = utcnow()
    if now - ws.last_seen_at > dt.timedelta(minutes=s.session_idle_minutes) or now - ws.created_at > (
        dt.timedelta(hours=s.session_absolute_hours)
    ):
        ws.ended_at = now
        return None
    if not ws.user.is_active:
        return None
    if now - ws.last_seen_at > dt.timedelta(seconds=30):  # avoid a write on every request
        ws.last_seen_at = now
    return ws


def end_session(*, session: Session, ws: WebSession) -> None:
    ws.ended_at = utcnow()
    events.logout(session, user=ws.user)


def csrf_token(session_token: str) -> str:
    """CSRF token bound to a session (or pre-login nonce) and the server secret."""
    key = get_settings().resolved_secret_key.encode()
    return hmac.new(key, b"csrf|" + session_token.encode(), hashlib.sha256).hexdigest()


def check_csrf(session_token: str | None, submitted: str | None) -> bool:
    if not session_token or not submitted:
        return False
    return hmac.compare_digest(csrf_token(session_token), submitted)


# ---------------------------------------------------------------- API tokens


def create_api_token(
    *, session: Session, user: User, name: str, expires_in_days: int | None, actor: Actor
) -> tuple[ApiToken, str]:
    """Create an API token for ``user``. Returns the row and the plaintext (shown once)."""
    plain = "triad_" + secrets.token_urlsafe(32)
    tok = ApiToken(
        user_id=user.id, name=name, prefix=plain[:12], token_hash=token_digest(plain),
        expires_at=utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(tok)
    session.flush()
    events.api_token_created(session, actor=actor, token=tok)
    return tok, plain


def resolve_api_token(*, session: Session, token: str) -> User | None:
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    now = utcnow()
    if tok is None or tok.revoked_at is not None or (tok.expires_at and tok.expires_at < now):
        return None
    if not tok.user.is_active:
        return None
    if tok.last_used_at is None or now - tok.last_used_at > dt.timedelta(minutes=1):
        tok.last_used_at = now
    return tok.user


def is_outside_counsel(user: User) -> bool:
    return user.role == Role.outside_counsel
