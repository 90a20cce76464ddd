"""The audit trail is hash-chained and append-only; verify finds edits and deletions."""

import pytest
import sqlalchemy as sa

from triad.audit.models import AuditEvent
from triad.audit.service import Actor, record, verify


def _events(db, n=5):
    start = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0
    for i in range(n):
        record(db, actor=Actor("tester", 7), action="thing.updated", entity_type="thing", entity_id=i,
               before={"amount": "1.00"}, after={"amount": f"{i}.00"}, reason="test")
    db.flush()
    return start


def _disable_guard(db):
    if db.bind.dialect.name == "sqlite":
        db.execute(sa.text("DROP TRIGGER audit_event_no_update"))
        db.execute(sa.text("DROP TRIGGER audit_event_no_delete"))
    else:
        db.execute(sa.text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))


def test_intact_chain_verifies(db):
    _events(db)
    result = verify(db)
    assert result.ok, result.problem
    assert result.checked >= 5


def test_update_and_delete_are_refused_by_the_database(db):
    _events(db, 2)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.begin_nested():
        db.execute(sa.text("UPDATE audit_event SET reason = 'x'"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.begin_nested():
        db.execute(sa.text("DELETE FROM audit_event"))


def test_edited_event_is_detected(db):
    _events(db)
    seq = db.scalar(sa.select(sa.func.max(AuditEvent.seq))) - 2
    _disable_guard(db)
    db.execute(sa.text("UPDATE audit_event SET reason = 'covered up' WHERE seq = :s"), {"s": seq})
    db.expire_all()
    result = verify(db)
    assert not result.ok
    assert result.first_bad_seq == seq
    assert "altered" in result.problem


def test_deleted_event_is_detected(db):
    _events(db)
    seq = db.scalar(sa.select(sa.func.max(AuditEvent.seq))) - 2
    _disable_guard(db)
    db.execute(sa.text("DELETE FROM audit_event WHERE seq = :s"), {"s": seq})
    db.expire_all()
    result = verify(db)
    assert not result.ok
    assert result.first_bad_seq == seq
    assert "missing" in result.problem


def test_deleted_last_event_is_detected(db):
    _events(db)
    last = db.scalar(sa.select(sa.func.max(AuditEvent.seq)))
    _disable_guard(db)
    db.execute(sa.text("DELETE FROM audit_event WHERE seq = :s"), {"s": last})
    db.expire_all()
    result = verify(db)
    assert not result.ok
    assert result.first_bad_seq == last


def test_cli_verify_exit_codes(cli_db):
    """`triad audit verify` on its own database: 0 when intact, 1 naming the event when altered."""
    from triad.cli import app

    runner, core_db = cli_db
    with core_db.transaction() as s:
        _events(s, 4)
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    with core_db.transaction() as s:
        _disable_guard(s)
        s.execute(sa.text("UPDATE audit_event SET after = '{\"amount\": \"999.00\"}' WHERE seq = 3"))
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "event 3" in bad.output


def test_record_many_continues_the_chain(db):
    from triad.audit.service import record_many

    _events(db, 2)
    n = record_many(db, actor=Actor("bulk"), events=[
        {"action": "invoice.submitted", "entity_type": "invoice", "entity_id": i, "after": {"total": f"{i}.50"}}
        for i in range(5)])
    _events(db, 1)
    assert n == 5
    assert verify(db).ok
    seqs = list(db.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, len(seqs) + 1))
