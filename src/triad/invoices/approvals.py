"""Invoice approval in levels by amount, with a fallback approver when one is away.

Every invoice needs a reviewer's signature (any user who may review it). An invoice whose approved
amount, converted at the invoice date's rate, reaches a level's ``min_amount`` also needs that
level's signature, levels in ascending order. A level is signed by its approver, or by its fallback
approver while the approver is away (``User.away_until``) or inactive. One person's approval signs
every consecutive step they hold. The invoice becomes ``approved`` when the last step is signed.

A line decision, or a move out of review, voids the signatures collected so far: the amount a person
signed for is the amount they saw. Callers commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triad.audit.service import Actor, record
from triad.auth.models import User
from triad.core.db import utcnow
from triad.core.errors import Conflict, PermissionDenied, ValidationFailed
from triad.core.permissions import Perm, has
from triad.invoices.models import ApprovalLevel, Invoice, InvoiceApproval
from triad.invoices.states import State

REVIEW = "review"


def approved_amount(invoice: Invoice) -> Decimal:
    """The amount the invoice would be approved for: decided lines at their approved total, the rest as billed."""
    return sum((ln.approved_total if ln.decision else ln.total for ln in invoice.lines), Decimal(0))


def is_away(user: User | None, today: dt.date) -> bool:
    return user is None or not user.is_active or (user.away_until is not None and user.away_until >= today)


@dataclass
class Step:
    name: str
    level: ApprovalLevel | None  # None: the reviewer's signature
    signature: InvoiceApproval | None
    signers: list[User]  # who may sign it now (empty for the review step: any reviewer)
    acting_for: User | None  # the away approver the fallback signs for

    def as_dict(self) -> dict[str, Any]:
        sig = self.signature
        return {
            "step": self.name,
            "min_amount": format(self.level.min_amount, "f") if self.level else None,
            "currency": self.level.currency if self.level else None,
            "signed": sig is not None,
            "signed_by": sig.signed_by.username if sig else None,
            "on_behalf_of": sig.on_behalf_of.username if sig and sig.on_behalf_of else None,
            "signed_at": sig.at.isoformat() if sig else None,
            "waiting_for": [] if sig else ([u.username for u in self.signers] or
                                           (["any reviewer"] if self.level is None else [])),
        }


def _levels(session: Session) -> list[ApprovalLevel]:
    return list(session.scalars(select(ApprovalLevel).order_by(ApprovalLevel.min_amount, ApprovalLevel.id)))


def steps(*, session: Session, invoice: Invoice, today: dt.date | None = None) -> list[Step]:
    """The signatures this invoice needs, in order, with those already given."""
    from triad.fx.service import convert

    today = today or utcnow().date()
    valid = [a for a in invoice.approvals if a.voided_at is None]
    amount = approved_amount(invoice)
    out = [Step(REVIEW, None, next((a for a in valid if a.level_id is None), None), [], None)]
    for lv in _levels(session):
        in_level_ccy = amount if lv.currency == invoice.currency else convert(
            session=session, amount=amount, from_currency=invoice.currency, to_currency=lv.currency,
            on=invoice.invoice_date)
        if in_level_ccy < lv.min_amount:
            continue
        if not is_away(lv.approver, today):
            signers, acting_for = [lv.approver], None
        elif lv.fallback_approver is not None and not is_away(lv.fallback_approver, today):
            signers, acting_for = [lv.fallback_approver], lv.approver
        else:
            signers, acting_for = [], lv.approver
        out.append(Step(lv.name, lv, next((a for a in valid if a.level_id == lv.id), None), signers, acting_for))
    return out


def status(*, session: Session, invoice: Invoice) -> dict[str, Any]:
    """What the invoice's approval needs, for the API and the pages."""
    try:
        all_steps = steps(session=session, invoice=invoice)
    except Conflict as exc:  # e.g. no FX rate to compare with a level
        return {"amount": format(approved_amount(invoice), "f"), "currency": invoice.currency, "complete": False,
                "steps": [], "problem": exc.detail}
    return {"amount": format(approved_amount(invoice), "f"), "currency": invoice.currency,
            "complete": all(s.signature for s in all_steps), "steps": [s.as_dict() for s in all_steps]}


def approve(*, session: Session, invoice: Invoice, user: User, comment: str | None = None,
            from_state: str = State.in_review) -> list[str]:
    """``user`` approves the invoice: signs every consecutive step they may sign. When the last step
    is signed the invoice moves to approved. Returns the names of the steps signed. ``from_state``
    is the state the caller took the invoice from in the same unit of work (bulk approval takes a
    submitted invoice into review), so the one audit event tells the whole move.

    Raises Conflict when the invoice is not in review; PermissionDenied when the next step is not
    the user's to sign (naming who may sign it)."""
    from triad.invoices.service import transition

    if invoice.state != State.in_review:
        raise Conflict(f"invoice {invoice.invoice_number} is {invoice.state}; "
                       "only an invoice in review can be approved")
    today = utcnow().date()
    todo = steps(session=session, invoice=invoice, today=today)
    amount = approved_amount(invoice)
    signed: list[str] = []
    for step in todo:
        if step.signature is not None:
            continue
        if step.level is None:
            allowed = has(user.role, Perm.invoices_review)
        else:
            allowed = any(u.id == user.id for u in step.signers)
        if not allowed:
            break
        sig = InvoiceApproval(invoice_id=invoice.id, level_id=step.level.id if step.level else None,
                              level_name=step.name, signed_by_id=user.id,
                              on_behalf_of_id=step.acting_for.id if step.level and step.acting_for else None,
                              amount=amount)
        invoice.approvals.append(sig)
        session.flush()
        step.signature = sig
        signed.append(step.name)
    pending = [s for s in todo if s.signature is None]
    if not signed:
        nxt = pending[0] if pending else None
        if nxt is None:
            raise Conflict(f"invoice {invoice.invoice_number} has every signature it needs")
        if not nxt.signers:
            raise Conflict(f"the '{nxt.name}' approval cannot be signed: its approver "
                           f"{nxt.acting_for.username if nxt.acting_for else '?'} is away and no fallback approver "
                           "is available; ask an administrator to set one")
        raise PermissionDenied(f"the next approval of {invoice.invoice_number} is '{nxt.name}', to be signed by "
                               + ", ".join(u.full_name for u in nxt.signers)
                               + (f" (on behalf of {nxt.acting_for.full_name}, who is away)" if nxt.acting_for else ""))
    after = {"signed": signed, "amount": amount, "currency": invoice.currency,
             "on_behalf_of": [s.acting_for.username for s in todo if s.name in signed and s.level and s.acting_for],
             "pending": [s.name for s in pending]}
    if not pending:
        from triad.ap.service import rescale_allocations

        rescale_allocations(session=session, invoice=invoice)  # the allocation follows the approved amount
        transition(session=session, invoice=invoice, to=State.approved, actor=Actor.of(user), reason=comment,
                   audit=False, _signed=True)
        record(session, actor=Actor.of(user), action="invoice.approved", entity_type="invoice", entity_id=invoice.id,
               before={"state": from_state}, after={"state": State.approved, **after}, reason=comment)
    else:
        record(session, actor=Actor.of(user), action="invoice.approval_signed", entity_type="invoice",
               entity_id=invoice.id, before={"state": from_state}, after={"state": invoice.state, **after},
               reason=comment)
    return signed


def complete(*, session: Session, invoice: Invoice) -> bool:
    return all(s.signature for s in steps(session=session, invoice=invoice))


def void_signatures(*, session: Session, invoice: Invoice) -> int:
    """Void the signatures collected so far (a line changed, or the invoice left review). Returns how many."""
    live = [a for a in invoice.approvals if a.voided_at is None]
    if live:
        now = utcnow()
        session.execute(update(InvoiceApproval).where(InvoiceApproval.id.in_([a.id for a in live]))
                        .values(voided_at=now))
        for a in live:
            a.voided_at = now
    return len(live)


def check_level(*, session: Session, data: dict[str, Any], level_id: int | None = None) -> None:
    """Approval levels share one currency (so their order is the order of their amounts), and their
    approvers may review invoices."""
    others = [lv for lv in _levels(session) if lv.id != level_id]
    if data.get("currency") and others and any(lv.currency != data["currency"] for lv in others):
        raise ValidationFailed(f"approval levels are all in {others[0].currency}; a level in {data['currency']} "
                               "could not be ordered against them",
                               errors=[{"field": "currency", "message": f"must be {others[0].currency}"}])
    for field in ("approver_id", "fallback_approver_id"):
        uid = data.get(field)
        if uid is None:
            continue
        u = session.get(User, uid)
        if u is None or not has(u.role, Perm.invoices_review):
            raise ValidationFailed(f"{field} {uid} is not a user who may review invoices",
                                   errors=[{"field": field, "message": "must be a user who may review invoices"}])
    if data.get("approver_id") is not None and data.get("approver_id") == data.get("fallback_approver_id"):
        raise ValidationFailed("the fallback approver must be someone other than the approver",
                               errors=[{"field": "fallback_approver_id", "message": "same as the approver"}])
