"""Guideline rules as plugins: pure functions registered with their validated settings.

A rule is ``fn(invoice, lines, context, settings) -> iterable of Hit``. ``lines`` are the invoice
lines judged by one guideline version (the one in force on each line's date); rules with
``scope="invoice"`` get all lines and the version in force on the invoice date. Rules never
raise on purpose: the runner turns a crash into a finding (DESIGN.md §3.7).

A rule may also register a pre-filter (``@prefilter(rule_id)``): ``fn(frame, settings, context)``
returns a boolean polars expression (or Series) over the lines frame (``guidelines.frame``) that
is true on every line the rule could report on, and on every line the rule needs to see to decide
them (a whole group, for rules that add lines up). ``runner.evaluate_many`` runs the rule on those
lines only; a line-scope rule with no candidate line in an invoice is not run for it. The batch
runner evaluates expressions over pieces of the frame made of whole invoices (about 50,000 rows
each): an expression must give each row the same value over any batch holding its invoice, so
its windows and distinct tests group by the invoice (``over("inv", ...)``), never across invoices.
On a large batch the runner calls pre-filters and bulk forms on a second thread, while rules' code
runs on the caller's: they only build expressions from their arguments and change nothing.

A line-scope rule whose findings on some lines follow from those lines alone may also register a
bulk form (``@bulk(rule_id)``): ``fn(frame, settings, context)`` returns ``(decided, message)``,
two polars expressions: ``decided`` is true on lines where the rule reports exactly one finding,
with no adjustment, that depends on that line only, and ``message`` is that finding's text. The
batch runner builds those findings from the frame's columns and runs the rule's code on the other
candidate lines only (``None`` instead of the pair: no line is decided so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from triad.guidelines.model import Context, InvoiceView, LineView


class RuleSettings(BaseModel):
    """Settings every rule has. Rules add their own fields."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    severity: Literal["info", "warning", "reject-line", "reject-invoice"] = "warning"
    action: Literal["none", "reduce", "reject_line", "reject_invoice"] = "none"
    clause: str = ""


class Hit(NamedTuple):
    """What a rule reports: the line (None for the whole invoice), the facts, the adjustment."""

    line: LineView | None
    message: str
    adjustment: Decimal = Decimal(0)


RuleFn = Callable[[InvoiceView, tuple[LineView, ...], Context, RuleSettings], Iterable[Hit]]


@dataclass(frozen=True)
class RuleSpec:
    id: str
    title: str
    settings: type[RuleSettings]
    fn: RuleFn
    scope: str  # "lines" or "invoice"
    prefilter: Callable | None = None  # (frame, settings, context) -> boolean pl.Expr or pl.Series
    bulk: Callable | None = None  # (frame, settings, context) -> (decided, message) pl.Expr pair or None


REGISTRY: dict[str, RuleSpec] = {}


def rule(rule_id: str, title: str, settings: type[RuleSettings], *, scope: str = "lines"):
    def register(fn: RuleFn) -> RuleFn:
        if rule_id in REGISTRY:
            raise ValueError(f"rule {rule_id} registered twice")
        REGISTRY[rule_id] = RuleSpec(rule_id, title, settings, fn, scope)
        return fn

    return register


def prefilter(rule_id: str):
    """Register the vectorised pre-filter of an already registered rule."""

    def register(fn: Callable) -> Callable:
        spec = REGISTRY[rule_id]
        REGISTRY[rule_id] = RuleSpec(spec.id, spec.title, spec.settings, spec.fn, spec.scope, fn, spec.bulk)
        return fn

    return register


def bulk(rule_id: str):
    """Register the bulk form of an already registered line-scope rule (see the module's text)."""

    def register(fn: Callable) -> Callable:
        spec = REGISTRY[rule_id]
        if spec.scope != "lines":
            raise ValueError(f"rule {rule_id}: only line-scope rules have a bulk form")
        REGISTRY[rule_id] = RuleSpec(spec.id, spec.title, spec.settings, spec.fn, spec.scope, spec.prefilter, fn)
        return fn

    return register


def rules() -> dict[str, RuleSpec]:
    import triad.guidelines.rules  # noqa: F401 - registers every rule

    return REGISTRY
