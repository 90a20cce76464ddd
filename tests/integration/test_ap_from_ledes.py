"""The whole cycle from a LEDES submission to paid: a two-matter invoice whose matters split their cost
differently; the allocation made at submission survives approval, export and payment unchanged."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.ap.models import ApRoute
from triad.ap.service import export, import_payments
from triad.audit.service import Actor
from triad.invoices.approvals import approve
from triad.invoices.intake import import_file
from triad.invoices.models import Invoice, InvoiceAllocation
from triad.invoices.service import transition
from triad.ledes.model import Invoice as LInvoice
from triad.ledes.model import Line, Party
from triad.ledes.writers import write_1998b
from triad.matters.models import MatterAllocation

ACTOR = Actor("cycle-test")


@pytest.fixture
def w(db):
    return factories.world(db)


def _line(n, fw, matter_number, units, rate, task):
    total = (Decimal(units) * Decimal(rate)).quantize(Decimal("0.01"))
    return Line(line_no=str(n), line_type="F", date=dt.date(2026, 9, n), units=Decimal(units), unit_cost=Decimal(rate),
                adjustment=Decimal(0), total=total, law_firm_matter_id=f"FM-{n}", client_matter_id=matter_number,
                task_code=task, activity_code="A101", timekeeper_id=fw.timekeeper.tk_id,
                timekeeper_name=f"{fw.timekeeper.last_name}, {fw.timekeeper.first_name}",
                timekeeper_classification=fw.timekeeper.classification, description=f"Work item {n}")


def test_ledes_submission_to_paid_keeps_the_split(db, w):
    fw = w.a
    # matter 1 splits 60/40 across two cost centers; a second matter goes 100% to a third
    cc2, cc3 = factories.cost_center(db, w.bu), factories.cost_center(db, w.bu)
    m2 = factories.matter(db, w.bu, cc3, "Second matter")
    factories.engagement(db, fw.firm, m2)
    for a in list(fw.matter.allocations):
        db.delete(a)
    db.flush()
    db.add_all([MatterAllocation(matter_id=fw.matter.id, cost_center_id=w.cc.id, gl_account_id=w.gl.id,
                                 percent=Decimal("60")),
                MatterAllocation(matter_id=fw.matter.id, cost_center_id=cc2.id, gl_account_id=w.gl.id,
                                 percent=Decimal("40")),
                MatterAllocation(matter_id=m2.id, cost_center_id=cc3.id, gl_account_id=w.gl.id,
                                 percent=Decimal("100"))])
    db.add(ApRoute(name="main", ap_system="Oracle AP", priority=1, csv_layout="multi"))
    db.flush()
    db.expire_all()
    # matter 1: 1.3 h x 450.00 = 585.00 and 0.7 h x 450.00 = 315.00 -> 900.00; matter 2: 0.1 h x 450.00 = 45.00
    lines = [_line(3, fw, fw.matter.number, "1.3", "450.00", "L110"), _line(4, fw, fw.matter.number, "0.7", "450.00",
                                                                             "L120"),
             _line(5, fw, m2.number, "0.1", "450.00", "L110")]
    data = write_1998b([LInvoice(invoice_number="SPLIT-2026-09", invoice_date=dt.date(2026, 10, 2),
                                 billing_start=dt.date(2026, 9, 1), billing_end=dt.date(2026, 9, 30),
                                 total=Decimal("945.00"), law_firm=Party(id=fw.firm.ledes_firm_id),
                                 client=Party(id="TRIADCO"), description="September", lines=lines)])
    res = import_file(session=db, data=data, filename="split.ledes", actor=ACTOR)
    (outcome,) = res.invoices
    assert outcome.status == "stored", outcome.errors
    inv = db.get(Invoice, outcome.invoice_id)
    # 900.00 x 60% = 540.00, x 40% = 360.00; 45.00 x 100%
    split = sorted((a.cost_center_id, a.amount) for a in inv.allocations)
    assert split == sorted([(w.cc.id, Decimal("540.00")), (cc2.id, Decimal("360.00")), (cc3.id, Decimal("45.00"))])
    transition(session=db, invoice=inv, to="in_review", actor=ACTOR)
    approve(session=db, invoice=inv, user=w.users["legal_ops"])
    assert inv.state == "approved"
    out = export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    rows = list(csv.DictReader(io.StringIO(out.content.decode())))
    by_cc = {(r["matter_number"], r["cost_center"]): r["allocation_amount"] for r in rows}
    assert by_cc == {(fw.matter.number, w.cc.code): "540.00", (fw.matter.number, cc2.code): "360.00",
                     (m2.number, cc3.code): "45.00"}
    feed = ("invoice_id,payment_date,amount,currency,payment_reference,status\n"
            f"{inv.id},2026-11-20,945.00,USD,WIRE-77,paid\n").encode()
    assert import_payments(session=db, data=feed, filename="pay.csv", actor=ACTOR).status == "applied"
    assert inv.state == "paid"
    db.expire_all()
    after = sorted((a.cost_center_id, a.amount) for a in db.scalars(
        sa.select(InvoiceAllocation).where(InvoiceAllocation.invoice_id == inv.id)))
    assert after == split
