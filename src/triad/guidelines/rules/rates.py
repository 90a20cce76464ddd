"""Rates: caps by timekeeper or classification, approved rates, approved and new timekeepers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
from pydantic import Field

from triad.core.schemas import AmountIn
from triad.guidelines.frame import fee, iso_day, micro
from triad.guidelines.registry import Hit, RuleSettings, bulk, prefilter, rule


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
    by_tk = ctx.rates_by_timekeeper()
    for ln in lines:
        if ln.line_type != "F" or ln.timekeeper_id is None:
            continue
        rates = by_tk.get(ln.timekeeper_id)
        if rates:
            rates = [r for r in rates if r.covers(ln.date)]
        if not rates:
            if s.require_approved_rate:
                yield Hit(ln, f"no approved rate for {ln.timekeeper_id} on {ln.date.isoformat()}")
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
        if ln.line_type == "F" and tk and tk not in ctx.known_timekeepers and tk not in seen:
            seen.add(tk)
            who = ln.classification or "unclassified"
            yield Hit(ln, f"timekeeper {tk} ({who}) bills this matter for the first time")


def _has_tk() -> pl.Expr:
    return pl.col("tk").is_not_null()


@prefilter("rate_cap")
def _rate_cap_rows(frame, s: RateCap, ctx):
    by_tk = {k: micro(v) for k, v in s.by_timekeeper.items()}
    by_cls = {k: micro(v) for k, v in s.by_classification.items()}
    tk_in = pl.col("tk").is_in(list(by_tk)).fill_null(False)
    cls_in = pl.col("cls").is_in(list(by_cls)).fill_null(False)
    if None in by_tk.values() or None in by_cls.values():
        return fee() & (tk_in | cls_in)
    tk_cap = pl.col("tk").replace_strict(by_tk, default=None, return_dtype=pl.Int64) if by_tk else pl.lit(None)
    cls_cap = pl.col("cls").replace_strict(by_cls, default=None, return_dtype=pl.Int64) if by_cls else pl.lit(None)
    cap = pl.when(tk_in).then(tk_cap).when(cls_in).then(cls_cap).otherwise(None)
    return fee() & (tk_in | cls_in) & (pl.col("cost") > cap).fill_null(False)


def _covered_span(rates) -> tuple | None:
    """(first, last) day the rates cover without a gap (last None: open-ended), None if gaps."""
    spans = sorted((r.effective_from, r.effective_to) for r in rates)
    first, last = spans[0]
    for start, end in spans[1:]:
        if last is not None and start.toordinal() > last.toordinal() + 1:
            return None
        if last is not None and (end is None or end > last):
            last = end
    return first, last


@prefilter("approved_rate")
def _approved_rate_rows(frame, s: ApprovedRateSettings, ctx):
    base = fee() & _has_tk()
    by_tk: dict[str, list] = {}
    for r in ctx.approved_rates:
        by_tk.setdefault(r.timekeeper_id, []).append(r)
    amounts = {tk: [micro(r.rate) for r in rs] for tk, rs in by_tk.items()}
    if any(None in ms for ms in amounts.values()):
        return base
    lowest = {tk: min(ms) for tk, ms in amounts.items()}
    has = pl.col("tk").is_in(list(by_tk)).fill_null(False)
    over = (pl.col("cost") > pl.col("tk").replace_strict(lowest, default=None, return_dtype=pl.Int64)).fill_null(False)
    if not s.require_approved_rate:
        return base & has & over
    # a timekeeper's line is also a candidate when its day may fall outside the approved rates
    outside = pl.lit(False)
    for tk, rs in by_tk.items():
        span = _covered_span(rs)
        day = pl.col("date")
        if span is None:
            gap = pl.lit(True)
        else:
            gap = day < span[0] if span[1] is None else (day < span[0]) | (day > span[1])
        outside = outside | ((pl.col("tk") == tk) & gap)
    return base & (~has | over | outside.fill_null(True))


@prefilter("timekeeper_not_approved")
def _not_approved_rows(frame, s, ctx):
    if ctx.approved_timekeepers is None:
        return pl.lit(False)
    return fee() & _has_tk() & (pl.col("tk") != "") & ~pl.col("tk").is_in(list(ctx.approved_timekeepers))


@prefilter("new_timekeeper")
def _new_timekeeper_rows(frame, s, ctx):
    # the first line of each timekeeper new to the matter, per invoice
    new = fee() & _has_tk() & (pl.col("tk") != "") & ~pl.col("tk").is_in(list(ctx.known_timekeepers))
    first = pl.when(new).then(pl.concat_str([pl.col("inv").cast(pl.String), pl.col("tk")], separator="\x1f"))
    return new & first.is_first_distinct()


@bulk("approved_rate")
def _approved_rate_bulk(frame, s: ApprovedRateSettings, ctx):
    # a fee line of a timekeeper with no approved rate at all: "no approved rate", from the line alone
    if not s.require_approved_rate:
        return None
    tks = list(ctx.rates_by_timekeeper())
    # (where ``iso_day`` is not null, tested without formatting every day)
    plain = (pl.col("date") >= dt.date(1000, 1, 1)) & (pl.col("date") <= dt.date(9999, 12, 31))
    decided = fee() & _has_tk() & ~pl.col("tk").is_in(tks) & plain
    return decided, pl.concat_str([pl.lit("no approved rate for "), pl.col("tk"), pl.lit(" on "), iso_day("date")])


@bulk("new_timekeeper")
def _new_timekeeper_bulk(frame, s, ctx):
    # the pre-filter's lines are exactly the first line of each new timekeeper in the invoice
    who = pl.when(pl.col("cls").is_null() | (pl.col("cls") == "")).then(pl.lit("unclassified")).otherwise(pl.col("cls"))
    message = pl.concat_str([pl.lit("timekeeper "), pl.col("tk"), pl.lit(" ("), who,
                             pl.lit(") bills this matter for the first time")])
    return _new_timekeeper_rows(frame, s, ctx), message
