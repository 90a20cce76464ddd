"""Invoice workflow: state moves from the declared table, line decisions, and the guideline
auto-actions applied at submission. Callers commit."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from triad.audit.service import Actor, record
from triad.core.errors import Conflict, ValidationFailed
from triad.guidelines.model import Finding
from triad.invoices.models import Invoice, InvoiceLine, InvoiceStateChange
from triad.invoices.states import TRANSITIONS, State

NEEDS_REASON = {State.rejected, State.on_hold, State.withdrawn, State.appealed}
GUIDELINES = Actor("system:guidelines")


def transition(*, session: Session, invoice: Invoice, to: str, actor: Actor, reason: str | None = None,
               audit: bool = True) -> InvoiceStateChange:
    """Move an invoice to ``to`` if the state table allows it; record who, when and why.

    Raises Conflict for a move the table does not allow, ValidationFailed when a reason is needed.
    ``audit=False`` only when the caller's own audit event already records the move.
    """
    try:
        target = State(to)
    except ValueError:
        raise ValidationFailed(f"unknown state {to!r}", errors=[{"field": "to", "message": "unknown state"}]) from None
    current = State(invoice.state)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        raise Conflict(f"invoice {invoice.invoice_number} is {current}; it can move to: {allowed}")
    if target in NEEDS_REASON and not (reason or "").strip():
        raise ValidationFailed(f"moving to {target} needs a reason",
                               errors=[{"field": "reason", "message": "required"}])
    change = InvoiceStateChange(invoice_id=invoice.id, from_state=current, to_state=target, actor=actor.label,
                                actor_id=actor.user_id, reason=reason)
    invoice.state = target
    session.add(change)
    session.flush()
    if audit:
        record(session, actor=actor, action="invoice.state_changed", entity_type="invoice", entity_id=invoice.id,
               before={"state": current}, after={"state": target}, reason=reason)
    return change


def apply_auto_actions(*, session: Session, invoice: Invoice, line_totals: dict[int, Decimal],
                       findings: list[Finding]) -> list[dict]:
    """Apply what the guidelines ask for at submission: reduce a line (to the cap, say), reject a
    line, or reject the whole invoice. Returns what was done, for the submission's audit event and
    the submitter's view. Lines without such findings stay undecided for the reviewer."""
    done: list[dict] = []
    by_line: dict[int, list[Finding]] = {}
    for f in findings:
        if f.action in ("reduce", "reject_line") and f.line_no is not None:
            by_line.setdefault(f.line_no, []).append(f)
    for line_no, fs in sorted(by_line.items()):
        total = line_totals[line_no]
        if any(f.action == "reject_line" for f in fs):
            decision, approved = "rejected", Decimal(0)
            rule = next(f.rule for f in fs if f.action == "reject_line")
        else:
            decision = "adjusted"
            approved = max(Decimal(0), total + sum((f.adjustment for f in fs), Decimal(0)))
            rule = fs[0].rule
        session.execute(update(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id, InvoiceLine.line_no == line_no)
                        .values(decision=decision, approved_total=approved, reason_code=rule,
                                decided_by=GUIDELINES.label))
        done.append({"line": line_no, "decision": decision, "rule": rule, "billed": format(total, "f"),
                     "approved": format(approved, "f")})
    rejecting = [f for f in findings if f.action == "reject_invoice"]
    if rejecting:
        reason = "; ".join(f"{f.rule}: {f.message}" for f in rejecting)
        transition(session=session, invoice=invoice, to=State.rejected, actor=GUIDELINES, reason=reason, audit=False)
        done.append({"line": None, "decision": "invoice rejected", "rule": rejecting[0].rule, "reason": reason})
    return done
