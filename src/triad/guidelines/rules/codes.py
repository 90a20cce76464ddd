"""UTBMS codes the guidelines forbid or require."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from triad.guidelines.frame import blank, expense, fee
from triad.guidelines.registry import Hit, RuleSettings, bulk, prefilter, rule


class CodeRules(RuleSettings):
    prohibited_tasks: list[str] = Field(default_factory=list)
    prohibited_activities: list[str] = Field(default_factory=list)
    prohibited_expenses: list[str] = Field(default_factory=list)
    require_task: bool = False
    require_activity: bool = False
    require_expense_code: bool = False


NO_TASK = "fee line without a UTBMS task code"
NO_ACTIVITY = "fee line without a UTBMS activity code"
NO_EXPENSE_CODE = "expense line without a UTBMS expense code"


@rule("codes", "Prohibited or missing UTBMS task, activity or expense code", CodeRules)
def codes(invoice, lines, ctx, s: CodeRules):
    for ln in lines:
        for code, banned, kind in ((ln.task_code, s.prohibited_tasks, "task"),
                                   (ln.activity_code, s.prohibited_activities, "activity"),
                                   (ln.expense_code, s.prohibited_expenses, "expense")):
            if code and code in banned:
                yield Hit(ln, f"{kind} code {code} may not be billed", -ln.total)
        if ln.is_fee and s.require_task and not ln.task_code:
            yield Hit(ln, NO_TASK)
        if ln.is_fee and s.require_activity and not ln.activity_code:
            yield Hit(ln, NO_ACTIVITY)
        if ln.is_expense and s.require_expense_code and not ln.expense_code:
            yield Hit(ln, NO_EXPENSE_CODE)


def _banned(s: CodeRules) -> pl.Expr:
    m = pl.lit(False)
    for col, banned in (("task", s.prohibited_tasks), ("act", s.prohibited_activities),
                        ("exp", s.prohibited_expenses)):
        if banned:
            m = m | (~blank(col) & pl.col(col).is_in(banned).fill_null(False))
    return m


@prefilter("codes")
def _codes_rows(frame, s: CodeRules, ctx):
    m = _banned(s)
    if s.require_task:
        m = m | (fee() & blank("task"))
    if s.require_activity:
        m = m | (fee() & blank("act"))
    if s.require_expense_code:
        m = m | (expense() & blank("exp"))
    return m


@bulk("codes")
def _codes_bulk(frame, s: CodeRules, ctx):
    # a line with no prohibited code and exactly one missing required code: that one finding,
    # no adjustment, from the line alone
    no = pl.lit(False)
    task = fee() & blank("task") if s.require_task else no
    act = fee() & blank("act") if s.require_activity else no
    exp = expense() & blank("exp") if s.require_expense_code else no
    missing = task.cast(pl.Int8) + act.cast(pl.Int8) + exp.cast(pl.Int8)
    message = pl.when(task).then(pl.lit(NO_TASK)).when(act).then(pl.lit(NO_ACTIVITY)).otherwise(pl.lit(NO_EXPENSE_CODE))
    return ~_banned(s) & (missing == 1), message
