"""Duplicates (within the invoice and against the firm's earlier invoices) and currency."""

from __future__ import annotations

import re

from triad.guidelines.registry import Hit, RuleSettings, rule


def _key(date, timekeeper, units, total, description, line_type, expense_code):
    words = " ".join(re.findall(r"[a-z0-9]+", (description or "").lower()))
    return (date, timekeeper or "", units.normalize(), total.normalize(), words, line_type, expense_code or "")


class Duplicates(RuleSettings):
    against_history: bool = True


@rule("duplicate_lines", "Line billed twice, in this invoice or an earlier one", Duplicates, scope="invoice")
def duplicate_lines(invoice, lines, ctx, s: Duplicates):
    earlier = {}
    if s.against_history:
        for e in ctx.earlier_lines:
            if e.invoice_number != invoice.invoice_number:
                earlier.setdefault(_key(e.date, e.timekeeper_id, e.units, e.total, e.description, e.line_type,
                                        e.expense_code), e.invoice_number)
    seen: dict[tuple, int] = {}
    for ln in lines:
        if ln.line_type not in ("F", "E"):
            continue
        k = _key(ln.date, ln.timekeeper_id, ln.units, ln.total, ln.description, ln.line_type, ln.expense_code)
        if k in seen:
            yield Hit(ln, f"same as line {seen[k]} of this invoice", -ln.total)
        elif k in earlier:
            yield Hit(ln, f"already billed on invoice {earlier[k]}", -ln.total)
        seen.setdefault(k, ln.line_no)


@rule("currency", "Invoice currency is not the engagement's currency", RuleSettings, scope="invoice")
def currency(invoice, lines, ctx, s):
    if ctx.engagement_currency and invoice.currency != ctx.engagement_currency:
        yield Hit(None, f"invoiced in {invoice.currency}; the engagement is billed in {ctx.engagement_currency}")
