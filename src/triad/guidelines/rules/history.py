"""Duplicates (within the invoice and against the firm's earlier invoices) and currency."""

from __future__ import annotations

from triad.guidelines.model import line_key
from triad.guidelines.registry import Hit, RuleSettings, rule


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
