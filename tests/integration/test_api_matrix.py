"""Access matrix over every route in the OpenAPI document x every role.

New routes are picked up automatically from /openapi.json; a route this test does not
know how to exercise makes it fail, so nobody can add an unchecked route.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.audit.models import AuditEvent
from triad.core.permissions import Perm, Role, has

ROLES = [r.value for r in Role if r != Role.outside_counsel] + ["counsel_a"]

# path (without /api/v1) -> (read permission, write permission, firm-scoped?)
RESOURCES = {
    "/business-units": (Perm.org_read, Perm.org_write, False),
    "/cost-centers": (Perm.org_read, Perm.org_write, False),
    "/gl-accounts": (Perm.org_read, Perm.org_write, False),
    "/vendors": (Perm.vendors_read, Perm.vendors_write, True),
    "/firms": (Perm.firms_read, Perm.firms_write, True),
    "/timekeepers": (Perm.firms_read, Perm.firms_write, True),
    "/matters": (Perm.matters_read, Perm.matters_write, True),
    "/engagements": (Perm.matters_read, Perm.matters_write, True),
    "/budgets": (Perm.budgets_read, Perm.budgets_write, True),
    "/invoices": (Perm.invoices_read, Perm.invoices_submit, True),
    "/users": (Perm.users_read, Perm.users_write, True),
    "/approval-levels": (Perm.approvals_read, Perm.approvals_write, False),
    "/guidelines": (Perm.guidelines_read, None, True),
    "/guidelines/versions": (Perm.guidelines_read, Perm.guidelines_write, True),
    "/ap-routes": (Perm.ap_read, Perm.ap_write, False),
    "/ap/runs": (Perm.ap_read, None, False),
}
SELF_ROUTES = {("GET", "/auth/me"), ("POST", "/auth/tokens")}
# Workflow actions on one record: (method, path) -> (permission, body). Exercised on firm B's invoice.
ACTIONS = {
    ("POST", "/invoices/{item_id}/transitions"): (Perm.invoices_review, {"to": "in_review"}),
    ("POST", "/invoices/{item_id}/lines/{line_no}/decision"): (Perm.invoices_review, {"decision": "accepted"}),
    ("POST", "/invoices/bulk-approve"): (Perm.invoices_review, None),  # body: firm B's invoice id
    ("POST", "/ap/exports"): (Perm.ap_write, None),  # body: the world's catch-all route
    ("POST", "/invoices/{item_id}/reopen"): (Perm.ap_write, {"reason": "AP lost the file"}),
    ("POST", "/invoices/{item_id}/credits"): (Perm.ap_write, {"kind": "credit_note", "amount": "10.00",
                                                            "reason": "discount"}),
    ("POST", "/invoices/{item_id}/allocations"): (Perm.invoices_review, None),  # body: B's matter, all 900.00
    # vendor workflow, exercised on firm B's vendor (made ready for each action by _ready_for)
    ("POST", "/vendors/{item_id}/transitions"): (Perm.vendors_write, {"to": "pending_review"}),
    ("POST", "/vendors/{item_id}/review"): (Perm.vendors_review, {"outcome": "completed"}),
    ("POST", "/vendors/{item_id}/screen"): (Perm.vendors_review, {}),
    ("POST", "/vendors/hits/{hit_id}/clear"): (Perm.vendors_review, {"reason": "a different company"}),
    ("POST", "/vendors/changes/{change_id}/decision"): (Perm.vendors_write, {"approve": True}),
    ("POST", "/vendors/conflicts/{conflict_id}/resolve"): (Perm.vendors_review, {"accept": False,
                                                                                "reason": "Triad is right"}),
    ("POST", "/vendors/duplicates/{duplicate_id}/dismiss"): (Perm.vendors_review, {"reason": "two companies"}),
    ("POST", "/vendors/duplicates/{duplicate_id}/merge"): (Perm.vendors_review, None),  # body: keep B's vendor
}
# the state firm B's invoice must be in for each action (default: submitted)
ACTION_STATE = {"/invoices/{item_id}/lines/{line_no}/decision": "in_review", "/ap/exports": "approved",
                "/invoices/{item_id}/reopen": "sent_to_ap", "/invoices/{item_id}/credits": "approved",
                "/ap/imports": "sent_to_ap"}
# the success status where it is not 200
ACTION_OK = {"/ap/exports": 201, "/invoices/{item_id}/credits": 201}
# finance-only actions: counsel are refused by permission (403) before any invoice is looked up
COUNSEL_403 = {"/invoices/{item_id}/reopen", "/invoices/{item_id}/credits"}
# multipart uploads other than LEDES: (method, path) -> permission; the file pays firm B's invoice
UPLOADS = {("POST", "/ap/imports"): Perm.ap_write, ("POST", "/vendors/import"): Perm.vendors_write}


def _upload(w, rel: str) -> tuple[str, bytes]:
    """The file each upload route gets: a payment for firm B's invoice; for the vendor import, firm B's vendor
    with a risk tier procurement does not own (one conflict queued, one audit event)."""
    if rel == "/vendors/import":
        v = w.b.firm.vendor
        return "vendors.csv", (f"legal_name,country,tax_scheme,tax_id,risk_tier\n"
                               f"{v.legal_name},US,us_ein,{v.tax_ids[0].value},high\n").encode()
    return "pay.csv", _payment_feed(w)


def _payment_feed(w) -> bytes:
    return (f"invoice_id,payment_date,amount,currency,payment_reference,status\n"
            f"{w.b.invoice.id},2026-11-02,900.00,USD,PAY-{factories.uniq('')},paid\n").encode()


# Read-only views of one record: (method, path) -> permission. Exercised on firm B's invoice.
RECORD_VIEWS = {("GET", "/invoices/{item_id}/approval"): (Perm.approvals_read, 200),
                ("GET", "/vendors/{item_id}/risk"): (Perm.vendors_risk, 200),  # internal only: counsel get 403
                ("GET", "/ap/batches/{item_id}/file"): (Perm.ap_read, 404)}  # no batch in the world: 404 if allowed


# Reports: (method, path) -> (permission, the field naming each row's firm). Counsel see their own firm only.
REPORTS = {("GET", "/reports/exception-rate"): (Perm.invoices_read, "firm_id"),
           ("GET", "/invoices/review-queue"): (Perm.invoices_review, "firm_id"),
           ("GET", "/reports/reconciliation"): (Perm.ap_read, "firm"),
           ("GET", "/vendors/changes"): (Perm.vendors_write, "vendor_id"),
           ("GET", "/vendors/hits"): (Perm.vendors_review, "vendor_id"),
           ("GET", "/vendors/conflicts"): (Perm.vendors_review, "vendor_id"),
           # procurement and the legal reviewers who decide the flags (either permission)
           ("GET", "/vendors/duplicates"): ((Perm.vendors_write, Perm.vendors_review), "vendor_id"),
           # internal roles only (vendors.risk): counsel get 403 (docs/decisions/0014)
           ("GET", "/reports/vendor-risk"): (Perm.vendors_risk, "vendor_id"),
           ("GET", "/reports/vendor-onboarding"): (Perm.vendors_risk, "vendor_id")}



def _action_body(w, key):
    body = ACTIONS[key][1]
    if key[1] == "/ap/exports":
        return {"route": w.ap_route.name, "format": "csv"}
    if key[1] == "/vendors/duplicates/{duplicate_id}/merge":
        return {"survivor_id": w.b.firm.vendor_id, "reason": "the same supplier twice"}
    if key[1] == "/invoices/{item_id}/allocations":
        return {"allocations": [{"matter_id": w.b.matter.id, "cost_center_id": w.cc.id, "gl_account_id": w.gl.id,
                                 "amount": "900.00"}]}
    return {"invoice_ids": [w.b.invoice.id]} if body is None else body


def _action_url(w, rel: str, ids: dict | None = None) -> str:
    item = w.b.firm.vendor_id if rel.startswith("/vendors") else w.b.invoice.id
    url = "/api/v1" + rel.replace("{item_id}", str(item)).replace("{line_no}", "1")
    for key, value in (ids or {}).items():
        url = url.replace("{" + key + "}", str(value))
    return url


def _ready_for(db, w, rel: str) -> dict:
    """Put firm B's invoice where the action applies (line decisions while in review, and so on); vendor
    actions each need their own state. Returns ids of rows the action works on (a held change, a hit)."""
    if not rel.startswith("/vendors"):
        from triad.vendors.models import ScreeningHit

        db.expire(w.b.invoice)  # an earlier request may have moved it behind this session's back
        w.b.invoice.state = ACTION_STATE.get(rel, "submitted")
        # the open sanctions hits made for vendor actions below would (rightly) stop B's payment export
        db.execute(sa.update(ScreeningHit).where(ScreeningHit.vendor_id == w.b.firm.vendor_id,
                                                 ScreeningHit.status == "open")
                   .values(status="cleared", reason="matrix: made for a vendor action"))
        db.commit()
        return {}
    from triad.vendors.models import SanctionsList, ScreeningHit, Vendor, VendorConflict, VendorPendingChange

    v = db.get(Vendor, w.b.firm.vendor_id)
    v.status = "pending_review" if rel.endswith("/review") else "draft"
    v.legal_review, v.review_requested_by_id = "none", None
    if "/duplicates/" in rel:  # a flag between B's vendor and a draft copy without tax IDs (mergeable)
        from triad.vendors.models import VendorDuplicate

        for c in db.scalars(sa.select(VendorPendingChange).where(VendorPendingChange.vendor_id == v.id,
                                                                 VendorPendingChange.status == "pending")):
            c.status = "superseded"
        copy = Vendor(legal_name=f"{v.legal_name} (copy {factories.uniq('')})", country="US", other_names=[])
        db.add(copy)
        db.flush()
        flag = VendorDuplicate(vendor_id=v.id, other_vendor_id=copy.id, reason="similar_name")
        db.add(flag)
        db.commit()
        return {"duplicate_id": flag.id}
    lst = SanctionsList(source=factories.uniq("matrix"), filename="matrix.csv", sha256="0" * 64, entries=0,
                        loaded_by="test")
    db.add(lst)
    db.flush()
    hit = ScreeningHit(vendor_id=v.id, list_id=lst.id, list_source=lst.source, entry_uid="1",
                       entry_name="Bravo Law", matched_name=v.legal_name, score=95)
    change = VendorPendingChange(vendor_id=v.id, kind="bank_accounts", proposed=[], current=[], source="triad",
                                 requested_by="someone else")
    conflict = VendorConflict(vendor_id=v.id, field="status", source="procurement", owner="legal",
                              in_triad="draft", incoming="active")
    db.add_all([hit, change, conflict])
    db.commit()
    return {"hit_id": hit.id, "change_id": change.id, "conflict_id": conflict.id}


@pytest.fixture
def w(db):
    return factories.firm_guidelines(db, factories.world(db))


def _b_ids(w) -> dict[str, int]:
    """For each resource, the id of a record that belongs to firm B (or, for company-wide data, any)."""
    b = w.b
    return {"/business-units": w.bu.id, "/cost-centers": w.cc.id, "/gl-accounts": w.gl.id,
            "/vendors": b.firm.vendor_id, "/firms": b.firm.id, "/timekeepers": b.timekeeper.id,
            "/matters": b.matter.id, "/engagements": b.engagement.id, "/budgets": b.budget.id,
            "/invoices": b.invoice.id, "/users": b.counsel.id, "/approval-levels": w.approval_level.id,
            "/guidelines": b.guideline_version.set_id, "/guidelines/versions": b.guideline_version.id,
            "/ap-routes": w.ap_route.id, "/ap/runs": w.sync_run.id}


def _a_ids(w) -> dict[str, int]:
    a = w.a
    return {"/vendors": a.firm.vendor_id, "/firms": a.firm.id, "/timekeepers": a.timekeeper.id,
            "/matters": a.matter.id, "/engagements": a.engagement.id, "/budgets": a.budget.id,
            "/invoices": a.invoice.id, "/guidelines": a.guideline_version.set_id}


def create_bodies(w) -> dict[str, dict]:
    """A valid body for every create route (used by the audit test and the counsel write checks)."""
    n = factories.uniq("")
    return {
        "/business-units": {"code": f"NEW{n}", "name": "New unit"},
        "/cost-centers": {"code": f"NCC{n}", "name": "New CC", "business_unit_id": w.bu.id},
        "/gl-accounts": {"number": f"7{n}", "name": "New GL"},
        "/vendors": {"legal_name": f"New Vendor {n} Ltd", "country": "GB",
                     "tax_ids": [{"scheme": "gb_vat", "value": "GB980780684", "country": "GB"}]},
        "/firms": {"vendor_id": w.spare_vendor.id, "name": f"Charlie Counsel {n}",
                   "ledes_firm_id": w.spare_vendor.tax_ids[0].value,
                   "default_currency": "USD"},
        "/timekeepers": {"firm_id": w.b.firm.id, "tk_id": f"N{n}", "last_name": "New", "first_name": "Tk",
                         "classification": "PARLGL",
                         "rates": [{"rate": "200.00", "currency": "USD", "effective_from": "2026-01-01"}]},
        "/matters": {"number": f"NM-{n}", "name": "New matter", "matter_type": "counseling",
                     "business_unit_id": w.bu.id, "cost_center_id": w.cc.id, "opened_on": "2026-02-01",
                     "allocations": [{"cost_center_id": w.cc.id, "gl_account_id": w.gl.id, "percent": "100"}]},
        "/engagements": {"firm_id": w.b.firm.id, "matter_id": w.a.matter.id, "currency": "USD",
                         "starts_on": "2026-02-01"},
        "/budgets": {"matter_id": w.b.matter.id, "vendor_id": w.b.firm.vendor_id, "utbms_code": "L200",
                     "fiscal_period": "FY2026", "amount": "1000.00", "currency": "USD"},
        "/users": {"username": f"new{n}", "email": "new@example.com", "full_name": "New Person",
                   "role": "auditor", "password": "a long enough password"},
        "/auth/tokens": {"name": "integration"},
        "/guidelines/versions": {"scope": "firm", "firm_id": w.b.firm.id, "effective_from": "2100-01-01",
                                 "text": "name: Firm B terms\nrules:\n  currency: {severity: warning}\n"},
        "/ap-routes": {"name": f"route-{n}", "ap_system": "SAP S/4", "currency": "EUR", "priority": 5},
        "/approval-levels": {"name": f"Level {n}", "min_amount": "5000000", "currency": "USD",
                             "approver_id": w.users["legal_ops"].id},
    }


def update_bodies() -> dict[str, dict]:
    return {
        "/business-units": {"name": "Renamed"}, "/cost-centers": {"name": "Renamed"},
        "/gl-accounts": {"name": "Renamed"}, "/vendors": {"legal_name": "Renamed Vendor LLP"},
        "/firms": {"panel_member": False}, "/timekeepers": {"classification": "PARTNR"},
        "/matters": {"status": "on_hold"}, "/engagements": {"firm_matter_id": "CHANGED-1"},
        "/budgets": {"amount": "1234.56"}, "/users": {"full_name": "Changed Name"},
        "/approval-levels": {"name": "Renamed level"},
        "/ap-routes": {"priority": 7},
    }


def routes(client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
            if m in ("get", "post", "put", "patch", "delete")]


def _resource(path: str) -> tuple[str, bool]:
    rel = path.removeprefix("/api/v1")
    base = re.sub(r"/\{[^}]+\}$", "", rel)
    return base, base != rel


def _auth(w, key):
    return {"Authorization": f"Bearer {w.tokens[key]}"}


def test_every_route_is_known(client):
    unknown = []
    for method, path in routes(client):
        if path == "/healthz":
            continue
        rel = path.removeprefix("/api/v1")
        base, _ = _resource(path)
        if ((method, rel) not in SELF_ROUTES and (method, rel) not in ACTIONS and (method, rel) not in REPORTS
                and (method, rel) not in RECORD_VIEWS and (method, rel) not in UPLOADS and base not in RESOURCES):
            unknown.append(f"{method} {path}")
        if method in ("PUT", "DELETE"):
            unknown.append(f"{method} {path} (no matrix rule for {method})")
    assert unknown == [], f"add these routes to the access matrix: {unknown}"


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(client, db, w, role):
    """Each role gets exactly what its permissions allow; counsel of firm A never sees firm B."""
    b_ids = _b_ids(w)
    bodies = create_bodies(w)
    updates = update_bodies()
    headers = _auth(w, role)
    user_role = "outside_counsel" if role.startswith("counsel") else role
    problems = []
    for method, path in routes(client):
        rel = path.removeprefix("/api/v1")
        if (method, rel) in REPORTS:
            perm, firm_field = REPORTS[(method, rel)]
            r = client.get("/api/v1" + rel, headers=headers)
            want = 200 if any(has(user_role, p) for p in (perm if isinstance(perm, tuple) else (perm,))) else 403
            if r.status_code != want:
                problems.append(f"GET {rel}: {r.status_code}, want {want}")
            elif r.status_code == 200 and user_role == "outside_counsel" and {row[firm_field] for row in r.json()} - (
                    {w.a.firm.vendor_id} if firm_field == "vendor_id" else {w.a.firm.id}):
                problems.append(f"GET {rel} shows another firm's figures to counsel of firm A")
            continue
        if (method, rel) in UPLOADS:
            _ready_for(db, w, rel)
            r = client.post("/api/v1" + rel, headers=headers, files={"file": _upload(w, rel)})
            want = 200 if has(user_role, UPLOADS[(method, rel)]) else 403
            if r.status_code != want:
                problems.append(f"POST {rel}: {r.status_code}, want {want}: {r.text[:200]}")
            continue
        if (method, rel) in RECORD_VIEWS:
            perm, ok = RECORD_VIEWS[(method, rel)]
            r = client.get(_action_url(w, rel), headers=headers)
            want = ok if has(user_role, perm) else 403
            if r.status_code != want:
                problems.append(f"GET {rel} on B's invoice: {r.status_code}, want {want}")
            continue
        if (method, rel) in ACTIONS:
            perm = ACTIONS[(method, rel)][0]
            ids = _ready_for(db, w, rel)
            r = client.post(_action_url(w, rel, ids), headers=headers, json=_action_body(w, (method, rel)))
            counsel = user_role == "outside_counsel"
            # counsel may not see firm B's invoice (404) where the route names one; elsewhere the permission decides
            allowed = ACTION_OK.get(rel, 200) if has(user_role, perm) else 403
            want = 404 if counsel and "{" in rel and rel not in COUNSEL_403 else allowed
            if r.status_code != want:
                problems.append(f"{method} {rel} on B's invoice: {r.status_code}, want {want}: {r.text[:200]}")
            continue
        base, has_id = _resource(path)
        if base not in RESOURCES:
            continue
        read_perm, write_perm, firm_scoped = RESOURCES[base]
        can_read = has(user_role, read_perm)
        can_write = write_perm is not None and has(user_role, write_perm)
        counsel = user_role == "outside_counsel"
        url = "/api/v1" + base
        if method == "GET" and not has_id:
            r = client.get(url, headers=headers, params={"size": 200})
            want = 200 if can_read else 403
            if r.status_code != want:
                problems.append(f"GET {url}: {r.status_code}, want {want}")
            elif counsel and can_read:
                ids = {item["id"] for item in r.json()["items"]}
                if firm_scoped and b_ids[base] in ids:
                    problems.append(f"GET {url} lists firm B's record {b_ids[base]}")
                if base in _a_ids(w) and _a_ids(w)[base] not in ids:
                    problems.append(f"GET {url} hides firm A's own record")
        elif method == "GET":
            r = client.get(f"{url}/{b_ids[base]}", headers=headers)
            if counsel and can_read:
                want = 404 if firm_scoped else 200
            else:
                want = 200 if can_read else 403
            if r.status_code != want:
                problems.append(f"GET {url}/{{B}}: {r.status_code}, want {want}")
        elif method == "PATCH":
            before = client.get(f"{url}/{b_ids[base]}", headers=_auth(w, "admin")).json()
            r = client.patch(f"{url}/{b_ids[base]}", headers=headers, json=updates[base])
            if counsel and can_read and firm_scoped:
                want = 404
            elif not can_read:
                want = 403
            else:
                want = 200 if can_write else 403
            if r.status_code != want:
                problems.append(f"PATCH {url}/{{B}}: {r.status_code}, want {want}: {r.text[:200]}")
            after = client.get(f"{url}/{b_ids[base]}", headers=_auth(w, "admin")).json()
            if want != 200 and before != after:
                problems.append(f"PATCH {url}/{{B}} changed the record although refused")
        elif method == "POST" and base == "/invoices":
            # a LEDES file of firm B: counsel of firm A may submit, but not for firm B
            r = client.post(url, headers=headers, files={"file": ("b.ledes", factories.ledes_file(w.b))})
            want = (422 if counsel else 201) if can_write else 403
            if r.status_code != want:
                problems.append(f"POST {url}: {r.status_code}, want {want}: {r.text[:200]}")
        elif method == "POST":
            r = client.post(url, headers=headers, json=create_bodies(w)[base] if base in bodies else {})
            want = 201 if can_write else 403
            if r.status_code != want:
                problems.append(f"POST {url}: {r.status_code}, want {want}: {r.text[:200]}")
    assert problems == [], "\n".join(problems)


def test_counsel_search_never_reaches_other_firm(client, w):
    headers = _auth(w, "counsel_a")
    for base, term in (("/matters", "Bravo"), ("/firms", "Bravo"), ("/timekeepers", "Bravoson"),
                       ("/invoices", "Bravo"), ("/vendors", "Bravo")):
        r = client.get(f"/api/v1{base}", headers=headers, params={"q": term})
        assert r.status_code == 200
        assert r.json()["items"] == [], f"{base}?q={term} leaked {r.json()['items']}"
    # filters by another firm's id return nothing either
    r = client.get("/api/v1/invoices", headers=headers, params={"firm_id": w.b.firm.id})
    assert r.json()["total"] == 0


def test_counsel_pages_give_404_for_other_firm(client, w):
    _login(client, "counsel_alpha")
    for page in (f"/matters/{w.b.matter.id}", f"/firms/{w.b.firm.id}", f"/vendors/{w.b.firm.vendor_id}",
                 f"/invoices/{w.b.invoice.id}"):
        r = client.get(page, headers={"accept": "text/html"})
        assert r.status_code == 404, page
    for page, name in (("/matters", "Bravo matter"), ("/firms", "Bravo Law"), ("/invoices", w.b.invoice.invoice_number),
                       ("/vendors", "Bravo Law")):
        r = client.get(page, params={"q": "" if page != "/matters" else "Bravo"})
        assert r.status_code == 200
        assert name not in r.text, f"{page} shows {name}"
    assert "Alpha matter" in client.get("/matters").text


def _login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": username, "password": factories.PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text
    return r


def test_every_state_changing_route_writes_exactly_one_audit_event(client, db, w):
    bodies = create_bodies(w)
    updates = update_bodies()
    ids = _b_ids(w)
    headers = _auth(w, "admin")
    checked = []
    for method, path in routes(client):
        if method == "GET":
            continue
        base, has_id = _resource(path)
        rel = path.removeprefix("/api/v1")
        row_ids = _ready_for(db, w, rel) if (method, rel) in ACTIONS else {}
        n0 = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        if (method, rel) in UPLOADS:
            _ready_for(db, w, rel)
            n0 = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            r = client.post(path, headers=headers, files={"file": _upload(w, rel)})
            assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text}"
        elif (method, rel) in ACTIONS:
            r = client.post(_action_url(w, rel, row_ids), headers=headers, json=_action_body(w, (method, rel)))
            assert r.status_code == ACTION_OK.get(rel, 200), f"{method} {path}: {r.status_code} {r.text}"
        elif method == "POST" and base == "/invoices":
            r = client.post(path, headers=headers, files={"file": ("b.ledes", factories.ledes_file(w.b))})
            assert r.status_code == 201, f"POST {path}: {r.status_code} {r.text}"
        elif method == "POST":
            body = bodies.get(base if base in bodies else rel)
            assert body is not None, f"no example body for POST {path}"
            r = client.post(path, headers=headers, json=body)
            assert r.status_code == 201, f"POST {path}: {r.status_code} {r.text}"
        elif method == "PATCH":
            assert base in updates, f"no example body for PATCH {path}"
            r = client.patch(f"/api/v1{base}/{ids[base]}", headers=headers, json=updates[base])
            assert r.status_code == 200, f"PATCH {path}: {r.status_code} {r.text}"
        else:
            pytest.fail(f"no rule for {method} {path}")
        n1 = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        assert n1 - n0 == 1, f"{method} {path} wrote {n1 - n0} audit events"
        checked.append(f"{method} {path}")
    assert len(checked) >= 20


def test_get_routes_change_nothing(client, db, w):
    n0 = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    for method, path in routes(client):
        if method == "GET" and "{" not in path:
            client.get(path, headers=_auth(w, "admin"))
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == n0
