"""Edges found in review: racing state changes, stale rejections, shared payment references, IBAN-only
creditors, and bad input that must be a 4xx naming the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration.test_ap_cycle import _approve, _feed, _route
from triad.ap import bulk, formats
from triad.ap import service as ap
from triad.ap.models import ApBatch, Payment
from triad.audit.service import Actor
from triad.core.errors import Conflict

ACTOR = Actor("edge-test")


@pytest.fixture
def w(db):
    return factories.world(db)


def test_an_invoice_moved_during_the_export_makes_it_refuse_whole(db, w, monkeypatch):
    _route(db)
    _approve(db, w, w.a.invoice)
    real = ap._ready

    def ready_then_moved(session, route):
        found = real(session, route)
        session.execute(sa.text("UPDATE invoice SET state = 'in_review' WHERE id = :i"), {"i": w.a.invoice.id})
        return found

    monkeypatch.setattr(ap, "_ready", ready_then_moved)
    with pytest.raises(Conflict, match="at the same time"):
        ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert db.scalar(sa.select(sa.func.count(ApBatch.id))) == 0


def test_an_error_in_the_state_history_insert_reaches_the_caller(db, w, monkeypatch):
    """The export's state move runs on a thread (decision 0030); a failure of its history INSERT (the second
    statement on SQLite, after the UPDATE succeeded) must raise in the caller, not be dropped."""
    _route(db)
    _approve(db, w, w.a.invoice)
    real = bulk.execute_compiled

    def failing_history(conn, what):
        if "invoice_state_change" in what[1]:
            raise RuntimeError("history insert failed")
        return real(conn, what)

    monkeypatch.setattr(bulk, "execute_compiled", failing_history)
    with pytest.raises(RuntimeError, match="history insert failed"):
        ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert db.scalar(sa.select(sa.func.count(ApBatch.id))) == 0


def test_a_rejection_of_a_reopened_transfer_changes_nothing(db, w):
    _route(db)
    inv = w.a.invoice
    _approve(db, w, inv)
    old = ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR).invoices[0]["idempotency_key"]
    ap.reopen(session=db, invoice=inv, actor=ACTOR, reason="resend")
    ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    pain002 = f"""<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>
<GrpHdr><MsgId>STS-OLD</MsgId></GrpHdr><OrgnlPmtInfAndSts><TxInfAndSts>
<OrgnlEndToEndId>{old}</OrgnlEndToEndId><TxSts>RJCT</TxSts></TxInfAndSts></OrgnlPmtInfAndSts>
</CstmrPmtStsRpt></Document>""".encode()
    res = ap.import_payments(session=db, data=pain002, filename="old.xml", actor=ACTOR)
    assert res.status == "applied" and res.flags[0]["flag"] == "stale_rejection"
    assert inv.state == "sent_to_ap"  # the live export stands


def test_one_reference_paying_two_invoices_pays_both(db, w):
    _route(db)
    for fw in (w.a, w.b):
        _approve(db, w, fw.invoice)
    ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    feed = _feed(f"{w.a.invoice.id},2026-11-02,900.00,USD,,WIRE-9,paid",
                 f"{w.b.invoice.id},2026-11-02,900.00,USD,,WIRE-9,paid")
    res = ap.import_payments(session=db, data=feed, filename="both.csv", actor=ACTOR)
    assert len(res.applied) == 2 and res.skipped == []
    assert w.a.invoice.state == w.b.invoice.state == "paid"
    assert db.scalar(sa.select(sa.func.count(Payment.id))) == 2


def test_pain001_for_an_iban_without_bic_validates():
    from lxml import etree

    inv = formats.ExportInvoice(idempotency_key="TRIAD-1-1", invoice_id=1, invoice_number="X-1",
                                invoice_date=dt.date(2026, 10, 1), vendor_id=1, vendor_name="Kessler Vogt",
                                firm_name="Kessler Vogt", currency="EUR", amount=Decimal("100.00"), business_unit="BU",
                                allocations=[], bank={"iban": "DE89370400440532013000", "holder_name": "Kessler Vogt"})
    xml = formats.write_pain001("TRIAD-B0000001", dt.datetime(2026, 11, 30, 9, 0), {
        "name": "Triad Co", "iban": "GB33BUKB20201555555555", "bic": "BUKBGB22"}, [inv], dt.date(2026, 12, 1))
    doc = etree.fromstring(xml)
    assert formats.pain001_schema().validate(doc)
    assert doc.find(".//{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}CdtrAgt") is None


def _h(w, key):
    return {"Authorization": f"Bearer {w.tokens[key]}"}


def test_bad_input_is_a_4xx_naming_the_field(client, db, w):
    r = client.get("/api/v1/reports/reconciliation", headers=_h(w, "finance_ap"), params={"reporting_currency": "ZZZ"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reporting_currency"
    r = client.post("/api/v1/guidelines/versions", headers=_h(w, "legal_ops"),
                    json={"scope": "firm", "firm_id": 999_999, "effective_from": "2026-01-01",
                          "text": "name: x\nrules: {}\n"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "firm_id"
    url = f"/api/v1/invoices/{w.a.invoice.id}"
    client.post(f"{url}/transitions", headers=_h(w, "legal_ops"), json={"to": "in_review"})
    r = client.post(f"{url}/lines/1/decision", headers=_h(w, "legal_ops"),
                    json={"decision": "adjusted", "approved_total": "33.333", "reason_code": "RATE"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "approved_total"


def test_a_fully_credited_invoice_is_left_out_without_holding_up_the_route(db, w):
    from triad.core.errors import ValidationFailed

    _route(db)
    for fw in (w.a, w.b):
        _approve(db, w, fw.invoice)
    with pytest.raises(ValidationFailed, match="more decimals"):
        ap.add_credit(session=db, invoice=w.a.invoice, kind="credit_note", amount=Decimal("0.004"), reason="x",
                      actor=ACTOR)
    ap.add_credit(session=db, invoice=w.a.invoice, kind="write_down", amount=Decimal("900.00"), reason="settled",
                  actor=ACTOR)
    res = ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert [i["invoice_id"] for i in res.invoices] == [w.b.invoice.id]
    assert res.skipped == [{"invoice_id": w.a.invoice.id, "invoice_number": w.a.invoice.invoice_number,
                            "reason": "nothing is due: credits cover the approved amount"}]
    assert w.a.invoice.state == "approved" and w.b.invoice.state == "sent_to_ap"
