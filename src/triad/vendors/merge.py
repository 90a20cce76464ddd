"""Deciding likely-duplicate flags: dismiss one (with a reason), or merge the two vendors deliberately.

The import only flags (``sync.flag_duplicates``); a legal reviewer (``vendors.review``) decides here.
Choices and reasons: docs/decisions/0025-vendor-merge-and-import-edges.md.

- **Dismiss**: the flag is kept as ``dismissed`` with who, when and why. The import never flags a pair that
  has a flag in any state, so the same data imported again does not bring it back.
- **Merge** ``merged`` into ``survivor``: the survivor keeps the merged record's legal name and other names
  as aliases, its tax IDs and bank accounts where valid (new bank accounts are not primary), its business
  units; law firms, invoices, contracts and budgets move to the survivor. On an active or suspended survivor
  the new tax IDs and bank accounts wait for a second approval (four eyes) like any other bank or tax
  change. The merged record is deactivated (approval history: "merged into N") and points to the survivor
  (``merged_into_id``); its open conflicts and held changes are closed as ``superseded``.
- A merge is **refused**, listing every problem, when the two are distinct legal entities or linked in ways
  that cannot be combined: both carry checked tax IDs and share none; the merged record is active or
  suspended and the survivor is not (keep the live record); either is deactivated; the survivor has a bank
  or tax change waiting; a law firm of the merged record would not match a tax ID the survivor holds now
  (its LAW_FIRM_ID must be the vendor's tax ID); both have a budget for the same matter, UTBMS code and
  period.

One audit event per decision (``vendor.duplicate_dismissed``, ``vendor.merged``); callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triad.audit.service import Actor, record
from triad.auth.models import User
from triad.core.db import utcnow
from triad.core.errors import Conflict, PermissionDenied, ValidationFailed
from triad.core.permissions import Perm, has
from triad.vendors import service, validation
from triad.vendors.models import (
    Vendor,
    VendorConflict,
    VendorDuplicate,
    VendorPendingChange,
    VendorStatus,
)
from triad.vendors.schemas import VendorUpdate

LIVE = (VendorStatus.active, VendorStatus.suspended)


@dataclass
class MergeResult:
    survivor_id: int
    merged_id: int
    aliases_added: list[str] = field(default_factory=list)
    tax_ids_added: list[str] = field(default_factory=list)
    bank_accounts_added: list[str] = field(default_factory=list)  # account keys
    skipped: list[dict] = field(default_factory=list)  # invalid tax IDs / bank accounts left behind
    held_for_approval: list[int] = field(default_factory=list)  # pending change ids (four eyes)
    moved: dict[str, int] = field(default_factory=dict)  # law_firms, invoices, contracts, budgets


def _reviewer(user: User) -> Actor:
    if not has(user.role, Perm.vendors_review):
        raise PermissionDenied(f"your role ({user.role}) cannot decide likely duplicates "
                               f"(needs {Perm.vendors_review.value})")
    return Actor.of(user)


def _open(flag: VendorDuplicate) -> None:
    if flag.status != "open":
        raise Conflict(f"duplicate flag {flag.id} is already {flag.status}")


def _reason(reason: str | None) -> str:
    if not (reason or "").strip():
        raise ValidationFailed("reason: say why", errors=[{"field": "reason", "message": "required"}])
    return reason.strip()


def _decide(flag: VendorDuplicate, status: str, actor: Actor, reason: str) -> None:
    flag.status, flag.decided_by, flag.decided_by_id = status, actor.label, actor.user_id
    flag.decided_at, flag.decision_reason = utcnow(), reason


def dismiss(*, session: Session, flag: VendorDuplicate, user: User, reason: str | None) -> VendorDuplicate:
    """Record that the two vendors of ``flag`` are not the same supplier. It stays dismissed: the import
    does not flag the pair again. Raises PermissionDenied (not a legal reviewer), Conflict (not open),
    ValidationFailed (no reason)."""
    actor = _reviewer(user)
    _open(flag)
    why = _reason(reason)
    _decide(flag, "dismissed", actor, why)
    session.flush()
    record(session, actor=actor, action="vendor.duplicate_dismissed", entity_type="vendor", entity_id=flag.vendor_id,
           before={"duplicate_id": flag.id, "status": "open"},
           after={"duplicate_id": flag.id, "status": "dismissed", "vendor_id": flag.vendor_id,
                  "other_vendor_id": flag.other_vendor_id, "reason": flag.reason}, reason=why)
    return flag


def _checked_keys(v: Vendor) -> set[str]:
    return {validation.tax_key(t.value) for t in v.tax_ids if t.scheme in validation.VALIDATED_SCHEMES}


def merge_problems(session: Session, survivor: Vendor, merged: Vendor) -> list[dict]:
    """Everything that stops merging ``merged`` into ``survivor``; empty when the merge may go ahead."""
    from triad.budgets.models import Budget
    from triad.firms.models import LawFirm

    problems: list[dict] = []
    for v in (survivor, merged):
        if v.status == VendorStatus.deactivated:
            problems.append({"field": "vendor_id", "message": f"vendor {v.id} ({v.legal_name}) is deactivated"})
    a, b = _checked_keys(survivor), _checked_keys(merged)
    if a and b and not a & b:
        problems.append({"field": "tax_ids", "message": (
            f"different tax IDs ({', '.join(sorted(a))} and {', '.join(sorted(b))}): two legal entities, "
            "not one supplier recorded twice")})
    if merged.status in LIVE and survivor.status not in LIVE:
        problems.append({"field": "survivor_id", "message": (
            f"vendor {merged.id} is {merged.status} and vendor {survivor.id} is {survivor.status}: keep the "
            "live record as the survivor")})
    waiting = session.scalar(select(VendorPendingChange.id).where(VendorPendingChange.vendor_id == survivor.id,
                                                                  VendorPendingChange.status == "pending").limit(1))
    if waiting is not None:
        problems.append({"field": "pending_changes", "message": (
            f"change {waiting} to vendor {survivor.id} waits for a second approval; decide it first")})
    survivor_keys = {validation.tax_key(t.value) for t in survivor.tax_ids}
    if survivor.status not in LIVE:  # the merged tax IDs are applied at once; on a live survivor they wait
        survivor_keys |= {validation.tax_key(t.value) for t in merged.tax_ids}
    for firm in session.scalars(select(LawFirm).where(LawFirm.vendor_id == merged.id)):
        if validation.tax_key(firm.ledes_firm_id) not in survivor_keys:
            problems.append({"field": "law_firms", "message": (
                f"law firm {firm.name} has LAW_FIRM_ID {firm.ledes_firm_id}, which would not be a tax ID of "
                f"vendor {survivor.id}")})
    keys = {(m, c, p) for m, c, p in session.execute(select(Budget.matter_id, Budget.utbms_code, Budget.fiscal_period)
                                                     .where(Budget.vendor_id == survivor.id))}
    for m, c, p in session.execute(select(Budget.matter_id, Budget.utbms_code, Budget.fiscal_period)
                                   .where(Budget.vendor_id == merged.id)):
        if (m, c, p) in keys:
            problems.append({"field": "budgets", "message": (
                f"both vendors have a budget for matter {m}, {c}, {p}; combine the budgets first")})
    return problems


def _tax_in(t) -> dict:
    return {"scheme": t.scheme, "value": t.value, "country": t.country}


def _bank_in(b) -> dict:
    return {"holder_name": b.holder_name, "iban": b.iban, "bic": b.bic, "account_number": b.account_number,
            "routing_number": b.routing_number, "currency": b.currency, "is_primary": b.is_primary}


def merge(*, session: Session, flag: VendorDuplicate, survivor_id: int, user: User, reason: str | None
          ) -> MergeResult:
    """Merge the other vendor of ``flag`` into ``survivor_id`` (one of the flag's two vendors).

    Raises PermissionDenied (not a legal reviewer), Conflict (flag not open, or ``merge_problems``: every
    problem listed), ValidationFailed (no reason, or a survivor that is not one of the two).
    """
    from triad.budgets.models import Budget
    from triad.contracts.models import Contract
    from triad.firms.models import LawFirm
    from triad.invoices.models import Invoice

    actor = _reviewer(user)
    _open(flag)
    why = _reason(reason)
    if survivor_id not in (flag.vendor_id, flag.other_vendor_id):
        raise ValidationFailed(f"survivor_id: vendor {survivor_id} is not one of the two flagged vendors "
                               f"({flag.vendor_id}, {flag.other_vendor_id})",
                               errors=[{"field": "survivor_id", "message": "not one of the two"}])
    merged_id = flag.other_vendor_id if survivor_id == flag.vendor_id else flag.vendor_id
    survivor, merged = service.get_vendor(session, survivor_id), service.get_vendor(session, merged_id)
    problems = merge_problems(session, survivor, merged)
    if problems:
        raise Conflict(f"vendors {merged.id} and {survivor.id} cannot be merged: " + "; ".join(
            p["message"] for p in problems), errors=problems)
    result = MergeResult(survivor.id, merged.id)
    before = {"survivor": service._full_snapshot(survivor), "merged": service._full_snapshot(merged)}

    # names: the merged record's legal name and aliases become the survivor's aliases
    seen = {validation.name_key(n) for n in [survivor.legal_name, *(survivor.other_names or [])]}
    aliases = list(survivor.other_names or [])
    for name in [merged.legal_name, *(merged.other_names or [])]:
        key = validation.name_key(name)
        if key not in seen:
            seen.add(key)
            aliases.append(name)
            result.aliases_added.append(name)
    # tax IDs: valid ones the survivor lacks move over (a tax ID belongs to one vendor)
    have = {validation.tax_key(t.value) for t in survivor.tax_ids}
    moving = []
    for t in list(merged.tax_ids):
        try:
            validation.normalise_tax_id(t.scheme, t.value, t.country)
        except ValueError as exc:
            result.skipped.append({"field": "tax_ids", "value": t.value, "message": str(exc)})
            continue
        if validation.tax_key(t.value) not in have:
            moving.append(_tax_in(t))
            result.tax_ids_added.append(t.value)
        merged.tax_ids.remove(t)
    session.flush()
    # bank accounts: valid ones the survivor lacks are added, not primary (the merged record keeps its rows)
    accounts = {b.account_key for b in survivor.bank_accounts}
    new_banks = []
    for b in merged.bank_accounts:
        try:
            validation.normalise_bank(_bank_in(b))
        except ValueError as exc:
            result.skipped.append({"field": "bank_accounts", "value": b.account_key, "message": str(exc)})
            continue
        if b.account_key not in accounts:
            accounts.add(b.account_key)
            new_banks.append(_bank_in(b) | {"is_primary": False})
            result.bank_accounts_added.append(b.account_key)
    changes: dict[str, Any] = {}
    if result.aliases_added:
        changes["other_names"] = aliases
    if moving:
        changes["tax_ids"] = [_tax_in(t) for t in survivor.tax_ids] + moving
    if new_banks:
        changes["bank_accounts"] = [_bank_in(b) for b in survivor.bank_accounts] + new_banks
    units = sorted(set(survivor.business_unit_ids) | set(merged.business_unit_ids))
    if units != sorted(survivor.business_unit_ids):
        changes["business_unit_ids"] = units
    pending_before = {c for (c,) in session.execute(select(VendorPendingChange.id).where(
        VendorPendingChange.vendor_id == survivor.id, VendorPendingChange.status == "pending"))}
    if changes:
        service.update_vendor(session=session, obj=survivor, data=VendorUpdate(**changes), actor=actor,
                              source="merge", audit=False)
    result.held_for_approval = sorted(c for (c,) in session.execute(select(VendorPendingChange.id).where(
        VendorPendingChange.vendor_id == survivor.id, VendorPendingChange.status == "pending"))
        if c not in pending_before)
    # links: law firms, invoices, contracts and budgets now belong to the survivor
    for name, model in (("law_firms", LawFirm), ("invoices", Invoice), ("contracts", Contract), ("budgets", Budget)):
        res = session.execute(update(model).where(model.vendor_id == merged.id).values(vendor_id=survivor.id)
                              .execution_options(synchronize_session="fetch"))
        result.moved[name] = res.rowcount or 0
    # the merged record: deactivated, pointing at the survivor; what was waiting on it is closed
    now = utcnow()
    for c in session.scalars(select(VendorPendingChange).where(VendorPendingChange.vendor_id == merged.id,
                                                               VendorPendingChange.status == "pending")):
        c.status, c.decided_by, c.decided_by_id, c.decided_at = "superseded", actor.label, actor.user_id, now
        c.reason = f"vendor merged into {survivor.id}"
    for c in session.scalars(select(VendorConflict).where(VendorConflict.vendor_id == merged.id,
                                                          VendorConflict.status == "open")):
        c.status, c.resolved_by, c.resolved_at = "superseded", actor.label, now
        c.reason = f"vendor merged into {survivor.id}"
    service.transition(session=session, vendor=merged, to=VendorStatus.deactivated, actor=actor, user=user,
                       reason=f"merged into vendor {survivor.id}: {why}", audit=False)
    merged.merged_into_id = survivor.id
    _decide(flag, "merged", actor, why)
    session.flush()
    session.expire(survivor)
    after = {"survivor": service._full_snapshot(survivor), "merged": {"status": merged.status,
                                                                        "merged_into_id": survivor.id},
             "duplicate_id": flag.id, "aliases_added": result.aliases_added,
             "tax_ids_added": result.tax_ids_added, "bank_accounts_added": result.bank_accounts_added,
             "held_for_approval": result.held_for_approval, "moved": result.moved, "skipped": result.skipped}
    record(session, actor=actor, action="vendor.merged", entity_type="vendor", entity_id=survivor.id,
           before=before, after=after, reason=why)
    return result
