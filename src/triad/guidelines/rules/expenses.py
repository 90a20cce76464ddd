"""Expenses: kinds not allowed, caps per unit and per invoice."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import polars as pl
from pydantic import Field

from triad.core.schemas import AmountIn
from triad.guidelines.frame import above, blank, expense, group_sum_above, low_contains_any
from triad.guidelines.registry import Hit, RuleSettings, prefilter, rule
from triad.ledes import utbms


class NotAllowed(RuleSettings):
    codes: list[str] = Field(default_factory=lambda: ["E111"])  # meals
    keywords: list[str] = Field(default_factory=lambda: ["overtime", "office supplies", "meal"])


@rule("expense_not_allowed", "Expense of a kind the guidelines do not reimburse", NotAllowed)
def expense_not_allowed(invoice, lines, ctx, s: NotAllowed):
    words = [k.lower() for k in s.keywords]
    for ln in lines:
        if not ln.is_expense:
            continue
        if ln.expense_code in s.codes:
            name = utbms.name(ln.expense_code) or ln.expense_code
            yield Hit(ln, f"{ln.expense_code} ({name}) is not reimbursed", -ln.total)
        elif any(w in ln.description.lower() for w in words):
            hit = next(w for w in words if w in ln.description.lower())
            yield Hit(ln, f"'{hit}' is not reimbursed", -ln.total)


class Caps(RuleSettings):
    per_unit: dict[str, AmountIn] = Field(default_factory=dict)  # e.g. E101 copying: 0.10 per page
    per_invoice: dict[str, AmountIn] = Field(default_factory=dict)


@rule("expense_caps", "Expense above its cap per unit or per invoice", Caps, scope="invoice")
def expense_caps(invoice, lines, ctx, s: Caps):
    spent: dict[str, Decimal] = defaultdict(Decimal)
    for ln in lines:
        if not ln.is_expense or not ln.expense_code:
            continue
        cap = s.per_unit.get(ln.expense_code)
        if cap is not None and ln.unit_cost > cap:
            yield Hit(ln, f"{ln.expense_code} billed at {ln.unit_cost} per unit; the cap is {cap}",
                      -(ln.unit_cost - cap) * ln.units)
        limit = s.per_invoice.get(ln.expense_code)
        if limit is None:
            continue
        before = spent[ln.expense_code]
        spent[ln.expense_code] += ln.total
        if spent[ln.expense_code] > limit:
            over = spent[ln.expense_code] - max(limit, before)
            yield Hit(ln, f"{ln.expense_code} reaches {spent[ln.expense_code]:.2f} on this invoice; the cap is "
                          f"{limit:.2f} per invoice", -over)


@prefilter("expense_not_allowed")
def _not_allowed_rows(frame, s: NotAllowed, ctx):
    return expense() & (pl.col("exp").is_in(s.codes).fill_null(False) | low_contains_any(k.lower() for k in s.keywords))


@prefilter("expense_caps")
def _caps_rows(frame, s: Caps, ctx):
    # per unit: that line alone; per invoice: every line of the code once the invoice's positive
    # amounts of that code could pass the cap (the running total can never exceed their sum)
    m = pl.lit(False)
    for code, cap in s.per_unit.items():
        m = m | ((pl.col("exp") == code) & above("cost", cap))
    for code, limit in s.per_invoice.items():
        m = m | ((pl.col("exp") == code) & group_sum_above("total", limit, "inv", "exp", positive_only=True))
    return expense() & ~blank("exp") & m.fill_null(False)
