"""The vendor import's matching and state reads as they were before decision 0035 (main at b044645), kept verbatim
(module constants from ``sync``) as the reference the new reads are held equal to
(tests/integration/test_vendor_import_reads.py). Not application code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triad.ap.bulk import raw as driver_value
from triad.firms.models import LawFirm
from triad.vendors import sync, validation
from triad.vendors.models import (
    Vendor,
    VendorAddress,
    VendorBankAccount,
    VendorBusinessUnit,
    VendorContact,
    VendorTaxId,
)


def _lookup(session: Session, key_col, id_col, keys: set[str]) -> list[tuple[Any, Any]]:
    """(id, key) pairs whose key is in ``keys``: IN batches for a few keys, one scan for many."""
    if not keys:
        return []
    if len(keys) > sync._SCAN_ABOVE:
        return [(i, k) for i, k in sync._read(session, select(id_col, key_col)) if k in keys]
    out: list[tuple[Any, Any]] = []
    ks = list(keys)
    for k in range(0, len(ks), sync._CHUNK):
        out += sync._read(session, select(id_col, key_col).where(key_col.in_(ks[k:k + sync._CHUNK])))
    return out


def _match(session: Session, rows: list, report: Any, filename: str,
           name_keys: Any = None) -> list:
    """Each row's vendor: by tax ID, then by normalised name (a name shared by two vendors is ambiguous).
    ``name_keys``: called before the first name key is wanted (they may come from the worker process)."""
    by_tax: dict[str, int] = {}
    tk = list({r.tax_key for r in rows if r.tax_key})
    for vid, value in _lookup(session, VendorTaxId.value, VendorTaxId.vendor_id, set(tk) | set(_formatted(tk))):
        by_tax[validation.tax_key(value)] = vid
    unmatched = [r for r in rows if not (r.tax_key and r.tax_key in by_tax)]
    if name_keys is not None:
        name_keys(unmatched)  # (the worker's protocol since decision 0036: the rows whose keys are wanted)
    by_name: dict[str, list[int]] = {}
    names = {r.name_key for r in unmatched}
    for vid, key in sorted(_lookup(session, Vendor.name_key, Vendor.id, names)):
        by_name.setdefault(key, []).append(vid)
    plan = []
    seen: dict[int, int] = {}
    new_keys: dict[str, int] = {}
    claimed_tax: dict[str, int] = {}  # a tax ID one row of this file gives to a vendor
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
        if r.tax_key and r.tax_key in claimed_tax:
            report.errors.append({"file": filename, "line": r.line, "field": "tax_id",
                                  "message": f"the same tax ID as line {claimed_tax[r.tax_key]}"})
            continue
        if r.tax_key:
            claimed_tax[r.tax_key] = r.line
        if vid:
            seen[vid] = r.line
        else:
            new_keys[key] = r.line
        plan.append((r, vid, how))
    return plan


def _formatted(keys: list[str]) -> list[str]:
    """Stored forms of compact tax keys (EINs are stored as 12-3456789)."""
    return [f"{k[:2]}-{k[2:]}" for k in keys if len(k) == 9 and k.isdigit()]


_CHILD_TABLES = {"tax_ids": VendorTaxId.__table__, "bank_accounts": VendorBankAccount.__table__,
                 "addresses": VendorAddress.__table__, "contacts": VendorContact.__table__}
_SKIP = {"id", "vendor_id", "validated_on"}  # what service._child_rows leaves out
_VENDOR_COLS = ("id", "legal_name", "name_key", "other_names", "country", "status", "legal_review",
                "screening_status", "risk_tier")


def _child_stmt(table):
    """A vendor child table's rows for ``_load_state``: vendor id, id, then the columns compared, in id order."""
    return select(table.c.vendor_id, table.c.id, *[c for c in table.c if c.name not in _SKIP]).order_by(table.c.id)


def _child_rows_read(session: Session, table, ids: list[int]) -> tuple[bool, list]:
    """A vendor child table's rows for these vendors, in id order: (whether the whole table was read (then all
    its rows are given), the rows)."""
    stmt = _child_stmt(table)
    if len(ids) > sync._SCAN_ABOVE:
        return True, sync._read(session, stmt)
    result = []
    for k in range(0, len(ids), sync._CHUNK):
        result += sync._read(session, stmt.where(table.c.vendor_id.in_(ids[k:k + sync._CHUNK])))
    result.sort(key=lambda r: r[1])
    return False, result


def _grouped(table, read: tuple[bool, list], idset: set[int]) -> dict[int, list[dict]]:
    """``_child_rows_read``'s rows of these vendors as dicts, in id order, grouped by vendor."""
    names = [c.name for c in table.c if c.name not in _SKIP]
    whole, result = read
    out: dict[int, list[dict]] = {}
    for r in (r for r in result if r[0] in idset) if whole else result:
        out.setdefault(r[0], []).append(dict(zip(names, r[2:], strict=True)))
    return out


@dataclass
class State:
    """What the import compares against, read once: vendor columns, child rows, business units, firms."""

    vendors: dict[int, dict]
    children: dict[str, dict[int, list[dict]]]
    business_units: dict[int, list[int]]
    firms: dict[int, list[bool]]
    # with ``keep_all``, when the whole tables were read: (id, name_key, status) of every vendor and
    # (vendor id, account key) of every bank account, for duplicate detection (decision 0032)
    all_names: list[tuple] | None = None
    all_accounts: list[tuple] | None = None


def _load_state(session: Session, plan: list, keep_all: bool = False, then: Any = None) -> State:
    """What the rows are compared with, read once. Every read comes first; ``then`` (given ``all_names`` and
    ``all_accounts``, see ``_State``) is called after the last one, before the rows read are sorted into the
    state: from there on this function does not use the session (the pipelined path starts its writer)."""
    ids = sorted({vid for _, vid, _ in plan if vid})
    idset = set(ids)
    vt = Vendor.__table__
    # other_names as the driver gives it (JSON text on SQLite): decoded only for a row that sets other names
    stmt = select(*[driver_value(vt.c[c]) if c == "other_names" else vt.c[c] for c in _VENDOR_COLS])
    whole = len(ids) > sync._SCAN_ABOVE
    if whole:
        rows = sync._read(session, stmt)
    else:
        rows = []
        for k in range(0, len(ids), sync._CHUNK):
            rows += sync._read(session, stmt.where(vt.c.id.in_(ids[k:k + sync._CHUNK])))
    # a row matched by its tax ID cannot change that vendor's tax IDs (it holds that one): only vendors matched
    # by name need theirs
    tax_ids = sorted({vid for r, vid, how in plan if vid and how != "tax_id" and r.tax})
    wanted = {"tax_ids": tax_ids, "bank_accounts": ids, "addresses": ids if any(r.address for r, _, _ in plan) else [],
              "contacts": ids if any(r.contact for r, _, _ in plan) else []}
    child_reads = {key: _child_rows_read(session, table, wanted[key])
                   for key, table in _CHILD_TABLES.items() if wanted[key]}
    bu_rows: list = []
    if ids and any(r.business_units is not None for r, _, _ in plan):
        bt = VendorBusinessUnit.__table__
        for k in range(0, len(ids), sync._CHUNK):
            bu_rows += session.execute(select(bt.c.vendor_id, bt.c.business_unit_id).where(
                bt.c.vendor_id.in_(ids[k:k + sync._CHUNK]))).all()
    firm_rows = session.execute(select(LawFirm.vendor_id, LawFirm.panel_member)).all()
    all_names = all_accounts = None
    if keep_all and whole:  # the whole vendor table was read, and so the whole bank account table
        at_key, at_status = _VENDOR_COLS.index("name_key"), _VENDOR_COLS.index("status")
        all_names = [(r[0], r[at_key], r[at_status]) for r in rows]
        at = 2 + [c.name for c in VendorBankAccount.__table__.c if c.name not in _SKIP].index("account_key")
        all_accounts = [(r[0], r[at]) for r in child_reads["bank_accounts"][1]]
    if then is not None:
        then(all_names, all_accounts)
    vendors: dict[int, dict] = {}
    for r in (r for r in rows if r[0] in idset) if whole else rows:
        vendors[r[0]] = dict(zip(_VENDOR_COLS, r, strict=True))
    children = {key: _grouped(table, child_reads[key], set(wanted[key])) if key in child_reads else {}
                for key, table in _CHILD_TABLES.items()}
    bus: dict[int, list[int]] = {}
    for vid, bu in bu_rows:
        bus.setdefault(vid, []).append(bu)
    firms: dict[int, list[bool]] = {}
    for vid, member in firm_rows:
        if vid in idset:
            firms.setdefault(vid, []).append(member)
    return State(vendors, children, bus, firms, all_names, all_accounts)
