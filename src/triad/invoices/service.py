"""Invoice workflow: state moves from the declared table, line decisions, and the guideline
auto-actions applied at submission. Callers commit."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import bindparam, update
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
        # a reduction of nothing (e.g. "no approved rate on file") leaves the line to the reviewer
        if f.line_no is not None and (f.action == "reject_line" or (f.action == "reduce" and f.adjustment < 0)):
            by_line.setdefault(f.line_no, []).append(f)
    params = []
    for line_no, fs in sorted(by_line.items()):
        total = line_totals[line_no]
        if any(f.action == "reject_line" for f in fs):
            decision, approved = "rejected", Decimal(0)
            rule = next(f.rule for f in fs if f.action == "reject_line")
        else:
            decision = "adjusted"
            approved = max(Decimal(0), total + sum((f.adjustment for f in fs if f.action == "reduce"), Decimal(0)))
            rule = next(f.rule for f in fs if f.action == "reduce")
        params.append({"_inv": invoice.id, "_line": line_no, "decision": decision, "approved_total": approved,
                       "reason_code": rule, "decided_by": GUIDELINES.label})
        done.append({"line": line_no, "decision": decision, "rule": rule, "billed": format(total, "f"),
                     "approved": format(approved, "f")})
    if params:  # one executemany for all lines
        session.connection().execute(
            update(InvoiceLine.__table__)
            .where(InvoiceLine.__table__.c.invoice_id == bindparam("_inv"),
                   InvoiceLine.__table__.c.line_no == bindparam("_line")),
            params)
    rejecting = [f for f in findings if f.action == "reject_invoice"]
    if rejecting:
        reason = "; ".join(f"{f.rule}: {f.message}" for f in rejecting)
        transition(session=session, invoice=invoice, to=State.rejected, actor=GUIDELINES, reason=reason, audit=False)
        done.append({"line": None, "decision": "invoice rejected", "rule": rejecting[0].rule, "reason": reason})
    return done


REASON_CODES = ("RATE", "BLOCK_BILLING", "VAGUE", "CLERICAL", "DUPLICATE", "NOT_ALLOWED", "OUT_OF_SCOPE", "OTHER")
COUNSEL_MOVES = {State.withdrawn: {State.submitted, State.in_review, State.on_hold}, State.appealed: {State.rejected}}


def decide_line(*, session: Session, invoice: Invoice, line_no: int, decision: str, actor: Actor,
                reason_code: str | None = None, approved_total: Decimal | None = None,
                comment: str | None = None) -> InvoiceLine:
    """A reviewer accepts, adjusts or rejects one line of an invoice in review.

    Adjusting needs the approved amount (between 0 and the billed total); adjusting and rejecting
    need a reason code (one of REASON_CODES or a guideline rule id)."""
    from sqlalchemy import select

    from triad.guidelines.registry import rules

    if invoice.state != State.in_review:
        raise Conflict(f"invoice {invoice.invoice_number} is {invoice.state}; lines are decided while it is in review")
    line = session.scalar(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id,
                                                    InvoiceLine.line_no == line_no))
    if line is None:
        raise ValidationFailed(f"invoice {invoice.invoice_number} has no line {line_no}",
                               errors=[{"field": "line_no", "message": "no such line"}])
    if decision not in ("accepted", "adjusted", "rejected"):
        raise ValidationFailed("decision must be accepted, adjusted or rejected",
                               errors=[{"field": "decision", "message": "unknown decision"}])
    if decision != "accepted" and reason_code not in REASON_CODES and reason_code not in rules():
        raise ValidationFailed(f"a reason code is needed: one of {', '.join(REASON_CODES)} or a guideline rule id",
                               errors=[{"field": "reason_code", "message": "required"}])
    if decision == "adjusted" and (approved_total is None or not (Decimal(0) <= approved_total <= line.total)):
        raise ValidationFailed(f"approved_total must be between 0 and the billed {line.total}",
                               errors=[{"field": "approved_total", "message": "out of range"}])
    approved = {"accepted": line.total, "rejected": Decimal(0)}.get(decision, approved_total)
    before = {"decision": line.decision, "approved_total": line.approved_total, "reason_code": line.reason_code}
    line.decision, line.approved_total, line.reason_code, line.decided_by = (
        decision, approved, reason_code if decision != "accepted" else None, actor.label)
    session.flush()
    record(session, actor=actor, action="invoice_line.decided", entity_type="invoice_line", entity_id=line.id,
           before=before, after={"invoice_id": invoice.id, "line_no": line_no, "decision": decision,
                                 "approved_total": approved, "reason_code": line.reason_code}, reason=comment)
    return line


OPEN_FOR_REVIEW = (State.submitted, State.in_review, State.appealed)


def review_queue(*, session: Session, user, limit: int = 200) -> list[tuple[Invoice, int, int]]:
    """Invoices waiting for this reviewer, exceptions first: (invoice, findings, rejecting findings).

    Matter managers see the invoices on matters they manage; legal ops and admins see them all."""
    from sqlalchemy import case, func, select

    from triad.core.permissions import Role
    from triad.guidelines.models import InvoiceFinding
    from triad.invoices.models import InvoiceLine
    from triad.matters.models import Matter

    n_all = func.count(InvoiceFinding.id)
    n_reject = func.coalesce(func.sum(case((InvoiceFinding.severity.like("reject%"), 1), else_=0)), 0)
    stmt = (select(Invoice, n_all, n_reject).outerjoin(InvoiceFinding, InvoiceFinding.invoice_id == Invoice.id)
            .where(Invoice.state.in_([s.value for s in OPEN_FOR_REVIEW])).group_by(Invoice.id)
            .order_by(n_reject.desc(), n_all.desc(), Invoice.submitted_at, Invoice.id).limit(limit))
    if user.role == Role.matter_manager:
        managed = select(InvoiceLine.invoice_id).join(Matter, Matter.id == InvoiceLine.matter_id).where(
            Matter.manager_id == user.id)
        stmt = stmt.where(Invoice.id.in_(managed))
    return [(inv, int(a), int(r)) for inv, a, r in session.execute(stmt)]
