"""Each guideline rule: one invoice that triggers it and one at the boundary that passes."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from triad.guidelines.model import ApprovedRate, Context, EarlierLine, History, InvoiceView, LineView, Version
from triad.guidelines.registry import rules
from triad.guidelines.runner import evaluate

D = Decimal
DAY = dt.date(2026, 3, 10)


def fee(n=1, units="1.0", rate="500.00", tk="TK1", cls="PARTNR", desc="Draft motion to dismiss the complaint",
        day=DAY, total=None, **kw) -> LineView:
    u, r = D(units), D(rate)
    return LineView(line_no=n, line_type="F", date=day, units=u, unit_cost=r, total=D(total) if total else u * r,
                    timekeeper_id=tk, classification=cls, task_code=kw.pop("task", "L240"),
                    activity_code=kw.pop("activity", "A103"), description=desc, source_line=n + 2, **kw)


def exp(n=1, code="E101", units="100", cost="0.10", desc="Copies of exhibits", day=DAY) -> LineView:
    return LineView(line_no=n, line_type="E", date=day, units=D(units), unit_cost=D(cost), total=D(units) * D(cost),
                    expense_code=code, description=desc, source_line=n + 2)


def invoice(*lines, currency="USD", invoice_date=dt.date(2026, 4, 5), start=dt.date(2026, 3, 1),
            end=dt.date(2026, 3, 31)) -> InvoiceView:
    return InvoiceView("INV-1", invoice_date, start, end, currency, sum((ln.total for ln in lines), D(0)), tuple(lines))


def run(rule_id, settings, inv, ctx=Context()):
    v = Version("test v1", dt.date(2025, 1, 1), None, {rule_id: settings})
    return [f for f in evaluate(inv, ctx, [v]) if f.rule == rule_id]


CASES = [
    # rule, settings, triggering invoice, passing invoice, text in message, adjustment
    ("rate_cap", {"by_classification": {"PARTNR": "550.00"}, "effective_from": "2026-01-01"},
     invoice(fee(rate="650.00", units="2.0")), invoice(fee(rate="550.00")),
     "billed 650.00/h, cap for PARTNR is 550.00/h from 2026-01-01", D("-200.000")),
    ("rate_cap", {"by_timekeeper": {"TK1": "400"}, "by_classification": {"PARTNR": "900"}},
     invoice(fee(rate="450.00")), invoice(fee(rate="400.00")), "cap for timekeeper TK1 is 400.00/h", D("-50.00")),
    ("billing_increment", {"increment": "0.1"}, invoice(fee(units="0.25")), invoice(fee(units="0.3")),
     "not a multiple of the 0.1 h", D(0)),
    ("units_per_entry", {"min_units": "0.2", "max_units": "8"}, invoice(fee(units="8.5")), invoice(fee(units="8")),
     "the maximum is 8 h", D("-250.000")),
    ("units_per_entry", {"min_units": "0.2"}, invoice(fee(units="0.1")), invoice(fee(units="0.2")),
     "the minimum is 0.2 h", D(0)),
    ("daily_hours", {"max_hours": "10"}, invoice(fee(1, units="6.0"), fee(2, units="4.5")),
     invoice(fee(1, units="6.0"), fee(2, units="4.0")), "billed 10.5 h on 2026-03-10", D(0)),
    ("codes", {"prohibited_tasks": ["L160"]}, invoice(fee(task="L160")), invoice(fee(task="L150")),
     "task code L160 may not be billed", D("-500.00")),
    ("codes", {"require_activity": True}, invoice(fee(activity=None)), invoice(fee()),
     "without a UTBMS activity code", D(0)),
    ("expense_not_allowed", {}, invoice(exp(code="E111", units="1", cost="45.00", desc="Working dinner")),
     invoice(exp(code="E101")), "E111 (Meals) is not reimbursed", D("-45.00")),
    ("expense_not_allowed", {"codes": [], "keywords": ["overtime"]},
     invoice(exp(code="E124", units="1", cost="80", desc="Secretarial overtime")),
     invoice(exp(code="E124", units="1", cost="80", desc="Courier to court")), "'overtime' is not reimbursed",
     D("-80")),
    ("expense_caps", {"per_unit": {"E101": "0.10"}}, invoice(exp(cost="0.15")), invoice(exp(cost="0.10")),
     "the cap is 0.10", D("-5.00")),
    ("expense_caps", {"per_invoice": {"E110": "1000"}},
     invoice(exp(1, code="E110", units="1", cost="800"), exp(2, code="E110", units="1", cost="300")),
     invoice(exp(1, code="E110", units="1", cost="700"), exp(2, code="E110", units="1", cost="300")),
     "reaches 1100.00 on this invoice; the cap is 1000.00", D("-100")),
    ("block_billing", {}, invoice(fee(desc="Draft motion; call with client; review opposing brief", units="5.0")),
     invoice(fee(desc="Draft motion to dismiss; revise", units="5.0")), "3 tasks in one entry", D(0)),
    ("vague_description", {"min_words": 3}, invoice(fee(desc="Research")), invoice(fee(desc="Research statute of limitations")),
     "has 1 word(s)", D(0)),
    ("vague_description", {}, invoice(fee(desc="Attention to file")), invoice(fee(desc="Attention to discovery responses")),
     "does not say what was done", D(0)),
    ("clerical_work", {}, invoice(fee(desc="Organize files for production", cls="ASSOC")),
     invoice(fee(desc="Organize files for production", cls="PARLGL")), "clerical work billed by a ASSOC", D("-500.00")),
    ("internal_conference", {"max_attendees": 2},
     invoice(fee(1, tk="A", desc="Internal conference re strategy"), fee(2, tk="B", desc="Internal conference re strategy"),
             fee(3, tk="C", desc="Internal conference re strategy")),
     invoice(fee(1, tk="A", desc="Internal conference re strategy"), fee(2, tk="B", desc="Internal conference re strategy")),
     "3 timekeepers billed an internal conference", D("-500.00")),
    ("travel_time", {"allowed_share": "0.5"}, invoice(fee(desc="Travel to deposition in Chicago", units="4.0")),
     invoice(fee(desc="Travel to deposition in Chicago", units="4.0", total="1000.00")),
     "travel billed at 2000.00", D("-1000.00")),
    ("submission_window", {"max_days_after_work": 90, "single_month": False, "single_fiscal_year": False},
     invoice(fee(day=dt.date(2026, 1, 4))), invoice(fee(day=dt.date(2026, 1, 5))),
     "billed 91 days later", D("-500.00")),
    ("submission_window", {"max_days_after_work": 365},
     invoice(fee(), start=dt.date(2026, 2, 20), end=dt.date(2026, 3, 31)), invoice(fee()),
     "spans more than one month", D(0)),
    ("duplicate_lines", {}, invoice(fee(1), fee(2)), invoice(fee(1), fee(2, units="1.1")), "same as line 1", D("-500.00")),
    ("currency", {"severity": "reject-invoice"}, invoice(fee(), currency="EUR"), invoice(fee()),
     "invoiced in EUR; the engagement is billed in USD", D(0)),
]
CTX = Context(engagement_currency="USD")


@pytest.mark.parametrize("rule_id,settings,bad,good,text,adjustment", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_triggers_and_boundary_passes(rule_id, settings, bad, good, text, adjustment):
    found = run(rule_id, settings, bad, CTX)
    assert found, f"{rule_id} did not trigger"
    assert any(text in f.message for f in found), [f.message for f in found]
    assert sum((f.adjustment for f in found), D(0)) == adjustment
    assert run(rule_id, settings, good, CTX) == []


def test_every_rule_has_cases():
    covered = {c[0] for c in CASES} | {"approved_rate", "timekeeper_not_approved", "new_timekeeper"}
    assert covered == set(rules())


def test_approved_rate_and_timekeepers():
    ctx = Context(approved_rates=(ApprovedRate("TK1", D("500"), "USD", dt.date(2026, 1, 1)),
                                  ApprovedRate("TK1", D("450"), "USD", dt.date(2025, 1, 1), dt.date(2025, 12, 31))),
                  approved_timekeepers=frozenset({"TK1"}), known_timekeepers=frozenset({"TK1"}))
    assert run("approved_rate", {}, invoice(fee(rate="500.00")), ctx) == []
    hit = run("approved_rate", {}, invoice(fee(rate="525.00", units="2.0")), ctx)
    assert "rate increase not approved" in hit[0].message and hit[0].adjustment == D("-50.00")
    old = run("approved_rate", {}, invoice(fee(rate="500.00", day=dt.date(2025, 12, 30)),
                                           invoice_date=dt.date(2026, 1, 5)), ctx)
    assert "approved rate for TK1 is 450.00/h from 2025-01-01" in old[0].message
    assert run("approved_rate", {}, invoice(fee(tk="TK9")), ctx)[0].message.startswith("no approved rate for TK9")
    assert run("timekeeper_not_approved", {}, invoice(fee(tk="TK1")), ctx) == []
    assert run("timekeeper_not_approved", {}, invoice(fee(tk="TK9")), ctx)[0].adjustment == D("-500.00")
    assert run("new_timekeeper", {}, invoice(fee(tk="TK1")), ctx) == []
    assert "first time" in run("new_timekeeper", {}, invoice(fee(tk="TK9")), ctx)[0].message


def test_daily_hours_and_duplicates_count_earlier_invoices():
    earlier = (EarlierLine("OLD-1", DAY, "TK1", D("8.0"), D("4000"), "Draft motion to dismiss the complaint"),)
    ctx = Context(history=History(earlier))
    hit = run("daily_hours", {"max_hours": "10"}, invoice(fee(units="3.0")), ctx)
    assert "11.0 h on 2026-03-10 (8.0 h of it on earlier invoices)" in hit[0].message
    dup = run("duplicate_lines", {}, invoice(fee(units="8.0")), ctx)
    assert dup[0].message == "already billed on invoice OLD-1"
    assert run("duplicate_lines", {"against_history": False}, invoice(fee(units="8.0")), ctx) == []


def test_each_line_is_judged_by_the_version_in_force_on_its_date():
    old = Version("v1", dt.date(2025, 1, 1), dt.date(2025, 12, 31), {"rate_cap": {"by_classification": {"PARTNR": "500"}}})
    new = Version("v2", dt.date(2026, 1, 1), None, {"rate_cap": {"by_classification": {"PARTNR": "600"}}})
    inv = invoice(fee(1, rate="550.00", day=dt.date(2025, 12, 30)), fee(2, rate="550.00", day=dt.date(2026, 1, 2)),
                  invoice_date=dt.date(2026, 1, 10), start=dt.date(2025, 12, 1), end=dt.date(2026, 1, 5))
    found = evaluate(inv, Context(), [old, new])
    assert [(f.line_no, f.guideline_version) for f in found] == [(1, "v1")]


def test_findings_carry_severity_action_clause_and_source_line():
    v = Version("company v3", dt.date(2026, 1, 1), None, {"rate_cap": {
        "by_classification": {"PARTNR": "550"}, "severity": "reject-line", "action": "reduce",
        "clause": "4.1 Rates above the caps are paid at the cap."}})
    (f,) = evaluate(invoice(fee(3, rate="650.00")), Context(), [v])
    assert (f.rule, f.severity, f.action, f.guideline_version, f.line_no, f.source_line) == (
        "rate_cap", "reject-line", "reduce", "company v3", 3, 5)
    assert f.clause.startswith("4.1")


def test_a_crashing_rule_becomes_a_finding(monkeypatch):
    spec = rules()["vague_description"]

    def boom(*a):
        raise ZeroDivisionError("bad data")

    monkeypatch.setitem(rules(), "vague_description", replace(spec, fn=boom))
    v = Version("v", dt.date(2026, 1, 1), None, {"vague_description": {}, "rate_cap": {"by_classification": {"PARTNR": "1"}}})
    found = evaluate(invoice(fee()), Context(), [v])
    crashed = [f for f in found if f.rule == "vague_description"]
    assert crashed and "ZeroDivisionError" in crashed[0].message and "by hand" in crashed[0].message
    assert any(f.rule == "rate_cap" for f in found)  # the other rules still ran


def test_disabled_rule_is_skipped():
    assert run("rate_cap", {"enabled": False, "by_classification": {"PARTNR": "1"}}, invoice(fee())) == []
