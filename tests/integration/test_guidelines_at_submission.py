"""Guidelines loaded as versioned data are applied when an invoice is submitted."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.audit.models import AuditEvent
from triad.audit.service import Actor
from triad.core.errors import ValidationFailed
from triad.guidelines.models import GuidelineVersion, InvoiceFinding
from triad.guidelines.service import load, versions_for
from triad.invoices.intake import import_file

ACTOR = Actor("legal")
EXAMPLE = Path(__file__).parent.parent.parent / "docs" / "examples" / "guidelines-company.yaml"
CAP = """name: caps
rules:
  rate_cap:
    severity: reject-line
    action: reduce
    clause: "4.1 Rates above the caps are paid at the cap."
    by_classification: {ASSOC: 400.00}
"""


def test_findings_stored_and_reported(db, w_loaded):
    w = w_loaded
    r = import_file(session=db, data=factories.ledes_file(w.a, "G-1"), filename="g.ledes", actor=ACTOR)
    (outcome,) = r.invoices
    assert outcome.status == "stored"
    caps = [f for f in outcome.findings if f["rule"] == "rate_cap"]
    assert caps and caps[0]["message"] == "billed 450.00/h, cap for ASSOC is 400.00/h"
    assert caps[0]["adjustment"] == "-100.000" and caps[0]["severity"] == "reject-line" and caps[0]["line"] == 1
    assert caps[0]["guideline_version"] == "company v1" and caps[0]["clause"].startswith("4.1")
    stored = db.scalars(sa.select(InvoiceFinding).where(InvoiceFinding.invoice_id == outcome.invoice_id)).all()
    assert {f.rule for f in stored} == {f["rule"] for f in outcome.findings}
    ev = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "invoice.submitted")).all()[-1]
    assert ev.after["findings"] == len(outcome.findings)


def test_api_shows_findings_to_own_firm_only(client, db, w_loaded):
    w = w_loaded
    r = import_file(session=db, data=factories.ledes_file(w.a, "G-2"), filename="g.ledes", actor=ACTOR)
    db.commit()
    inv_id = r.invoices[0].invoice_id
    own = client.get(f"/api/v1/invoices/{inv_id}", headers={"Authorization": f"Bearer {w.tokens['counsel_a']}"})
    assert own.status_code == 200 and any(f["rule"] == "rate_cap" for f in own.json()["findings"])
    other = client.get(f"/api/v1/invoices/{inv_id}", headers={"Authorization": f"Bearer {w.tokens['counsel_b']}"})
    assert other.status_code == 404


def test_line_judged_by_version_in_force(db, w):
    load(session=db, text=CAP, effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    load(session=db, text=CAP.replace("400.00", "500.00"), effective_from=dt.date(2026, 9, 10), actor=ACTOR)
    versions = versions_for(session=db, firm_id=w.a.firm.id, engagement_id=w.a.engagement.id)
    assert [(v.label, v.effective_from, v.effective_to) for v in versions] == [
        ("company v1", dt.date(2026, 1, 1), dt.date(2026, 9, 9)), ("company v2", dt.date(2026, 9, 10), None)]
    r = import_file(session=db, data=factories.ledes_file(w.a, "G-3"), filename="g.ledes", actor=ACTOR)
    assert [f["guideline_version"] for f in r.invoices[0].findings if f["rule"] == "rate_cap"] == ["company v1"]


def test_firm_override_merges_over_company(db, w):
    load(session=db, text=CAP, effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    load(session=db, text=CAP.replace("400.00", "450.00"), scope="firm", firm_id=w.a.firm.id,
         effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    (v,) = versions_for(session=db, firm_id=w.a.firm.id, engagement_id=w.a.engagement.id)
    assert v.label == f"company v1 + firm {w.a.firm.id} v1"
    r = import_file(session=db, data=factories.ledes_file(w.a, "G-4"), filename="g.ledes", actor=ACTOR)
    assert not [f for f in r.invoices[0].findings if f["rule"] == "rate_cap"]  # 450 is within the firm's cap


def test_bad_documents_are_refused_with_every_problem(db):
    with pytest.raises(ValidationFailed) as exc:
        load(session=db, text="name: x\nrules:\n  rate_cap: {by_classification: {PARTNR: abc}}\n  nope: {}\n",
             effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    assert {e["field"] for e in exc.value.errors} == {"rules.rate_cap.by_classification.PARTNR", "rules.nope"}
    assert db.scalar(sa.select(sa.func.count()).select_from(GuidelineVersion)) == 0


def test_versions_are_audited(db):
    n0 = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    load(session=db, text=EXAMPLE.read_text(), effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    ev = db.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == n0 + 1
    assert ev.action == "guideline.version_loaded" and "rate_cap" in json.dumps(ev.after)


@pytest.fixture
def w(db):
    return factories.world(db)


@pytest.fixture
def w_loaded(db, w):
    load(session=db, text=CAP, effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    db.flush()
    return w


def test_cli_load_then_import_prints_findings(cli_db, tmp_path):
    from triad.cli import app

    runner, core_db = cli_db
    with core_db.transaction() as s:
        w = factories.world(s)
        data = factories.ledes_file(w.a, "CLI-1")
    bad = runner.invoke(app, ["guidelines", "load", str(EXAMPLE), "--effective-from", "not-a-date"])
    assert bad.exit_code == 2
    ok = runner.invoke(app, ["guidelines", "load", str(EXAMPLE), "--effective-from", "2026-01-01"])
    assert ok.exit_code == 0, ok.output
    assert "company v1" in ok.output
    path = tmp_path / "cli.ledes"
    path.write_bytes(data)
    out = runner.invoke(app, ["invoices", "import", str(path), "--json"])
    body = json.loads(out.stdout)
    (inv,) = body["files"][0]["invoices"]
    assert inv["state"] == "submitted"
    rules = {f["rule"] for f in inv["findings"]}
    assert "vague_description" in rules  # "Review facts": two words, the example guideline wants three
    assert "approved_rate" not in rules  # billed 450.00, the timekeeper's approved rate
    assert all({"rule", "severity", "line", "message", "adjustment"} <= f.keys() for f in inv["findings"])


def test_portal_shows_findings_to_the_firm(client, db, w_loaded):
    import re

    w = w_loaded
    r = import_file(session=db, data=factories.ledes_file(w.a, "G-9"), filename="g.ledes", actor=ACTOR)
    db.commit()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": "counsel_alpha", "password": factories.PASSWORD, "csrf_token": token})
    html = client.get(f"/invoices/{r.invoices[0].invoice_id}").text
    assert "Guideline findings" in html and "cap for ASSOC is 400.00/h" in html and "4.1 Rates above" in html


def test_exception_rate_by_firm(client, db, w_loaded):
    w = w_loaded
    import_file(session=db, data=factories.ledes_file(w.a, "X-1"), filename="x1.ledes", actor=ACTOR)  # 450 > cap
    import_file(session=db, data=factories.ledes_file(w.a, "X-2", rate="400.00"), filename="x2.ledes", actor=ACTOR)
    db.commit()
    rows = client.get("/api/v1/reports/exception-rate", headers={"Authorization": f"Bearer {w.tokens['legal_ops']}"})
    a = next(r for r in rows.json() if r["firm_id"] == w.a.firm.id)
    # firm A: the factory invoice (no findings: screened before guidelines existed), X-1 (rate cap), X-2 (within cap)
    assert (a["invoices"], a["invoices_with_findings"]) == (3, 1)
    assert a["share_of_invoices"] == "0.3333" and a["invoices_by_rule"]["rate_cap"] == 1
    (usd,) = a["amounts"]
    # billed: 900 (factory) + 900 (X-1: 2 h x 450) + 800 (X-2: 2 h x 400) = 2600; flagged 900 -> 0.3462
    assert usd["billed"] == "2600" and usd["billed_with_findings"] == "900" and usd["share_with_findings"] == "0.3462"
    own = client.get("/api/v1/reports/exception-rate", headers={"Authorization": f"Bearer {w.tokens['counsel_b']}"})
    assert {r["firm_id"] for r in own.json()} == {w.b.firm.id}


@pytest.mark.parametrize("path", ["targeted", "bulk"])
def test_history_hours_and_duplicates_against_earlier_invoices(db, w, monkeypatch, path):
    """The firm's earlier invoices count, looked up by key (a submission) or read at once (a bulk
    import), with the same findings; a withdrawn invoice does not count."""
    import triad.guidelines.service as gs
    from triad.invoices.models import Invoice

    if path == "bulk":
        monkeypatch.setattr(gs, "TARGETED_MAX_LINES", 0)
    load(session=db, text=EXAMPLE.read_text(), effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    first = import_file(session=db, data=factories.ledes_file(w.a, "H-1", units="6.0"), filename="h1.ledes",
                        actor=ACTOR)
    gone = import_file(session=db, data=factories.ledes_file(w.a, "H-0", units="3.0"), filename="h0.ledes",
                       actor=ACTOR)
    db.get(Invoice, gone.invoices[0].invoice_id).state = "withdrawn"
    db.flush()
    second = import_file(session=db, data=factories.ledes_file(w.a, "H-2", units="7.50"), filename="h2.ledes",
                         actor=ACTOR)
    hours = [f["message"] for f in second.invoices[0].findings if f["rule"] == "daily_hours"]
    assert hours == [f"{w.a.timekeeper.tk_id} billed 15.50 h on 2026-09-03 (8 h of it on earlier invoices); "
                     "at most 12 h a day are allowed"]
    assert not [f for f in second.invoices[0].findings if f["rule"] == "duplicate_lines"]
    third = import_file(session=db, data=factories.ledes_file(w.a, "H-3", units="6.00"), filename="h3.ledes",
                        actor=ACTOR)
    dups = [f["message"] for f in third.invoices[0].findings if f["rule"] == "duplicate_lines"]
    assert dups == ["already billed on invoice H-1"]
    assert first.invoices[0].status == "stored"
