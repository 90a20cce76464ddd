"""Rates: caps by timekeeper or classification, approved rates, approved and new timekeepers."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from triad.core.schemas import AmountIn
from triad.guidelines.registry import Hit, RuleSettings, rule


def _m(d: Decimal) -> str:
    return f"{d:,.2f}"


class RateCap(RuleSettings):
    by_classification: dict[str, AmountIn] = Field(default_factory=dict)
    by_timekeeper: dict[str, AmountIn] = Field(default_factory=dict)
    effective_from: str | None = None  # shown in messages; the version's own date applies


@rule("rate_cap", "Rate above the cap for the timekeeper or classification", RateCap)
def rate_cap(invoice, lines, ctx, s: RateCap):
    for ln in lines:
        if not ln.is_fee:
            continue
        cap, whose = None, None
        if ln.timekeeper_id in s.by_timekeeper:
            cap, whose = s.by_timekeeper[ln.timekeeper_id], f"timekeeper {ln.timekeeper_id}"
        elif ln.classification in s.by_classification:
            cap, whose = s.by_classification[ln.classification], ln.classification
        if cap is not None and ln.unit_cost > cap:
            since = f" from {s.effective_from}" if s.effective_from else ""
            yield Hit(ln, f"billed {_m(ln.unit_cost)}/h, cap for {whose} is {_m(cap)}/h{since}",
                      -(ln.unit_cost - cap) * ln.units)


class ApprovedRateSettings(RuleSettings):
    require_approved_rate: bool = True  # a fee line with no approved rate on its date is flagged


@rule("approved_rate", "Rate above the timekeeper's approved rate (rate increase not approved)", ApprovedRateSettings)
def approved_rate(invoice, lines, ctx, s: ApprovedRateSettings):
    for ln in lines:
        if not ln.is_fee or ln.timekeeper_id is None:
            continue
        rates = [r for r in ctx.approved_rates if r.timekeeper_id == ln.timekeeper_id and r.covers(ln.date)]
        if not rates:
            if s.require_approved_rate:
                yield Hit(ln, f"no approved rate for {ln.timekeeper_id} on {ln.date}")
            continue
        approved = max(rates, key=lambda r: r.effective_from)
        if ln.unit_cost > approved.rate:
            yield Hit(ln, f"billed {_m(ln.unit_cost)}/h, approved rate for {ln.timekeeper_id} is "
                          f"{_m(approved.rate)}/h from {approved.effective_from}: rate increase not approved",
                      -(ln.unit_cost - approved.rate) * ln.units)


@rule("timekeeper_not_approved", "Timekeeper not approved on the matter", RuleSettings)
def timekeeper_not_approved(invoice, lines, ctx, s):
    if ctx.approved_timekeepers is None:
        return
    for ln in lines:
        if ln.is_fee and ln.timekeeper_id and ln.timekeeper_id not in ctx.approved_timekeepers:
            yield Hit(ln, f"timekeeper {ln.timekeeper_id} is not approved on this matter", -ln.total)


@rule("new_timekeeper", "Timekeeper billing this matter for the first time", RuleSettings)
def new_timekeeper(invoice, lines, ctx, s):
    seen: set[str] = set()
    for ln in lines:
        tk = ln.timekeeper_id
        if ln.is_fee and tk and tk not in ctx.known_timekeepers and tk not in seen:
            seen.add(tk)
            who = ln.classification or "unclassified"
            yield Hit(ln, f"timekeeper {tk} ({who}) bills this matter for the first time")
