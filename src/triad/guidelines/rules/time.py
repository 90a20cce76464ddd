"""Time entries: billing increment, units per entry, hours per timekeeper per day."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import polars as pl

from triad.core.schemas import AmountIn
from triad.guidelines.frame import above, below, fee, group_sum_above, key_text, micro
from triad.guidelines.registry import Hit, RuleSettings, prefilter, rule


class Increment(RuleSettings):
    increment: AmountIn = Decimal("0.1")


@rule("billing_increment", "Time not billed in the agreed increment", Increment)
def billing_increment(invoice, lines, ctx, s: Increment):
    for ln in lines:
        if ln.is_fee and ln.units % s.increment != 0:
            yield Hit(ln, f"{ln.units} h is not a multiple of the {s.increment} h billing increment")


class UnitsPerEntry(RuleSettings):
    min_units: AmountIn | None = None
    max_units: AmountIn | None = None


@rule("units_per_entry", "Hours per time entry below the minimum or above the maximum", UnitsPerEntry)
def units_per_entry(invoice, lines, ctx, s: UnitsPerEntry):
    for ln in lines:
        if not ln.is_fee:
            continue
        if s.min_units is not None and ln.units < s.min_units:
            yield Hit(ln, f"{ln.units} h in one entry; the minimum is {s.min_units} h")
        if s.max_units is not None and ln.units > s.max_units:
            excess = ln.units - s.max_units
            yield Hit(ln, f"{ln.units} h in one entry; the maximum is {s.max_units} h", -excess * ln.unit_cost)


class DailyHours(RuleSettings):
    max_hours: AmountIn = Decimal("10")


@rule("daily_hours", "More hours per timekeeper per day than allowed, across the firm's invoices", DailyHours)
def daily_hours(invoice, lines, ctx, s: DailyHours):
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for ln in lines:
        if ln.is_fee and ln.timekeeper_id:
            totals[(ln.timekeeper_id, ln.date)] += ln.units
    reported: set[tuple] = set()
    for ln in lines:
        key = (ln.timekeeper_id, ln.date)
        if not ln.is_fee or not ln.timekeeper_id or key in reported:
            continue
        before = ctx.history.hours_on(ln.timekeeper_id, ln.date, exclude_invoice=invoice.invoice_number)
        if totals[key] + before > s.max_hours:
            reported.add(key)
            also = f" ({before} h of it on earlier invoices)" if before else ""
            yield Hit(ln, f"{ln.timekeeper_id} billed {totals[key] + before} h on {ln.date}{also}; at most "
                          f"{s.max_hours} h a day are allowed")


@prefilter("billing_increment")
def _increment_rows(frame, s: Increment, ctx):
    step = micro(s.increment)
    if not step:  # not exact here, or zero (the rule then fails on every fee line, as it should)
        return fee()
    return fee() & (pl.col("units") % step != 0)


@prefilter("units_per_entry")
def _units_rows(frame, s: UnitsPerEntry, ctx):
    m = pl.lit(False)
    if s.min_units is not None:
        m = m | below("units", s.min_units)
    if s.max_units is not None:
        m = m | above("units", s.max_units)
    return fee() & m


@prefilter("daily_hours")
def _daily_rows(frame, s: DailyHours, ctx):
    # every line of a (timekeeper, day) whose hours may pass the limit, or that has earlier hours
    mine = fee() & pl.col("tk").is_not_null() & (pl.col("tk") != "")
    group = group_sum_above("units", s.max_hours, "inv", "tk", "date")
    if ctx.history.has_hours:
        keys = [f"{tk}\x1f{day.isoformat()}" for tk, day in ctx.history.hour_keys()]
        group = group | key_text(pl.col("tk"), pl.col("date")).is_in(keys)
    return mine & group
