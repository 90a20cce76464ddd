"""LEDES intake into the database: what is stored, what is refused, and that nothing is half-done."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.audit.models import AuditEvent
from triad.audit.service import Actor
from triad.files.models import StoredFile
from triad.invoices.intake import import_file
from triad.invoices.models import Invoice, InvoiceAllocation, InvoiceLine
from triad.ledes import parse
from triad.ledes.writers import write_1998b
from triad.vendors.models import Vendor

ACTOR = Actor("test")


def count(db, model):
    return db.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def w(db):
    return factories.world(db)


def test_valid_file_is_stored_with_its_source(db, w):
    data = factories.ledes_file(w.a, "A-100")
    result = import_file(session=db, data=data, filename="a.ledes", actor=ACTOR)
    assert result.ok and [o.status for o in result.invoices] == ["stored"]
    inv = db.get(Invoice, result.invoices[0].invoice_id)
    assert inv.firm_id == w.a.firm.id and inv.state == "submitted" and inv.currency == "USD"
    assert str(inv.total_amount) == "900"
    stored = db.get(StoredFile, inv.source_file_id)
    assert stored.content == data and stored.sha256 == hashlib.sha256(data).hexdigest()
    assert inv.source_format == "LEDES1998B"
    line = db.scalars(sa.select(InvoiceLine).where(InvoiceLine.invoice_id == inv.id)).one()
    assert line.source_line == 3 and line.timekeeper_id == w.a.timekeeper.id and line.matter_id == w.a.matter.id
    ev = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "invoice.submitted")).all()
    assert [e.entity_id for e in ev] == [str(inv.id)]


def test_same_file_twice_changes_nothing(db, w):
    data = factories.ledes_file(w.a, "A-101")
    import_file(session=db, data=data, filename="a.ledes", actor=ACTOR)
    before = (count(db, Invoice), count(db, InvoiceLine), count(db, StoredFile), count(db, AuditEvent))
    again = import_file(session=db, data=data, filename="renamed.ledes", actor=ACTOR)
    assert again.already_imported and again.invoices[0].status == "already_imported"
    assert (count(db, Invoice), count(db, InvoiceLine), count(db, StoredFile), count(db, AuditEvent)) == before


def test_file_with_errors_stores_nothing(db, w):
    data = factories.ledes_file(w.a, "A-102").replace(b"|900.00|", b"|901.00|", 1)
    before = (count(db, Invoice), count(db, StoredFile))
    result = import_file(session=db, data=data, filename="bad.ledes", actor=ACTOR)
    assert not result.ok and {p["code"] for p in result.problems} >= {"LEDES-032"}
    assert (count(db, Invoice), count(db, StoredFile)) == before


def _two_invoices(w, second_matter: str) -> bytes:
    first, _ = parse(factories.ledes_file(w.a, "A-200"))
    second, _ = parse(factories.ledes_file(w.a, "A-201"))
    second[0].lines[0].client_matter_id = second_matter
    return write_1998b(first + second)


def test_each_invoice_is_resolved_on_its_own(db, w):
    result = import_file(session=db, data=_two_invoices(w, "NO-SUCH-MATTER"), filename="two.ledes", actor=ACTOR)
    ok, bad = result.invoices
    assert ok.status == "stored" and bad.status == "rejected"
    assert bad.errors == [{"field": "CLIENT_MATTER_ID", "line": 4, "message": "no matter numbered 'NO-SUCH-MATTER'"}]
    assert db.scalar(sa.select(sa.func.count()).select_from(Invoice).where(Invoice.invoice_number == "A-201")) == 0


def test_firm_not_engaged_on_matter(db, w):
    result = import_file(session=db, data=_two_invoices(w, w.b.matter.number), filename="x.ledes", actor=ACTOR)
    assert "is not engaged on matter" in result.invoices[1].errors[0]["message"]


def test_unknown_timekeeper_and_firm(db, w):
    data = factories.ledes_file(w.a, "A-300").replace(w.a.timekeeper.tk_id.encode(), b"NOBODY")
    r = import_file(session=db, data=data, filename="x.ledes", actor=ACTOR)
    assert r.invoices[0].errors[0]["field"] == "TIMEKEEPER_ID"
    data = factories.ledes_file(w.a, "A-301").replace(w.a.firm.ledes_firm_id.encode(), b"00-0000000")
    r = import_file(session=db, data=data, filename="y.ledes", actor=ACTOR)
    assert r.invoices[0].errors[0]["field"] == "LAW_FIRM_ID"


def test_duplicate_invoice_number_refused(db, w):
    import_file(session=db, data=factories.ledes_file(w.a, "A-400"), filename="1.ledes", actor=ACTOR)
    r = import_file(session=db, data=factories.ledes_file(w.a, "A-400", units="3.0"), filename="2.ledes", actor=ACTOR)
    assert r.invoices[0].status == "rejected" and "already submitted" in r.invoices[0].errors[0]["message"]


def test_counsel_submits_only_for_own_firm(db, w):
    r = import_file(session=db, data=factories.ledes_file(w.b, "B-1"), filename="b.ledes", actor=ACTOR,
                    user=w.a.counsel)
    assert r.invoices[0].status == "rejected" and "your own firm" in r.invoices[0].errors[0]["message"]
    # an ID Triad does not know is taken to be the uploader's own firm
    data = factories.ledes_file(w.a, "A-500").replace(w.a.firm.ledes_firm_id.encode(), b"UNKNOWN-ID")
    r = import_file(session=db, data=data, filename="a.ledes", actor=ACTOR, user=w.a.counsel)
    assert r.invoices[0].status == "stored" and r.invoices[0].firm_id == w.a.firm.id


def test_suspended_firm_cannot_submit(db, w):
    db.get(Vendor, w.a.firm.vendor_id).status = "suspended"
    r = import_file(session=db, data=factories.ledes_file(w.a, "A-600"), filename="a.ledes", actor=ACTOR)
    assert "suspended" in r.invoices[0].errors[0]["message"]


def test_matter_found_by_firm_matter_id(db, w):
    w.a.engagement.firm_matter_id = "ALPHA-77"
    invs, _ = parse(factories.ledes_file(w.a, "A-700"))
    invs[0].lines[0].client_matter_id = None
    invs[0].lines[0].law_firm_matter_id = "ALPHA-77"
    r = import_file(session=db, data=write_1998b(invs), filename="a.ledes", actor=ACTOR)
    assert r.invoices[0].status == "stored"


def test_default_allocation_split_sums_exactly(db, w):
    from triad.matters.models import MatterAllocation

    m = w.a.matter
    m.allocations = [MatterAllocation(cost_center_id=w.cc.id, gl_account_id=w.gl.id, percent=Decimal(p))
                     for p in ("33.3333", "33.3333", "33.3334")]
    db.flush()
    r = import_file(session=db, data=factories.ledes_file(w.a, "A-800", units="1.0", rate="100.00"),
                    filename="a.ledes", actor=ACTOR)
    allocs = db.scalars(sa.select(InvoiceAllocation).where(InvoiceAllocation.invoice_id == r.invoices[0].invoice_id))
    amounts = sorted(str(a.amount) for a in allocs)
    assert amounts == ["33.33", "33.33", "33.34"]


def test_crash_midway_leaves_database_as_it_was(db, w, monkeypatch):
    import triad.invoices.intake as intake

    before = (count(db, Invoice), count(db, InvoiceLine), count(db, StoredFile), count(db, AuditEvent))

    def boom(*a, **k):
        raise RuntimeError("power cut")

    monkeypatch.setattr(intake, "record_many", boom)
    with pytest.raises(RuntimeError), db.begin_nested():
        import_file(session=db, data=factories.ledes_file(w.a, "A-900"), filename="a.ledes", actor=ACTOR)
    assert (count(db, Invoice), count(db, InvoiceLine), count(db, StoredFile), count(db, AuditEvent)) == before


def test_api_upload_and_read_back(client, db, w):
    headers = {"Authorization": f"Bearer {w.tokens['counsel_a']}"}
    data = factories.ledes_file(w.a, "A-1000")
    r = client.post("/api/v1/invoices", headers=headers, files={"file": ("a.ledes", data)})
    assert r.status_code == 201, r.text
    inv_id = r.json()["invoices"][0]["invoice_id"]
    got = client.get(f"/api/v1/invoices/{inv_id}", headers=headers).json()
    assert got["invoice_number"] == "A-1000" and got["source_format"] == "LEDES1998B"
    assert got["lines"][0]["source_line"] == 3 and got["total_amount"] == "900"
    again = client.post("/api/v1/invoices", headers=headers, files={"file": ("a.ledes", data)})
    assert again.status_code == 200 and again.json()["already_imported"]
    bad = client.post("/api/v1/invoices", headers=headers, files={"file": ("x.ledes", b"not ledes")})
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "LEDES-001"


def test_portal_upload_page(client, db, w):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": "counsel_alpha", "password": factories.PASSWORD, "csrf_token": token})
    form = client.get("/invoices/upload")
    assert form.status_code == 200 and 'type="file"' in form.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    r = client.post("/invoices/upload", data={"csrf_token": token},
                    files={"file": ("a.ledes", factories.ledes_file(w.a, "A-1100"))})
    assert r.status_code == 200 and "submitted" in r.text and "A-1100" in r.text
    broken = factories.ledes_file(w.a, "A-1101").replace(b"|900.00|", b"|9.00|", 1)
    bad = client.post("/invoices/upload", data={"csrf_token": token}, files={"file": ("b.ledes", broken)})
    assert bad.status_code == 422 and "LEDES-03" in bad.text and "nothing was stored" in bad.text
    forged = client.post("/invoices/upload", data={"csrf_token": "x"},
                         files={"file": ("a.ledes", factories.ledes_file(w.a, "A-1102"))},
                         headers={"accept": "text/html"})
    assert forged.status_code == 403


def test_same_number_twice_in_one_file(db, w):
    first, _ = parse(factories.ledes_file(w.a, "A-1200"))
    second, _ = parse(factories.ledes_file(w.a, "A-1200", units="1.0"))
    second[0].law_firm.id = w.a.firm.ledes_firm_id.replace("-", "")  # same firm, written differently
    r = import_file(session=db, data=write_1998b(first + second), filename="dup.ledes", actor=ACTOR)
    assert [o.status for o in r.invoices] == ["stored", "rejected"]


def test_resending_a_file_retries_only_what_was_refused(db, w):
    data = _two_invoices(w, "M-LATER")
    first = import_file(session=db, data=data, filename="two.ledes", actor=ACTOR)
    assert [o.status for o in first.invoices] == ["stored", "rejected"]
    factories.engagement(db, w.a.firm, factories.matter(db, w.bu, w.cc, "Later matter"))
    db.flush()
    from triad.matters.models import Matter

    db.scalars(sa.select(Matter).where(Matter.name == "Later matter")).one().number = "M-LATER"
    db.flush()
    n_files = count(db, StoredFile)
    again = import_file(session=db, data=data, filename="two.ledes", actor=ACTOR)
    assert [o.status for o in again.invoices] == ["already_imported", "stored"]
    assert count(db, StoredFile) == n_files  # still one file
    third = import_file(session=db, data=data, filename="two.ledes", actor=ACTOR)
    assert third.already_imported and [o.status for o in third.invoices] == ["already_imported"] * 2


def test_already_imported_reply_hides_other_firms_invoices(db, w):
    data = factories.ledes_file(w.b, "B-77")
    import_file(session=db, data=data, filename="b.ledes", actor=ACTOR)
    r = import_file(session=db, data=data, filename="b.ledes", actor=ACTOR, user=w.a.counsel)
    assert all(o.firm_id in (None, w.a.firm.id) for o in r.invoices)
    assert not any(o.status == "already_imported" for o in r.invoices)


def test_amount_finer_than_currency_refused(db, w):
    w.a.engagement.currency = "JPY"
    r = import_file(session=db, data=factories.ledes_file(w.a, "A-JPY", units="1.0", rate="100.50"),
                    filename="jpy.ledes", actor=ACTOR)
    assert r.invoices[0].status == "rejected" and "JPY" in r.invoices[0].errors[0]["message"]


def test_ambiguous_firm_id_refused(db, w):
    w.b.firm.ledes_firm_id = w.a.firm.ledes_firm_id.replace("-", "")  # same ID once punctuation is ignored
    db.flush()
    r = import_file(session=db, data=factories.ledes_file(w.a, "A-AMB"), filename="amb.ledes", actor=ACTOR)
    assert r.invoices[0].status == "rejected" and "more than one law firm" in r.invoices[0].errors[0]["message"]
