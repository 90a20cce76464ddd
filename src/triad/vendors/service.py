"""Vendor master services: create and change the record, the lifecycle with its hard gate, the legal
review, four eyes on bank and tax changes, and the checks other domains call (engagement, firm link).

Keyword-only, explicit session, one audit event per call that changes something; callers commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triad.audit.service import Actor, record, snapshot
from triad.auth.models import User
from triad.core.db import utcnow
from triad.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from triad.core.permissions import Perm, has
from triad.org.models import BusinessUnit
from triad.vendors import models as m
from triad.vendors import validation
from triad.vendors.models import (
    ScreeningStatus,
    Vendor,
    VendorBankAccount,
    VendorBusinessUnit,
    VendorContact,
    VendorPendingChange,
    VendorStatus,
    VendorStatusChange,
    VendorTaxId,
)
from triad.vendors.schemas import VendorCreate, VendorUpdate
from triad.vendors.states import BLOCKED, MOVE_PERM, NEEDS_REASON, TRANSITIONS

FOUR_EYES_FIELDS = ("bank_accounts", "tax_ids")
_CHILD = {"tax_ids": VendorTaxId, "bank_accounts": VendorBankAccount, "addresses": m.VendorAddress,
          "contacts": VendorContact}
_CHILD_SKIP = {"id", "vendor_id", "validated_on"}


def _child_rows(vendor: Vendor, key: str) -> list[dict]:
    """A child list as plain dicts, comparable with incoming data."""
    return [{k: v for k, v in snapshot(c).items() if k not in _CHILD_SKIP} for c in getattr(vendor, key)]


def _incoming(items: list[Any]) -> list[dict]:
    return [i.model_dump() if hasattr(i, "model_dump") else dict(i) for i in items]


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", errors=[{"field": field, "message": message}])


def _check_business_units(session: Session, ids: list[int]) -> None:
    if not ids:
        return
    found = set(session.scalars(select(BusinessUnit.id).where(BusinessUnit.id.in_(ids))))
    for n, i in enumerate(ids):
        if i not in found:
            raise _fail(f"business_unit_ids[{n}]", f"no business_unit with id {i}")
    if len(set(ids)) != len(ids):
        raise _fail("business_unit_ids", "a business unit is listed twice")


def _check_tax_ids_free(session: Session, tax_ids: list[dict], vendor_id: int | None) -> None:
    """A tax identifier belongs to one vendor: the procurement sync matches records by it."""
    seen: set[str] = set()
    for n, t in enumerate(tax_ids):
        key = validation.tax_key(t["value"])
        if key in seen:
            raise _fail(f"tax_ids[{n}].value", f"{t['value']} is listed twice")
        seen.add(key)
        if t["scheme"] == "other":
            continue
        stmt = select(VendorTaxId.vendor_id).where(VendorTaxId.value == t["value"])
        if vendor_id is not None:
            stmt = stmt.where(VendorTaxId.vendor_id != vendor_id)
        other = session.scalar(stmt.limit(1))
        if other is not None:
            raise Conflict(f"tax_ids[{n}].value: {t['value']} already belongs to vendor {other}",
                           errors=[{"field": f"tax_ids[{n}].value", "message": f"belongs to vendor {other}"}])


def _set_children(session: Session, vendor: Vendor, key: str, items: list[dict]) -> None:
    current = getattr(vendor, key)
    if current:
        current.clear()
        session.flush()
    cls = _CHILD[key]
    today = utcnow().date()
    rows = []
    for item in items:
        row = cls(**item)
        if key == "tax_ids" and item["scheme"] in validation.VALIDATED_SCHEMES:
            row.validated_on = today
        rows.append(row)
    setattr(vendor, key, rows)


def _set_business_units(session: Session, vendor: Vendor, ids: list[int]) -> None:
    if vendor.business_units:
        vendor.business_units.clear()
        session.flush()
    vendor.business_units = [VendorBusinessUnit(business_unit_id=i) for i in ids]


def _full_snapshot(vendor: Vendor) -> dict:
    out = snapshot(vendor)
    for key in _CHILD:
        out[key] = _child_rows(vendor, key)
    out["business_unit_ids"] = sorted(vendor.business_unit_ids)
    return out


def create_vendor(*, session: Session, data: VendorCreate, actor: Actor, status: str = VendorStatus.draft,
                  audit: bool = True) -> Vendor:
    """Create a vendor in ``draft`` (it cannot be paid, engaged or invoiced until activated).

    Args: data (validated: tax IDs and bank accounts already checked), actor (the requester).
    Returns: the new vendor, flushed. Raises Conflict when a tax ID belongs to another vendor.
    """
    if status not in (VendorStatus.draft, VendorStatus.pending_review):
        raise ValidationFailed("a new vendor starts as draft; activation goes through the legal review gate",
                               errors=[{"field": "status", "message": "not allowed at creation"}])
    raw = data.model_dump()
    _check_business_units(session, raw["business_unit_ids"])
    _check_tax_ids_free(session, raw["tax_ids"], None)
    vendor = Vendor(legal_name=raw["legal_name"], other_names=raw["other_names"], country=raw["country"],
                    risk_tier=raw["risk_tier"], onboarding_pathway=raw["onboarding_pathway"], status=status,
                    name_key=validation.name_key(raw["legal_name"]), requested_by_id=actor.user_id,
                    screening_status=ScreeningStatus.not_screened, legal_review="none")
    session.add(vendor)
    for key in _CHILD:
        _set_children(session, vendor, key, raw[key])
    _set_business_units(session, vendor, raw["business_unit_ids"])
    session.flush()
    if audit:
        record(session, actor=actor, action="vendor.created", entity_type="vendor", entity_id=vendor.id,
               after=_full_snapshot(vendor))
    return vendor


def update_vendor(*, session: Session, obj: Vendor, data: VendorUpdate, actor: Actor, source: str = "triad",
                  audit: bool = True) -> Vendor:
    """Apply the fields that were sent. On an active or suspended vendor, a change of bank accounts or
    tax IDs is not applied: it waits as a pending change for a second person (four eyes).

    A change of names, tax IDs or bank details before activation voids a completed legal review (the
    reviewer saw other data), and a change of names voids the screening result.
    Returns the vendor; one audit event ``vendor.updated`` when anything changed or was put on hold.
    """
    vendor = obj
    raw = data.model_dump(exclude_unset=True)
    for key in ("legal_name", "country"):
        if key in raw and raw[key] is None:
            raise _fail(key, "required")
    if raw.get("business_unit_ids") is not None:
        _check_business_units(session, raw["business_unit_ids"])
    if raw.get("tax_ids") is not None:
        _check_tax_ids_free(session, raw["tax_ids"], vendor.id)
    before = _full_snapshot(vendor)
    held: list[VendorPendingChange] = []
    four_eyes = vendor.status in (VendorStatus.active, VendorStatus.suspended)
    for key in FOUR_EYES_FIELDS:
        if raw.get(key) is None:
            raw.pop(key, None)
            continue
        if _incoming(raw[key]) == _child_rows(vendor, key) or not four_eyes:
            continue
        proposed = _incoming(raw.pop(key))
        pending = session.scalar(select(VendorPendingChange).where(
            VendorPendingChange.vendor_id == vendor.id, VendorPendingChange.kind == key,
            VendorPendingChange.status == "pending"))
        if pending is not None and pending.proposed == proposed:
            continue  # the same change is already waiting (e.g. the same import file twice)
        if pending is not None:  # a newer proposal replaces the waiting one
            pending.status, pending.decided_by, pending.decided_at = "superseded", actor.label, utcnow()
        change = VendorPendingChange(vendor_id=vendor.id, kind=key, proposed=proposed,
                                     current=_child_rows(vendor, key), source=source, requested_by=actor.label,
                                     requested_by_id=actor.user_id)
        session.add(change)
        held.append(change)
    for key in ("legal_name", "other_names", "country"):
        if key in raw:
            setattr(vendor, key, raw[key])
    if "legal_name" in raw:
        vendor.name_key = validation.name_key(raw["legal_name"])
    for key in _CHILD:
        if raw.get(key) is not None and _incoming(raw[key]) != _child_rows(vendor, key):
            _set_children(session, vendor, key, _incoming(raw[key]))
    if raw.get("business_unit_ids") is not None and sorted(raw["business_unit_ids"]) != before["business_unit_ids"]:
        _set_business_units(session, vendor, raw["business_unit_ids"])
    session.flush()
    after = _full_snapshot(vendor)
    changed = sorted(k for k in after if after[k] != before.get(k))
    notes = []
    if not four_eyes and vendor.status != VendorStatus.deactivated:
        if {"legal_name", "other_names", "tax_ids", "bank_accounts"} & set(changed) and \
                vendor.legal_review == "completed":
            vendor.legal_review, vendor.legal_reviewed_by_id, vendor.legal_reviewed_at = "none", None, None
            notes.append("legal review voided: reviewed data changed")
        if {"legal_name", "other_names"} & set(changed) and vendor.screening_status != ScreeningStatus.not_screened:
            vendor.screening_status = ScreeningStatus.not_screened
            notes.append("screening voided: names changed")
    elif {"legal_name", "other_names"} & set(changed):
        vendor.screening_status = ScreeningStatus.not_screened
        notes.append("names changed: screen again")
    session.flush()
    if not changed and not held:
        return vendor
    if audit:
        ev_after: dict[str, Any] = {k: after[k] for k in changed}
        if held:
            ev_after["held_for_approval"] = [{"change_id": c.id, "kind": c.kind, "proposed": c.proposed}
                                             for c in held]
        if notes:
            ev_after["notes"] = notes
        record(session, actor=actor, action="vendor.updated", entity_type="vendor", entity_id=vendor.id,
               before={k: before.get(k) for k in changed}, after=ev_after)
    return vendor


# ---------------------------------------------------------------- four eyes


def decide_change(*, session: Session, change: VendorPendingChange, approve: bool, actor: Actor,
                  reason: str | None = None) -> VendorPendingChange:
    """A second person approves (applies) or rejects a held bank or tax change.

    Raises PermissionDenied when the decider requested the change, Conflict when it is no longer pending
    or, for tax IDs, when a linked law firm's LAW_FIRM_ID would no longer match the vendor's tax ID.
    """
    if change.status != "pending":
        raise Conflict(f"change {change.id} is {change.status}; only pending changes are decided")
    same = (actor.user_id is not None and actor.user_id == change.requested_by_id) or (
        actor.user_id is None and actor.label == change.requested_by)
    if same:
        raise PermissionDenied("four eyes: the person who requested a bank or tax change cannot approve it")
    if not approve and not (reason or "").strip():
        raise _fail("reason", "a rejection needs a reason")
    vendor = session.get(Vendor, change.vendor_id)
    before = _child_rows(vendor, change.kind)
    if approve:
        if change.kind == "tax_ids":
            _check_tax_ids_free(session, change.proposed, vendor.id)
            keys = {validation.tax_key(t["value"]) for t in change.proposed}
            for firm in _firms_of(session, vendor.id):
                if validation.tax_key(firm.ledes_firm_id) not in keys:
                    raise Conflict(f"law firm {firm.name} has LAW_FIRM_ID {firm.ledes_firm_id}, which is not among "
                                   "the new tax IDs; change the firm's LEDES ID first")
        _set_children(session, vendor, change.kind, change.proposed)
    change.status = "approved" if approve else "rejected"
    change.decided_by, change.decided_by_id, change.decided_at, change.reason = (
        actor.label, actor.user_id, utcnow(), reason)
    session.flush()
    what = "bank_change" if change.kind == "bank_accounts" else "tax_change"
    record(session, actor=actor, action=f"vendor.{what}_{change.status}", entity_type="vendor", entity_id=vendor.id,
           before={change.kind: before}, after={"change_id": change.id, "requested_by": change.requested_by,
                                                change.kind: _child_rows(vendor, change.kind)}, reason=reason)
    return change


def payable_bank_account(vendor: Vendor) -> VendorBankAccount | None:
    """The account payments may go to: the vendor's primary account as approved.

    A bank change to an active vendor is held (``vendor_pending_change``) and is not on the vendor until a
    second person approves it, so the account returned here is always an approved one. Vendors that were
    never activated (their details never passed the gate) get None.
    """
    if vendor.activated_at is None or vendor.status == VendorStatus.draft:
        return None
    accounts = vendor.bank_accounts
    primary = [a for a in accounts if a.is_primary]
    return (primary or accounts or [None])[0]


# ---------------------------------------------------------------- lifecycle and the gate


def gate_problems(session: Session, vendor: Vendor) -> list[dict]:
    """Everything that stops ``vendor`` from becoming active; empty when the gate is open.

    Active needs: a legal review recorded as completed by a user with the legal review permission who is
    not the requester (neither who created the vendor nor who asked for the review); screening passed
    (clear, or every match cleared with a reason); at least one checked tax ID and every tax ID valid;
    at least one bank account and every bank account valid; no bank or tax change waiting for approval.
    """
    problems: list[dict] = []
    if vendor.legal_review != "completed" or vendor.legal_reviewed_by_id is None:
        problems.append({"field": "legal_review", "message": "no completed legal review is recorded"})
    else:
        reviewer = session.get(User, vendor.legal_reviewed_by_id)
        if reviewer is None or not has(reviewer.role, Perm.vendors_review):
            problems.append({"field": "legal_review", "message": "the review was not completed by a legal user"})
        elif reviewer.id in (vendor.requested_by_id, vendor.review_requested_by_id):
            problems.append({"field": "legal_review", "message": "the reviewer is the requester"})
    if vendor.screening_status not in (ScreeningStatus.clear, ScreeningStatus.cleared):
        msg = {"not_screened": "the vendor has not been screened against the sanctions lists",
               "hit": "a sanctions screening match is open; a reviewer must clear it with a reason"}
        problems.append({"field": "screening", "message": msg.get(vendor.screening_status, "screening not passed")})
    else:
        from triad.vendors.models import ScreeningHit

        open_hit = session.scalar(select(ScreeningHit.id).where(ScreeningHit.vendor_id == vendor.id,
                                                                ScreeningHit.status == "open").limit(1))
        if open_hit is not None:
            problems.append({"field": "screening", "message": "a sanctions screening match is open"})
    checked = [t for t in vendor.tax_ids if t.scheme in validation.VALIDATED_SCHEMES]
    if not checked:
        problems.append({"field": "tax_ids", "message": "no US EIN, EU VAT, UK VAT or UK company number on file"})
    for n, t in enumerate(vendor.tax_ids):
        try:
            validation.normalise_tax_id(t.scheme, t.value, t.country)
        except ValueError as exc:
            problems.append({"field": f"tax_ids[{n}].value", "message": str(exc)})
    if not vendor.bank_accounts:
        problems.append({"field": "bank_accounts", "message": "no bank account on file"})
    for n, b in enumerate(vendor.bank_accounts):
        try:
            validation.normalise_bank({"iban": b.iban, "bic": b.bic, "routing_number": b.routing_number,
                                       "account_number": b.account_number})
        except ValueError as exc:
            problems.append({"field": f"bank_accounts[{n}]", "message": str(exc)})
    waiting = session.scalar(select(VendorPendingChange.id).where(VendorPendingChange.vendor_id == vendor.id,
                                                                  VendorPendingChange.status == "pending").limit(1))
    if waiting is not None:
        problems.append({"field": "pending_changes", "message": f"change {waiting} waits for a second approval"})
    return problems


def transition(*, session: Session, vendor: Vendor, to: str, actor: Actor, user: User | None = None,
               reason: str | None = None, audit: bool = True) -> VendorStatusChange:
    """Move a vendor along the declared table; entering ``active`` passes the gate (``gate_problems``).

    Args: user (when given, their role must hold the move's permission: procurement asks for review,
    legal makes every other move). Raises Conflict for a move the table does not allow or a closed gate
    (listing every problem), ValidationFailed when a reason is needed, PermissionDenied for the role.
    """
    try:
        target = VendorStatus(to)
    except ValueError:
        raise _fail("to", f"unknown status {to!r}") from None
    current = VendorStatus(vendor.status)
    if user is not None and not has(user.role, MOVE_PERM[target]):
        raise PermissionDenied(f"your role ({user.role}) cannot move a vendor to {target} "
                               f"(needs {MOVE_PERM[target].value})")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        raise Conflict(f"vendor {vendor.legal_name} is {current}; it can move to: {allowed}")
    if target in NEEDS_REASON and not (reason or "").strip():
        raise _fail("reason", f"moving a vendor to {target} needs a reason")
    extra: dict[str, Any] = {}
    if target == VendorStatus.active:
        problems = gate_problems(session, vendor)
        if problems:
            raise Conflict(f"{vendor.legal_name} cannot be activated: " + "; ".join(
                f"{p['field']}: {p['message']}" for p in problems), errors=problems)
        vendor._gate_token = m._GATE_PASSED
        if vendor.activated_at is None:
            vendor.activated_at = utcnow()
            extra["activated_at"] = vendor.activated_at
    if target == VendorStatus.pending_review:
        vendor.review_requested_by_id, vendor.review_requested_at = actor.user_id, utcnow()
        vendor.legal_review, vendor.legal_reviewed_by_id, vendor.legal_reviewed_at = "none", None, None
    vendor.status = target
    change = VendorStatusChange(vendor_id=vendor.id, from_status=current, to_status=target, actor=actor.label,
                                actor_id=actor.user_id, reason=reason)
    session.add(change)
    session.flush()
    if audit:
        record(session, actor=actor, action="vendor.status_changed", entity_type="vendor", entity_id=vendor.id,
               before={"status": current}, after={"status": target, **extra}, reason=reason)
    return change


def record_review(*, session: Session, vendor: Vendor, reviewer: User, outcome: str,
                  note: str | None = None) -> VendorStatusChange:
    """Legal records its review of a vendor waiting in ``pending_review``.

    ``completed`` opens the legal part of the gate; ``rejected`` sends the vendor back to draft.
    The reviewer must hold the legal review permission and must not be the requester.
    """
    if not has(reviewer.role, Perm.vendors_review):
        raise PermissionDenied(f"your role ({reviewer.role}) cannot record a legal review")
    if vendor.status != VendorStatus.pending_review:
        raise Conflict(f"vendor {vendor.legal_name} is {vendor.status}; legal review is recorded while it is "
                       "pending review")
    if reviewer.id in (vendor.requested_by_id, vendor.review_requested_by_id):
        raise PermissionDenied("the legal review must be done by someone other than the requester")
    if outcome not in ("completed", "rejected"):
        raise _fail("outcome", "completed or rejected")
    if outcome == "rejected" and not (note or "").strip():
        raise _fail("note", "a rejected review needs a note")
    before = {"legal_review": vendor.legal_review, "status": vendor.status}
    vendor.legal_review, vendor.legal_reviewed_by_id, vendor.legal_reviewed_at = outcome, reviewer.id, utcnow()
    vendor.legal_review_note = note
    to = VendorStatus.pending_review
    if outcome == "rejected":
        vendor.status = to = VendorStatus.draft
    change = VendorStatusChange(vendor_id=vendor.id, from_status=before["status"], to_status=to,
                                event="legal_review", actor=reviewer.username, actor_id=reviewer.id,
                                reason=f"review {outcome}" + (f": {note}" if note else ""))
    session.add(change)
    session.flush()
    record(session, actor=Actor.of(reviewer), action=f"vendor.legal_review_{outcome}", entity_type="vendor",
           entity_id=vendor.id, before=before, after={"legal_review": outcome, "status": vendor.status,
                                                      "reviewed_by_id": reviewer.id}, reason=note)
    return change


# ---------------------------------------------------------------- checks used by other domains


def _firms_of(session: Session, vendor_id: int) -> list:
    from triad.firms.models import LawFirm

    return list(session.scalars(select(LawFirm).where(LawFirm.vendor_id == vendor_id)))


def ensure_engageable(session: Session, firm_id: int) -> None:
    """Refuse work for a firm whose vendor is suspended or deactivated (engagements, invoices)."""
    from triad.firms.models import LawFirm

    firm = session.get(LawFirm, firm_id)
    if firm is None:
        raise _fail("firm_id", f"no law_firm with id {firm_id}")
    if firm.vendor.status in BLOCKED:
        raise Conflict(f"{firm.name} is {firm.vendor.status} in the vendor master; it cannot be engaged",
                       errors=[{"field": "firm_id", "message": f"vendor is {firm.vendor.status}"}])


def check_firm_link(session: Session, vendor_id: int, ledes_firm_id: str) -> None:
    """A law firm links to exactly one vendor, and its LEDES LAW_FIRM_ID is that vendor's tax ID."""
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        raise _fail("vendor_id", f"no vendor with id {vendor_id}")
    keys = {validation.tax_key(t.value) for t in vendor.tax_ids}
    if validation.tax_key(ledes_firm_id) not in keys:
        shown = ", ".join(t.value for t in vendor.tax_ids) or "none on file"
        raise _fail("ledes_firm_id", f"LAW_FIRM_ID {ledes_firm_id} is not a tax ID of vendor {vendor.legal_name} "
                                     f"({shown})")


def get_vendor(session: Session, vendor_id: int) -> Vendor:
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        raise NotFound(f"no vendor with id {vendor_id}")
    return vendor



def audit_of_vendor(*, session: Session, vendor_id: int) -> list[tuple[Any, dict[str, Any]]]:
    """A vendor's audit history, oldest first: its own events and the procurement imports that created or
    changed it (one event per file names every vendor, decision 0024), each with its before and after.

    Returns (event, {"before": ..., "after": ...}) pairs; for an import, the part about this vendor.
    """
    from sqlalchemy import Text, cast, or_

    from triad.audit.models import AuditEvent

    own = (AuditEvent.entity_type == "vendor") & (AuditEvent.entity_id == str(vendor_id))
    # the import event's JSON text names the vendor as "vendor_id":N (keys sorted, compact: core.db.json_dumps);
    # the text match only narrows the rows read, the entries are checked below
    text = cast(AuditEvent.after, Text)
    named = (AuditEvent.action == "vendor_import.applied") & or_(
        text.like(f'%"vendor_id":{vendor_id}}}%'), text.like(f'%"vendor_id": {vendor_id}}}%'))
    out = []
    for ev in session.scalars(select(AuditEvent).where(own | named).order_by(AuditEvent.seq)):
        if ev.action == "vendor_import.applied":
            out += [(ev, {"before": x["before"], "after": x["after"]}) for x in (ev.after or {}).get("vendors", [])
                    if x["vendor_id"] == vendor_id]
        else:
            out.append((ev, {"before": ev.before, "after": ev.after}))
    return out
