"""Procurement sync by file, both ways (docs/vendors.md lists the columns).

Import: every row is checked first; any bad row means nothing is applied (all bad rows are listed with
file, line and field) unless ``partial`` is set, when the good rows are applied and the bad ones reported.
Rows match a vendor by tax ID, then by normalised name. Fields the source owns are applied (bank and tax
changes to an active vendor wait for a second approval); fields the other side owns go to the conflict
queue when they differ. New vendors start as draft: no file can activate a vendor (the gate is legal's).
Likely duplicates (similar name, same bank account) are flagged, never merged. The same file twice
changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, object_session, selectinload

from triad.audit.service import Actor, record, record_many
from triad.core.db import utcnow
from triad.core.errors import ValidationFailed
from triad.firms.models import LawFirm
from triad.org.models import BusinessUnit
from triad.vendors import dedupe, legal_sync, service, validation
from triad.vendors.csv_cells import export_cell, import_cells
from triad.vendors.models import (
    Vendor,
    VendorBankAccount,
    VendorConflict,
    VendorDuplicate,
    VendorStatus,
    VendorTaxId,
)
from triad.vendors.schemas import AddressIn, BankAccountIn, ContactIn, TaxIdIn, VendorCreate, VendorUpdate

COLUMNS = ["vendor_id", "legal_name", "other_names", "country", "tax_scheme", "tax_id", "tax_country",
           "bank_holder", "iban", "bic", "routing_number", "account_number", "bank_currency",
           "address_line1", "address_city", "address_postal_code", "address_country", "contact_name",
           "contact_email", "business_units", "status", "risk_tier", "legal_review", "panel_member",
           "onboarding_pathway", "screening_status"]
# Who owns each field (docs/data-model.md §13): procurement owns identity, tax and bank data; legal owns
# status, legal review, risk and panel membership. Screening is computed in Triad and never imported.
OWNER = {"legal_name": "procurement", "other_names": "procurement", "country": "procurement",
         "tax": "procurement", "bank": "procurement", "address": "procurement", "contact": "procurement",
         "business_units": "procurement", "status": "legal", "legal_review": "legal", "risk_tier": "legal",
         "panel_member": "legal"}
SOURCES = ("procurement", "legal")
LEGAL_VALUES = {"status": {s.value for s in VendorStatus}, "legal_review": {"none", "completed", "rejected"},
                "risk_tier": {"low", "medium", "high"}, "panel_member": {"yes", "no"}}


@dataclass
class RowOutcome:
    line: int
    action: str  # created, updated, unchanged, error
    vendor_id: int | None = None
    legal_name: str = ""
    matched_by: str | None = None  # tax_id, name
    changed: list[str] = field(default_factory=list)
    held_for_approval: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    file: str
    source: str
    dry_run: bool
    partial: bool
    rows: int = 0
    applied: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    held_for_approval: int = 0
    conflicts: int = 0
    duplicates_flagged: int = 0
    errors: list[dict] = field(default_factory=list)
    outcomes: list[RowOutcome] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


# ---------------------------------------------------------------- reading


def read_rows(data: bytes, filename: str) -> list[tuple[int, dict[str, str]]]:
    """(line, row) pairs from CSV (header on line 1) or JSON (a list of objects, or {"vendors": [...]};
    the "line" is the record's position, from 1). Unknown columns are refused."""
    text = data.decode("utf-8-sig")
    if filename.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(f"{filename}: not valid JSON (line {exc.lineno}: {exc.msg})", errors=[
                {"file": filename, "line": exc.lineno, "field": None, "message": exc.msg}]) from None
        items = doc.get("vendors") if isinstance(doc, dict) else doc
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValidationFailed(f"{filename}: expected a list of vendor objects",
                                   errors=[{"file": filename, "line": 1, "field": None, "message": "not a list"}])
        rows = [(n, {k: _cell(v) for k, v in item.items()}) for n, item in enumerate(items, start=1)]
        header = sorted({k for _, r in rows for k in r})
    else:
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        rows = [(n, {k: (v or "").strip() for k, v in r.items() if k is not None}) for n, r in
                enumerate(reader, start=2)]
        if "'" in text:
            import_cells(rows)  # undo the export's formula neutralisation (csv_cells)
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or "legal_name" not in header:
        msg = f"unknown column(s): {', '.join(unknown)}" if unknown else "the legal_name column is missing"
        raise ValidationFailed(f"{filename}: {msg}; see docs/vendors.md for the columns",
                               errors=[{"file": filename, "line": 1, "field": unknown[0] if unknown else "legal_name",
                                        "message": msg}])
    return rows


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v).strip()


# ---------------------------------------------------------------- checking one row


@dataclass
class _Row:
    line: int
    raw: dict[str, str]
    legal_name: str
    country: str
    other_names: list[str] | None
    tax: dict | None
    bank: dict | None
    address: dict | None
    contact: dict | None
    business_units: list[int] | None
    legal: dict[str, str]
    name_key: str
    tax_key: str | None


def _check_row(line: int, raw: dict[str, str], file: str, bu_codes: dict[str, int]) -> tuple[_Row | None, list]:
    errors: list[dict] = []

    def bad(fld: str, message: str) -> None:
        errors.append({"file": file, "line": line, "field": fld, "message": message})

    def pydantic(fld_map: dict[str, str], exc: ValidationError) -> None:
        for e in exc.errors():
            loc = e["loc"][0] if e["loc"] else None
            msg = e["msg"].removeprefix("Value error, ")
            bad(fld_map.get(str(loc), next(iter(fld_map.values()))), msg)

    name = raw.get("legal_name", "")
    if not name:
        bad("legal_name", "required")
    country = raw.get("country", "").upper()
    from triad.core.schemas import _country

    try:
        country = _country(country)
    except ValueError as exc:
        bad("country", str(exc))
    tax = bank = address = contact = None
    if raw.get("tax_id"):
        try:
            tax = TaxIdIn(scheme=raw.get("tax_scheme") or "", value=raw["tax_id"],
                          country=raw.get("tax_country") or country).model_dump()
        except ValidationError as exc:
            pydantic({"scheme": "tax_scheme", "value": "tax_id", "country": "tax_country", "None": "tax_id"}, exc)
    bank_cols = ("iban", "bic", "routing_number", "account_number")
    if any(raw.get(c) for c in bank_cols):
        try:
            bank = BankAccountIn(holder_name=raw.get("bank_holder") or name or "?", iban=raw.get("iban") or None,
                                 bic=raw.get("bic") or None, routing_number=raw.get("routing_number") or None,
                                 account_number=raw.get("account_number") or None,
                                 currency=raw.get("bank_currency") or "").model_dump()
        except ValidationError as exc:
            for e in exc.errors():
                msg = e["msg"].removeprefix("Value error, ")
                loc = str(e["loc"][0]) if e["loc"] else ""
                fld = msg.split(":", 1)[0] if msg.split(":", 1)[0] in bank_cols else (
                    "bank_currency" if loc == "currency" else "bank_holder" if loc == "holder_name" else "iban")
                bad(fld, msg)
    if raw.get("address_line1"):
        try:
            address = AddressIn(line1=raw["address_line1"], city=raw.get("address_city") or "",
                                postal_code=raw.get("address_postal_code") or None,
                                country=raw.get("address_country") or country).model_dump()
        except ValidationError as exc:
            pydantic({"line1": "address_line1", "city": "address_city", "postal_code": "address_postal_code",
                      "country": "address_country"}, exc)
    if raw.get("contact_name"):
        try:
            contact = ContactIn(name=raw["contact_name"], email=raw.get("contact_email") or None).model_dump()
        except ValidationError as exc:
            pydantic({"name": "contact_name", "email": "contact_email"}, exc)
    bus = None
    if raw.get("business_units"):
        bus = []
        for code in [c.strip() for c in raw["business_units"].split(";") if c.strip()]:
            if code not in bu_codes:
                bad("business_units", f"no business unit with code {code!r}")
            else:
                bus.append(bu_codes[code])
    legal = {}
    for key, allowed in LEGAL_VALUES.items():
        value = raw.get(key, "").lower()
        if value:
            if value not in allowed:
                bad(key, f"{value!r} is not one of {', '.join(sorted(allowed))}")
            legal[key] = value
    if raw.get("vendor_id") and not raw["vendor_id"].isdigit():
        bad("vendor_id", "a Triad vendor id is a number")
    if errors:
        return None, errors
    others = [n.strip() for n in raw.get("other_names", "").split(";") if n.strip()] if raw.get("other_names") else None
    return _Row(line, raw, name, country, others, tax, bank, address, contact, bus, legal,
                validation.name_key(name), validation.tax_key(tax["value"]) if tax else None), []


# ---------------------------------------------------------------- import


def import_vendors(*, session: Session, data: bytes, filename: str, source: str, actor: Actor,
                   dry_run: bool = False, partial: bool = False) -> ImportReport:
    """Apply a vendor file from ``source`` (procurement or legal). The caller commits (nothing to commit
    on a dry run or when rows were refused without ``partial``).

    Returns the report: per row what happened (or would), conflicts queued, changes held for a second
    approval, duplicates flagged, and every bad row (file, line, field, message).
    """
    if source not in SOURCES:
        raise ValidationFailed(f"unknown source {source!r}; use one of {', '.join(SOURCES)}",
                               errors=[{"field": "source", "message": "unknown"}])
    if source == "legal":
        legal_sync.legal_user(session, actor)  # legal's fields are applied as a named legal user
    report = ImportReport(filename, source, dry_run, partial)
    rows = read_rows(data, filename)
    report.rows = len(rows)
    bu_codes = dict(session.execute(select(BusinessUnit.code, BusinessUnit.id)).all())
    checked: list[_Row] = []
    for line, raw in rows:
        row, errors = _check_row(line, raw, filename, bu_codes)
        report.errors += errors
        if row is not None:
            checked.append(row)
    plan = _match(session, checked, report, filename)
    if report.errors and not partial:
        report.outcomes = [RowOutcome(e["line"], "error") for e in report.errors]
        return report
    nested = session.begin_nested()
    try:
        _apply(session, plan, report, source, filename, actor)
    except BaseException:
        nested.rollback()
        raise
    if report.errors and not partial:  # a row the services refused while applying (legal file): all or nothing
        nested.rollback()
        session.expire_all()
        report.outcomes = [o for o in report.outcomes if o.action == "error"]
        return report
    if dry_run:
        nested.rollback()
        session.expire_all()
    else:
        nested.commit()
        report.applied = True
    return report


def _match(session: Session, rows: list[_Row], report: ImportReport, filename: str) -> list[tuple[_Row, int | None,
                                                                                                  str | None]]:
    """Each row's vendor: by tax ID, then by normalised name (a name shared by two vendors is ambiguous)."""
    by_tax: dict[str, int] = {}
    by_name: dict[str, list[int]] = {}
    tax_keys = {r.tax_key for r in rows if r.tax_key}
    names = {r.name_key for r in rows}
    tk = list(tax_keys)
    for k in range(0, len(tk), 1000):
        chunk = tk[k:k + 1000]
        for vid, value in session.execute(select(VendorTaxId.vendor_id, VendorTaxId.value)
                                          .where(VendorTaxId.value.in_(chunk + _formatted(chunk)))):
            by_tax[validation.tax_key(value)] = vid
    nk = list(names)
    for k in range(0, len(nk), 1000):
        for vid, key in session.execute(select(Vendor.id, Vendor.name_key).where(Vendor.name_key.in_(nk[k:k + 1000]))):
            by_name.setdefault(key, []).append(vid)
    plan = []
    seen: dict[int, int] = {}
    new_keys: dict[str, int] = {}
    for r in rows:
        vid, how = None, None
        if r.tax_key and r.tax_key in by_tax:
            vid, how = by_tax[r.tax_key], "tax_id"
        elif r.name_key in by_name:
            if len(by_name[r.name_key]) > 1:
                report.errors.append({"file": filename, "line": r.line, "field": "legal_name", "message": (
                    f"matches {len(by_name[r.name_key])} vendors by name; give the tax ID")})
                continue
            vid, how = by_name[r.name_key][0], "name"
        key = f"v{vid}" if vid else (r.tax_key or r.name_key)
        if vid in seen or (vid is None and key in new_keys):
            first = seen.get(vid) if vid else new_keys[key]
            report.errors.append({"file": filename, "line": r.line, "field": "tax_id" if r.tax_key else "legal_name",
                                  "message": f"the same vendor as line {first}"})
            continue
        if vid:
            seen[vid] = r.line
        else:
            new_keys[key] = r.line
        plan.append((r, vid, how))
    return plan


def _formatted(keys: list[str]) -> list[str]:
    """Stored forms of compact tax keys (EINs are stored as 12-3456789)."""
    return [f"{k[:2]}-{k[2:]}" for k in keys if len(k) == 9 and k.isdigit()]


def _apply(session: Session, plan: list, report: ImportReport, source: str, filename: str, actor: Actor) -> None:
    ids = [vid for _, vid, _ in plan if vid]
    vendors: dict[int, Vendor] = {}
    for k in range(0, len(ids), 1000):
        for v in session.scalars(select(Vendor).where(Vendor.id.in_(ids[k:k + 1000])).options(
                selectinload(Vendor.tax_ids), selectinload(Vendor.bank_accounts), selectinload(Vendor.addresses),
                selectinload(Vendor.contacts), selectinload(Vendor.business_units))):
            vendors[v.id] = v
    panel: dict[int, list[LawFirm]] = {}
    for k in range(0, len(ids), 1000):
        for f in session.scalars(select(LawFirm).where(LawFirm.vendor_id.in_(ids[k:k + 1000]))):
            panel.setdefault(f.vendor_id, []).append(f)
    open_conflicts = set(session.execute(select(VendorConflict.vendor_id, VendorConflict.field,
                                                VendorConflict.incoming)
                                         .where(VendorConflict.status == "open")).all())
    events: list[dict] = []
    touched: list[tuple[int, str | None]] = []  # (vendor id, new bank key) for duplicate checks
    new_ids: set[int] = set()
    for r, vid, how in plan:
        if vid is None:
            out = _create(session, r, source, actor, events)
            new_ids.add(out.vendor_id)
            report.created += 1
        else:
            out = _update(session, vendors[vid], r, source, actor, events, panel.get(vid, []))
            out.matched_by = how
        if source == "legal":
            legal_sync.apply_legal_fields(session=session, vendor=session.get(Vendor, out.vendor_id), r=r, actor=actor,
                                          firms=panel.get(out.vendor_id, []), out=out, report=report,
                                          filename=filename, events=events)
        if out.action == "error":  # refused by a service (legal file): nothing else for this row
            report.outcomes.append(out)
            continue
        if vid is not None:
            report.updated += out.action == "updated"
            report.unchanged += out.action == "unchanged"
        vendor_id = out.vendor_id
        for fld, triad_value, incoming in _legal_diffs(session.get(Vendor, vendor_id), r, source,
                                                       panel.get(vendor_id, [])):
            if (vendor_id, fld, incoming) in open_conflicts:
                continue
            open_conflicts.add((vendor_id, fld, incoming))
            session.add(VendorConflict(vendor_id=vendor_id, field=fld, source=source, owner=OWNER[fld],
                                       in_triad=triad_value, incoming=incoming, filename=filename[:255],
                                       line=r.line))
            out.conflicts.append(fld)
            report.conflicts += 1
        report.held_for_approval += len(out.held_for_approval)
        touched.append((vendor_id, r.bank["account_key"] if r.bank else None))
        report.outcomes.append(out)
    session.flush()
    report.duplicates = flag_duplicates(session, [v for v, _ in touched], new_ids)
    report.duplicates_flagged = len(report.duplicates)
    record_many(session, actor=actor, events=events)
    if events or report.conflicts or report.duplicates_flagged:
        record(session, actor=actor, action="vendor_import.applied", entity_type="vendor_import", entity_id=None,
               after={"file": filename, "source": source, "rows": report.rows, "created": report.created,
                      "updated": report.updated, "unchanged": report.unchanged,
                      "held_for_approval": report.held_for_approval, "conflicts": report.conflicts,
                      "duplicates_flagged": report.duplicates_flagged, "refused_rows": len(
                          {e["line"] for e in report.errors})})


def _create(session: Session, r: _Row, source: str, actor: Actor, events: list) -> RowOutcome:
    data = VendorCreate(legal_name=r.legal_name, country=r.country, other_names=r.other_names or [],
                        onboarding_pathway="procurement" if source == "procurement" else "legal",
                        tax_ids=[r.tax] if r.tax else [], bank_accounts=[_bank_in(r.bank)] if r.bank else [],
                        addresses=[r.address] if r.address else [], contacts=[r.contact] if r.contact else [],
                        business_unit_ids=r.business_units or [])
    v = service.create_vendor(session=session, data=data, actor=actor, audit=False)
    events.append({"action": "vendor.created", "entity_type": "vendor", "entity_id": v.id,
                   "after": {"legal_name": v.legal_name, "source": source, "line": r.line,
                             "tax_ids": [t.value for t in v.tax_ids],
                             "bank_accounts": [b.account_key for b in v.bank_accounts]}})
    return RowOutcome(r.line, "created", v.id, v.legal_name, changed=["created"])


def _bank_in(bank: dict) -> dict:
    return {k: v for k, v in bank.items() if k != "account_key"}  # computed again by the schema


def _update(session: Session, v: Vendor, r: _Row, source: str, actor: Actor, events: list,
            firms: list[LawFirm]) -> RowOutcome:
    out = RowOutcome(r.line, "unchanged", v.id, v.legal_name)
    if source != "procurement":
        return out  # a legal file's procurement fields are compared in _legal_diffs' mirror (conflicts)
    changes: dict[str, Any] = {}
    if r.legal_name != v.legal_name:
        changes["legal_name"] = r.legal_name
    if r.country != v.country:
        changes["country"] = r.country
    if r.other_names is not None and r.other_names != list(v.other_names or []):
        changes["other_names"] = r.other_names
    if r.tax and validation.tax_key(r.tax["value"]) not in {validation.tax_key(t.value) for t in v.tax_ids}:
        changes["tax_ids"] = [r.tax]
    if r.bank and r.bank["account_key"] not in {b.account_key for b in v.bank_accounts}:
        changes["bank_accounts"] = [_bank_in(r.bank)]
    if r.address:
        first = v.addresses[0] if v.addresses else None
        if first is None or (first.line1, first.city, first.postal_code, first.country) != (
                r.address["line1"], r.address["city"], r.address["postal_code"], r.address["country"]):
            changes["addresses"] = [r.address]
    if r.contact:
        first = v.contacts[0] if v.contacts else None
        if first is None or (first.name, first.email) != (r.contact["name"], r.contact["email"]):
            changes["contacts"] = [r.contact]
    if r.business_units is not None and sorted(r.business_units) != sorted(v.business_unit_ids):
        changes["business_unit_ids"] = r.business_units
    if not changes:
        return out
    from triad.vendors.models import VendorPendingChange

    before_pending = {c.id for c in session.scalars(select(VendorPendingChange).where(
        VendorPendingChange.vendor_id == v.id, VendorPendingChange.status == "pending"))}
    service.update_vendor(session=session, obj=v, data=VendorUpdate(**changes), actor=actor, source=source,
                          audit=False)
    held = [c for c in session.scalars(select(VendorPendingChange).where(
        VendorPendingChange.vendor_id == v.id, VendorPendingChange.status == "pending")) if c.id not in before_pending]
    out.held_for_approval = [c.kind for c in held]
    out.changed = sorted(k for k in changes if k not in out.held_for_approval)
    if out.changed or held:
        out.action = "updated"
        events.append({"action": "vendor.updated", "entity_type": "vendor", "entity_id": v.id,
                       "after": {"source": source, "line": r.line, "changed": {k: changes[k] for k in out.changed},
                                 "held_for_approval": [{"change_id": c.id, "kind": c.kind} for c in held]}})
    return out


def _legal_diffs(v: Vendor, r: _Row, source: str, firms: list[LawFirm]) -> list[tuple[str, str | None, str]]:
    """Fields the source does not own that the row sets to something other than Triad's value."""
    if source != "procurement":
        return legal_sync.procurement_diffs(object_session(v), v, r)
    current = {"status": v.status, "legal_review": v.legal_review, "risk_tier": v.risk_tier,
               "panel_member": ("yes" if any(f.panel_member for f in firms) else "no") if firms else None}
    out = []
    for fld, incoming in r.legal.items():
        if fld == "panel_member" and current[fld] is None:
            continue  # not a law firm: panel membership does not apply
        if incoming != current[fld]:
            out.append((fld, current[fld], incoming))
    return out


def flag_duplicates(session: Session, vendor_ids: list[int], new_ids: set[int]) -> list[dict]:
    """Flag likely duplicates of the given vendors against the whole master: the same bank account, or a
    similar normalised name (blocked fuzzy matching). Flags are rows to review; nothing is merged."""
    if not vendor_ids:
        return []
    ids_wanted = set(vendor_ids)
    names = session.execute(select(Vendor.id, Vendor.name_key).where(Vendor.status != VendorStatus.deactivated)).all()
    index = [vid for vid, _ in names]
    keys = [k or "" for _, k in names]
    pos = {vid: i for i, vid in enumerate(index)}
    focus = {pos[v] for v in ids_wanted if v in pos}
    pairs: dict[tuple[int, int], tuple[str, float | None]] = {}
    for (i, j), score in dedupe.similar_names(keys, new=focus).items():
        pairs[(index[i], index[j])] = ("similar_name", score)
    wanted_accounts = {k for (k,) in session.execute(select(VendorBankAccount.account_key).where(
        VendorBankAccount.vendor_id.in_(list(ids_wanted)[:30000])))} if len(ids_wanted) <= 30000 else None
    stmt = select(VendorBankAccount.vendor_id, VendorBankAccount.account_key).where(
        VendorBankAccount.account_key.is_not(None))
    accounts: dict[str, set[int]] = {}
    for vid, key in session.execute(stmt):
        if wanted_accounts is None or key in wanted_accounts:
            accounts.setdefault(key, set()).add(vid)
    for members in accounts.values():
        ms = sorted(members)
        for x in range(len(ms)):
            for y in range(x + 1, len(ms)):
                if ms[x] in ids_wanted or ms[y] in ids_wanted:
                    pairs[(ms[x], ms[y])] = ("same_bank_account", None)
    if not pairs:
        return []
    existing = set()
    flat = list({v for p in pairs for v in p})
    for k in range(0, len(flat), 1000):
        chunk = flat[k:k + 1000]
        existing |= set(session.execute(select(VendorDuplicate.vendor_id, VendorDuplicate.other_vendor_id).where(
            or_(VendorDuplicate.vendor_id.in_(chunk), VendorDuplicate.other_vendor_id.in_(chunk)))).all())
    out = []
    now = utcnow()
    from decimal import Decimal

    for (a, b), (reason, score) in sorted(pairs.items()):
        if (a, b) in existing or (b, a) in existing:
            continue
        session.add(VendorDuplicate(vendor_id=b, other_vendor_id=a, reason=reason, created_at=now,
                                    score=Decimal(str(round(score, 1))) if score is not None else None))
        out.append({"vendor_id": b, "other_vendor_id": a, "reason": reason,
                    "score": round(score, 1) if score is not None else None})
    session.flush()
    return out


# ---------------------------------------------------------------- export


def export_rows(session: Session) -> list[dict[str, str]]:
    """One row per vendor, in the import's columns: the first checked tax ID, the primary bank account, the
    first address and contact, business unit codes, status, legal review, risk tier and panel membership
    (so panel changes made in Triad reach procurement in the next export)."""
    bu = dict(session.execute(select(BusinessUnit.id, BusinessUnit.code)).all())
    firms: dict[int, list[bool]] = {}
    for vid, member in session.execute(select(LawFirm.vendor_id, LawFirm.panel_member)):
        firms.setdefault(vid, []).append(member)
    out = []
    stmt = select(Vendor).order_by(Vendor.id).options(
        selectinload(Vendor.tax_ids), selectinload(Vendor.bank_accounts), selectinload(Vendor.addresses),
        selectinload(Vendor.contacts), selectinload(Vendor.business_units)).execution_options(yield_per=2000)
    for v in session.scalars(stmt):
        tax = next((t for t in v.tax_ids if t.scheme in validation.VALIDATED_SCHEMES), v.tax_ids[0] if v.tax_ids
                   else None)
        bank = service.payable_bank_account(v) or (v.bank_accounts[0] if v.bank_accounts else None)
        addr = v.addresses[0] if v.addresses else None
        contact = v.contacts[0] if v.contacts else None
        out.append({
            "vendor_id": str(v.id), "legal_name": v.legal_name, "other_names": ";".join(v.other_names or []),
            "country": v.country, "tax_scheme": tax.scheme if tax else "", "tax_id": tax.value if tax else "",
            "tax_country": tax.country if tax else "", "bank_holder": bank.holder_name if bank else "",
            "iban": (bank.iban or "") if bank else "", "bic": (bank.bic or "") if bank else "",
            "routing_number": (bank.routing_number or "") if bank else "",
            "account_number": (bank.account_number or "") if bank else "",
            "bank_currency": bank.currency if bank else "", "address_line1": addr.line1 if addr else "",
            "address_city": addr.city if addr else "", "address_postal_code": (addr.postal_code or "") if addr else "",
            "address_country": addr.country if addr else "", "contact_name": contact.name if contact else "",
            "contact_email": (contact.email or "") if contact else "",
            "business_units": ";".join(sorted(bu[b.business_unit_id] for b in v.business_units)),
            "status": v.status, "risk_tier": v.risk_tier, "legal_review": v.legal_review,
            "panel_member": ("yes" if any(firms[v.id]) else "no") if v.id in firms else "",
            "onboarding_pathway": v.onboarding_pathway, "screening_status": v.screening_status,
        })
    return out


def export_text(session: Session, fmt: str = "csv") -> str:
    rows = export_rows(session)
    if fmt == "json":
        return json.dumps({"columns": COLUMNS, "vendors": rows}, ensure_ascii=False, indent=1) + "\n"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: export_cell(v) for k, v in row.items()} for row in rows)  # no formulas in a spreadsheet
    return buf.getvalue()


# ---------------------------------------------------------------- the conflict queue


def resolve_conflict(*, session: Session, conflict: VendorConflict, accept: bool, user, reason: str | None = None
                     ) -> VendorConflict:
    """The owner of the field decides a queued conflict. Accepting applies the incoming value through the
    normal path — a status goes through the lifecycle table and its gate, a legal review is recorded by the
    deciding reviewer — so a file can never activate a vendor by itself. One audit event.
    """
    from triad.core.errors import Conflict as ConflictError
    from triad.core.errors import PermissionDenied
    from triad.core.permissions import Perm, has

    need = Perm.vendors_review if conflict.owner == "legal" else Perm.vendors_write
    if not has(user.role, need):
        raise PermissionDenied(f"{conflict.field} is {conflict.owner}'s field; your role ({user.role}) cannot decide")
    if conflict.status != "open":
        raise ConflictError(f"conflict {conflict.id} is already {conflict.status}")
    if not accept and not (reason or "").strip():
        raise ValidationFailed("reason: say why Triad's value stands", errors=[{"field": "reason",
                                                                                "message": "required"}])
    vendor = session.get(Vendor, conflict.vendor_id)
    actor = Actor.of(user)
    applied: dict[str, Any] = {}
    if accept:
        value = conflict.incoming
        if conflict.field == "status":
            service.transition(session=session, vendor=vendor, to=value, actor=actor, user=user,
                               reason=reason or f"accepted from {conflict.source} (conflict {conflict.id})",
                               audit=False)
        elif conflict.field == "legal_review":
            if value not in ("completed", "rejected"):
                raise ConflictError("only a completed or rejected review can be recorded")
            service.record_review(session=session, vendor=vendor, reviewer=user, outcome=value, note=reason)
        elif conflict.field == "risk_tier":
            vendor.risk_tier = value
        elif conflict.field == "panel_member":
            for f in session.scalars(select(LawFirm).where(LawFirm.vendor_id == vendor.id)):
                f.panel_member = value == "yes"
        elif conflict.field in legal_sync.PROCUREMENT_FIELDS:
            legal_sync.accept_procurement_field(session=session, vendor=vendor, field=conflict.field, value=value,
                                                actor=actor)
        applied = {conflict.field: value}
    conflict.status = "accepted" if accept else "rejected"
    conflict.resolved_by, conflict.resolved_at, conflict.reason = user.username, utcnow(), reason
    session.flush()
    if conflict.field != "legal_review" or not accept:  # record_review wrote the event already
        record(session, actor=actor, action=f"vendor.conflict_{conflict.status}", entity_type="vendor",
               entity_id=vendor.id, before={conflict.field: conflict.in_triad},
               after={"conflict_id": conflict.id, "source": conflict.source, "incoming": conflict.incoming,
                      "applied": applied}, reason=reason)
    return conflict
