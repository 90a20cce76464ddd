"""Bad input gets a clear error naming the field, and changes nothing."""

import sqlalchemy as sa

from tests.factories import world as factories
from triad.audit.models import AuditEvent


def _h(w):
    return {"Authorization": f"Bearer {w.tokens['admin']}"}


def test_floats_refused_for_money(client, db):
    w = factories.world(db)
    r = client.post("/api/v1/budgets", headers=_h(w), json={
        "matter_id": w.a.matter.id, "vendor_id": w.a.firm.vendor_id, "fiscal_period": "FY2026",
        "amount": 1000.5, "currency": "USD"})
    assert r.status_code == 422
    assert any(e["field"] == "amount" and "string" in e["message"] for e in r.json()["errors"])


def test_unknown_reference_named(client, db):
    w = factories.world(db)
    n0 = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    r = client.post("/api/v1/cost-centers", headers=_h(w), json={"code": "ZZ", "name": "Z",
                                                                  "business_unit_id": 999999})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "business_unit_id"
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == n0


def test_duplicate_is_conflict(client, db):
    w = factories.world(db)
    r = client.post("/api/v1/business-units", headers=_h(w), json={"code": w.bu.code, "name": "dup"})
    assert r.status_code == 409
    assert w.bu.code in r.json()["detail"]


def test_bad_currency_and_period(client, db):
    w = factories.world(db)
    r = client.post("/api/v1/budgets", headers=_h(w), json={
        "matter_id": w.a.matter.id, "vendor_id": w.a.firm.vendor_id, "fiscal_period": "2026",
        "amount": "10.00", "currency": "XXZ"})
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"fiscal_period", "currency"}


def test_allocations_must_add_up(client, db):
    w = factories.world(db)
    r = client.patch(f"/api/v1/matters/{w.a.matter.id}", headers=_h(w), json={"allocations": [
        {"cost_center_id": w.cc.id, "gl_account_id": w.gl.id, "percent": "60"},
        {"cost_center_id": w.cc.id, "gl_account_id": w.gl.id, "percent": "30"}]})
    assert r.status_code == 422
    assert "90" in r.text


def test_amounts_round_trip_as_strings(client, db):
    w = factories.world(db)
    r = client.post("/api/v1/budgets", headers=_h(w), json={
        "matter_id": w.a.matter.id, "vendor_id": w.a.firm.vendor_id, "utbms_code": "L300",
        "fiscal_period": "FY2027", "amount": "12345678901234567.89", "currency": "USD"})
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/budgets/{r.json()['id']}", headers=_h(w)).json()
    assert got["amount"] == "12345678901234567.89"


def test_pagination_and_filters(client, db):
    w = factories.world(db)
    r = client.get("/api/v1/matters", headers=_h(w), params={"size": 1, "page": 2})
    body = r.json()
    assert body["size"] == 1 and body["page"] == 2 and body["total"] >= 2 and len(body["items"]) == 1
    r = client.get("/api/v1/engagements", headers=_h(w), params={"firm_id": w.a.firm.id})
    assert {e["firm_id"] for e in r.json()["items"]} == {w.a.firm.id}
    assert client.get("/api/v1/matters", headers=_h(w), params={"size": 1000}).status_code == 422


def test_healthz(client):
    assert client.get("/healthz").json()["status"] == "ok"
