"""Duplicates (within the invoice and against the firm's earlier invoices) and currency."""

from __future__ import annotations

import polars as pl

from triad.guidelines.frame import key_text, micro
from triad.guidelines.model import line_key
from triad.guidelines.registry import Hit, RuleSettings, prefilter, rule


class Duplicates(RuleSettings):
    against_history: bool = True


@rule("duplicate_lines", "Line billed twice, in this invoice or an earlier one", Duplicates, scope="invoice")
def duplicate_lines(invoice, lines, ctx, s: Duplicates):
    seen: dict[tuple, int] = {}
    for ln in lines:
        if ln.line_type not in ("F", "E"):
            continue
        k = line_key(ln.date, ln.timekeeper_id, ln.units, ln.total, ln.description, ln.line_type, ln.expense_code)
        earlier = ctx.history.billed_on(k, exclude_invoice=invoice.invoice_number) if s.against_history else None
        if k in seen:
            yield Hit(ln, f"same as line {seen[k]} of this invoice", -ln.total)
        elif earlier:
            yield Hit(ln, f"already billed on invoice {earlier}", -ln.total)
        seen.setdefault(k, ln.line_no)


@rule("currency", "Invoice currency is not the engagement's currency", RuleSettings, scope="invoice")
def currency(invoice, lines, ctx, s):
    if ctx.engagement_currency and invoice.currency != ctx.engagement_currency:
        yield Hit(None, f"invoiced in {invoice.currency}; the engagement is billed in {ctx.engagement_currency}")


@prefilter("duplicate_lines")
def _duplicate_rows(frame, s: Duplicates, ctx):
    # Two lines with the same key also share day, timekeeper, amount, type and expense code: only
    # lines sharing those with another line of the invoice, or with an earlier invoice's line,
    # can be duplicates (and only those can be the first of a pair).
    key = key_text(pl.col("date"), pl.col("tk"), pl.col("total"), pl.col("type"), pl.col("exp"))
    both = pl.col("type").is_in(["F", "E"])
    # (a missing timekeeper or expense code is the same as an empty one, as in line_key)
    same = pl.len().over("inv", "date", pl.col("tk").fill_null(""), "total", "type", pl.col("exp").fill_null(""))
    within = both & (same > 1)
    if not (s.against_history and ctx.history.has_lines):
        return within
    # an earlier line with the same key on another invoice: a key billed on two or more invoices
    # differs from any line's own; a key billed on one differs unless that is the line's invoice
    # (a missing invoice number matches nothing)
    numbers: dict[str, dict[str, None]] = {}
    for day, tk, total, line_type, expense_code, number in ctx.history.earlier_keys():
        amount = micro(total)
        if amount is None:  # an earlier amount the frame cannot hold: every line is a candidate
            return both
        got = numbers.setdefault(f"{day.isoformat()}\x1f{tk}\x1f{amount}\x1f{line_type}\x1f{expense_code}", {})
        if number is not None:
            got[number] = None
    several = [k for k, ns in numbers.items() if len(ns) > 1]
    single = {k: next(iter(ns)) for k, ns in numbers.items() if len(ns) == 1}
    mine = pl.col("number")
    other = (key.is_in(several) & mine.is_not_null()) | (
        key.replace_strict(single, default=None, return_dtype=pl.String) != mine)
    return within | (both & other.fill_null(False))
