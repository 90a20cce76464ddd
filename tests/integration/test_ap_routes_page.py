"""The AP routes page: finance adds and changes routes (validated like the API, audited), others only read;
the order and the catch-all shown are the ones the export uses."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.ap.models import ApRoute
from triad.ap.service import active_routes, route_for
from triad.audit.models import AuditEvent


@pytest.fixture
def w(db):
    return factories.world(db)


def _login(client, username, page="/ap/routes"):
    first = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', first.text).group(1)
    assert client.post("/login", data={"username": username, "password": factories.PASSWORD,
                                       "csrf_token": token}).status_code == 303
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text).group(1)


def _form(token, **values):
    base = {"csrf_token": token, "name": "", "priority": "10", "ap_system": "SAP", "business_unit_id": "",
            "legal_entity": "", "currency": "", "csv_layout": "single", "csv_columns": "", "debtor_name": "",
            "debtor_iban": "", "debtor_bic": "", "is_active": "1"}
    return base | values


def test_finance_adds_a_route_and_changes_it(client, db, w):
    token = _login(client, w.users["finance_ap"].username)
    bu = w.a.matter.business_unit_id
    r = client.post("/ap/routes", data=_form(token, name="eur-sap", currency="eur", business_unit_id=str(bu),
                                             csv_layout="multi", csv_columns="amount = Betrag\ncurrency = Waehrung",
                                             debtor_name="Triad GmbH", debtor_iban="DE89 3704 0044 0532 0130 00",
                                             debtor_bic="COBADEFFXXX"))
    assert r.status_code == 303, r.text
    route = db.scalars(sa.select(ApRoute).where(ApRoute.name == "eur-sap")).one()
    assert (route.currency, route.business_unit_id, route.csv_layout) == ("EUR", bu, "multi")
    assert route.csv_columns == {"amount": "Betrag", "currency": "Waehrung"}
    assert route.debtor_iban == "DE89370400440532013000"
    page = client.get("/ap/routes").text
    assert f'id="route-{route.id}"' in page and "eur-sap" in page and "2 renamed" in page
    # a change: deactivate and move it down; one audit event with before and after
    r = client.post("/ap/routes", data=_form(token, route_id=str(route.id), priority="500", currency="EUR",
                                             business_unit_id=str(bu), csv_layout="multi", is_active=""))
    assert r.status_code == 303
    db.expire_all()
    assert (route.priority, route.is_active, route.csv_columns) == (500, False, {})
    events = db.scalars(sa.select(AuditEvent).where(AuditEvent.entity_type == "ap_route",
                                                    AuditEvent.entity_id == str(route.id))
                        .order_by(AuditEvent.seq)).all()
    assert [e.action for e in events] == ["ap_route.created", "ap_route.updated"]
    assert events[1].before["priority"] == 10 and events[1].after["priority"] == 500
    assert events[1].before["is_active"] is True and events[1].after["is_active"] is False


@pytest.mark.parametrize(("values", "message"), [
    ({"name": "x", "debtor_iban": "DE00370400440532013000"}, "not a valid IBAN"),
    ({"name": "x", "debtor_bic": "NOPE"}, "not a valid BIC"),
    ({"name": "x", "csv_columns": "amout = Amount"}, "unknown column(s) amout"),
    ({"name": "x", "csv_columns": "amount = invoice_id"}, "same header"),
    ({"name": "x", "csv_columns": "amount Betrag"}, "line 1"),
    ({"name": "x", "currency": "XYZ"}, "currency"),
    ({"name": "x", "priority": "-5"}, "priority"),
    ({"name": "bad name!"}, "name"),
])
def test_bad_route_is_refused_with_the_field_and_changes_nothing(client, db, w, values, message):
    token = _login(client, w.users["finance_ap"].username)
    before = db.scalar(sa.select(sa.func.count()).select_from(ApRoute))
    events = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    r = client.post("/ap/routes", data=_form(token, **values))
    assert r.status_code == 422 and message in r.text
    assert 'role="alert"' in r.text
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(ApRoute)) == before
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events


def test_duplicate_name_is_refused(client, db, w):
    token = _login(client, w.users["finance_ap"].username)
    r = client.post("/ap/routes", data=_form(token, name=w.ap_route.name))
    assert r.status_code in (409, 422) and w.ap_route.name in r.text


def test_readers_see_routes_but_cannot_change_them(client, db, w):
    token = _login(client, w.users["auditor"].username)
    page = client.get("/ap/routes")
    assert page.status_code == 200 and w.ap_route.name in page.text and "Add a route" not in page.text
    r = client.post("/ap/routes", data=_form(token, name="sneaky"))
    assert r.status_code == 403
    assert db.scalars(sa.select(ApRoute).where(ApRoute.name == "sneaky")).first() is None


def test_counsel_cannot_open_the_page(client, db, w):
    _login(client, w.users["counsel_a"].username, page="/")
    assert client.get("/ap/routes").status_code == 403


def test_the_route_added_on_the_page_is_the_one_the_export_picks(client, db, w):
    token = _login(client, w.users["finance_ap"].username)
    inv = w.a.invoice
    r = client.post("/ap/routes", data=_form(token, name="first", priority="1", currency=inv.currency))
    assert r.status_code == 303
    db.expire_all()
    assert route_for(inv, active_routes(db)).name == "first"
    route = db.scalars(sa.select(ApRoute).where(ApRoute.name == "first")).one()
    client.post("/ap/routes", data=_form(token, route_id=str(route.id), priority="1", currency=inv.currency,
                                         is_active=""))
    db.expire_all()
    assert route_for(inv, active_routes(db)).name != "first"
