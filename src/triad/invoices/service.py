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
VOIDS_SIGNATURES = {State.in_review, State.on_hold, State.rejected, State.withdrawn}
GUIDELINES = Actor("system:guidelines")


def check_move(invoice_number: str, current: str, target: str) -> None:
    """Raise Conflict unless the state table allows ``current -> target`` (bulk writers use it too)."""
    if State(target) not in TRANSITIONS[State(current)]:
        allowed = ", ".join(sorted(TRANSITIONS[State(current)])) or "none"
        raise Conflict(f"invoice {invoice_number} is {State(current)}; it can move to: {allowed}")


def transition(*, session: Session, invoice: Invoice, to: str, actor: Actor, reason: str | None = None,
               audit: bool = True, _signed: bool = False) -> InvoiceStateChange:
    """Move an invoice to ``to`` if the state table allows it; record who, when and why.

    Raises Conflict for a move the table does not allow, ValidationFailed when a reason is needed.
    ``audit=False`` only when the caller's own audit event already records the move. Approval goes
    through ``approvals.approve`` (signatures by level), so a direct move to approved is refused;
    ``move`` picks the right one.
    """
    try:
        target = State(to)
    except ValueError:
        raise ValidationFailed(f"unknown state {to!r}", errors=[{"field": "to", "message": "unknown state"}]) from None
    current = State(invoice.state)
    check_move(invoice.invoice_number, current, target)
    if target in NEEDS_REASON and not (reason or "").strip():
        raise ValidationFailed(f"moving to {target} needs a reason",
                               errors=[{"field": "reason", "message": "required"}])
    if target == State.appealed and current == State.approved and not any(
            ln.decision in ("adjusted", "rejected") for ln in invoice.lines):
        raise Conflict(f"invoice {invoice.invoice_number} was approved as billed; there is no adjustment to appeal")
    if target == State.approved and not _signed:
        raise Conflict("an invoice is approved by signing its approval steps (approvals.approve), not moved there")
    if target in VOIDS_SIGNATURES:
        from triad.invoices.approvals import void_signatures

        void_signatures(session=session, invoice=invoice)
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
COUNSEL_MOVES = {State.withdrawn: {State.submitted, State.in_review, State.on_hold},
                 State.appealed: {State.rejected, State.approved}}


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
    from triad.core.money import minor_units

    if decision == "adjusted" and approved_total is not None and (
            -approved_total.as_tuple().exponent > minor_units(invoice.currency)):
        raise ValidationFailed(f"approved_total has more decimals than {invoice.currency} allows",
                               errors=[{"field": "approved_total", "message": "too many decimals"}])
    if decision == "adjusted" and (approved_total is None or not (Decimal(0) <= approved_total <= line.total)):
        raise ValidationFailed(f"approved_total must be between 0 and the billed {line.total}",
                               errors=[{"field": "approved_total", "message": "out of range"}])
    approved = {"accepted": line.total, "rejected": Decimal(0)}.get(decision, approved_total)
    from triad.invoices.approvals import void_signatures

    void_signatures(session=session, invoice=invoice)
    before = {"decision": line.decision, "approved_total": line.approved_total, "reason_code": line.reason_code}
    line.decision, line.approved_total, line.reason_code, line.decided_by = (
        decision, approved, reason_code if decision != "accepted" else None, actor.label)
    session.flush()
    record(session, actor=actor, action="invoice_line.decided", entity_type="invoice_line", entity_id=line.id,
           before=before, after={"invoice_id": invoice.id, "line_no": line_no, "decision": decision,
                                 "approved_total": approved, "reason_code": line.reason_code}, reason=comment)
    return line


def set_allocations(*, session: Session, invoice: Invoice, allocations: list[dict], actor: Actor,
                    reason: str | None = None) -> None:
    """A reviewer replaces the invoice's cost allocation before approval.

    Each row: matter_id, cost_center_id, gl_account_id, amount. Every matter on the invoice must be
    allocated exactly its billed total (to the cent), on active cost centers and GL accounts; nothing
    else. Voids approval signatures collected so far. One audit event with before and after."""
    from sqlalchemy import select

    from triad.core.money import minor_units, quantize
    from triad.invoices.approvals import void_signatures
    from triad.invoices.models import InvoiceAllocation
    from triad.org.models import CostCenter, GLAccount

    if invoice.state not in (State.submitted, State.in_review):
        raise Conflict(f"invoice {invoice.invoice_number} is {invoice.state}; the allocation can change only "
                       "before approval")
    errors: list[dict] = []
    per_matter: dict[int, Decimal] = {}
    for ln in invoice.lines:
        per_matter[ln.matter_id] = per_matter.get(ln.matter_id, Decimal(0)) + ln.total
    given: dict[int, Decimal] = {}
    ccs = {c.id: c for c in session.scalars(select(CostCenter).where(
        CostCenter.id.in_({a["cost_center_id"] for a in allocations})))}
    gls = {g.id: g for g in session.scalars(select(GLAccount).where(
        GLAccount.id.in_({a["gl_account_id"] for a in allocations})))}
    places = minor_units(invoice.currency)
    for n, a in enumerate(allocations):
        amount = a["amount"]
        if a["matter_id"] not in per_matter:
            errors.append({"field": f"allocations[{n}].matter_id", "message": "not a matter on this invoice"})
        cc, gl = ccs.get(a["cost_center_id"]), gls.get(a["gl_account_id"])
        if cc is None or not cc.is_active:
            errors.append({"field": f"allocations[{n}].cost_center_id", "message": "no such active cost center"})
        if gl is None or not gl.is_active:
            errors.append({"field": f"allocations[{n}].gl_account_id", "message": "no such active GL account"})
        if amount < 0 or -amount.as_tuple().exponent > places:
            errors.append({"field": f"allocations[{n}].amount",
                           "message": f"must be 0 or more with at most {places} decimals ({invoice.currency})"})
        given[a["matter_id"]] = given.get(a["matter_id"], Decimal(0)) + amount
    for matter_id, total in per_matter.items():
        if given.get(matter_id, Decimal(0)) != total:
            errors.append({"field": "allocations", "message": f"matter {matter_id} is billed "
                                                              f"{quantize(total, invoice.currency)} "
                                                              f"{invoice.currency}; allocated "
                                                              f"{given.get(matter_id, Decimal(0))}"})
    if errors:
        raise ValidationFailed(f"the allocation of invoice {invoice.invoice_number} was not changed: "
                               f"{len(errors)} problem(s)", errors=errors)
    before = [{"matter_id": a.matter_id, "cost_center_id": a.cost_center_id, "gl_account_id": a.gl_account_id,
               "amount": a.amount} for a in invoice.allocations]
    invoice.allocations.clear()
    session.flush()
    for a in allocations:
        invoice.allocations.append(InvoiceAllocation(matter_id=a["matter_id"], cost_center_id=a["cost_center_id"],
                                                     gl_account_id=a["gl_account_id"], amount=a["amount"],
                                                     currency=invoice.currency))
    void_signatures(session=session, invoice=invoice)
    session.flush()
    record(session, actor=actor, action="invoice.allocation_changed", entity_type="invoice", entity_id=invoice.id,
           before={"allocations": before}, after={"allocations": [dict(a) for a in allocations]}, reason=reason)


def move(*, session: Session, invoice: Invoice, to: str, user, reason: str | None = None) -> str:
    """What the API's and the pages' "move to" does: approving signs the user's approval steps
    (the invoice may stay in review awaiting a higher level); any other target is a transition.
    Returns the invoice's state afterwards."""
    from triad.invoices.approvals import approve

    if to in AP_STATES or invoice.state in AP_STATES:
        raise Conflict(f"invoice {invoice.invoice_number} is {invoice.state}; sent to AP, partially paid and paid "
                       "change only through an AP export, payment confirmations or a re-open by finance")
    if to == State.approved:
        approve(session=session, invoice=invoice, user=user, comment=reason)
    else:
        transition(session=session, invoice=invoice, to=to, actor=Actor.of(user), reason=reason)
    return invoice.state


OPEN_FOR_REVIEW = (State.submitted, State.in_review, State.appealed)
AP_STATES = frozenset({State.sent_to_ap, State.partially_paid, State.paid})


def review_queue(*, session: Session, user, limit: int = 200) -> list[tuple[Invoice, int, int, list[str]]]:
    """Invoices waiting for this reviewer, exceptions first: (invoice, findings, rejecting findings,
    approval steps still to sign).

    Matter managers see the invoices on matters they manage, and any invoice whose next approval
    step is theirs to sign (as a level's approver or its fallback); legal ops and admins see them all."""
    from sqlalchemy import case, func, select

    from triad.core.errors import TriadError
    from triad.core.permissions import Role
    from triad.guidelines.models import InvoiceFinding
    from triad.invoices.approvals import steps
    from triad.invoices.models import ApprovalLevel, InvoiceLine
    from triad.matters.models import Matter

    n_all = func.count(InvoiceFinding.id)
    n_reject = func.coalesce(func.sum(case((InvoiceFinding.severity.like("reject%"), 1), else_=0)), 0)
    stmt = (select(Invoice, n_all, n_reject).outerjoin(InvoiceFinding, InvoiceFinding.invoice_id == Invoice.id)
            .where(Invoice.state.in_([s.value for s in OPEN_FOR_REVIEW])).group_by(Invoice.id)
            .order_by(n_reject.desc(), n_all.desc(), Invoice.submitted_at, Invoice.id))
    restricted = user.role == Role.matter_manager
    signs_levels = session.scalar(select(func.count(ApprovalLevel.id)).where(
        (ApprovalLevel.approver_id == user.id) | (ApprovalLevel.fallback_approver_id == user.id)))
    if restricted:
        managed = select(InvoiceLine.invoice_id).join(Matter, Matter.id == InvoiceLine.matter_id).where(
            Matter.manager_id == user.id)
        if not signs_levels:
            stmt = stmt.where(Invoice.id.in_(managed))
        else:
            managed_ids = set(session.scalars(managed.distinct()))
    out = []
    for inv, a, r in session.execute(stmt if restricted and signs_levels else stmt.limit(limit)):
        try:
            todo = [st for st in steps(session=session, invoice=inv) if st.signature is None]
        except TriadError:  # e.g. no FX rate: the reviewer sees it on the invoice
            todo = []
        if restricted and signs_levels and inv.id not in managed_ids and not (
                inv.state == State.in_review and todo and any(u.id == user.id for u in todo[0].signers)):
            continue
        out.append((inv, int(a), int(r), [st.name for st in todo]))
        if len(out) >= limit:
            break
    return out


def bulk_approve(*, session: Session, user, invoice_ids: list[int], comment: str | None = None) -> list[dict]:
    """Approve each clean invoice among ``invoice_ids``: no guideline findings and no line adjusted or
    rejected. A submitted invoice is taken into review first. Each invoice is its own unit (a
    savepoint): one that cannot be approved is skipped with the reason and changes nothing.
    Returns one outcome per id: approved, signed (awaiting a higher level) or skipped."""
    from triad.auth.scoping import get_visible
    from triad.core.errors import TriadError
    from triad.invoices.approvals import approve

    out: list[dict] = []
    for inv_id in dict.fromkeys(invoice_ids):
        inv = get_visible(session, Invoice, inv_id, user)
        if inv is None:
            out.append({"id": inv_id, "outcome": "skipped", "state": None, "reason": "no such invoice"})
            continue
        if inv.state not in (State.submitted, State.in_review):
            out.append({"id": inv_id, "outcome": "skipped", "state": inv.state, "reason": f"it is {inv.state}"})
            continue
        changed = [ln.line_no for ln in inv.lines if ln.decision in ("adjusted", "rejected")]
        if inv.findings or changed:
            why = (f"{len(inv.findings)} guideline finding(s)" if inv.findings
                   else f"line(s) {', '.join(map(str, changed))} adjusted or rejected")
            out.append({"id": inv_id, "outcome": "skipped", "state": inv.state,
                        "reason": f"not clean: {why}; review it on its own"})
            continue
        savepoint = session.begin_nested()
        try:
            start = inv.state
            if start == State.submitted:  # recorded in the approval's audit event (from_state)
                transition(session=session, invoice=inv, to=State.in_review, actor=Actor.of(user),
                           reason="bulk approval", audit=False)
            approve(session=session, invoice=inv, user=user, comment=comment or "bulk approval of a clean invoice",
                    from_state=start)
        except TriadError as exc:
            savepoint.rollback()
            session.expire(inv)
            out.append({"id": inv_id, "outcome": "skipped", "state": inv.state, "reason": exc.detail})
            continue
        savepoint.commit()
        out.append({"id": inv_id, "outcome": "approved" if inv.state == State.approved else "signed",
                    "state": inv.state, "reason": None})
    return out
