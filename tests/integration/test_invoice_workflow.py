"""Invoice states follow the declared table; guideline auto-actions are applied at submission."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.audit.models import AuditEvent
from triad.audit.service import Actor
from triad.core.errors import Conflict, ValidationFailed
from triad.guidelines.service import load
from triad.invoices.intake import import_file
from triad.invoices.models import Invoice, InvoiceLine, InvoiceStateChange
from triad.invoices.service import transition
from triad.invoices.states import TRANSITIONS, State

ACTOR = Actor("reviewer", 1)


@pytest.fixture
def w(db):
    return factories.world(db)


def events(db):
    return db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def test_table_allows_only_declared_moves(db, w):
    inv = w.a.invoice
    with pytest.raises(Conflict, match="can move to"):
        transition(session=db, invoice=inv, to="paid", actor=ACTOR)
    with pytest.raises(ValidationFailed, match="needs a reason"):
        transition(session=db, invoice=inv, to="rejected", actor=ACTOR)
    n = events(db)
    transition(session=db, invoice=inv, to="in_review", actor=ACTOR)
    transition(session=db, invoice=inv, to="rejected", actor=ACTOR, reason="rates above caps")
    transition(session=db, invoice=inv, to="appealed", actor=ACTOR, reason="caps were waived in writing")
    assert events(db) == n + 3
    moves = db.scalars(sa.select(InvoiceStateChange).where(InvoiceStateChange.invoice_id == inv.id)
                       .order_by(InvoiceStateChange.id)).all()
    assert [(m.from_state, m.to_state) for m in moves] == [("submitted", "in_review"), ("in_review", "rejected"),
                                                           ("rejected", "appealed")]
    assert moves[1].reason == "rates above caps" and moves[1].actor == "reviewer"


def test_every_state_is_reachable_and_final_states_are_final():
    reachable = {State.submitted}
    frontier = [State.submitted]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(State)
    assert TRANSITIONS[State.withdrawn] == frozenset()
    # paid is final except for a payment reversal reported by the bank or AP system
    assert TRANSITIONS[State.paid] == {State.partially_paid, State.sent_to_ap}


GUIDE = """name: auto
rules:
  rate_cap: {action: reduce, severity: reject-line, by_classification: {ASSOC: 400.00}}
  currency: {action: reject_invoice, severity: reject-invoice}
"""


def test_reduce_to_cap_at_submission(db, w):
    load(session=db, text=GUIDE, effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    n = events(db)
    r = import_file(session=db, data=factories.ledes_file(w.a, "AUTO-1"), filename="a.ledes", actor=ACTOR)
    (o,) = r.invoices
    assert o.auto_actions == [{"line": 1, "decision": "adjusted", "rule": "rate_cap", "billed": "900.00",
                               "approved": "800.000"}]
    line = db.scalars(sa.select(InvoiceLine).where(InvoiceLine.invoice_id == o.invoice_id)).one()
    assert line.decision == "adjusted" and line.approved_total == Decimal("800") and line.total == Decimal("900")
    assert line.decided_by == "system:guidelines" and line.reason_code == "rate_cap"
    assert events(db) == n + 1  # the submission's one event records the auto-action
    ev = db.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert ev.after["auto_actions"][0]["approved"] == "800.000"


def test_wrong_currency_rejects_the_invoice_at_submission(db, w):
    load(session=db, text=GUIDE, effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    from triad.ledes import parse
    from triad.ledes.writers import convert

    w.a.engagement.currency = "EUR"
    db.flush()
    invs, _ = parse(factories.ledes_file(w.a, "AUTO-2"))
    r = import_file(session=db, data=convert(invs, "98bi", currency="USD"), filename="a.ledes", actor=ACTOR)
    (o,) = r.invoices
    assert o.state == "rejected"
    inv = db.get(Invoice, o.invoice_id)
    assert inv.state == "rejected" and inv.currency == "USD"
    assert o.auto_actions[-1]["decision"] == "invoice rejected"
    move = db.scalars(sa.select(InvoiceStateChange).where(InvoiceStateChange.invoice_id == inv.id)).one()
    assert (move.from_state, move.to_state, move.actor) == ("submitted", "rejected", "system:guidelines")
    assert "invoiced in USD; the engagement is billed in EUR" in move.reason


def _h(w, who):
    return {"Authorization": f"Bearer {w.tokens[who]}"}


def test_review_through_the_api(client, db, w):
    inv = w.a.invoice.id
    url = f"/api/v1/invoices/{inv}"
    assert client.post(f"{url}/transitions", headers=_h(w, "counsel_a"), json={"to": "approved"}).status_code == 403
    r = client.post(f"{url}/lines/1/decision", headers=_h(w, "legal_ops"), json={"decision": "accepted"})
    assert r.status_code == 409  # lines are decided while the invoice is in review
    assert client.post(f"{url}/transitions", headers=_h(w, "legal_ops"), json={"to": "in_review"}).status_code == 200
    bad = client.post(f"{url}/lines/1/decision", headers=_h(w, "legal_ops"),
                      json={"decision": "adjusted", "approved_total": "5000.00", "reason_code": "RATE"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "approved_total"
    ok = client.post(f"{url}/lines/1/decision", headers=_h(w, "legal_ops"),
                     json={"decision": "adjusted", "approved_total": "800.00", "reason_code": "RATE",
                           "comment": "paid at the 2026 cap"})
    assert ok.status_code == 200
    line = ok.json()["lines"][0]
    assert (line["decision"], line["approved_total"], line["reason_code"]) == ("adjusted", "800", "RATE")
    assert client.post(f"{url}/transitions", headers=_h(w, "legal_ops"),
                       json={"to": "rejected"}).status_code == 422  # a rejection needs a reason
    assert client.post(f"{url}/transitions", headers=_h(w, "legal_ops"),
                       json={"to": "rejected", "reason": "rates"}).status_code == 200
    appeal = client.post(f"{url}/transitions", headers=_h(w, "counsel_a"),
                         json={"to": "appealed", "reason": "the partner's rate was approved in March"})
    assert appeal.status_code == 200 and appeal.json()["state"] == "appealed"
    assert client.post(f"{url}/transitions", headers=_h(w, "counsel_b"),
                       json={"to": "withdrawn", "reason": "x"}).status_code == 404
    illegal = client.post(f"{url}/transitions", headers=_h(w, "legal_ops"), json={"to": "on_hold", "reason": "x"})
    assert illegal.status_code == 409 and "can move to" in illegal.json()["detail"]
    # the payment states move only through AP (export, confirmations, re-open), never by a reviewer
    paid = client.post(f"{url}/transitions", headers=_h(w, "legal_ops"), json={"to": "paid"})
    assert paid.status_code == 409 and "only through an AP export" in paid.json()["detail"]


def test_review_queue_puts_exceptions_first(db, w):
    from triad.invoices.service import review_queue

    load(session=db, text=GUIDE.replace("currency: {action: reject_invoice, severity: reject-invoice}", ""),
         effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    flagged = import_file(session=db, data=factories.ledes_file(w.a, "Q-1"), filename="q.ledes", actor=ACTOR)
    queue = review_queue(session=db, user=w.users["legal_ops"])
    ids = [inv.id for inv, _, _, _ in queue]
    assert ids[0] == flagged.invoices[0].invoice_id and queue[0][2] >= 1
    assert {w.a.invoice.id, w.b.invoice.id} <= set(ids)
    # a matter manager sees only the matters they manage
    w.a.matter.manager_id = w.users["matter_manager"].id
    db.flush()
    mine = {inv.id for inv, _, _, _ in review_queue(session=db, user=w.users["matter_manager"])}
    assert w.a.invoice.id in mine and w.b.invoice.id not in mine


def test_reduce_by_nothing_leaves_the_line_open(db, w):
    from triad.guidelines.model import Finding
    from triad.invoices.service import apply_auto_actions

    nothing = Finding(rule="approved_rate", severity="reject-line", message="no approved rate for TK1", line_no=1,
                      action="reduce", adjustment=Decimal(0))
    assert apply_auto_actions(session=db, invoice=w.a.invoice, line_totals={1: Decimal("900")},
                              findings=[nothing]) == []
    cut = Finding(rule="rate_cap", severity="reject-line", message="cap", line_no=1, action="reduce",
                  adjustment=Decimal("-100"))
    (done,) = apply_auto_actions(session=db, invoice=w.a.invoice, line_totals={1: Decimal("900")},
                                 findings=[nothing, cut])
    assert done["approved"] == "800" and done["rule"] == "rate_cap"
    db.expire_all()
    line = db.scalars(sa.select(InvoiceLine).where(InvoiceLine.invoice_id == w.a.invoice.id)).one()
    assert line.approved_total == Decimal("800") and line.decision == "adjusted"
