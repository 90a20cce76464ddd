"""Vendor master: validation per country, the activation gate (every path), four eyes, blocked firms."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from tests.factories import world as factories
from triad.audit.models import AuditEvent
from triad.audit.service import Actor
from triad.core.errors import Conflict, PermissionDenied, ValidationFailed
from triad.core.permissions import Role
from triad.invoices.intake import import_file
from triad.matters.schemas import EngagementCreate
from triad.vendors import screening, service
from triad.vendors.models import GateBypass, ScreeningHit, Vendor, VendorPendingChange
from triad.vendors.schemas import BankAccountIn, TaxIdIn, VendorCreate, VendorUpdate

NAMES = b"uid,name\nN-1,Meridian Gold Exchange\n"


@pytest.fixture
def w(db):
    return factories.world(db)


def _auth(w, key):
    return {"Authorization": f"Bearer {w.tokens[key]}"}


def _with_list(db):
    screening.load_list(session=db, data=NAMES, filename="names.csv", fmt="names", actor=Actor("test"))


def _ready(db, w, vendor: Vendor) -> None:
    """Submitted by procurement, screened, reviewed by legal: everything the gate asks for."""
    proc, legal = w.users["procurement"], w.users["legal_ops"]
    service.transition(session=db, vendor=vendor, to="pending_review", actor=Actor.of(proc), user=proc)
    _with_list(db)
    screening.screen_vendor(session=db, vendor=vendor, actor=Actor("test"))
    service.record_review(session=db, vendor=vendor, reviewer=legal, outcome="completed")


def activate(db, w, vendor: Vendor) -> None:
    _ready(db, w, vendor)
    legal = w.users["legal_ops"]
    service.transition(session=db, vendor=vendor, to="active", actor=Actor.of(legal), user=legal)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(("scheme", "value", "country", "stored"), [
    ("us_ein", "134924710", "US", "13-4924710"),
    ("eu_vat", "136695976", "DE", "DE136695976"),
    ("eu_vat", "FR 40 303265045", "FR", "FR40303265045"),
    ("gb_vat", "980 7806 84", "GB", "GB980780684"),
    ("gb_crn", "sc123456", "GB", "SC123456"),
    ("gb_crn", "1234567", "GB", "01234567"),
])
def test_valid_tax_ids_are_stored_in_canonical_form(scheme, value, country, stored):
    assert TaxIdIn(scheme=scheme, value=value, country=country).value == stored


@pytest.mark.parametrize(("scheme", "value", "country", "message"), [
    ("us_ein", "12-345678", "US", "not a valid US EIN"),
    ("eu_vat", "DE136695977", "DE", "checksum"),
    ("gb_vat", "GB980780685", "GB", "checksum"),
    ("eu_vat", "GB980780684", "GB", "not an EU member"),
    ("eu_vat", "FR40303265045", "DE", "a VAT number of FR, not DE"),
    ("us_ein", "13-4924710", "GB", "issued in US"),
    ("gb_crn", "ABC", "GB", "not a UK company number"),
])
def test_invalid_tax_ids_are_refused(scheme, value, country, message):
    with pytest.raises(ValidationError, match=message):
        TaxIdIn(scheme=scheme, value=value, country=country)


def test_bank_accounts_are_checked():
    ok = BankAccountIn(holder_name="X", iban="gb29 nwbk 6016 1331 9268 19", bic="NWBKGB2L", currency="GBP")
    assert (ok.iban, ok.account_key) == ("GB29NWBK60161331926819", "GB29NWBK60161331926819")
    us = BankAccountIn(holder_name="X", routing_number="021000021", account_number="12345678", currency="USD")
    assert us.account_key == "021000021:12345678"
    for bad, message in (({"iban": "GB28NWBK60161331926819"}, "not a valid IBAN"),
                         ({"routing_number": "021000022", "account_number": "1234"}, "not a valid US routing"),
                         ({"iban": "GB29NWBK60161331926819", "bic": "COBADEFFXXX"}, "bank in DE, the IBAN is in GB"),
                         ({"routing_number": "021000021"}, "account_number"),
                         ({}, "give an IBAN")):
        with pytest.raises(ValidationError, match=message):
            BankAccountIn(holder_name="X", currency="USD", **bad)


def test_api_refuses_bad_tax_id_naming_the_field(client, w, db):
    n0 = db.scalar(sa.select(sa.func.count()).select_from(Vendor))
    r = client.post("/api/v1/vendors", headers=_auth(w, "procurement"), json={
        "legal_name": "Bad Tax Ltd", "country": "GB",
        "tax_ids": [{"scheme": "gb_vat", "value": "GB980780685", "country": "GB"}]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "tax_ids.0"
    assert "checksum" in r.json()["errors"][0]["message"]
    assert db.scalar(sa.select(sa.func.count()).select_from(Vendor)) == n0


def test_a_tax_id_belongs_to_one_vendor(client, w):
    taken = w.a.firm.vendor.tax_ids[0].value
    r = client.post("/api/v1/vendors", headers=_auth(w, "procurement"), json={
        "legal_name": "Copycat LLP", "country": "US", "tax_ids": [{"scheme": "us_ein", "value": taken,
                                                                   "country": "US"}]})
    assert r.status_code == 409
    assert f"already belongs to vendor {w.a.firm.vendor_id}" in r.json()["detail"]


def test_law_firm_id_must_be_the_vendors_tax_id(client, w):
    v = w.spare_vendor
    body = {"vendor_id": v.id, "name": "Charlie", "ledes_firm_id": "13-9999999", "default_currency": "USD"}
    r = client.post("/api/v1/firms", headers=_auth(w, "legal_ops"), json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "ledes_firm_id"
    body["ledes_firm_id"] = v.tax_ids[0].value.replace("-", "")  # same ID, written without the hyphen
    assert client.post("/api/v1/firms", headers=_auth(w, "legal_ops"), json=body).status_code == 201


# ------------------------------------------------------------------ the gate


def test_gate_lists_everything_missing(db, w):
    v = service.create_vendor(session=db, actor=Actor.of(w.users["procurement"]),
                              data=VendorCreate(legal_name="Empty Co", country="US"))
    service.transition(session=db, vendor=v, to="pending_review", actor=Actor.of(w.users["procurement"]))
    fields = [p["field"] for p in service.gate_problems(db, v)]
    assert fields == ["legal_review", "screening", "tax_ids", "bank_accounts"]
    with pytest.raises(Conflict, match="cannot be activated") as exc:
        service.transition(session=db, vendor=v, to="active", actor=Actor.of(w.users["legal_ops"]))
    assert len(exc.value.errors) == 4
    assert v.status == "pending_review"


def test_reviewer_must_be_legal_and_not_the_requester(db, w):
    legal2 = factories.user(db, Role.legal_ops)
    v = service.create_vendor(session=db, actor=Actor.of(legal2), data=VendorCreate(
        legal_name="Self Requested LLP", country="US", onboarding_pathway="legal",
        tax_ids=[{"scheme": "us_ein", "value": factories.ein(), "country": "US"}]))
    service.transition(session=db, vendor=v, to="pending_review", actor=Actor.of(legal2))
    with pytest.raises(PermissionDenied, match="someone other than the requester"):
        service.record_review(session=db, vendor=v, reviewer=legal2, outcome="completed")
    with pytest.raises(PermissionDenied, match="cannot record a legal review"):
        service.record_review(session=db, vendor=v, reviewer=w.users["procurement"], outcome="completed")
    service.record_review(session=db, vendor=v, reviewer=w.users["legal_ops"], outcome="completed")
    assert v.legal_review == "completed"


def test_full_path_activates_and_records_history(db, w):
    v = w.spare_vendor
    activate(db, w, v)
    assert v.status == "active" and v.activated_at is not None
    moves = [(c.event, c.from_status, c.to_status) for c in db.get(Vendor, v.id).status_changes]
    assert moves == [("transition", "draft", "pending_review"), ("legal_review", "pending_review", "pending_review"),
                     ("transition", "pending_review", "active")]
    actions = list(db.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_type == "vendor",
                                                                 AuditEvent.entity_id == str(v.id))
                              .order_by(AuditEvent.seq)))
    assert actions == ["vendor.created", "vendor.status_changed", "vendor.screened", "vendor.legal_review_completed",
                       "vendor.status_changed"]


def test_status_cannot_be_set_around_the_gate(db, w):
    v = w.spare_vendor
    with pytest.raises(GateBypass):
        v.status = "active"
    with pytest.raises(GateBypass):  # what crud.create(..., status="active") would do
        Vendor(legal_name="Sneaky Ltd", country="US", status="active")
    with pytest.raises(ValidationFailed):
        service.create_vendor(session=db, actor=Actor("test"), status="active",
                              data=VendorCreate(legal_name="Sneaky Ltd", country="US"))


def test_screening_hit_blocks_activation_until_cleared(db, w):
    v = w.spare_vendor
    v.other_names = ["Meridian Gold Exchange Ltd"]
    _ready(db, w, v)
    assert v.screening_status == "hit"
    hit = db.scalar(sa.select(ScreeningHit).where(ScreeningHit.vendor_id == v.id))
    assert (hit.matched_name, hit.entry_name, hit.entry_uid) == ("Meridian Gold Exchange Ltd",
                                                                  "Meridian Gold Exchange", "N-1")
    legal = w.users["legal_ops"]
    with pytest.raises(Conflict, match="screening: a sanctions screening match is open"):
        service.transition(session=db, vendor=v, to="active", actor=Actor.of(legal), user=legal)
    with pytest.raises(ValidationFailed):
        screening.clear_hit(session=db, hit=hit, reviewer=legal, reason="")
    screening.clear_hit(session=db, hit=hit, reviewer=legal, reason="Different company: registry checked")
    assert v.screening_status == "cleared"
    service.transition(session=db, vendor=v, to="active", actor=Actor.of(legal), user=legal)
    assert v.status == "active"


def test_api_gate_path(client, db, w):
    """Procurement requests a vendor; legal cannot activate it before the review; after it, it can."""
    _with_list(db)
    db.commit()
    proc, legal = _auth(w, "procurement"), _auth(w, "legal_ops")
    r = client.post("/api/v1/vendors", headers=proc, json={
        "legal_name": "Delta Advisory LLP", "country": "US",
        "tax_ids": [{"scheme": "us_ein", "value": factories.ein(), "country": "US"}],
        "bank_accounts": [{"holder_name": "Delta", "routing_number": "021000021", "account_number": "99887766",
                           "currency": "USD"}]})
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    assert client.post(f"/api/v1/vendors/{vid}/transitions", headers=legal,
                       json={"to": "pending_review"}).status_code == 403  # procurement asks for review
    assert client.post(f"/api/v1/vendors/{vid}/transitions", headers=proc,
                       json={"to": "pending_review"}).status_code == 200
    r = client.post(f"/api/v1/vendors/{vid}/transitions", headers=legal, json={"to": "active"})
    assert r.status_code == 409
    assert {e["field"] for e in r.json()["errors"]} == {"legal_review", "screening"}
    assert client.post(f"/api/v1/vendors/{vid}/transitions", headers=proc, json={"to": "active"}).status_code == 403
    assert client.post(f"/api/v1/vendors/{vid}/screen", headers=legal).json() == []
    assert client.post(f"/api/v1/vendors/{vid}/review", headers=proc, json={"outcome": "completed"}).status_code == 403
    assert client.post(f"/api/v1/vendors/{vid}/review", headers=legal, json={"outcome": "completed"}).status_code == 200
    r = client.post(f"/api/v1/vendors/{vid}/transitions", headers=legal, json={"to": "active"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["legal_review"] == "completed"


def test_changing_reviewed_data_voids_the_review(db, w):
    v = w.spare_vendor
    _ready(db, w, v)
    service.update_vendor(session=db, obj=v, actor=Actor.of(w.users["procurement"]),
                          data=VendorUpdate(legal_name="Charlie Counsel Partners LLP"))
    assert (v.legal_review, v.screening_status) == ("none", "not_screened")
    assert [p["field"] for p in service.gate_problems(db, v)] == ["legal_review", "screening"]


# ------------------------------------------------------------------ four eyes


NEW_BANK = {"holder_name": "Charlie", "routing_number": "026009593", "account_number": "11112222", "currency": "USD"}


def test_bank_change_on_active_vendor_waits_for_a_second_person(client, db, w):
    v = w.spare_vendor
    activate(db, w, v)
    old = service.payable_bank_account(v)
    old_key = old.account_key
    db.commit()
    r = client.patch(f"/api/v1/vendors/{v.id}", headers=_auth(w, "procurement"), json={"bank_accounts": [NEW_BANK]})
    assert r.status_code == 200
    assert r.json()["bank_accounts"][0]["account_number"] == old.account_number  # not applied
    assert service.payable_bank_account(db.get(Vendor, v.id)).account_key == old_key
    change = db.scalar(sa.select(VendorPendingChange).where(VendorPendingChange.vendor_id == v.id))
    assert (change.status, change.kind, change.proposed[0]["account_number"]) == ("pending", "bank_accounts",
                                                                                  "11112222")
    # the same request again does not queue a second change
    client.patch(f"/api/v1/vendors/{v.id}", headers=_auth(w, "procurement"), json={"bank_accounts": [NEW_BANK]})
    assert db.scalar(sa.select(sa.func.count()).select_from(VendorPendingChange)) == 1
    # the requester cannot approve it
    r = client.post(f"/api/v1/vendors/changes/{change.id}/decision", headers=_auth(w, "procurement"),
                    json={"approve": True})
    assert r.status_code == 403 and "four eyes" in r.json()["detail"]
    assert service.payable_bank_account(db.get(Vendor, v.id)).account_key == old_key
    r = client.post(f"/api/v1/vendors/changes/{change.id}/decision", headers=_auth(w, "admin"), json={"approve": True})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    db.expire_all()
    assert service.payable_bank_account(db.get(Vendor, v.id)).account_key == "026009593:11112222"
    last = db.scalar(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert last.action == "vendor.bank_change_approved"
    assert last.before["bank_accounts"][0]["account_key"] == old_key


def test_tax_change_on_active_firm_vendor_must_keep_the_ledes_id(db, w):
    v = w.a.firm.vendor
    activate(db, w, v)
    service.update_vendor(session=db, obj=v, actor=Actor.of(w.users["procurement"]), data=VendorUpdate(
        tax_ids=[{"scheme": "us_ein", "value": factories.ein(), "country": "US"}]))
    change = db.scalar(sa.select(VendorPendingChange).where(VendorPendingChange.vendor_id == v.id))
    with pytest.raises(Conflict, match="LAW_FIRM_ID"):
        service.decide_change(session=db, change=change, approve=True, actor=Actor.of(w.users["admin"]))
    service.decide_change(session=db, change=change, approve=False, actor=Actor.of(w.users["admin"]),
                          reason="wrong number")
    assert change.status == "rejected" and v.tax_ids[0].value == w.a.firm.ledes_firm_id


def test_draft_vendor_changes_apply_directly_and_are_not_payable(db, w):
    v = w.spare_vendor
    service.update_vendor(session=db, obj=v, actor=Actor("test"), data=VendorUpdate(bank_accounts=[NEW_BANK]))
    assert v.bank_accounts[0].account_number == "11112222"
    assert service.payable_bank_account(v) is None  # never activated


# ------------------------------------------------------------------ blocked firms


@pytest.mark.parametrize("status", ["suspended", "deactivated"])
def test_blocked_firm_cannot_be_engaged_or_invoice(client, db, w, status):
    v = w.b.firm.vendor
    activate(db, w, v)
    legal = w.users["legal_ops"]
    service.transition(session=db, vendor=v, to=status, actor=Actor.of(legal), user=legal, reason="off panel")
    db.commit()
    r = client.post("/api/v1/engagements", headers=_auth(w, "legal_ops"), json={
        "firm_id": w.b.firm.id, "matter_id": w.a.matter.id, "currency": "USD", "starts_on": "2026-02-01"})
    assert r.status_code == 409 and status in r.json()["detail"]
    r = client.patch(f"/api/v1/engagements/{w.b.engagement.id}", headers=_auth(w, "legal_ops"),
                     json={"status": "ended"})
    assert r.status_code == 200
    r = client.patch(f"/api/v1/engagements/{w.b.engagement.id}", headers=_auth(w, "legal_ops"),
                     json={"status": "active"})
    assert r.status_code == 409
    result = import_file(session=db, data=factories.ledes_file(w.b), filename="b.ledes", actor=Actor("test"))
    assert result.invoices[0].status == "rejected"
    assert f"is {status}; it cannot submit invoices" in result.invoices[0].errors[0]["message"]
    firm = client.get(f"/api/v1/firms/{w.b.firm.id}", headers=_auth(w, "admin")).json()
    assert firm["vendor_status"] == status


def test_suspension_needs_a_reason_and_deactivation_is_final(db, w):
    v = w.spare_vendor
    activate(db, w, v)
    legal = w.users["legal_ops"]
    with pytest.raises(ValidationFailed, match="needs a reason"):
        service.transition(session=db, vendor=v, to="suspended", actor=Actor.of(legal), user=legal)
    service.transition(session=db, vendor=v, to="deactivated", actor=Actor.of(legal), user=legal, reason="merged")
    with pytest.raises(Conflict, match="can move to: none"):
        service.transition(session=db, vendor=v, to="active", actor=Actor.of(legal), user=legal)


def test_engaging_an_active_firm_still_works(client, w, db):
    activate(db, w, w.b.firm.vendor)
    db.commit()
    r = client.post("/api/v1/engagements", headers=_auth(w, "legal_ops"), json=EngagementCreate(
        firm_id=w.b.firm.id, matter_id=w.a.matter.id, currency="USD", starts_on="2026-02-01").model_dump(mode="json"))
    assert r.status_code == 201


def _page_login(client, username):
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": username, "password": factories.PASSWORD, "csrf_token": token})
    assert r.status_code == 303
    form = client.get("/")
    return re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)


def test_page_gate_path(client, db, w):
    """The pages call the same gate: refused with every problem shown until legal reviewed and it was screened."""
    v = w.spare_vendor
    proc = w.users["procurement"]
    service.transition(session=db, vendor=v, to="pending_review", actor=Actor.of(proc), user=proc)
    _with_list(db)
    db.commit()
    csrf = _page_login(client, w.users["legal_ops"].username)
    r = client.post(f"/vendors/{v.id}/transition", data={"to": "active", "csrf_token": csrf})
    assert r.status_code == 409
    assert "no completed legal review" in r.text and "has not been screened" in r.text
    assert client.post(f"/vendors/{v.id}/screen", data={"csrf_token": csrf}).status_code == 303
    assert client.post(f"/vendors/{v.id}/review", data={"outcome": "completed", "csrf_token": csrf}).status_code == 303
    r = client.post(f"/vendors/{v.id}/transition", data={"to": "active", "csrf_token": csrf})
    assert r.status_code == 303
    db.expire_all()
    assert db.get(Vendor, v.id).status == "active"
    assert 'id="status">active' in client.get(f"/vendors/{v.id}").text
