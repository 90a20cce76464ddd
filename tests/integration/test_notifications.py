"""Notifications in the app and by email over a real local SMTP server."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from tests.factories import world as factories
from triad.config import Settings
from triad.core.permissions import Role
from triad.notifications.models import OutboxEmail
from triad.notifications.service import deliver_pending, mark_read, notify, unread


class Inbox(Message):
    def __init__(self):
        super().__init__()
        self.messages = []

    def handle_message(self, message):
        self.messages.append(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    ctl.start()
    yield ctl, inbox
    ctl.stop()


def test_notify_sends_mail_over_smtp(db, smtp, tmp_path):
    ctl, inbox = smtp
    u = factories.user(db, Role.finance_ap)
    note = notify(session=db, user=u, subject="AP sync failed", body="Batch 12 was rejected.")
    assert [n.id for n in unread(session=db, user=u)] == [note.id]
    settings = Settings(smtp_url=f"smtp://127.0.0.1:{ctl.port}", mail_from="triad@test.example", var_dir=tmp_path)
    assert deliver_pending(session=db, settings=settings) == 1
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"] == "AP sync failed"
    assert msg["To"] == u.email
    assert "Batch 12" in msg.get_payload()
    # sent mail is not sent again
    assert deliver_pending(session=db, settings=settings) == 0
    assert len(inbox.messages) == 1
    assert mark_read(session=db, user=u, notification_id=note.id)
    assert unread(session=db, user=u) == []


def test_failed_send_stays_queued(db, tmp_path):
    u = factories.user(db, Role.legal_ops)
    notify(session=db, user=u, subject="Key date", body="Renewal notice due.")
    dead = Settings(smtp_url=f"smtp://127.0.0.1:{_free_port()}", var_dir=tmp_path)
    assert deliver_pending(session=db, settings=dead) == 0
    mail = db.query(OutboxEmail).filter_by(to_addr=u.email).one()
    assert mail.sent_at is None and mail.attempts == 1 and "Error" in mail.last_error


def test_without_smtp_mail_goes_to_outbox_dir(db, tmp_path):
    u = factories.user(db, Role.legal_ops)
    notify(session=db, user=u, subject="Budget at 75%", body="Matter M-1 reached 75% of budget.")
    settings = Settings(smtp_url=None, var_dir=tmp_path)
    assert deliver_pending(session=db, settings=settings) == 1
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    assert "Budget at 75%" in files[0].read_text()


def test_other_users_notifications_cannot_be_marked(db):
    a = factories.user(db, Role.legal_ops)
    b = factories.user(db, Role.legal_ops)
    note = notify(session=db, user=a, subject="s", body="b", email=False)
    assert not mark_read(session=db, user=b, notification_id=note.id)
