"""Legal's own vendor file (``triad vendors import FILE --source legal``): the mirror of the procurement sync.

Field authority is symmetric (docs/vendors.md, docs/decisions/0025-vendor-merge-and-import-edges.md):

- A **procurement** file applies procurement's fields; legal's fields (status, legal review, risk tier, panel
  membership) that differ go to the conflict queue, decided by legal.
- A **legal** file applies legal's fields; procurement's fields (names, country, tax ID, bank account,
  address, contact, business units) that differ go to the conflict queue, decided by procurement.

Legal's fields are applied through the same services as everywhere else, as the importing user: a legal
review through ``service.record_review`` (a legal user who is not the requester), a status through
``service.transition`` and its gate. So a legal file is imported by a named user holding ``vendors.review``,
and a row whose review or move the services refuse is a bad row (file, line, field, message) like any other:
nothing is applied, or with ``partial`` that row alone is left out.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triad.audit.service import Actor
from triad.auth.models import User
from triad.core.errors import PermissionDenied, TriadError, ValidationFailed
from triad.core.permissions import Perm, has
from triad.org.models import BusinessUnit
from triad.vendors import service, validation
from triad.vendors.models import Vendor

if TYPE_CHECKING:
    from triad.firms.models import LawFirm
    from triad.vendors.sync import ImportReport, RowOutcome, _Row

# procurement's fields as the conflict queue names them (sync.OWNER)
PROCUREMENT_FIELDS = ("legal_name", "other_names", "country", "tax", "bank", "address", "contact", "business_units")


def legal_user(session: Session, actor: Actor) -> User:
    """The user a legal file is imported as: named, and holding the legal review permission."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise ValidationFailed("a legal file is imported as a named legal user (--as USER, or signed in)",
                               errors=[{"field": "source", "message": "legal files need a named legal user"}])
    if not has(user.role, Perm.vendors_review):
        raise PermissionDenied(f"your role ({user.role}) cannot import legal's vendor file "
                               f"(needs {Perm.vendors_review.value})")
    return user


def dumps(value: Any) -> str:
    """A structured value (tax ID, bank account, address, contact) as the conflict queue keeps it."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _bank(bank: dict) -> dict:
    return {k: v for k, v in bank.items() if k != "account_key"}


def _bu_codes(session: Session, ids: list[int]) -> list[str]:
    if not ids:
        return []
    return sorted(session.scalars(select(BusinessUnit.code).where(BusinessUnit.id.in_(ids))))


def procurement_diffs(session: Session, v: Vendor, r: _Row) -> list[tuple[str, str | None, str]]:
    """Procurement's fields that a legal file sets to something other than Triad's value:
    (field, Triad's value, incoming value) as text, for the conflict queue."""
    out: list[tuple[str, str | None, str]] = []
    if r.legal_name != v.legal_name:
        out.append(("legal_name", v.legal_name, r.legal_name))
    if r.raw.get("country") and r.country != v.country:
        out.append(("country", v.country, r.country))
    if r.other_names is not None and r.other_names != list(v.other_names or []):
        out.append(("other_names", ";".join(v.other_names or []), ";".join(r.other_names)))
    if r.tax and validation.tax_key(r.tax["value"]) not in {validation.tax_key(t.value) for t in v.tax_ids}:
        out.append(("tax", ";".join(t.value for t in v.tax_ids), dumps(r.tax)))
    if r.bank and r.bank["account_key"] not in {b.account_key for b in v.bank_accounts}:
        out.append(("bank", ";".join(b.account_key or "" for b in v.bank_accounts), dumps(_bank(r.bank))))
    if r.address:
        first = v.addresses[0] if v.addresses else None
        if first is None or (first.line1, first.city, first.postal_code, first.country) != (
                r.address["line1"], r.address["city"], r.address["postal_code"], r.address["country"]):
            out.append(("address", dumps({"line1": first.line1, "city": first.city, "postal_code": first.postal_code,
                                          "country": first.country}) if first else None, dumps(r.address)))
    if r.contact:
        first = v.contacts[0] if v.contacts else None
        if first is None or (first.name, first.email) != (r.contact["name"], r.contact["email"]):
            out.append(("contact", dumps({"name": first.name, "email": first.email}) if first else None,
                        dumps(r.contact)))
    if r.business_units is not None and sorted(r.business_units) != sorted(v.business_unit_ids):
        out.append(("business_units", ";".join(_bu_codes(session, v.business_unit_ids)),
                    ";".join(_bu_codes(session, r.business_units))))
    return out


def apply_legal_fields(*, session: Session, vendor: Vendor, r: _Row, actor: Actor, firms: list[LawFirm],
                       out: RowOutcome, report: ImportReport, filename: str, events: list[dict]) -> None:
    """Apply the legal fields of one row of a legal file to ``vendor``, all or nothing for the row.

    Risk tier and panel membership are set (one ``vendor.updated`` event in ``events``); a legal review is
    recorded and a status move made through the services (their own audit events). A refusal becomes a
    row error in ``report`` and the row's changes are rolled back (a savepoint per row).
    """
    user = legal_user(session, actor)
    legal = r.legal
    changed: dict[str, Any] = {}
    before: dict[str, Any] = {}
    savepoint = session.begin_nested()
    fld = None
    try:
        review = legal.get("legal_review")
        if review and review != vendor.legal_review:
            fld = "legal_review"
            if review == "none":
                raise ValidationFailed("a recorded legal review is not undone by file; move the vendor back to draft")
            before["legal_review"] = vendor.legal_review
            service.record_review(session=session, vendor=vendor, reviewer=user, outcome=review,
                                  note=f"from legal's file {filename}, line {r.line}")
            changed["legal_review"] = review
        status = legal.get("status")
        if status and status != vendor.status:
            fld = "status"
            before["status"] = vendor.status
            service.transition(session=session, vendor=vendor, to=status, actor=Actor.of(user), user=user,
                               reason=f"from legal's file {filename}, line {r.line}")
            changed["status"] = status
        fld = None
        tier = legal.get("risk_tier")
        event: dict[str, Any] = {}
        if tier and tier != vendor.risk_tier:
            before["risk_tier"], vendor.risk_tier = vendor.risk_tier, tier
            changed["risk_tier"] = event["risk_tier"] = tier
        panel = legal.get("panel_member")
        if panel and firms and any(f.panel_member != (panel == "yes") for f in firms):
            before["panel_member"] = "yes" if any(f.panel_member for f in firms) else "no"
            for f in firms:
                f.panel_member = panel == "yes"
            changed["panel_member"] = event["panel_member"] = panel
        session.flush()
    except TriadError as exc:
        savepoint.rollback()
        detail = exc.detail
        report.errors.append({"file": filename, "line": r.line, "field": fld or "status", "message": detail})
        out.action = "error"
        return
    savepoint.commit()
    if not changed:
        return
    if event:
        events.append({"action": "vendor.updated", "entity_type": "vendor", "entity_id": vendor.id,
                       "before": {k: before[k] for k in event}, "after": {"source": "legal", "line": r.line,
                                                                         "changed": event}})
    out.changed = sorted(set(out.changed) | set(changed))
    if out.action == "unchanged":
        out.action = "updated"


def accept_procurement_field(*, session: Session, vendor: Vendor, field: str, value: str, actor: Actor) -> None:
    """Procurement accepts a procurement field queued from legal's file: applied through
    ``service.update_vendor`` (so a bank or tax change to an active vendor waits for four eyes)."""
    from triad.vendors.schemas import VendorUpdate

    if field in ("legal_name", "country"):
        data: dict[str, Any] = {field: value}
    elif field == "other_names":
        data = {"other_names": [n.strip() for n in value.split(";") if n.strip()]}
    elif field in ("tax", "bank", "address", "contact"):
        key = {"tax": "tax_ids", "bank": "bank_accounts", "address": "addresses", "contact": "contacts"}[field]
        data = {key: [json.loads(value)]}
    elif field == "business_units":
        codes = [c for c in value.split(";") if c]
        ids = dict(session.execute(select(BusinessUnit.code, BusinessUnit.id).where(BusinessUnit.code.in_(codes))))
        missing = [c for c in codes if c not in ids]
        if missing:
            raise ValidationFailed(f"business_units: no business unit with code {missing[0]!r}",
                                   errors=[{"field": "business_units", "message": "unknown code"}])
        data = {"business_unit_ids": [ids[c] for c in codes]}
    else:
        raise ValidationFailed(f"{field} is not a procurement field", errors=[{"field": "field", "message": "unknown"}])
    service.update_vendor(session=session, obj=vendor, data=VendorUpdate(**data), actor=actor, source="legal",
                          audit=False)
