"""Likely duplicates decided by a legal reviewer (dismiss, merge, refusals), and the vendor import through the
API and the page (issue 6, open points 1 and 2)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration.test_vendor_master import activate
from triad.audit.models import AuditEvent
from triad.audit.service import Actor
from triad.budgets.models import Budget
from triad.core.errors import Conflict, PermissionDenied, ValidationFailed
from triad.firms.models import LawFirm
from triad.invoices.models import Invoice
from triad.vendors import merge, service, sync
from triad.vendors.models import (
    Vendor,
    VendorConflict,
    VendorDuplicate,
    VendorPendingChange,
    VendorStatusChange,
)
from triad.vendors.schemas import VendorCreate

PROC = Actor("cli:procurement")
IBAN = "GB06NWBK60161300004242"


@pytest.fixture
def w(db):
    return factories.world(db)


def _auth(w, key):
    return {"Authorization": f"Bearer {w.tokens[key]}"}


def _events(db, action: str | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return db.scalar(stmt)


def _flag(db, a: Vendor, b: Vendor) -> VendorDuplicate:
    flag = VendorDuplicate(vendor_id=a.id, other_vendor_id=b.id, reason="similar_name")
    db.add(flag)
    db.flush()
    return flag


def _copy_of_alpha(db) -> Vendor:
    """A draft record of the same supplier as firm A's vendor: another name form, no tax ID, a UK account."""
    return service.create_vendor(session=db, actor=PROC, data=VendorCreate(
        legal_name="Alpha Law Partners", country="GB", other_names=["Alpha Law (London)"],
        bank_accounts=[{"holder_name": "Alpha Law Partners", "iban": IBAN, "currency": "GBP"}]))


# ------------------------------------------------------------------ dismiss


def test_dismissed_flag_stays_dismissed_on_the_next_import(db, w):
    text = "legal_name,country\nAlpha Laws LLC,US\n"
    report = sync.import_vendors(session=db, data=text.encode(), filename="p.csv", source="procurement", actor=PROC)
    assert report.duplicates_flagged == 1
    flag = db.scalar(sa.select(VendorDuplicate))
    with pytest.raises(PermissionDenied, match="cannot decide likely duplicates"):
        merge.dismiss(session=db, flag=flag, user=w.users["procurement"], reason="different")
    with pytest.raises(ValidationFailed, match="reason"):
        merge.dismiss(session=db, flag=flag, user=w.users["legal_ops"], reason=" ")
    n = _events(db)
    merge.dismiss(session=db, flag=flag, user=w.users["legal_ops"], reason="a different firm in Ohio")
    assert (flag.status, flag.decided_by, flag.decision_reason) == (
        "dismissed", w.users["legal_ops"].username, "a different firm in Ohio")
    assert _events(db) == n + 1 and _events(db, "vendor.duplicate_dismissed") == 1
    # the same data again: no new flag, the decision stands
    again = sync.import_vendors(session=db, data=text.encode(), filename="p.csv", source="procurement", actor=PROC)
    assert again.duplicates_flagged == 0
    assert [d.status for d in db.scalars(sa.select(VendorDuplicate))] == ["dismissed"]
    with pytest.raises(Conflict, match="already dismissed"):
        merge.dismiss(session=db, flag=flag, user=w.users["legal_ops"], reason="again")


# ------------------------------------------------------------------ merge


def test_merge_moves_names_ids_accounts_and_links_to_the_survivor(db, w):
    alpha = w.a.firm.vendor
    ein = alpha.tax_ids[0].value
    alpha_account = alpha.bank_accounts[0].account_key
    survivor = _copy_of_alpha(db)
    flag = _flag(db, survivor, alpha)
    invoices = set(db.scalars(sa.select(Invoice.id).where(Invoice.vendor_id == alpha.id)))
    budgets = set(db.scalars(sa.select(Budget.id).where(Budget.vendor_id == alpha.id)))
    assert invoices and budgets
    with pytest.raises(ValidationFailed, match="not one of the two"):
        merge.merge(session=db, flag=flag, survivor_id=w.b.firm.vendor_id, user=w.users["legal_ops"], reason="x")
    n = _events(db)
    result = merge.merge(session=db, flag=flag, survivor_id=survivor.id, user=w.users["legal_ops"],
                         reason="the same firm, entered twice")
    assert _events(db) == n + 1 and _events(db, "vendor.merged") == 1
    db.refresh(survivor)
    assert survivor.other_names == ["Alpha Law (London)", "Alpha Law LLP"]
    assert [t.value for t in survivor.tax_ids] == [ein]
    assert [(b.account_key, b.is_primary) for b in survivor.bank_accounts] == [(IBAN, True), (alpha_account, False)]
    assert result.held_for_approval == []  # a draft survivor takes them at once
    assert db.get(LawFirm, w.a.firm.id).vendor_id == survivor.id
    assert set(db.scalars(sa.select(Invoice.id).where(Invoice.vendor_id == survivor.id))) == invoices
    assert set(db.scalars(sa.select(Budget.id).where(Budget.vendor_id == survivor.id))) == budgets
    assert result.moved["law_firms"] == 1 and result.moved["invoices"] == len(invoices)
    db.refresh(alpha)
    assert (alpha.status, alpha.merged_into_id, alpha.tax_ids) == ("deactivated", survivor.id, [])
    change = db.scalar(sa.select(VendorStatusChange).where(VendorStatusChange.vendor_id == alpha.id)
                       .order_by(VendorStatusChange.id.desc()))
    assert change.to_status == "deactivated" and f"merged into vendor {survivor.id}" in change.reason
    assert (flag.status, flag.decision_reason) == ("merged", "the same firm, entered twice")
    # the LEDES link still holds: the firm's LAW_FIRM_ID is the survivor's tax ID
    service.check_firm_link(db, survivor.id, w.a.firm.ledes_firm_id)
    event = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "vendor.merged"))
    assert event.entity_id == str(survivor.id) and event.reason == "the same firm, entered twice"


def test_merge_into_an_active_survivor_holds_new_bank_details_for_four_eyes(db, w):
    survivor = w.spare_vendor
    activate(db, w, survivor)
    payable = service.payable_bank_account(survivor).account_key
    copy = service.create_vendor(session=db, actor=PROC, data=VendorCreate(
        legal_name="Charlie Counsel L.L.P.", country="GB",
        bank_accounts=[{"holder_name": "Charlie", "iban": IBAN, "currency": "GBP"}]))
    flag = _flag(db, copy, survivor)
    conflict = VendorConflict(vendor_id=copy.id, field="risk_tier", source="procurement", owner="legal",
                              in_triad="medium", incoming="high")
    db.add(conflict)
    db.flush()
    result = merge.merge(session=db, flag=flag, survivor_id=survivor.id, user=w.users["legal_ops"],
                         reason="same supplier")
    held = db.get(VendorPendingChange, result.held_for_approval[0])
    assert (held.kind, held.status, held.source) == ("bank_accounts", "pending", "merge")
    assert service.payable_bank_account(survivor).account_key == payable  # payments still go to the approved one
    assert survivor.status == "active" and conflict.status == "superseded"
    assert copy.status == "deactivated"


def test_merge_is_refused_for_two_legal_entities_and_changes_nothing(db, w):
    a, b = w.a.firm.vendor, w.b.firm.vendor
    activate(db, w, a)
    activate(db, w, b)
    flag = _flag(db, a, b)
    n = _events(db)
    with pytest.raises(Conflict) as exc:
        merge.merge(session=db, flag=flag, survivor_id=a.id, user=w.users["legal_ops"], reason="same?")
    fields = [p["field"] for p in exc.value.errors]
    assert "tax_ids" in fields and "law_firms" in fields
    assert "two legal entities" in exc.value.detail
    assert (flag.status, a.status, b.status, _events(db)) == ("open", "active", "active", n)
    assert db.get(LawFirm, w.b.firm.id).vendor_id == b.id


def test_merge_keeps_the_live_record(db, w):
    live = w.spare_vendor
    activate(db, w, live)
    copy = service.create_vendor(session=db, actor=PROC, data=VendorCreate(legal_name="Charlie Counsel", country="US"))
    flag = _flag(db, copy, live)
    with pytest.raises(Conflict, match="keep the live record as the survivor"):
        merge.merge(session=db, flag=flag, survivor_id=copy.id, user=w.users["legal_ops"], reason="same")
    merge.merge(session=db, flag=flag, survivor_id=live.id, user=w.users["legal_ops"], reason="same")
    assert (copy.status, copy.merged_into_id, live.status) == ("deactivated", live.id, "active")
    assert "Charlie Counsel" not in live.other_names  # the same normalised name is not added as an alias


# ------------------------------------------------------------------ the API


def test_api_dismiss_and_merge(client, db, w):
    alpha_id = w.a.firm.vendor_id
    survivor = _copy_of_alpha(db)
    flag = _flag(db, survivor, w.a.firm.vendor)
    other = _flag(db, w.b.firm.vendor, w.spare_vendor)
    db.commit()
    r = client.post(f"/api/v1/vendors/duplicates/{flag.id}/merge", headers=_auth(w, "procurement"),
                    json={"survivor_id": survivor.id, "reason": "same"})
    assert r.status_code == 403
    r = client.post(f"/api/v1/vendors/duplicates/{flag.id}/merge", headers=_auth(w, "counsel_b"),
                    json={"survivor_id": survivor.id, "reason": "same"})
    assert r.status_code == 404  # counsel of B cannot see firm A's vendor
    r = client.post(f"/api/v1/vendors/duplicates/{flag.id}/merge", headers=_auth(w, "legal_ops"),
                    json={"survivor_id": survivor.id, "reason": "same firm"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["duplicate"]["status"], body["survivor_id"], body["merged_id"]) == (
        "merged", survivor.id, alpha_id)
    assert body["tax_ids_added"] == [w.a.firm.ledes_firm_id]
    r = client.get(f"/api/v1/vendors/{alpha_id}", headers=_auth(w, "admin"))
    assert (r.json()["status"], r.json()["merged_into_id"]) == ("deactivated", survivor.id)
    r = client.post(f"/api/v1/vendors/duplicates/{other.id}/dismiss", headers=_auth(w, "legal_ops"), json={})
    assert r.status_code == 422
    r = client.post(f"/api/v1/vendors/duplicates/{other.id}/dismiss", headers=_auth(w, "legal_ops"),
                    json={"reason": "different firms"})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    for role in ("procurement", "legal_ops"):
        r = client.get("/api/v1/vendors/duplicates", headers=_auth(w, role), params={"status": "dismissed"})
        assert [(d["id"], d["decision_reason"]) for d in r.json()] == [(other.id, "different firms")]
    assert client.get("/api/v1/vendors/duplicates", headers=_auth(w, "finance_ap")).status_code == 403
    # refused merges list every problem (409)
    a, b = w.spare_vendor, w.b.firm.vendor
    third = _flag(db, a, b)
    db.commit()
    r = client.post(f"/api/v1/vendors/duplicates/{third.id}/merge", headers=_auth(w, "legal_ops"),
                    json={"survivor_id": a.id, "reason": "same"})
    assert r.status_code == 409 and "two legal entities" in r.text


HEADER = "legal_name,country,tax_scheme,tax_id,iban,bank_currency,status\n"


def test_api_import_returns_the_cli_report(client, db, w):
    good = HEADER + f"Kilo Research Ltd,GB,gb_vat,GB434031494,{IBAN},GBP,active\n"
    bad = good + "Lima Ltd,GB,gb_vat,GB000,,,\n"
    url = "/api/v1/vendors/import"
    r = client.post(url, headers=_auth(w, "counsel_a"), files={"file": ("v.csv", good.encode())})
    assert r.status_code == 403
    r = client.post(url, headers=_auth(w, "legal_ops"), files={"file": ("v.csv", good.encode())})
    assert r.status_code == 403  # procurement's file needs vendors.write
    n = db.scalar(sa.select(sa.func.count()).select_from(Vendor))
    r = client.post(url, headers=_auth(w, "procurement"), files={"file": ("v.csv", bad.encode())})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["applied"] is False and [(e["file"], e["line"], e["field"]) for e in body["errors"]] == [
        ("v.csv", 3, "tax_id")]
    assert db.scalar(sa.select(sa.func.count()).select_from(Vendor)) == n
    r = client.post(url, headers=_auth(w, "procurement"), params={"dry_run": True},
                    files={"file": ("v.csv", good.encode())})
    assert r.status_code == 200 and r.json()["created"] == 1 and r.json()["applied"] is False
    assert db.scalar(sa.select(sa.func.count()).select_from(Vendor)) == n
    key = {"Idempotency-Key": "vendor-import-1"}
    r = client.post(url, headers=_auth(w, "procurement") | key, params={"partial": True},
                    files={"file": ("v.csv", bad.encode())})
    assert r.status_code == 200, r.text
    body = r.json()
    # the same keys as `triad vendors import --json`
    assert set(body) == set(sync.ImportReport("f", "procurement", False, False).as_dict())
    assert (body["applied"], body["created"], body["conflicts"], len(body["errors"])) == (True, 1, 1, 1)
    assert db.scalar(sa.select(sa.func.count()).select_from(Vendor)) == n + 1
    replay = client.post(url, headers=_auth(w, "procurement") | key, params={"partial": True},
                         files={"file": ("v.csv", bad.encode())})
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == body
    # legal's own file, as a legal user
    vid = body["outcomes"][0]["vendor_id"]
    legal = "legal_name,country,tax_scheme,tax_id,risk_tier\nKilo Research Ltd,GB,gb_vat,GB434031494,high\n"
    r = client.post(url, headers=_auth(w, "legal_ops"), params={"source": "legal"},
                    files={"file": ("legal.csv", legal.encode())})
    assert r.status_code == 200 and r.json()["updated"] == 1, r.text
    assert db.get(Vendor, vid).risk_tier == "high"
    r = client.post(url, headers=_auth(w, "procurement"), params={"source": "legal"},
                    files={"file": ("legal.csv", legal.encode())})
    assert r.status_code == 403
    r = client.post(url, headers=_auth(w, "procurement"), files={"file": ("x.csv", b"legal_name,colour\nX,red\n")})
    assert r.status_code == 422 and "unknown column" in r.text


# ------------------------------------------------------------------ the pages


def _login(client, username, page="/vendors"):
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    assert client.post("/login", data={"username": username, "password": factories.PASSWORD,
                                       "csrf_token": token}).status_code == 303
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text).group(1)


def test_import_page_shows_the_report(client, db, w):
    token = _login(client, w.users["procurement"].username, "/vendors/import")
    page = client.get("/vendors/import")
    assert page.status_code == 200 and 'id="import-form"' in page.text
    assert '<option value="legal"' not in page.text  # procurement cannot import legal's file
    bad = HEADER + f"Kilo Research Ltd,GB,gb_vat,GB434031494,{IBAN},GBP,active\nLima Ltd,GB,gb_vat,GB000,,,\n"
    r = client.post("/vendors/import", data={"csrf_token": token, "source": "procurement"},
                    files={"file": ("v.csv", bad.encode())})
    assert r.status_code == 422
    assert re.search(r"<td>v.csv</td><td class=\"num\">3</td><td>tax_id</td>", r.text), r.text
    assert "refused, nothing changed" in r.text
    r = client.post("/vendors/import", data={"csrf_token": token, "source": "procurement", "partial": "1"},
                    files={"file": ("v.csv", bad.encode())})
    assert r.status_code == 200 and "applied" in r.text and 'id="outcomes"' in r.text
    assert "1 conflict(s) queued" in r.text
    assert db.scalar(sa.select(Vendor).where(Vendor.legal_name == "Kilo Research Ltd")) is not None
    r = client.post("/vendors/import", data={"csrf_token": "forged", "source": "procurement"},
                    files={"file": ("v.csv", bad.encode())})
    assert r.status_code == 403


def test_pages_dismiss_and_merge_flags(client, db, w):
    alpha_id = w.a.firm.vendor_id
    survivor = _copy_of_alpha(db)
    flag = _flag(db, survivor, w.a.firm.vendor)
    other = _flag(db, w.b.firm.vendor, w.spare_vendor)
    db.commit()
    token = _login(client, w.users["legal_ops"].username, "/vendors/duplicates")
    page = client.get("/vendors/duplicates")
    assert f'id="merge-{flag.id}"' in page.text and f'id="dismiss-{other.id}"' in page.text
    vendor_page = client.get(f"/vendors/{survivor.id}")
    assert 'id="duplicates"' in vendor_page.text and f'id="merge-{flag.id}"' in vendor_page.text
    r = client.post(f"/vendors/duplicates/{other.id}/dismiss", data={"csrf_token": token, "reason": "",
                                                                     "next": "/vendors/duplicates"})
    assert r.status_code == 422 and "reason" in r.text
    r = client.post(f"/vendors/duplicates/{other.id}/dismiss", data={"csrf_token": token, "reason": "not the same",
                                                                     "next": "/vendors/duplicates"})
    assert r.status_code == 303 and r.headers["location"] == "/vendors/duplicates"
    r = client.post(f"/vendors/duplicates/{flag.id}/merge", data={
        "csrf_token": token, "survivor_id": str(survivor.id), "reason": "same firm", "next": f"/vendors/{survivor.id}"})
    assert r.status_code == 303 and r.headers["location"] == f"/vendors/{survivor.id}"
    db.expire_all()
    assert (db.get(VendorDuplicate, flag.id).status, db.get(VendorDuplicate, other.id).status) == (
        "merged", "dismissed")
    merged_page = client.get(f"/vendors/{alpha_id}")
    assert 'id="merged-into"' in merged_page.text and f'href="/vendors/{survivor.id}"' in merged_page.text
    # a procurement user sees the list but no decision forms, and a forged decision is refused
    client.cookies.clear()
    token = _login(client, w.users["procurement"].username, "/vendors/duplicates")
    third = _flag(db, w.b.firm.vendor, survivor)
    db.commit()
    page = client.get("/vendors/duplicates")
    assert page.status_code == 200 and f'id="merge-{third.id}"' not in page.text
    r = client.post(f"/vendors/duplicates/{third.id}/dismiss", data={"csrf_token": token, "reason": "x",
                                                                     "next": "/vendors/duplicates"})
    assert r.status_code == 403
    assert db.get(VendorDuplicate, third.id).status == "open"
