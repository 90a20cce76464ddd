"""Notifications: an in-app list per user, and email.

``notify`` writes the in-app row and queues the email in the caller's
transaction; ``deliver_pending`` sends queued mail after commit, over SMTP
(``TRIAD_SMTP_URL``) or, when that is unset, as ``.eml`` files in ``var/outbox/``.
A failed send stays queued with its error and is retried next time.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from triad.audit.service import Actor, record
from triad.auth.models import User
from triad.config import Settings, get_settings
from triad.core.db import utcnow
from triad.notifications.models import Notification, OutboxEmail

MAX_ATTEMPTS = 5


def notify(*, session: Session, user: User, subject: str, body: str, link: str | None = None,
           email: bool = True) -> Notification:
    """Tell a user something: in the app, and by email unless ``email=False``."""
    note = Notification(user_id=user.id, subject=subject[:200], body=body, link=link)
    session.add(note)
    if email and user.email:
        session.add(OutboxEmail(to_addr=user.email, subject=subject[:200], body=body))
    session.flush()
    return note


def unread(*, session: Session, user: User, limit: int = 50) -> list[Notification]:
    stmt = (select(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .order_by(Notification.id.desc()).limit(limit))
    return list(session.scalars(stmt))


def mark_read(*, session: Session, user: User, notification_id: int) -> bool:
    note = session.get(Notification, notification_id)
    if note is None or note.user_id != user.id:
        return False
    if note.read_at is None:
        note.read_at = utcnow()
        record(session, actor=Actor.of(user), action="notification.read", entity_type="notification",
               entity_id=note.id, before={"read_at": None}, after={"read_at": note.read_at.isoformat()})
    return True


def _message(settings: Settings, mail: OutboxEmail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = mail.to_addr
    msg["Subject"] = mail.subject
    msg["Message-ID"] = make_msgid(idstring=f"triad-{mail.id}")
    msg.set_content(mail.body)
    return msg


def _send_smtp(url: str, messages: list[EmailMessage]) -> None:
    u = urlparse(url)
    if u.scheme not in ("smtp", "smtps", "smtp+starttls"):
        raise ValueError(f"TRIAD_SMTP_URL must start with smtp://, smtps:// or smtp+starttls://, got {u.scheme}://")
    cls = smtplib.SMTP_SSL if u.scheme == "smtps" else smtplib.SMTP
    with cls(u.hostname or "localhost", u.port or (465 if u.scheme == "smtps" else 25), timeout=30) as smtp:
        if u.scheme == "smtp+starttls":
            smtp.starttls()
        if u.username:
            smtp.login(unquote(u.username), unquote(u.password or ""))
        for msg in messages:
            smtp.send_message(msg)


def deliver_pending(*, session: Session, settings: Settings | None = None, limit: int = 200) -> int:
    """Send queued mail; returns how many were sent. The caller commits."""
    settings = settings or get_settings()
    pending = list(session.scalars(
        select(OutboxEmail).where(OutboxEmail.sent_at.is_(None), OutboxEmail.attempts < MAX_ATTEMPTS)
        .order_by(OutboxEmail.id).limit(limit)
    ))
    sent = 0
    for mail in pending:
        mail.attempts += 1
        try:
            msg = _message(settings, mail)
            if settings.smtp_url:
                _send_smtp(settings.smtp_url, [msg])
            else:
                settings.outbox_dir.mkdir(parents=True, exist_ok=True)
                (settings.outbox_dir / f"{mail.id:08d}.eml").write_bytes(bytes(msg))
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            mail.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            continue
        mail.sent_at = utcnow()
        mail.last_error = None
        sent += 1
    return sent
