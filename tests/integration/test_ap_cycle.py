"""Invoice to payment: routes, batches exported once, payment confirmations applied once, credits,
re-opening, and hostile files changing nothing. Expected amounts are worked out by hand."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration.test_vendor_master import activate
from triad.ap import formats
from triad.ap.models import ApBatch, ApBatchItem, ApRoute, Payment, SyncRun
from triad.ap.service import add_credit, audit_of_invoice, export, import_payments, reopen
from triad.audit.models import AuditEvent
from triad.audit.service import Actor, verify
from triad.core.errors import Conflict, ValidationFailed
from triad.invoices.approvals import approve
from triad.invoices.models import Invoice, InvoiceAllocation, InvoiceLine
from triad.invoices.service import transition
from triad.vendors.service import payable_bank_account

ACTOR = Actor("ap-test")


@pytest.fixture
def w(db):
    return factories.world(db)


def _approve(db, w, inv):
    transition(session=db, invoice=inv, to="in_review", actor=ACTOR)
    approve(session=db, invoice=inv, user=w.users["legal_ops"])
    assert inv.state == "approved"


def _route(db, name="main", **kw):
    r = ApRoute(name=name, ap_system="Oracle AP", priority=kw.pop("priority", 100), **kw)
    db.add(r)
    db.flush()
    return r


def _split_invoice(db, w):
    """A two-matter invoice of 1000.01 USD: matter A 700.01 split 60/40 across two cost centers, matter B 300.00."""
    inv = Invoice(firm_id=w.a.firm.id, vendor_id=w.a.firm.vendor_id, invoice_number=factories.uniq("SPLIT"),
                  invoice_date=dt.date(2026, 10, 5), billing_start=dt.date(2026, 9, 1),
                  billing_end=dt.date(2026, 9, 30), currency="USD", total_amount=Decimal("1000.01"), state="submitted")
    inv.lines = [
        InvoiceLine(matter_id=w.a.matter.id, line_no=1, line_type="F", work_date=dt.date(2026, 9, 2),
                    timekeeper_id=w.a.timekeeper.id, units=Decimal("1"), unit_cost=Decimal("700.01"),
                    total=Decimal("700.01"), description="Draft motion"),
        InvoiceLine(matter_id=w.b.matter.id, line_no=2, line_type="F", work_date=dt.date(2026, 9, 3),
                    timekeeper_id=w.a.timekeeper.id, units=Decimal("1"), unit_cost=Decimal("300.00"),
                    total=Decimal("300.00"), description="Review contract"),
    ]
    cc2 = factories.cost_center(db, w.bu)
    inv.allocations = [
        InvoiceAllocation(matter_id=w.a.matter.id, cost_center_id=w.cc.id, gl_account_id=w.gl.id,
                          amount=Decimal("420.01"), currency="USD"),
        InvoiceAllocation(matter_id=w.a.matter.id, cost_center_id=cc2.id, gl_account_id=w.gl.id,
                          amount=Decimal("280.00"), currency="USD"),
        InvoiceAllocation(matter_id=w.b.matter.id, cost_center_id=w.cc.id, gl_account_id=w.gl.id,
                          amount=Decimal("300.00"), currency="USD"),
    ]
    db.add(inv)
    db.flush()
    return inv


def _feed(*rows, header="invoice_id,payment_date,amount,currency,exchange_rate,payment_reference,status"):
    return (header + "\n" + "\n".join(rows) + "\n").encode()


def test_full_cycle_with_a_split_invoice(db, w):
    _route(db, csv_layout="multi")
    inv = _split_invoice(db, w)
    _approve(db, w, inv)
    before = [(a.cost_center_id, a.amount) for a in inv.allocations]

    dry = export(session=db, route_name="main", fmt="csv", actor=ACTOR, dry_run=True)
    assert [i["invoice_id"] for i in dry.invoices] == [inv.id] and dry.batch_id is None
    db.expire_all()
    assert db.get(Invoice, inv.id).state == "approved" and db.scalar(sa.select(sa.func.count(ApBatch.id))) == 0

    res = export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert res.totals == {"USD": "1000.01"} and res.content == dry.content  # the dry run showed exactly this file
    rows = list(csv.DictReader(io.StringIO(res.content.decode())))
    assert [(r["matter_number"], r["allocation_amount"]) for r in rows] == [
        (w.a.matter.number, "420.01"), (w.a.matter.number, "280.00"), (w.b.matter.number, "300.00")]
    assert {r["amount"] for r in rows} == {"1000.01"} and len({r["idempotency_key"] for r in rows}) == 1
    db.expire_all()
    inv = db.get(Invoice, inv.id)
    assert inv.state == "sent_to_ap"
    item = db.scalar(sa.select(ApBatchItem).where(ApBatchItem.invoice_id == inv.id))
    assert item.idempotency_key == rows[0]["idempotency_key"]
    # exported once: the next export finds nothing
    assert export(session=db, route_name="main", fmt="csv", actor=ACTOR).invoices == []

    part = _feed(f"{inv.id},2026-11-02,400.00,USD,,PAY-1,paid")
    r1 = import_payments(session=db, data=part, filename="p1.csv", actor=ACTOR)
    assert r1.status == "applied" and inv.state == "partially_paid"
    again = import_payments(session=db, data=part, filename="p1-copy.csv", actor=ACTOR)
    assert again.status == "duplicate" and db.scalar(sa.select(sa.func.count(Payment.id))) == 1
    rest = _feed(f"{inv.id},2026-11-09,600.01,USD,,PAY-2,paid")
    assert import_payments(session=db, data=rest, filename="p2.csv", actor=ACTOR).status == "applied"
    assert inv.state == "paid"
    # the allocation is what it was at approval, through export and payment
    db.expire_all()
    assert [(a.cost_center_id, a.amount) for a in db.get(Invoice, inv.id).allocations] == before
    runs = db.scalars(sa.select(SyncRun.kind).where(SyncRun.id != w.sync_run.id).order_by(SyncRun.id)).all()
    assert runs == ["ap_export", "ap_import", "ap_import"]


def test_overpayment_is_flagged_and_reversal_steps_back(db, w):
    _route(db)
    inv = w.a.invoice  # 900.00 USD
    _approve(db, w, inv)
    export(session=db, route_name="main", fmt="json", actor=ACTOR)
    over = import_payments(session=db, data=_feed(f"{inv.id},2026-11-02,950.00,USD,,PAY-9,paid"), filename="o.csv",
                           actor=ACTOR)
    assert inv.state == "paid" and over.flags[0]["flag"] == "overpaid"
    assert "paid 950.00 USD against 900.00 due" in over.flags[0]["message"]
    rev = import_payments(session=db, data=_feed(f"{inv.id},2026-11-03,950.00,USD,,PAY-9,reversed"),
                          filename="r.csv", actor=ACTOR)
    assert rev.status == "applied" and inv.state == "sent_to_ap"
    # one audit event per imported file (decision 0023); the invoice's trail finds each, with its own part
    trail = [(ev.action, part) for ev, part in audit_of_invoice(session=db, invoice_id=inv.id)
             if ev.action == "ap.payments_imported"]
    assert [(p["status"], p["before"]["state"], Decimal(p["before"]["paid"]), p["after"]["state"],
             Decimal(p["after"]["paid"])) for _, (p,) in trail] == [
        ("paid", "sent_to_ap", Decimal(0), "paid", Decimal("950.00")),
        ("reversed", "paid", Decimal("950.00"), "sent_to_ap", Decimal(0))]
    exported = [part for ev, part in audit_of_invoice(session=db, invoice_id=inv.id)
                if ev.action == "ap.batch_exported"]
    assert exported == [[{"invoice_id": inv.id, "invoice_number": inv.invoice_number, "currency": "USD",
                          "amount": "900.00", "idempotency_key": exported[0][0]["idempotency_key"]}]]
    assert verify(db).ok


def test_bad_rows_are_all_listed_and_nothing_changes_unless_partial(db, w):
    _route(db)
    inv = w.a.invoice
    _approve(db, w, inv)
    export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    data = _feed(f"{inv.id},2026-11-02,100.00,USD,,PAY-1,paid",
                 f"{inv.id},2026-13-02,100.00,USD,,PAY-2,paid",
                 "999999,2026-11-02,-5,ZZZ,,PAY-3,settled",
                 f"{inv.id},2026-11-02,1e3,USD,,PAY-4,paid")
    res = import_payments(session=db, data=data, filename="bad.csv", actor=ACTOR)
    assert res.status == "rejected"
    got = sorted((e["line"], e["field"]) for e in res.errors)
    assert got == [(3, "payment_date"), (4, "amount"), (4, "currency"), (4, "status"), (5, "amount")]
    assert all(e["file"] == "bad.csv" for e in res.errors)
    assert db.scalar(sa.select(sa.func.count(Payment.id))) == 0 and inv.state == "sent_to_ap"
    part = import_payments(session=db, data=data, filename="bad.csv", actor=ACTOR, partial=True)
    assert part.status == "partial" and [a["line"] for a in part.applied] == [2]
    assert inv.state == "partially_paid"


def test_pain001_validates_and_pain002_rejection_returns_the_invoice(db, w):
    from lxml import etree

    _route(db, debtor_name="Triad Co Ltd", debtor_iban="GB33BUKB20201555555555", debtor_bic="BUKBGB22")
    assert payable_bank_account(w.a.firm.vendor) is None  # a draft vendor has no payable account
    _approve(db, w, w.a.invoice)
    with pytest.raises(ValidationFailed) as refused:
        export(session=db, route_name="main", fmt="pain001", actor=ACTOR, dry_run=True)
    assert "no approved bank account" in refused.value.errors[0]["message"]
    activate(db, w, w.a.firm.vendor)  # through the legal-review gate
    payable = payable_bank_account(w.a.firm.vendor)  # the approved account (a US one in the factory world)
    assert payable is not None and payable.account_number
    inv = w.a.invoice
    res = export(session=db, route_name="main", fmt="pain001", actor=ACTOR, execution_date=dt.date(2026, 11, 30))
    doc = etree.fromstring(res.content)
    assert formats.pain001_schema().validate(doc)
    ns = {"p": formats.PAIN001_NS}
    e2e = doc.findtext(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", namespaces=ns)
    assert e2e == f"TRIAD-{inv.id}-1" or e2e.startswith(f"TRIAD-{inv.id}-")
    assert doc.findtext(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", namespaces=ns) == "900.00"
    assert doc.findtext(".//p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=ns) == payable.account_number
    assert doc.findtext(".//p:CdtTrfTxInf/p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId",
                        namespaces=ns) == payable.routing_number
    pain002 = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
 <CstmrPmtStsRpt>
  <GrpHdr><MsgId>BANK-STS-0001</MsgId><CreDtTm>2026-11-30T10:00:00</CreDtTm></GrpHdr>
  <OrgnlGrpInfAndSts><OrgnlMsgId>x</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId></OrgnlGrpInfAndSts>
  <OrgnlPmtInfAndSts><OrgnlPmtInfId>x-1</OrgnlPmtInfId>
   <TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>RJCT</TxSts>
    <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf></TxInfAndSts>
  </OrgnlPmtInfAndSts>
 </CstmrPmtStsRpt>
</Document>""".encode()
    r = import_payments(session=db, data=pain002, filename="sts.xml", actor=ACTOR)
    assert (r.status, r.format, r.message_id) == ("applied", "pain.002", "BANK-STS-0001")
    assert inv.state == "approved"  # back to approved: it can be exported again once the bank details are fixed
    assert "AC04" in db.scalar(sa.select(ApBatchItem.reopen_reason).where(ApBatchItem.invoice_id == inv.id))
    # the same message id in another file is the same file
    assert import_payments(session=db, data=pain002.replace(b"10:00:00", b"11:00:00"), filename="sts2.xml",
                           actor=ACTOR).status == "duplicate"


CAMT054 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">
 <BkToCstmrDbtCdtNtfctn>
  <GrpHdr><MsgId>CAMT-2026-11-30-01</MsgId><CreDtTm>2026-11-30T18:00:00</CreDtTm></GrpHdr>
  <Ntfctn><Id>N1</Id><CreDtTm>2026-11-30T18:00:00</CreDtTm>
   <Acct><Id><IBAN>GB33BUKB20201555555555</IBAN></Id></Acct>
   <Ntry><Amt Ccy="USD">900.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
    <BookgDt><Dt>2026-11-30</Dt></BookgDt><ValDt><Dt>2026-11-30</Dt></ValDt><AcctSvcrRef>BANKREF-77</AcctSvcrRef>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
    <NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>
     <AmtDtls><InstdAmt><Amt Ccy="USD">900.00</Amt></InstdAmt></AmtDtls></TxDtls></NtryDtls>
   </Ntry>
  </Ntfctn>
 </BkToCstmrDbtCdtNtfctn>
</Document>"""


def test_camt054_debit_notification_pays_the_invoice(db, w):
    _route(db)
    inv = w.a.invoice
    _approve(db, w, inv)
    res = export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    e2e = res.invoices[0]["idempotency_key"]
    r = import_payments(session=db, data=CAMT054.format(e2e=e2e).encode(), filename="camt.xml", actor=ACTOR)
    assert (r.status, r.format) == ("applied", "camt.054") and inv.state == "paid"
    pay = db.scalar(sa.select(Payment).where(Payment.invoice_id == inv.id))
    assert (pay.amount, pay.currency, pay.paid_on, pay.reference) == (Decimal("900.00"), "USD", dt.date(2026, 11, 30),
                                                                      "BANKREF-77")
    unknown = CAMT054.format(e2e="TRIAD-0-0").replace("CAMT-2026-11-30-01", "CAMT-2")
    bad = import_payments(session=db, data=unknown.encode(), filename="camt2.xml", actor=ACTOR)
    assert bad.status == "rejected" and "no exported invoice" in bad.errors[0]["reason"]


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Document>&lol3;</Document>',
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Document>&xxe;</Document>',
    b'<Document xmlns="urn:example:not-iso"><x/></Document>',
    b"<Document",
    b"\xff\xfe\x00garbage",
])
def test_hostile_files_change_nothing(db, w, payload):
    n = db.scalar(sa.select(sa.func.count(Payment.id)))
    t = time.perf_counter()
    res = import_payments(session=db, data=payload, filename="evil", actor=ACTOR)
    assert time.perf_counter() - t < 5  # generous: the point is it does not expand anything
    assert res.status == "rejected" and res.errors
    assert db.scalar(sa.select(sa.func.count(Payment.id))) == n


def test_export_refuses_whole_when_one_invoice_cannot_go(db, w):
    _route(db, debtor_name="Triad Co Ltd", debtor_iban="GB33BUKB20201555555555", debtor_bic="BUKBGB22")
    for fw in (w.a, w.b):
        _approve(db, w, fw.invoice)
    w.b.invoice.allocations[0].amount = Decimal("899.99")  # does not add up
    with pytest.raises(ValidationFailed) as exc:
        export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert [e["invoice"] for e in exc.value.errors] == [w.b.invoice.invoice_number]
    assert "899.99" in exc.value.errors[0]["message"]
    assert w.a.invoice.state == "approved"


def test_routes_pick_by_priority_with_a_catch_all(db, w):
    eur = _route(db, "eur", currency="EUR", priority=10)
    bu = _route(db, "legal-bu", business_unit_id=w.bu.id, priority=20)
    _route(db, "catch-all", priority=999)
    _approve(db, w, w.a.invoice)
    assert export(session=db, route_name=eur.name, fmt="csv", actor=ACTOR, dry_run=True).invoices == []
    assert export(session=db, route_name="catch-all", fmt="csv", actor=ACTOR, dry_run=True).invoices == []
    assert [i["invoice_id"] for i in export(session=db, route_name=bu.name, fmt="csv", actor=ACTOR,
                                            dry_run=True).invoices] == [w.a.invoice.id]


def test_credit_note_reduces_what_is_exported_and_its_allocation(db, w):
    _route(db, csv_layout="multi")
    inv = _split_invoice(db, w)
    _approve(db, w, inv)
    add_credit(session=db, invoice=inv, kind="credit_note", amount=Decimal("100.00"), reason="volume discount",
               actor=ACTOR)
    with pytest.raises(ValidationFailed):
        add_credit(session=db, invoice=inv, kind="write_down", amount=Decimal("900.02"), reason="x", actor=ACTOR)
    res = export(session=db, route_name="main", fmt="json", actor=ACTOR)
    body = json.loads(res.content)
    (item,) = body["invoices"]
    assert item["amount"] == "900.01"
    # 900.01 split by 420.01 : 280.00 : 300.00 (largest remainder) = 378.01 + 252.00 + 270.00
    assert [a["amount"] for a in item["allocations"]] == ["378.01", "252.00", "270.00"]


def test_reopen_is_audited_and_allows_a_new_export(db, w):
    _route(db)
    inv = w.a.invoice
    _approve(db, w, inv)
    first = export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    with pytest.raises(ValidationFailed):
        reopen(session=db, invoice=inv, actor=ACTOR, reason=" ")
    reopen(session=db, invoice=inv, actor=ACTOR, reason="AP system lost the batch")
    assert inv.state == "approved"
    second = export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert second.invoices[0]["idempotency_key"] != first.invoices[0]["idempotency_key"]
    ev = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ap.invoice_reopened"))
    assert ev.reason == "AP system lost the batch" and ev.before["idempotency_key"] == first.invoices[0][
        "idempotency_key"]
    with pytest.raises(Conflict):
        reopen(session=db, invoice=w.b.invoice, actor=ACTOR, reason="x")


def test_csv_export_neutralises_formulas_and_renames_columns(db, w):
    _route(db, csv_columns={"invoice_number": "InvoiceNo", "amount": "Gross"})
    inv = w.a.invoice
    inv.invoice_number = "=HYPERLINK(\"http://x\")"
    _approve(db, w, inv)
    res = export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    rows = list(csv.DictReader(io.StringIO(res.content.decode())))
    assert rows[0]["InvoiceNo"] == "'=HYPERLINK(\"http://x\")" and rows[0]["Gross"] == "900.00"


def test_json_export_matches_the_published_schema(db, w):
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "docs/schemas/ap-export.schema.json").read_text())
    _route(db)
    _approve(db, w, w.a.invoice)
    doc = json.loads(export(session=db, route_name="main", fmt="json", actor=ACTOR).content)
    jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
    doc["invoices"][0]["amount"] = 900.0  # a float amount is exactly what the schema forbids
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_idempotency_key_on_export_and_import(client, db, w):
    _route(db)
    _approve(db, w, w.a.invoice)
    db.commit()
    h = {"Authorization": f"Bearer {w.tokens['finance_ap']}", "Idempotency-Key": "export-2026-11-30"}
    first = client.post("/api/v1/ap/exports", headers=h, json={"route": "main", "format": "csv"})
    again = client.post("/api/v1/ap/exports", headers=h, json={"route": "main", "format": "csv"})
    assert first.status_code == again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == again.json() and db.scalar(sa.select(sa.func.count(ApBatch.id))) == 1
    other = client.post("/api/v1/ap/exports", headers=h, json={"route": "main", "format": "json"})
    assert other.status_code == 422
    feed = _feed(f"{w.a.invoice.id},2026-11-02,900.00,USD,,PAY-1,paid")
    hi = {"Authorization": h["Authorization"], "Idempotency-Key": "import-1"}
    files = {"file": ("p.csv", feed, "text/csv")}
    r1 = client.post("/api/v1/ap/imports", headers=hi, files=files)
    r2 = client.post("/api/v1/ap/imports", headers=hi, files=files)
    assert r1.status_code == 200 and r1.json()["status"] == "applied"
    assert r2.json() == r1.json()  # replayed, not re-imported (a re-import would say "duplicate")
