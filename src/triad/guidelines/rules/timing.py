"""When the work was billed: the submission window, billing periods and fiscal years."""

from __future__ import annotations

import polars as pl

from triad.guidelines.registry import Hit, RuleSettings, prefilter, rule


class Window(RuleSettings):
    max_days_after_work: int = 90
    single_month: bool = True
    single_fiscal_year: bool = True


def _fiscal_year(day, start_month: int) -> int:
    return day.year if day.month < start_month or start_month == 1 else day.year + 1


@rule("submission_window", "Invoice too late after the work, or spanning billing periods", Window, scope="invoice")
def submission_window(invoice, lines, ctx, s: Window):
    for ln in lines:
        late = (invoice.invoice_date - ln.date).days
        if late > s.max_days_after_work:
            yield Hit(ln, f"work of {ln.date} billed {late} days later; the limit is {s.max_days_after_work} days",
                      -ln.total)
    start, end = invoice.billing_start, invoice.billing_end
    if s.single_month and (start.year, start.month) != (end.year, end.month):
        yield Hit(None, f"the billing period {start}–{end} spans more than one month")
    month = ctx.fiscal_year_start_month
    if s.single_fiscal_year and _fiscal_year(start, month) != _fiscal_year(end, month):
        yield Hit(None, f"the billing period {start}–{end} spans two fiscal years")


@prefilter("submission_window")
def _window_rows(frame, s: Window, ctx):
    # the rule is run for every invoice (its period checks need no line); lines only when late
    return (pl.col("inv_date") - pl.col("date")).dt.total_days() > s.max_days_after_work
