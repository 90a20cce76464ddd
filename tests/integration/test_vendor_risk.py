"""Aggregate vendor risk and onboarding metrics (issue 6, points 5 and 6), with figures worked out by hand.

The world: vendors Alpha Law LLP (firm A), Bravo Law LLP (firm B), Charlie Counsel LLP (no firm), plus
Delta (legal-initiated), Echo (procurement) and Foxtrot (self-service) added here.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from tests.factories import world as factories
from triad.contracts.models import Contract, ContractKeyDate
from triad.guidelines.models import InvoiceFinding
from triad.invoices.models import InvoiceStateChange
from triad.matters.models import Engagement
from triad.reports import vendor_risk
from triad.vendors.models import SanctionsList, ScreeningHit, Vendor, VendorBusinessUnit, VendorStatusChange

UTC = dt.UTC
BIG = Decimal("12345678901.23")


def _auth(w, key):
    return {"Authorization": f"Bearer {w.tokens[key]}"}


def _invoice(db, w, fw, amount: str, currency: str, state: str, finding: bool = False, rejected: bool = False):
    inv = factories.invoice(db, fw.firm, fw.matter, fw.timekeeper, w.cc, w.gl, "more work")
    inv.total_amount, inv.currency, inv.state = Decimal(amount), currency, state
    if finding:
        db.add(InvoiceFinding(invoice_id=inv.id, rule="rate_cap", severity="warning", action="flag",
                              message="rate above the cap", adjustment=Decimal("0"), currency=currency))
    if rejected:
        db.add(InvoiceStateChange(invoice_id=inv.id, from_state="in_review", to_state="rejected", actor="test"))
    db.flush()
    return inv


def _hit(db, lst, vendor_id: int, status: str = "open"):
    db.add(ScreeningHit(vendor_id=vendor_id, list_id=lst.id, list_source=lst.source, entry_uid=factories.uniq(""),
                        entry_name="Someone Listed", matched_name="x", score=Decimal("93.5"), status=status))


@pytest.fixture
def w(db):
    w = factories.world(db)
    va, vb, vc = w.a.firm.vendor_id, w.b.firm.vendor_id, w.spare_vendor.id
    a, b, c = db.get(Vendor, va), db.get(Vendor, vb), db.get(Vendor, vc)
    a.risk_tier, b.risk_tier, c.risk_tier = "high", "medium", "high"
    c.onboarding_pathway = "self_service"
    d = factories.vendor(db, "Delta Legal Services Ltd")
    d.onboarding_pathway, d.risk_tier = "legal", "low"
    e = factories.vendor(db, "Echo Supplies Inc")
    e.risk_tier = "low"
    f = factories.vendor(db, "Foxtrot Data Inc")
    f.onboarding_pathway, f.risk_tier = "self_service", "low"
    # --- invoices of firm A: the world's 900.00 USD one is paid
    w.a.invoice.state = "paid"
    _invoice(db, w, w.a, str(BIG), "USD", "approved", finding=True)
    _invoice(db, w, w.a, "100.10", "EUR", "sent_to_ap")
    _invoice(db, w, w.a, "50.00", "USD", "rejected", finding=True, rejected=True)  # a guideline rejection
    _invoice(db, w, w.a, "60.00", "USD", "rejected", rejected=True)  # rejected, no finding: no incident
    _invoice(db, w, w.a, "70.00", "USD", "withdrawn", finding=True)  # left out of the exception rate
    # firm B's 900.00 USD invoice stays submitted: no spend, no finding
    # --- open matters: A is also engaged on B's matter (open) and on a closed matter in another unit
    db.add(Engagement(firm_id=w.a.firm.id, matter_id=w.b.matter.id, currency="USD", starts_on=dt.date(2026, 2, 1)))
    bu2, bu3 = factories.business_unit(db), factories.business_unit(db)
    closed = factories.matter(db, bu3, factories.cost_center(db, bu3), "Closed matter")
    closed.status = "closed"
    db.add(Engagement(firm_id=w.a.firm.id, matter_id=closed.id, currency="USD", starts_on=dt.date(2026, 2, 1)))
    db.add(VendorBusinessUnit(vendor_id=va, business_unit_id=bu2.id))
    # --- screening: B has one open and one cleared match, Charlie one open match
    lst = SanctionsList(source=factories.uniq("risk"), filename="l.csv", sha256="1" * 64, entries=1, loaded_by="t")
    db.add(lst)
    db.flush()
    _hit(db, lst, vb)
    _hit(db, lst, vb, status="cleared")
    _hit(db, lst, vc)
    b.screening_status, b.screened_at = "hit", dt.datetime(2026, 10, 3, 9, 0, tzinfo=UTC)
    # --- B was suspended once
    db.add(VendorStatusChange(vendor_id=vb, from_status="active", to_status="suspended", actor="test",
                              reason="late filings"))
    # --- contracts and first activations
    db.add_all([
        Contract(vendor_id=va, title="Panel MSA", contract_type="msa", status="executed", value=Decimal("250000.00"),
                 currency="USD", executed_on=dt.date(2026, 3, 2), effective_on=dt.date(2026, 3, 3),
                 expires_on=dt.date(2027, 3, 1),
                 key_dates=[ContractKeyDate(kind="renewal_notice", due_on=dt.date(2027, 1, 30), lead_days=30)]),
        Contract(vendor_id=va, title="Engagement letter", contract_type="engagement_letter", status="executed",
                 executed_on=dt.date(2026, 2, 20)),
        Contract(vendor_id=va, title="Draft SOW", contract_type="sow", status="draft"),  # not executed
        Contract(vendor_id=vb, title="Engagement letter", contract_type="engagement_letter", status="executed",
                 executed_on=dt.date(2026, 4, 1)),
        Contract(vendor_id=vc, title="Data terms", contract_type="msa", status="executed",
                 executed_on=dt.date(2026, 6, 10)),
        Contract(vendor_id=e.id, title="Supply", contract_type="msa", status="executed",
                 executed_on=dt.date(2026, 5, 1)),
        Contract(vendor_id=d.id, title="Advice", contract_type="engagement_letter", status="executed",
                 executed_on=dt.date(2026, 7, 1)),
    ])
    a.activated_at = dt.datetime(2026, 3, 5, 23, 30, tzinfo=UTC)  # 13 days after 2026-02-20
    b.activated_at = dt.datetime(2026, 4, 11, 8, 0, tzinfo=UTC)  # 10 days
    e.activated_at = dt.datetime(2026, 5, 2, 0, 5, tzinfo=UTC)  # 1 day
    c.activated_at = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # activated 9 days before its contract: -9
    f.activated_at = dt.datetime(2026, 6, 2, 12, 0, tzinfo=UTC)  # no contract: not measured
    # Delta (legal) never activated
    db.commit()
    w.ids = {"a": va, "b": vb, "c": vc, "d": d.id, "e": e.id, "f": f.id, "bu2": bu2.id}
    return w


def _money(rows):
    return {m["currency"]: m["amount"] for m in rows}


def test_one_vendor_risk_across_business_units(client, w):
    r = client.get(f"/api/v1/vendors/{w.ids['a']}/risk", headers=_auth(w, "auditor"))
    assert r.status_code == 200, r.text
    body = r.json()
    # spend: paid 900.00 + approved 12,345,678,901.23 USD (exact), 100.10 EUR sent to AP; rejected/withdrawn out
    assert _money(body["spend"]) == {"USD": "12345679801.23", "EUR": "100.10"}
    assert body["risk_tier"] == "high"
    assert body["open_matters"] == 2  # its own matter and B's; the closed matter does not count
    # invoices: 900 paid, big approved (finding), EUR, 50 rejected (finding), 60 rejected; withdrawn left out
    assert (body["invoices"], body["invoices_with_findings"], body["exception_rate"]) == (5, 2, "0.4000")
    assert {(b["id"], b["declared"]) for b in body["business_units"]} == {(w.bu.id, False), (w.ids["bu2"], True)}
    assert body["open_screening_hits"] == 0
    assert [c["title"] for c in body["contracts"]] == ["Panel MSA", "Engagement letter", "Draft SOW"]
    msa = body["contracts"][0]
    assert (msa["value"], msa["currency"], msa["executed_on"], msa["expires_on"]) == \
        ("250000.00", "USD", "2026-03-02", "2027-03-01")
    assert msa["key_dates"] == [{"kind": "renewal_notice", "due_on": "2027-01-30", "lead_days": 30,
                                 "description": None}]

    b = client.get(f"/api/v1/vendors/{w.ids['b']}/risk", headers=_auth(w, "legal_ops")).json()
    assert b["spend"] == [] and b["open_screening_hits"] == 1 and b["screening_status"] == "hit"
    assert b["screened_at"].startswith("2026-10-03T09:00:00") and b["open_matters"] == 1
    assert (b["invoices"], b["exception_rate"]) == (1, "0.0000")
    assert client.get("/api/v1/vendors/999999/risk", headers=_auth(w, "admin")).status_code == 404


def test_portfolio_sorts(client, w):
    def order(**params):
        r = client.get("/api/v1/reports/vendor-risk", headers=_auth(w, "procurement"), params=params)
        assert r.status_code == 200, r.text
        return [row["vendor_id"] for row in r.json()]

    a, b, c, d, e, f = (w.ids[k] for k in "abcdef")
    # high: Charlie (1 open hit) before Alpha (0); medium: Bravo; low: Delta, Echo, Foxtrot (ties: by name)
    assert order() == [c, a, b, d, e, f]
    assert order(sort="name") == [a, b, c, d, e, f]
    assert order(sort="name", direction="desc") == [f, e, d, c, b, a]
    assert order(sort="spend")[0] == a
    assert order(sort="spend", currency="EUR")[0] == a
    assert order(sort="exception_rate")[0] == a
    assert order(sort="open_hits")[:2] == [b, c]
    assert order(sort="open_matters")[:2] == [a, b]
    assert order(sort="risk_tier", direction="asc")[:3] == [d, e, f]
    assert order(limit=2, offset=1) == [a, b]
    assert client.get("/api/v1/reports/vendor-risk", headers=_auth(w, "admin"),
                      params={"sort": "bogus"}).status_code == 422
    rows = {r["vendor_id"]: r for r in client.get("/api/v1/reports/vendor-risk", headers=_auth(w, "admin")).json()}
    assert _money(rows[a]["spend"]) == {"USD": "12345679801.23", "EUR": "100.10"}
    assert "contracts" not in rows[a]


def test_portfolio_service_matches_the_one_vendor_view(db, w):
    admin = w.users["admin"]
    every = {r.vendor_id: r for r in vendor_risk.vendor_risks(session=db, user=admin)}
    one = vendor_risk.vendor_risks(session=db, user=admin, vendor_ids=[w.ids["a"]])[0]
    assert every[w.ids["a"]].spend == one.spend == {"USD": BIG + Decimal("900.00"), "EUR": Decimal("100.10")}
    assert isinstance(one.spend["USD"], Decimal)
    assert (one.invoices, one.invoices_with_findings, one.open_matters) == (5, 2, 2)


def test_onboarding_metrics(client, w):
    r = client.get("/api/v1/reports/vendor-onboarding", headers=_auth(w, "finance_ap"))
    assert r.status_code == 200, r.text
    body = r.json()
    paths = {p["pathway"]: p for p in body["pathways"]}
    assert list(paths) == ["self_service", "procurement", "legal"]
    proc = paths["procurement"]  # Alpha 13, Bravo 10, Echo 1 days
    assert (proc["vendors"], proc["activated"], proc["measured"]) == (3, 3, 3)
    assert (proc["median_days_to_activation"], proc["average_days_to_activation"]) == ("10.0", "8.0")
    # incidents: Bravo's two matches (one cleared) and suspension, Alpha's rejected invoice with a finding
    assert (proc["screening_hits"], proc["suspensions"], proc["guideline_rejections"], proc["incidents"]) == \
        (2, 1, 1, 4)
    assert (proc["vendors_with_incidents"], proc["incidents_per_vendor"]) == (2, "1.33")
    selfs = paths["self_service"]  # Charlie -9 days, Foxtrot activated without a contract
    assert (selfs["vendors"], selfs["activated"], selfs["measured"]) == (2, 2, 1)
    assert (selfs["median_days_to_activation"], selfs["average_days_to_activation"]) == ("-9.0", "-9.0")
    assert (selfs["incidents"], selfs["screening_hits"], selfs["incidents_per_vendor"]) == (1, 1, "0.50")
    legal = paths["legal"]
    assert (legal["vendors"], legal["activated"], legal["measured"], legal["median_days_to_activation"],
            legal["incidents"]) == (1, 0, 0, None, 0)
    rows = {v["vendor_id"]: v for v in body["vendors"]}
    assert rows[w.ids["a"]]["contract_executed_on"] == "2026-02-20"  # the earliest executed contract
    assert [rows[w.ids[k]]["days_to_activation"] for k in "abcdef"] == [13, 10, -9, None, 1, None]
    assert rows[w.ids["b"]]["incidents"] == 3


def test_even_count_median_is_the_mean_of_the_middle_two(db, w):
    g = factories.vendor(db, "Golf Partners LLP")
    g.activated_at = dt.datetime(2026, 8, 31, tzinfo=UTC)
    db.add(Contract(vendor_id=g.id, title="MSA", contract_type="msa", status="executed",
                    executed_on=dt.date(2026, 8, 1)))  # 30 days
    db.flush()
    paths, _ = vendor_risk.onboarding_metrics(session=db)
    proc = next(p for p in paths if p.pathway == "procurement")
    assert db.get(Vendor, g.id).onboarding_pathway == "procurement"
    # 1, 10, 13, 30: median (10 + 13) / 2, average 54 / 4
    assert (proc.median_days, proc.average_days) == (Decimal("11.5"), Decimal("13.5"))


def test_outside_counsel_get_403(client, w):
    for url in (f"/api/v1/vendors/{w.a.firm.vendor_id}/risk", "/api/v1/reports/vendor-risk",
                "/api/v1/reports/vendor-onboarding"):
        assert client.get(url, headers=_auth(w, "counsel_a")).status_code == 403, url


def _login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": username, "password": factories.PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text


def test_pages(client, w):
    _login(client, w.users["legal_ops"].username)
    nav = client.get("/vendors")
    assert 'href="/vendors/risk"' in nav.text
    page = client.get("/vendors/risk")
    assert page.status_code == 200
    names = ["Charlie Counsel LLP", "Alpha Law LLP", "Bravo Law LLP", "Delta Legal Services Ltd"]
    assert [page.text.index(n) for n in names] == sorted(page.text.index(n) for n in names)
    by_name = client.get("/vendors/risk", params={"sort": "name"}).text
    assert by_name.index("Alpha Law LLP") < by_name.index("Bravo Law LLP") < by_name.index("Charlie Counsel LLP")
    assert 'aria-sort="ascending"' in by_name
    assert "12,345,679,801.23 USD" in page.text
    vendor = client.get(f"/vendors/{w.ids['a']}")
    assert 'id="risk"' in vendor.text and "Panel MSA" in vendor.text and "40.0%" in vendor.text
    onboarding = client.get("/reports/vendor-onboarding")
    assert onboarding.status_code == 200 and "10.0" in onboarding.text and "-9.0" in onboarding.text


def test_counsel_pages(client, w):
    _login(client, "counsel_alpha")
    assert client.get("/vendors/risk").status_code == 403
    assert client.get("/reports/vendor-onboarding").status_code == 403
    own = client.get(f"/vendors/{w.a.firm.vendor_id}")
    assert own.status_code == 200 and 'id="risk"' not in own.text
    assert 'href="/vendors/risk"' not in client.get("/vendors").text


def test_credits_are_subtracted_from_spend(db, w):
    """A credit note or write-down against a spend invoice lowers the vendor's spend in its currency;
    credits on invoices that are not spend (submitted, rejected) change nothing."""
    from triad.ap.models import InvoiceCredit

    admin = w.users["admin"]
    paid = w.a.invoice  # 900.00 USD, paid
    eur = _invoice(db, w, w.a, "40.00", "EUR", "approved")
    db.add_all([
        InvoiceCredit(invoice_id=paid.id, kind="credit_note", amount=Decimal("100.01"), currency="USD",
                      reason="discount", created_by="test"),
        InvoiceCredit(invoice_id=paid.id, kind="write_down", amount=Decimal("0.99"), currency="USD",
                      reason="rounding", created_by="test"),
        InvoiceCredit(invoice_id=eur.id, kind="credit_note", amount=Decimal("40.00"), currency="EUR",
                      reason="refund", created_by="test"),
        # firm B's 900.00 USD invoice is only submitted: its credit is not spend either
        InvoiceCredit(invoice_id=w.b.invoice.id, kind="credit_note", amount=Decimal("5.00"), currency="USD",
                      reason="not spend", created_by="test"),
    ])
    db.flush()
    every = {r.vendor_id: r for r in vendor_risk.vendor_risks(session=db, user=admin)}
    one = vendor_risk.vendor_risks(session=db, user=admin, vendor_ids=[w.ids["a"]])[0]
    want = {"USD": BIG + Decimal("900.00") - Decimal("101.00"), "EUR": Decimal("100.10")}
    assert every[w.ids["a"]].spend == one.spend == want
    assert every[w.ids["b"]].spend == {}


def test_the_vendor_list_is_in_normalised_name_order(client, db, w):
    """The vendors page sorts by the normalised name (case, punctuation and legal form ignored; decision 0037),
    which the name_key index serves, ties by id."""
    for name, tax in (("zephyr Quay Ltd", "13-8800001"), ("Aardvark Quay Inc.", "13-8800002"),
                      ("AARDVARK Quay Holdings LLC", "13-8800003")):
        factories.vendor(db, name, tax)
    db.commit()
    _login(client, w.users["legal_ops"].username)
    text = client.get("/vendors").text
    names = ["Aardvark Quay Inc.", "AARDVARK Quay Holdings LLC", "zephyr Quay Ltd"]  # by key: aardvark quay, ...
    assert [text.index(n) for n in names] == sorted(text.index(n) for n in names)
