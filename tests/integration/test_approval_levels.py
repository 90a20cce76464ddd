"""Approval in levels by amount, the fallback approver, bulk approval of clean invoices, the review queue API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.audit.models import AuditEvent
from triad.audit.service import Actor
from triad.core.errors import Conflict, PermissionDenied
from triad.core.permissions import Role
from triad.fx.models import FXRate
from triad.guidelines.models import InvoiceFinding
from triad.invoices.approvals import approve, status
from triad.invoices.models import ApprovalLevel, InvoiceApproval, InvoiceStateChange
from triad.invoices.service import bulk_approve, decide_line, review_queue, transition

TODAY = dt.date(2026, 11, 26)
NOON = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen_clock(monkeypatch):
    """The approvals' clock stopped at noon on TODAY: a run that crosses midnight UTC (CI's PostgreSQL pass did,
    with TODAY taken at import) still sees "away through today" as today."""
    from triad.invoices import approvals

    monkeypatch.setattr(approvals, "utcnow", lambda: NOON)


@pytest.fixture
def w(db):
    return factories.world(db)


@pytest.fixture
def people(db):
    """A reviewer, a director (level approver), a deputy (the director's fallback) and a CFO."""
    return {k: factories.user(db, role) for k, role in (("reviewer", Role.matter_manager), ("director", Role.legal_ops),
                                                         ("deputy", Role.legal_ops), ("cfo", Role.admin))}


def _level(db, name, amount, approver, fallback=None, currency="USD"):
    lv = ApprovalLevel(name=name, min_amount=Decimal(amount), currency=currency, approver_id=approver.id,
                       fallback_approver_id=fallback.id if fallback else None)
    db.add(lv)
    db.flush()
    return lv


def _in_review(db, inv):
    transition(session=db, invoice=inv, to="in_review", actor=Actor("t"))
    return inv


def _events(db, inv, action):
    return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.entity_type == "invoice",
                                                       AuditEvent.entity_id == str(inv.id),
                                                       AuditEvent.action == action)))


def test_below_every_level_the_reviewer_approves_alone(db, w, people):
    _level(db, "Director", "900.01", people["director"])  # the invoice is 900.00
    inv = _in_review(db, w.a.invoice)
    assert approve(session=db, invoice=inv, user=people["reviewer"]) == ["review"]
    assert inv.state == "approved"
    assert _events(db, inv, "invoice.approved")[0].after["signed"] == ["review"]


def test_at_the_threshold_a_level_signs_after_the_reviewer(db, w, people):
    _level(db, "Director", "900.00", people["director"])  # exactly the invoice amount: the level applies
    _level(db, "CFO", "5000", people["cfo"])  # above it: not needed
    inv = _in_review(db, w.a.invoice)
    assert approve(session=db, invoice=inv, user=people["reviewer"]) == ["review"]
    assert inv.state == "in_review"
    st = status(session=db, invoice=inv)
    assert [s["step"] for s in st["steps"]] == ["review", "Director"] and not st["complete"]
    assert st["steps"][1]["waiting_for"] == [people["director"].username]
    with pytest.raises(PermissionDenied, match="'Director', to be signed by Test legal_ops"):
        approve(session=db, invoice=inv, user=people["reviewer"])
    with pytest.raises(PermissionDenied):
        approve(session=db, invoice=inv, user=people["cfo"])  # an admin is not the director
    assert approve(session=db, invoice=inv, user=people["director"]) == ["Director"]
    assert inv.state == "approved"
    signed = _events(db, inv, "invoice.approval_signed")
    assert len(signed) == 1 and signed[0].after["pending"] == ["Director"]
    done = _events(db, inv, "invoice.approved")[0]
    assert done.actor == people["director"].username and done.after["signed"] == ["Director"]


def test_one_person_signs_every_consecutive_step_they_hold(db, w, people):
    _level(db, "Director", "100", people["director"])
    _level(db, "Senior director", "500", people["director"])
    inv = _in_review(db, w.a.invoice)
    assert approve(session=db, invoice=inv, user=people["director"]) == ["review", "Director", "Senior director"]
    assert inv.state == "approved"


def test_fallback_signs_while_the_approver_is_away(db, w, people, frozen_clock):
    _level(db, "Director", "100", people["director"], fallback=people["deputy"])
    people["director"].away_until = TODAY  # away through today
    inv = _in_review(db, w.a.invoice)
    approve(session=db, invoice=inv, user=people["reviewer"])
    with pytest.raises(PermissionDenied, match="on behalf of Test legal_ops, who is away"):
        approve(session=db, invoice=inv, user=people["director"])  # away means away
    assert approve(session=db, invoice=inv, user=people["deputy"]) == ["Director"]
    sig = db.scalar(sa.select(InvoiceApproval).where(InvoiceApproval.invoice_id == inv.id,
                                                     InvoiceApproval.level_name == "Director"))
    assert sig.signed_by_id == people["deputy"].id and sig.on_behalf_of_id == people["director"].id
    assert inv.state == "approved"


def test_back_from_leave_the_approver_signs_again(db, w, people, frozen_clock):
    _level(db, "Director", "100", people["director"], fallback=people["deputy"])
    people["director"].away_until = TODAY - dt.timedelta(days=1)  # was away until yesterday
    inv = _in_review(db, w.a.invoice)
    approve(session=db, invoice=inv, user=people["reviewer"])
    with pytest.raises(PermissionDenied):
        approve(session=db, invoice=inv, user=people["deputy"])
    approve(session=db, invoice=inv, user=people["director"])
    assert inv.state == "approved"


def test_no_one_available_is_a_clear_conflict(db, w, people):
    _level(db, "Director", "100", people["director"])
    people["director"].is_active = False
    inv = _in_review(db, w.a.invoice)
    approve(session=db, invoice=inv, user=people["reviewer"])
    with pytest.raises(Conflict, match="is away and no fallback approver is available"):
        approve(session=db, invoice=inv, user=people["deputy"])


def test_a_line_decision_voids_the_signatures(db, w, people):
    _level(db, "Director", "100", people["director"])
    inv = _in_review(db, w.a.invoice)
    approve(session=db, invoice=inv, user=people["reviewer"])
    decide_line(session=db, invoice=inv, line_no=1, decision="adjusted", approved_total=Decimal("500.00"),
                reason_code="RATE", actor=Actor.of(people["reviewer"]))
    assert all(a.voided_at is not None for a in inv.approvals)
    assert status(session=db, invoice=inv)["amount"] == "500.00"
    # every step must be signed again for the new amount
    assert [s["signed"] for s in status(session=db, invoice=inv)["steps"]] == [False, False]
    assert approve(session=db, invoice=inv, user=people["reviewer"]) == ["review"]
    assert approve(session=db, invoice=inv, user=people["director"]) == ["Director"]
    live = [a for a in inv.approvals if a.voided_at is None]
    assert [(a.level_name, a.amount) for a in live] == [("review", Decimal("500.00")), ("Director", Decimal("500.00"))]


def test_level_in_another_currency_uses_the_invoice_date_rate(db, w, people):
    _level(db, "Director", "800", people["director"], currency="EUR")
    inv = _in_review(db, w.a.invoice)  # 900.00 USD dated 2026-10-01
    with pytest.raises(Conflict, match="no USD/EUR exchange rate"):
        approve(session=db, invoice=inv, user=people["reviewer"])
    # 1 EUR = 1.20 USD on the Friday before: 900 USD = 750.00 EUR, below the level
    db.add(FXRate(base="EUR", quote="USD", rate_date=dt.date(2026, 9, 25), rate=Decimal("1.20")))
    db.flush()
    assert approve(session=db, invoice=inv, user=people["reviewer"]) == ["review"] and inv.state == "approved"


def test_level_in_another_currency_applies_when_converted_amount_reaches_it(db, w, people):
    _level(db, "Director", "800", people["director"], currency="EUR")
    db.add(FXRate(base="USD", quote="EUR", rate_date=dt.date(2026, 10, 1), rate=Decimal("0.95")))  # 855.00 EUR
    db.flush()
    inv = _in_review(db, w.a.invoice)
    approve(session=db, invoice=inv, user=people["reviewer"])
    assert inv.state == "in_review"


def test_the_state_table_alone_cannot_approve(db, w):
    inv = _in_review(db, w.a.invoice)
    with pytest.raises(Conflict, match="signing its approval steps"):
        transition(session=db, invoice=inv, to="approved", actor=Actor("t"))


def test_bulk_approval_takes_only_clean_invoices(db, w, people):
    clean, flagged = w.a.invoice, w.b.invoice
    db.add(InvoiceFinding(invoice_id=flagged.id, line_no=1, rule="vague_description", severity="warning",
                          action="none", message="vague", adjustment=Decimal(0), currency="USD"))
    db.flush()
    db.refresh(flagged)
    out = bulk_approve(session=db, user=people["reviewer"], invoice_ids=[clean.id, flagged.id, 999_999])
    assert [(o["id"], o["outcome"]) for o in out] == [(clean.id, "approved"), (flagged.id, "skipped"),
                                                      (999_999, "skipped")]
    assert "1 guideline finding" in out[1]["reason"] and out[2]["reason"] == "no such invoice"
    assert clean.state == "approved" and flagged.state == "submitted"
    ev = _events(db, clean, "invoice.approved")
    assert len(ev) == 1 and ev[0].before == {"state": "submitted"}
    again = bulk_approve(session=db, user=people["reviewer"], invoice_ids=[clean.id])
    assert again[0]["outcome"] == "skipped" and again[0]["reason"] == "it is approved"


def test_bulk_approval_stops_at_a_level_and_rolls_back_nothing_else(db, w, people):
    _level(db, "Director", "100", people["director"])
    out = bulk_approve(session=db, user=people["reviewer"], invoice_ids=[w.a.invoice.id])
    assert out[0]["outcome"] == "signed" and out[0]["state"] == "in_review"
    out = bulk_approve(session=db, user=people["director"], invoice_ids=[w.a.invoice.id])
    assert out[0]["outcome"] == "approved"
    # someone who may sign nothing: skipped with the reason, the invoice unchanged
    _level(db, "CFO", "200", people["cfo"])
    transition(session=db, invoice=w.b.invoice, to="in_review", actor=Actor("t"))
    approve(session=db, invoice=w.b.invoice, user=people["reviewer"])
    out = bulk_approve(session=db, user=people["deputy"], invoice_ids=[w.b.invoice.id])
    assert out[0]["outcome"] == "skipped" and "'Director'" in out[0]["reason"]
    assert w.b.invoice.state == "in_review"


def test_queue_shows_invoices_awaiting_a_level_to_its_approver(db, w, people):
    _level(db, "Director", "100", people["director"])
    w.a.matter.manager_id = people["reviewer"].id
    db.flush()
    inv = _in_review(db, w.a.invoice)
    mine = {i.id: awaiting for i, _, _, awaiting in review_queue(session=db, user=people["reviewer"])}
    assert mine[inv.id] == ["review", "Director"] and w.b.invoice.id not in mine
    approve(session=db, invoice=inv, user=people["reviewer"])
    director = factories.user(db, Role.matter_manager)
    db.get(ApprovalLevel, db.scalar(sa.select(ApprovalLevel.id).where(ApprovalLevel.name == "Director"))) \
        .approver_id = director.id
    db.flush()
    theirs = {i.id: awaiting for i, _, _, awaiting in review_queue(session=db, user=director)}
    assert theirs == {inv.id: ["Director"]}  # not a manager of the matter, but the next signature is theirs


def _h(w, key):
    return {"Authorization": f"Bearer {w.tokens[key]}"}


def test_api_levels_queue_bulk_and_status(client, db, w):
    lo = w.users["legal_ops"]
    bad = client.post("/api/v1/approval-levels", headers=_h(w, "admin"),
                      json={"name": "Finance", "min_amount": "100", "currency": "USD",
                            "approver_id": w.users["finance_ap"].id})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "approver_id"
    other_ccy = client.post("/api/v1/approval-levels", headers=_h(w, "admin"),
                            json={"name": "EUR", "min_amount": "100", "currency": "EUR", "approver_id": lo.id})
    assert other_ccy.status_code == 422 and "all in USD" in other_ccy.json()["detail"]
    same = client.post("/api/v1/approval-levels", headers=_h(w, "admin"),
                       json={"name": "Same", "min_amount": "100", "currency": "USD", "approver_id": lo.id,
                             "fallback_approver_id": lo.id})
    assert same.status_code == 422
    r = client.post("/api/v1/approval-levels", headers=_h(w, "legal_ops"),
                    json={"name": "Director", "min_amount": "500.00", "currency": "USD", "approver_id": lo.id,
                          "fallback_approver_id": w.users["admin"].id})
    assert r.status_code == 201 and r.json()["min_amount"] == "500.00"
    assert client.post("/api/v1/approval-levels", headers=_h(w, "finance_ap"), json={}).status_code == 403

    queue = client.get("/api/v1/invoices/review-queue", headers=_h(w, "matter_manager")).json()
    assert queue == []  # manages no matter and signs no level
    queue = client.get("/api/v1/invoices/review-queue", headers=_h(w, "legal_ops")).json()
    row = next(q for q in queue if q["id"] == w.a.invoice.id)
    assert row["awaiting"] == ["review", "Director"] and Decimal(row["total_amount"]) == Decimal("900")

    out = client.post("/api/v1/invoices/bulk-approve", headers=_h(w, "matter_manager"),
                      json={"invoice_ids": [w.a.invoice.id]})
    assert out.status_code == 200 and out.json()[0]["outcome"] == "signed"
    st = client.get(f"/api/v1/invoices/{w.a.invoice.id}/approval", headers=_h(w, "auditor")).json()
    assert [(s["step"], s["signed"]) for s in st["steps"]] == [("review", True), ("Director", False)]
    assert client.get(f"/api/v1/invoices/{w.a.invoice.id}/approval", headers=_h(w, "counsel_a")).status_code == 403
    done = client.post(f"/api/v1/invoices/{w.a.invoice.id}/transitions", headers=_h(w, "legal_ops"),
                       json={"to": "approved"})
    assert done.status_code == 200 and done.json()["state"] == "approved"
    assert [a["level_name"] for a in done.json()["approvals"]] == ["review", "Director"]


def test_the_firm_appeals_an_adjustment_after_approval(client, db, w):
    inv = w.a.invoice
    url = f"/api/v1/invoices/{inv.id}"
    assert client.post(f"{url}/transitions", headers=_h(w, "legal_ops"), json={"to": "in_review"}).status_code == 200
    approved_as_billed = client.post(f"{url}/transitions", headers=_h(w, "legal_ops"), json={"to": "approved"})
    assert approved_as_billed.json()["state"] == "approved"
    nothing = client.post(f"{url}/transitions", headers=_h(w, "counsel_a"), json={"to": "appealed", "reason": "x"})
    assert nothing.status_code == 409 and "no adjustment to appeal" in nothing.json()["detail"]
    # back to review, adjust a line, approve, and now the firm may appeal with its comment
    client.post(f"{url}/transitions", headers=_h(w, "legal_ops"), json={"to": "in_review"})
    client.post(f"{url}/lines/1/decision", headers=_h(w, "legal_ops"),
                json={"decision": "adjusted", "approved_total": "700.00", "reason_code": "RATE"})
    assert client.post(f"{url}/transitions", headers=_h(w, "legal_ops"),
                       json={"to": "approved"}).json()["state"] == "approved"
    r = client.post(f"{url}/transitions", headers=_h(w, "counsel_a"),
                    json={"to": "appealed", "reason": "line 1: the 450.00 rate was agreed for 2026"})
    assert r.status_code == 200 and r.json()["state"] == "appealed"
    assert len(r.json()["approvals"]) == 2  # both signatures kept as history
    db.expire_all()
    change = db.scalar(sa.select(InvoiceStateChange).where(InvoiceStateChange.invoice_id == inv.id,
                                                              InvoiceStateChange.to_state == "appealed"))
    assert change.reason == "line 1: the 450.00 rate was agreed for 2026" and change.from_state == "approved"
