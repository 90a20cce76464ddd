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


def test_amount_limits_give_422_not_500(client, db):
    w = factories.world(db)
    base = {"matter_id": w.a.matter.id, "vendor_id": w.a.firm.vendor_id, "fiscal_period": "FY2028",
            "currency": "USD"}
    for amount in ("1.0000001", "1e30"):
        r = client.post("/api/v1/budgets", headers=_h(w), json=base | {"amount": amount})
        assert r.status_code == 422, (amount, r.text)
    r = client.post("/api/v1/budgets", headers=_h(w), json=base | {"amount": "100.5", "currency": "JPY"})
    assert r.status_code == 422 and "JPY" in r.text


def test_nested_rows_are_checked(client, db):
    w = factories.world(db)
    r = client.post("/api/v1/matters", headers=_h(w), json={
        "number": "N-1", "name": "n", "matter_type": "counseling", "business_unit_id": w.bu.id,
        "cost_center_id": w.cc.id, "opened_on": "2026-01-01",
        "allocations": [{"cost_center_id": 999999, "gl_account_id": w.gl.id, "percent": "100"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "allocations[0].cost_center_id"
    tk = f"/api/v1/timekeepers/{w.a.timekeeper.id}"
    same_day = [{"rate": "500.00", "currency": "USD", "effective_from": "2026-01-01"}]
    r = client.patch(tk, headers=_h(w), json={"rates": same_day})  # replaces the rate of the same date
    assert r.status_code == 200, r.text
    assert [x["rate"] for x in r.json()["rates"]] == ["500"]
    r = client.patch(tk, headers=_h(w), json={"rates": same_day * 2})
    assert r.status_code == 422 and "two items" in r.json()["detail"]


def test_empty_patch_writes_no_audit_event(client, db):
    w = factories.world(db)
    n0 = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    assert client.patch(f"/api/v1/firms/{w.a.firm.id}", headers=_h(w), json={}).status_code == 200
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == n0
