"""Reports computed from the shared data. Amounts are summed with Decimal in Python (exact on
SQLite, where amount columns are decimal text) and never across currencies."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from triad.auth.scoping import visible_to
from triad.guidelines.models import InvoiceFinding
from triad.invoices.models import Invoice


@dataclass
class FirmExceptions:
    firm_id: int
    firm: str
    invoices: int = 0
    invoices_with_findings: int = 0
    billed: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount
    billed_with_findings: dict[str, Decimal] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)  # rule -> invoices with that finding

    @property
    def invoice_rate(self) -> Decimal:
        return (Decimal(self.invoices_with_findings) / self.invoices).quantize(Decimal("0.0001")) if self.invoices \
            else Decimal(0)

    def amount_rate(self, currency: str) -> Decimal:
        total = self.billed.get(currency, Decimal(0))
        flagged = self.billed_with_findings.get(currency, Decimal(0))
        return (flagged / total).quantize(Decimal("0.0001")) if total else Decimal(0)


def exception_rates(*, session: Session, user, firm_ids: Collection[int] | None = None) -> list[FirmExceptions]:
    """Share of invoices, and of billed amount, with guideline findings — by firm and by rule.

    Only invoices the user may see are counted (outside counsel: their own firm); ``firm_ids`` limits the
    report to those firms (None: every firm)."""
    stmt = visible_to(Invoice, user).with_only_columns(Invoice.id, Invoice.firm_id, Invoice.total_amount,
                                                       Invoice.currency).where(Invoice.state != "withdrawn")
    if firm_ids is not None:
        stmt = stmt.where(Invoice.firm_id.in_(list(firm_ids) or [0]))
    invoices = session.execute(stmt).all()
    ids = [i.id for i in invoices]
    rules_by_invoice: dict[int, set[str]] = defaultdict(set)
    for k in range(0, len(ids), 1000):
        for inv_id, rule in session.execute(select(InvoiceFinding.invoice_id, InvoiceFinding.rule)
                                            .where(InvoiceFinding.invoice_id.in_(ids[k:k + 1000]))):
            rules_by_invoice[inv_id].add(rule)
    from triad.firms.models import LawFirm

    names = dict(session.execute(select(LawFirm.id, LawFirm.name).where(
        LawFirm.id.in_({i.firm_id for i in invoices} or {0}))).all())
    out: dict[int, FirmExceptions] = {}
    counts: dict[int, Counter] = defaultdict(Counter)
    for inv in invoices:
        fe = out.setdefault(inv.firm_id, FirmExceptions(inv.firm_id, names.get(inv.firm_id, "?")))
        fe.invoices += 1
        fe.billed[inv.currency] = fe.billed.get(inv.currency, Decimal(0)) + inv.total_amount
        found = rules_by_invoice.get(inv.id)
        if found:
            fe.invoices_with_findings += 1
            fe.billed_with_findings[inv.currency] = fe.billed_with_findings.get(inv.currency, Decimal(0)) \
                + inv.total_amount
            counts[inv.firm_id].update(found)
    for firm_id, fe in out.items():
        fe.by_rule = dict(sorted(counts[firm_id].items()))
    return sorted(out.values(), key=lambda f: (-f.invoice_rate, f.firm))
