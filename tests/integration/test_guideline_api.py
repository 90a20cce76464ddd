"""Guidelines over the API and on their page: read, load a new version, refuse a bad document whole."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.audit.models import AuditEvent
from triad.guidelines.models import GuidelineSet, GuidelineVersion

DOC = "name: Company terms\nrules:\n  rate_cap:\n    severity: reject-line\n    action: reduce\n" \
      "    by_classification: {ASSOC: \"600.00\"}\n"


@pytest.fixture
def w(db):
    return factories.firm_guidelines(db, factories.world(db))


def _h(w, key):
    return {"Authorization": f"Bearer {w.tokens[key]}"}


def _versions(db):
    return db.scalar(sa.select(sa.func.count()).select_from(GuidelineVersion))


def test_load_read_and_supersede_over_the_api(client, db, w):
    r = client.post("/api/v1/guidelines/versions", headers=_h(w, "legal_ops"),
                    json={"effective_from": "2026-01-01", "text": DOC})
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert (v1["version_no"], v1["effective_to"]) == (1, None)
    assert v1["document"]["rules"]["rate_cap"]["by_classification"] == {"ASSOC": "600.00"}
    ev = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "guideline.version_loaded",
                                               AuditEvent.entity_id == str(v1["id"])))
    assert ev.actor == w.users["legal_ops"].username
    # the same set as a JSON object: the next version, and the first one now ends the day before
    r = client.post("/api/v1/guidelines/versions", headers=_h(w, "admin"),
                    json={"effective_from": "2026-07-01", "document": {"name": "Company terms H2", "rules": {
                        "rate_cap": {"by_classification": {"ASSOC": "625.00"}}}}})
    assert r.status_code == 201 and r.json()["version_no"] == 2
    gset = client.get(f"/api/v1/guidelines/{v1['set_id']}", headers=_h(w, "auditor")).json()
    assert [(v["version_no"], v["effective_from"], v["effective_to"]) for v in gset["versions"]] == [
        (1, "2026-01-01", "2026-06-30"), (2, "2026-07-01", None)]
    assert gset["name"] == "Company terms H2"


def test_a_bad_document_is_refused_whole_with_every_problem_named(client, db, w):
    n = _versions(db)
    bad = DOC.replace('"600.00"', "abc") + "  rate_capp: {}\n"
    r = client.post("/api/v1/guidelines/versions", headers=_h(w, "legal_ops"),
                    json={"effective_from": "2026-01-01", "text": bad})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"rules.rate_cap.by_classification.ASSOC", "rules.rate_capp"}
    broken = client.post("/api/v1/guidelines/versions", headers=_h(w, "legal_ops"),
                         json={"effective_from": "2026-01-01", "text": "name: x\nrules: [\n"})
    assert broken.status_code == 422 and broken.json()["errors"][0]["field"] == "line 2"  # the unclosed "["
    both = client.post("/api/v1/guidelines/versions", headers=_h(w, "legal_ops"),
                       json={"effective_from": "2026-01-01", "text": DOC, "document": {"name": "x"}})
    assert both.status_code == 422
    earlier = client.post("/api/v1/guidelines/versions", headers=_h(w, "legal_ops"),
                          json={"scope": "firm", "firm_id": w.a.firm.id, "effective_from": "2098-01-01", "text": DOC})
    assert earlier.status_code == 422 and "must start later" in earlier.json()["detail"]
    assert client.post("/api/v1/guidelines/versions", headers=_h(w, "finance_ap"),
                       json={"effective_from": "2026-01-01", "text": DOC}).status_code == 403
    assert _versions(db) == n


def test_counsel_see_the_guidelines_that_bind_them_only(client, db, w):
    client.post("/api/v1/guidelines/versions", headers=_h(w, "legal_ops"),
                json={"effective_from": "2026-01-01", "text": DOC})
    seen = client.get("/api/v1/guidelines", headers=_h(w, "counsel_a"), params={"size": 200}).json()["items"]
    scopes = {(g["scope"], g["firm_id"]) for g in seen}
    assert ("company", None) in scopes and ("firm", w.a.firm.id) in scopes and ("firm", w.b.firm.id) not in scopes
    b_version = w.b.guideline_version.id
    assert client.get(f"/api/v1/guidelines/versions/{b_version}", headers=_h(w, "counsel_a")).status_code == 404
    assert client.get(f"/api/v1/guidelines/versions/{b_version}", headers=_h(w, "counsel_b")).status_code == 200
    assert client.post("/api/v1/guidelines/versions", headers=_h(w, "counsel_a"),
                       json={"scope": "firm", "firm_id": w.a.firm.id, "effective_from": "2100-01-01",
                             "text": DOC}).status_code == 403


def _login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"username": username, "password": factories.PASSWORD,
                                       "csrf_token": token}).status_code == 303


def _csrf(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_edit_on_the_page(client, db, w):
    _login(client, w.users["legal_ops"].username)
    page = client.get("/guidelines")
    assert page.status_code == 200 and "New guideline set" in page.text
    token = _csrf(page.text)
    bad = client.post("/guidelines/versions", data={"csrf_token": token, "scope": "company",
                                                    "effective_from": "2026-01-01", "text": DOC + "  nonsense: {}\n"})
    assert bad.status_code == 422 and "rules.nonsense" in bad.text and "unknown rule" in bad.text
    assert "nonsense: {}" in bad.text  # the text typed is kept for correction
    ok = client.post("/guidelines/versions", data={"csrf_token": token, "scope": "company",
                                                   "effective_from": "2026-01-01", "text": DOC})
    assert ok.status_code == 303
    gset = db.scalar(sa.select(GuidelineSet).where(GuidelineSet.scope == "company"))
    assert ok.headers["location"] == f"/guidelines/{gset.id}?version=1"
    shown = client.get(ok.headers["location"])
    assert "Version 1: rules" in shown.text and "rate cap" in shown.text
    # a new version from the set's page, with the textarea pre-filled from the latest
    assert "ASSOC: &#34;600.00&#34;" in shown.text or 'ASSOC: "600.00"' in shown.text
    nxt = client.post("/guidelines/versions", data={"csrf_token": token, "set_id": str(gset.id),
                                                    "effective_from": "2026-03-01",
                                                    "text": DOC.replace("600.00", "610.00")})
    assert nxt.status_code == 303 and nxt.headers["location"].endswith("version=2")
    db.expire_all()
    assert [v.effective_to for v in gset.versions][0].isoformat() == "2026-02-28"
    # someone who may only read sees no form, and cannot post one
    client.cookies.clear()
    _login(client, w.users["auditor"].username)
    ro = client.get(f"/guidelines/{gset.id}")
    assert ro.status_code == 200 and "Save a new version" not in ro.text
    assert client.post("/guidelines/versions", data={"csrf_token": _csrf(ro.text), "set_id": str(gset.id),
                                                     "effective_from": "2026-05-01", "text": DOC}).status_code == 403
