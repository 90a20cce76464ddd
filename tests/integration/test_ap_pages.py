"""The AP page: export (dry run, then for real), download the batch, import confirmations, see runs,
reconciliation; a refused import notifies finance."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.audit.service import Actor
from triad.invoices.approvals import approve
from triad.invoices.service import transition
from triad.notifications.models import Notification


@pytest.fixture
def w(db):
    return factories.world(db)


def _login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"username": username, "password": factories.PASSWORD,
                                       "csrf_token": token}).status_code == 303
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ap").text).group(1)


def test_export_import_and_reconcile_on_the_page(client, db, w):
    transition(session=db, invoice=w.a.invoice, to="in_review", actor=Actor("t"))
    approve(session=db, invoice=w.a.invoice, user=w.users["legal_ops"])
    db.commit()
    fin = w.users["finance_ap"]
    token = _login(client, fin.username)
    route = w.ap_route.name
    dry = client.post("/ap/export", data={"csrf_token": token, "route": route, "fmt": "csv", "dry_run": "1"})
    assert dry.status_code == 200 and "Would export 1 invoice(s)" in dry.text
    real = client.post("/ap/export", data={"csrf_token": token, "route": route, "fmt": "csv"})
    assert "Exported 1 invoice(s)" in real.text
    link = re.search(r'href="(/ap/batches/\d+/file)"', real.text).group(1)
    body = client.get(link)
    assert body.status_code == 200 and w.a.invoice.invoice_number in body.text
    key = re.search(r"TRIAD-\d+-\d+", body.text).group(0)
    feed = (f"invoice_id,payment_date,amount,currency,payment_reference,status\n"
            f"{w.a.invoice.id},2026-11-10,900.00,USD,WIRE-1,paid\n").encode()
    ok = client.post("/ap/import", data={"csrf_token": token}, files={"file": ("pay.csv", feed)})
    assert ok.status_code == 200 and "pay.csv: applied" in ok.text
    recon = client.get("/ap/reconciliation")
    assert w.a.invoice.invoice_number in recon.text and "900.00 USD" in recon.text
    assert key  # the key shown in the file is the one the bank would echo back
    bad = client.post("/ap/import", data={"csrf_token": token},
                      files={"file": ("bad.csv", b"invoice_id,payment_date,amount,currency,payment_reference,status\n"
                                                 b"1,2026-02-30,1.00,USD,R,paid\n")})
    assert bad.status_code == 422 and "payment_date" in bad.text
    assert 'class="failed"' in client.get("/ap").text
    notes = db.scalars(sa.select(Notification).where(Notification.user_id == fin.id)).all()
    assert any("refused: bad.csv" in n.subject for n in notes)


def test_read_only_roles_see_runs_but_no_forms(client, db, w):
    _login(client, w.users["auditor"].username)
    page = client.get("/ap")
    assert page.status_code == 200 and "Recent sync runs" in page.text and "Import payment" not in page.text
    client.cookies.clear()
    _login_page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', _login_page.text).group(1)
    client.post("/login", data={"username": w.users["matter_manager"].username, "password": factories.PASSWORD,
                                "csrf_token": token})
    assert client.get("/ap").status_code == 403
