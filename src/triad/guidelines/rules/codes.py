"""UTBMS codes the guidelines forbid or require."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from triad.guidelines.frame import blank, expense, fee
from triad.guidelines.registry import Hit, RuleSettings, prefilter, rule


class CodeRules(RuleSettings):
    prohibited_tasks: list[str] = Field(default_factory=list)
    prohibited_activities: list[str] = Field(default_factory=list)
    prohibited_expenses: list[str] = Field(default_factory=list)
    require_task: bool = False
    require_activity: bool = False
    require_expense_code: bool = False


@rule("codes", "Prohibited or missing UTBMS task, activity or expense code", CodeRules)
def codes(invoice, lines, ctx, s: CodeRules):
    for ln in lines:
        for code, banned, kind in ((ln.task_code, s.prohibited_tasks, "task"),
                                   (ln.activity_code, s.prohibited_activities, "activity"),
                                   (ln.expense_code, s.prohibited_expenses, "expense")):
            if code and code in banned:
                yield Hit(ln, f"{kind} code {code} may not be billed", -ln.total)
        if ln.is_fee and s.require_task and not ln.task_code:
            yield Hit(ln, "fee line without a UTBMS task code")
        if ln.is_fee and s.require_activity and not ln.activity_code:
            yield Hit(ln, "fee line without a UTBMS activity code")
        if ln.is_expense and s.require_expense_code and not ln.expense_code:
            yield Hit(ln, "expense line without a UTBMS expense code")


@prefilter("codes")
def _codes_rows(frame, s: CodeRules, ctx):
    m = pl.lit(False)
    for col, banned in (("task", s.prohibited_tasks), ("act", s.prohibited_activities),
                        ("exp", s.prohibited_expenses)):
        if banned:
            m = m | (~blank(col) & pl.col(col).is_in(banned).fill_null(False))
    if s.require_task:
        m = m | (fee() & blank("task"))
    if s.require_activity:
        m = m | (fee() & blank("act"))
    if s.require_expense_code:
        m = m | (expense() & blank("exp"))
    return m
