"""A reviewer changes an invoice's allocation before approval; it then follows the approved amount and
stays frozen through export."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.audit.models import AuditEvent


@pytest.fixture
def w(db):
    return factories.world(db)


def _h(w, key):
    return {"Authorization": f"Bearer {w.tokens[key]}"}


def test_reviewer_splits_the_allocation_and_approval_rescales_it(client, db, w):
    inv = w.a.invoice  # 900.00 USD on matter A, allocated 900.00 to w.cc
    cc2 = factories.cost_center(db, w.bu)
    db.commit()
    url = f"/api/v1/invoices/{inv.id}"
    split = {"allocations": [
        {"matter_id": w.a.matter.id, "cost_center_id": w.cc.id, "gl_account_id": w.gl.id, "amount": "600.01"},
        {"matter_id": w.a.matter.id, "cost_center_id": cc2.id, "gl_account_id": w.gl.id, "amount": "299.99"}],
        "reason": "shared with marketing"}
    assert client.post(f"{url}/allocations", headers=_h(w, "finance_ap"), json=split).status_code == 403
    assert client.post(f"{url}/allocations", headers=_h(w, "counsel_b"), json=split).status_code == 404
    short = {"allocations": [dict(split["allocations"][0], amount="600.00"), split["allocations"][1]]}
    bad = client.post(f"{url}/allocations", headers=_h(w, "legal_ops"), json=short)
    assert bad.status_code == 422 and "billed 900.00 USD; allocated 899.99" in bad.json()["errors"][0]["message"]
    wrong = {"allocations": [dict(split["allocations"][0], matter_id=w.b.matter.id, amount="900.00")]}
    errs = client.post(f"{url}/allocations", headers=_h(w, "legal_ops"), json=wrong).json()["errors"]
    assert {e["field"] for e in errs} == {"allocations[0].matter_id", "allocations"}
    ok = client.post(f"{url}/allocations", headers=_h(w, "legal_ops"), json=split)
    assert ok.status_code == 200
    assert [a["amount"] for a in ok.json()["allocations"]] == ["600.01", "299.99"]
    ev = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "invoice.allocation_changed"))
    assert ev.reason == "shared with marketing" and Decimal(ev.before["allocations"][0]["amount"]) == Decimal("900")
    # adjust the line to 450.00 and approve: the split follows, 600.01:299.99 of 450.00 = 300.01 + 149.99
    client.post(f"{url}/transitions", headers=_h(w, "legal_ops"), json={"to": "in_review"})
    client.post(f"{url}/lines/1/decision", headers=_h(w, "legal_ops"),
                json={"decision": "adjusted", "approved_total": "450.00", "reason_code": "RATE"})
    done = client.post(f"{url}/transitions", headers=_h(w, "legal_ops"), json={"to": "approved"})
    assert done.json()["state"] == "approved"
    assert [Decimal(a["amount"]) for a in done.json()["allocations"]] == [Decimal("300.01"), Decimal("149.99")]
    frozen = client.post(f"{url}/allocations", headers=_h(w, "legal_ops"), json=split)
    assert frozen.status_code == 409


def test_reviewer_changes_the_allocation_on_the_invoice_page(client, db, w):
    import re

    cc2 = factories.cost_center(db, w.bu)
    db.commit()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": w.users["legal_ops"].username, "password": factories.PASSWORD,
                                "csrf_token": token})
    inv_page = client.get(f"/invoices/{w.a.invoice.id}")
    assert "Save allocation" in inv_page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', inv_page.text).group(1)
    m, gl = str(w.a.matter.id), str(w.gl.id)
    form = {"csrf_token": token, "matter_id": [m, m, m], "cost_center_id": [str(w.cc.id), str(cc2.id), str(w.cc.id)],
            "gl_account_id": [gl, gl, gl], "amount": ["500.00", "300.00", ""]}
    bad = client.post(f"/invoices/{w.a.invoice.id}/allocations", data=form)
    assert bad.status_code == 422 and "billed 900.00 USD; allocated 800.00" in bad.text
    form["amount"] = ["500.00", "400.00", ""]
    ok = client.post(f"/invoices/{w.a.invoice.id}/allocations", data=form)
    assert ok.status_code == 303
    db.expire_all()
    got = sorted((a.cost_center_id, a.amount) for a in db.get(type(w.a.invoice), w.a.invoice.id).allocations)
    assert got == sorted([(w.cc.id, Decimal("500.00")), (cc2.id, Decimal("400.00"))])
