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
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from itertools import chain, compress, repeat
from operator import attrgetter, itemgetter
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, selectinload

from triad.ap.bulk import among, insert_rows
from triad.ap.bulk import raw as driver_value
from triad.audit.service import Actor, record, record_json, record_large, record_many
from triad.core.db import json_dumps, json_dumps_large, sqlite_cache_at_least, utcnow
from triad.core.errors import ValidationFailed
from triad.core.gcpause import cyclic_gc_paused
from triad.core.schemas import _country, _currency
from triad.firms.models import LawFirm
from triad.org.models import BusinessUnit
from triad.vendors import dedupe, legal_sync, pipeline, service, validation, vector_checks
from triad.vendors.csv_cells import export_cell, import_cells
from triad.vendors.models import (
    ScreeningStatus,
    Vendor,
    VendorAddress,
    VendorBankAccount,
    VendorBusinessUnit,
    VendorConflict,
    VendorContact,
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


_CREATED = ("created",)
_SHARED: dict[tuple[str, ...], tuple[str, ...]] = {}


def shared_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple per combination of field names (a handful), shared by the outcomes that have it."""
    return _SHARED.setdefault(fields, fields)


class _LazyList:
    """A ``RowOutcome`` list kept in the slot ``slot``: None (empty) or a shared tuple until it is read, then the
    row's own list; set as given."""

    def __init__(self, slot: str) -> None:
        self.slot = slot

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = getattr(obj, self.slot)
        if type(value) is not list:
            value = list(value or ())
            setattr(obj, self.slot, value)
        return value

    def __set__(self, obj: Any, value: list[str]) -> None:
        setattr(obj, self.slot, value)


class RowOutcome:
    """What happened to one row: ``action`` created, updated, unchanged or error; ``matched_by`` tax_id or name;
    ``changed``, ``held_for_approval`` and ``conflicts`` lists of field names.

    Those three lists are made only when first read or set (decision 0037): most rows have none of the last
    two, and a 100,000-row import's report then holds 200,000 fewer objects, which Python would otherwise
    make, track and walk in its next collection. The bulk path gives ``changed`` as a tuple shared by every
    row with the same fields (``shared_fields``), which becomes the row's own list when first read.
    ``as_dict`` gives the fields in this order."""

    __slots__ = ("line", "action", "vendor_id", "legal_name", "matched_by", "_changed", "_held_for_approval",
                 "_conflicts")

    def __init__(self, line: int, action: str, vendor_id: int | None = None, legal_name: str = "",
                 matched_by: str | None = None, changed: list[str] | None = None,
                 held_for_approval: list[str] | None = None, conflicts: list[str] | None = None) -> None:
        self.line, self.action, self.vendor_id, self.legal_name, self.matched_by = (
            line, action, vendor_id, legal_name, matched_by)
        self._changed, self._held_for_approval, self._conflicts = changed, held_for_approval, conflicts

    changed = _LazyList("_changed")
    held_for_approval = _LazyList("_held_for_approval")
    conflicts = _LazyList("_conflicts")

    def as_dict(self) -> dict:
        return {"line": self.line, "action": self.action, "vendor_id": self.vendor_id, "legal_name": self.legal_name,
                "matched_by": self.matched_by, "changed": list(self._changed or ()),
                "held_for_approval": list(self._held_for_approval or ()), "conflicts": list(self._conflicts or ())}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowOutcome):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment] - mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return "RowOutcome(" + ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items()) + ")"


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
        d = asdict(replace(self, outcomes=[]))  # the outcomes are not dataclasses: each gives its own dict
        d["outcomes"] = [o.as_dict() for o in self.outcomes]
        d["ok"] = self.ok
        return d


# ---------------------------------------------------------------- reading


def read_rows(data: bytes, filename: str) -> list[tuple[int, dict[str, str]]]:
    """(line, row) pairs from CSV (header on line 1) or JSON (a list of objects, or {"vendors": [...]};
    the "line" is the record's position, from 1). Unknown columns are refused."""
    return _read_file(data, filename).pairs()


class _File:
    """A vendor file's data rows, read row by row (``pairs``: (line, dict)) or, for a plain CSV file, column-wise
    (``vector_checks.read_csv``: a frame of the header's columns; row i is line i + 2). Either way the same rows:
    ``raw(i)`` gives row i's dict, ``frame`` the columns the checks read."""

    def __init__(self, header: list[str], frame: Any = None, pairs: list[tuple[int, dict[str, str]]] | None = None,
                 edge_free: frozenset[str] = frozenset()) -> None:
        self.header = header
        self.edge_free = edge_free  # columns with no cell that has white space at either end
        self._frame = frame
        self._pairs = pairs
        self.by_column = frame is not None
        self.n = frame.height if frame is not None else len(pairs or ())
        self._names: list[str] | None = None
        self._tuples: list[tuple] | None = None

    @property
    def frame(self) -> Any:
        if self._frame is None:
            header = set(self.header)  # the checks count an absent column as empty
            cols = tuple(c for c in (*vector_checks._COLS, *vector_checks._REST, *LEGAL_VALUES) if c in header)
            self._frame = vector_checks.frame_of([r for _, r in self._pairs], cols)
        return self._frame

    def lines(self) -> Any:
        return range(2, self.n + 2) if self.by_column else [line for line, _ in self._pairs]

    def names(self) -> list[str]:
        """Each row's legal name ("" when it has none), in file order."""
        if self._names is None:
            if not self.by_column:
                self._names = [raw.get("legal_name", "") for _, raw in self._pairs]
            elif "legal_name" in self.header:
                self._names = self._frame["legal_name"].to_list()
            else:
                self._names = [""] * self.n
        return self._names

    def raw(self, i: int) -> dict[str, str]:
        if not self.by_column:
            return self._pairs[i][1]
        if self._tuples is None:
            self._tuples = list(zip(*(s.to_list() for s in self._frame.get_columns()), strict=True))
        return dict(zip(self.header, self._tuples[i], strict=True))

    def raws(self, indices: list[int]) -> list[dict[str, str]]:
        """The dicts of the rows at ``indices`` (column-wise: only those rows are taken out of the frame)."""
        if not self.by_column:
            return [self._pairs[i][1] for i in indices]
        header = self.header
        return [dict(zip(header, t, strict=True)) for t in self._frame[indices].rows()] if indices else []

    def pairs(self) -> list[tuple[int, dict[str, str]]]:
        if not self.by_column:
            return self._pairs
        return list(zip(self.lines(), self.raws(list(range(self.n))), strict=True))


def _read_file(data: bytes, filename: str) -> _File:
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
        file = _File(header, pairs=rows)
    elif (plain := vector_checks.read_csv(data, text)) is not None:
        file = _File(plain[0], frame=plain[1], edge_free=plain[2])  # the same rows as below, read column-wise
    else:
        header, rows = _csv_rows(text)
        # every cell stripped; an apostrophe undone (import_cells) may uncover a tab
        file = _File(header, pairs=rows, edge_free=frozenset() if "'" in text else frozenset(header))
    header = file.header
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or "legal_name" not in header:
        msg = f"unknown column(s): {', '.join(unknown)}" if unknown else "the legal_name column is missing"
        raise ValidationFailed(f"{filename}: {msg}; see docs/vendors.md for the columns",
                               errors=[{"file": filename, "line": 1, "field": unknown[0] if unknown else "legal_name",
                                        "message": msg}])
    return file


def _csv_rows(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV file read row by row (the reference for ``vector_checks.read_csv``)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    width = len(header)
    rows = []
    n = 1
    for rec in reader:  # what csv.DictReader gives: blank records skipped, short ones padded, extras dropped
        if not rec:
            continue
        n += 1
        if len(rec) < width:
            rec += [""] * (width - len(rec))
        rows.append((n, dict(zip(header, map(str.strip, rec), strict=False))))
    if "'" in text:
        import_cells(rows)  # undo the export's formula neutralisation (csv_cells)
    return header, rows


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
    tax_key: str | None
    _name_key: str | None = None

    @property
    def name_key(self) -> str:
        """Computed when needed: a row matched by tax ID with an unchanged name never needs it."""
        if self._name_key is None:
            self._name_key = validation.name_key(self.legal_name)
        return self._name_key


class _FileRow(_Row):
    """A plain row of a file read column-wise (``_checked_rows``): its ``raw`` dict is made from the file's columns
    when something first reads it (its line is its index + 2). Made with the values a plain row has; the rest
    are a plain row's: no other names, contact or business units (``_check_row`` gives None for them)."""

    def __init__(self, line: int, file: _File, legal_name: str, country: str, tax: dict | None, bank: dict | None,
                 address: dict | None, legal: dict[str, str], tax_key: str | None) -> None:
        self.line = line
        self._raw = file
        self.legal_name = legal_name
        self.country = country
        self.other_names = None
        self.tax = tax
        self.bank = bank
        self.address = address
        self.contact = None
        self.business_units = None
        self.legal = legal
        self.tax_key = tax_key
        self._name_key = None

    @property
    def raw(self) -> dict[str, str]:
        raw = self._raw
        if isinstance(raw, _File):
            raw = self._raw = raw.raw(self.line - 2)
        return raw

    @raw.setter
    def raw(self, value: dict[str, str]) -> None:
        self._raw = value


class _Checks:
    """The checks of one import, with caches for what repeats from row to row (country and currency codes).

    Tax IDs, bank accounts and addresses are checked by ``validation`` directly; only a value that fails
    goes through the Pydantic schemas (``TaxIdIn``, ``BankAccountIn``, ``AddressIn``) to get their error
    messages. tests/unit/test_vendor_import_checks.py holds both ways to the same results.
    """

    def __init__(self, bu_codes: dict[str, int]) -> None:
        self.bu_codes = bu_codes
        self._countries: dict[str, str | None] = {}
        self._currencies: dict[str, str | None] = {}

    def country(self, value: str) -> str | None:
        if value not in self._countries:
            try:
                self._countries[value] = _country(value)
            except ValueError:
                self._countries[value] = None
        return self._countries[value]

    def currency(self, value: str) -> str | None:
        if value not in self._currencies:
            try:
                self._currencies[value] = _currency(value)
            except ValueError:
                self._currencies[value] = None
        return self._currencies[value]

    def tax(self, scheme: str, value: str, country: str) -> dict | None:
        """The TaxIdIn result for valid input, else None."""
        scheme, value = scheme.strip(), value.strip()
        cc = self.country(country)
        if scheme not in validation.TAX_SCHEMES or not 1 <= len(value) <= 40 or cc is None:
            return None
        try:
            return {"scheme": scheme, "value": validation.normalise_tax_id(scheme, value, cc), "country": cc}
        except ValueError:
            return None

    def bank(self, holder: str, iban: str | None, bic: str | None, routing: str | None, number: str | None,
             currency: str) -> dict | None:
        """The BankAccountIn result (model_dump, with account_key) for valid input, else None."""
        holder = holder.strip()
        iban, bic, routing, number = (None if x is None else x.strip() for x in (iban, bic, routing, number))
        cur = self.currency(currency)
        if cur is None or not 1 <= len(holder) <= 200 or any(
                x is not None and len(x) > n for x, n in ((iban, 42), (bic, 11), (number, 34), (routing, 9))):
            return None
        try:
            norm = validation.normalise_bank({"iban": iban, "bic": bic, "routing_number": routing,
                                              "account_number": number})
        except ValueError:
            return None
        return {"holder_name": holder, "iban": norm["iban"], "bic": norm["bic"],
                "account_number": norm["account_number"], "routing_number": norm["routing_number"],
                "currency": cur, "is_primary": True, "account_key": norm["account_key"]}

    def address(self, line1: str, city: str, postal_code: str | None, country: str) -> dict | None:
        """The AddressIn result for valid input, else None."""
        line1, city = line1.strip(), city.strip()
        postal_code = None if postal_code is None else postal_code.strip()
        cc = self.country(country)
        if cc is None or not 1 <= len(line1) <= 200 or not 1 <= len(city) <= 100 or (
                postal_code is not None and len(postal_code) > 20):
            return None
        return {"kind": "remit_to", "line1": line1, "line2": None, "city": city, "region": None,
                "postal_code": postal_code, "country": cc}


def _check_row(line: int, raw: dict[str, str], file: str, bu_codes: dict[str, int],
               checks: _Checks | None = None, pre: tuple | None = None) -> tuple[_Row | None, list]:
    """One row checked; ``pre``: its country, tax ID, bank account and address already checked column-wise
    (``vector_checks.precheck``), so only the rest is checked here."""
    checks = checks or _Checks(bu_codes)
    errors: list[dict] = []

    def bad(fld: str, message: str) -> None:
        errors.append({"file": file, "line": line, "field": fld, "message": message})

    def pydantic(fld_map: dict[str, str], exc: ValidationError) -> None:
        for e in exc.errors():
            loc = e["loc"][0] if e["loc"] else None
            msg = e["msg"].removeprefix("Value error, ")
            bad(fld_map.get(str(loc), next(iter(fld_map.values()))), msg)

    name = raw.get("legal_name", "")
    if pre is not None:
        country, tax, bank, address = pre
    elif not name:
        bad("legal_name", "required")
    elif len(name) > 300:
        bad("legal_name", "at most 300 characters")
    contact = None
    if pre is None:
        country = raw.get("country", "").upper()
        checked_country = checks.country(country)
        if checked_country is None:
            try:
                _country(country)
            except ValueError as exc:
                bad("country", str(exc))
        else:
            country = checked_country
        tax = bank = address = None
        if raw.get("tax_id"):
            tax = checks.tax(raw.get("tax_scheme") or "", raw["tax_id"], raw.get("tax_country") or country)
            if tax is None:
                try:
                    tax = TaxIdIn(scheme=raw.get("tax_scheme") or "", value=raw["tax_id"],
                                  country=raw.get("tax_country") or country).model_dump()
                except ValidationError as exc:
                    pydantic({"scheme": "tax_scheme", "value": "tax_id", "country": "tax_country", "None": "tax_id"},
                             exc)
        bank_cols = ("iban", "bic", "routing_number", "account_number")
        if any(raw.get(c) for c in bank_cols):
            bank = checks.bank(raw.get("bank_holder") or name or "?", raw.get("iban") or None, raw.get("bic") or None,
                               raw.get("routing_number") or None, raw.get("account_number") or None,
                               raw.get("bank_currency") or "")
            if bank is None:
                try:
                    bank = BankAccountIn(holder_name=raw.get("bank_holder") or name or "?",
                                         iban=raw.get("iban") or None, bic=raw.get("bic") or None,
                                         routing_number=raw.get("routing_number") or None,
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
            address = checks.address(raw["address_line1"], raw.get("address_city") or "",
                                     raw.get("address_postal_code") or None, raw.get("address_country") or country)
            if address is None:
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
            if code not in checks.bu_codes:
                bad("business_units", f"no business unit with code {code!r}")
            elif checks.bu_codes[code] in bus:
                bad("business_units", f"business unit {code!r} is listed twice")
            else:
                bus.append(checks.bu_codes[code])
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
                validation.tax_key(tax["value"]) if tax else None), []


def _checked_rows(file: _File, filename: str, checks: _Checks, errors: list) -> tuple[list[_Row], list[int]]:
    """Every row of the file checked, in file order: the valid rows, each one's position in the file, and the
    refusals appended to ``errors``. The common shapes are checked column-wise first
    (``vector_checks.checked``); a row that is plain there (nothing else to check) becomes its ``_Row`` directly,
    every other row goes through ``_check_row`` (with its column-wise parts when those were valid), which gives
    each refusal its line, field and message. tests/unit/test_vendor_import_checks.py holds both ways equal."""
    if not file.n:
        return [], []
    done = vector_checks.checked(file.frame, checks, LEGAL_VALUES, file.names(), file.edge_free)
    plain = done.plain
    # the plain rows made at C level (map over the columns, compress to the plain rows), in file order
    def of_plain(values: Any) -> Any:
        return compress(values, plain)

    if file.by_column:
        made = map(_FileRow, of_plain(file.lines()), repeat(file), of_plain(done.name), of_plain(done.cc),
                   of_plain(done.tax), of_plain(done.bank), of_plain(done.address), of_plain(done.legal),
                   of_plain(done.tax_key))
    else:
        made = map(_Row, of_plain(file.lines()), of_plain(map(file.raw, range(file.n))), of_plain(done.name),
                   of_plain(done.cc), repeat(None), of_plain(done.tax), of_plain(done.bank), of_plain(done.address),
                   repeat(None), repeat(None), of_plain(done.legal), of_plain(done.tax_key))
    if all(plain):
        return list(made), list(range(file.n))
    rows: list[_Row] = []
    at: list[int] = []
    others = iter(file.raws([i for i, p in enumerate(plain) if not p]))
    lines = file.lines()
    bu_codes = checks.bu_codes
    for i, is_plain in enumerate(plain):
        if is_plain:
            rows.append(next(made))
            at.append(i)
            continue
        row, refused = _check_row(lines[i], next(others), filename, bu_codes, checks, done.parts(i))
        if row is None:
            errors += refused
        else:
            rows.append(row)
            at.append(i)
    return rows, at


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
    with cyclic_gc_paused():
        return _import(session, data, filename, source, actor, dry_run, partial)


def _import(session: Session, data: bytes, filename: str, source: str, actor: Actor, dry_run: bool,
            partial: bool) -> ImportReport:
    if source == "legal":
        legal_sync.legal_user(session, actor)  # legal's fields are applied as a named legal user
    report = ImportReport(filename, source, dry_run, partial)
    file = _read_file(data, filename)
    report.rows = file.n
    # a large procurement file: the worker process for duplicate detection starts now, so its start-up overlaps
    # the checks (decision 0032); the legal path and small files use neither it nor the writer thread
    pool = pipeline.DedupePool(file.names()) if (
        source == "procurement" and file.n > pipeline.PIPELINE_ABOVE) else None
    try:
        if file.n <= pipeline.PIPELINE_ABOVE:
            return _checked_and_applied(session, file, report, filename, source, actor, dry_run, partial, pool)
        with sqlite_cache_at_least(session):  # a large file: the database's pages kept in memory (decision 0037)
            return _checked_and_applied(session, file, report, filename, source, actor, dry_run, partial, pool)
    finally:
        if pool is not None:
            pool.close()


def _checked_and_applied(session: Session, file: _File, report: ImportReport, filename: str, source: str,
                         actor: Actor, dry_run: bool, partial: bool, pool: pipeline.DedupePool | None
                         ) -> ImportReport:
    checks = _Checks(dict(session.execute(select(BusinessUnit.code, BusinessUnit.id)).all()))
    checked, at = _checked_rows(file, filename, checks, report.errors)

    def name_keys(wanted: list[_Row], ask_only: bool = False) -> None:
        """The name keys of the rows not matched by tax ID (wanted after the tax-ID lookup): with a worker
        process, computed by both (decision 0036); any other row's key is computed if and when it is needed.
        ``ask_only``: the worker is only told which ones, so it skips the rest while the caller reads."""
        if pool is None:
            return
        where = {id(row): i for row, i in zip(checked, at, strict=True)}
        positions = [where[id(row)] for row in wanted]
        if ask_only:
            pool.ask(positions)
            return
        keys = pool.name_keys(positions)
        for row in wanted:
            row._name_key = keys[where[id(row)]]

    plan = _match(session, checked, report, filename, name_keys)
    checked.clear()  # the plan holds every row it applies: the list goes, so the rows can go with the plan
    if report.errors and not partial:
        report.outcomes = [RowOutcome(e["line"], "error") for e in report.errors]
        return report
    nested = session.begin_nested()
    try:
        if source == "legal":
            _apply_legal(session, plan, report, source, filename, actor)
        else:
            _apply(session, plan, report, source, filename, actor, pool)
    except BaseException:
        nested.rollback()
        session.expire_all()
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


# Above this many keys a lookup reads the whole (indexed) column once instead of IN (...) batches.
_SCAN_ABOVE = 20_000
_CHUNK = 900


def _read(session: Session, stmt) -> list:
    """All rows of a column select, through the session's connection (Core): the same values (the columns'
    result processors apply) without the ORM's per-row result machinery. Pending ORM changes are flushed
    first, as ``session.execute`` would (autoflush)."""
    session.flush()
    return session.connection().execute(stmt).all()


def _fetch(session: Session, stmt) -> list[tuple]:
    """``_read``'s rows as the driver's plain tuples (decision 0035): the statement runs as ``_read`` runs it
    (Core, its parameters bound by SQLAlchemy, pending ORM changes flushed first), and the rows are fetched
    from the DBAPI cursor at once instead of one SQLAlchemy ``Row`` each (at 100,000 rows the Core rows cost
    twice the driver's fetch). Each column's result processor, where its type has one for this database and the
    cursor's column type (booleans and JSON on SQLite, timestamps), is applied column by column, so the values
    are ``_read``'s; strings and integers, which have none, are the driver's objects as they are."""
    session.flush()
    result = session.connection().execute(stmt)
    try:
        cur = result.cursor
        procs = [col.type._cached_result_processor(result.dialect, desc[1])
                 for col, desc in zip(stmt.selected_columns, cur.description, strict=True)]
        rows = cur.fetchall()
    finally:
        result.close()
    if not any(procs) or not rows:
        return rows
    cols = [col if p is None else list(map(p, col)) for p, col in zip(procs, zip(*rows, strict=True), strict=True)]
    return list(zip(*cols, strict=True))


def _among(session: Session, stmt, col, values: Any) -> list[tuple]:
    """``_fetch`` of ``stmt`` for the rows whose ``col`` is one of ``values``, in one statement (``ap.bulk.among``: one
    parameter however many values) instead of IN batches; in no particular order (decision 0035)."""
    if not values:
        return []
    return _fetch(session, stmt.where(among(session.connection(), col, values)))


def _lookup(session: Session, key_col, id_col, keys: set[str]) -> list[tuple[Any, Any]]:
    """(id, key) pairs whose key is in ``keys``: IN batches for a few keys, one scan for many."""
    if not keys:
        return []
    if len(keys) > _SCAN_ABOVE:
        return [(i, k) for i, k in _fetch(session, select(id_col, key_col)) if k in keys]
    out: list[tuple[Any, Any]] = []
    ks = list(keys)
    for k in range(0, len(ks), _CHUNK):
        out += _fetch(session, select(id_col, key_col).where(key_col.in_(ks[k:k + _CHUNK])))
    return out


class _Plan(list):
    """``_match``'s plan: (row, vendor id or None, how it matched) per row to apply, in file order. ``names``: when
    matching read the whole vendor table, (id, name_key, status) of every vendor as read then; ``_load_state``
    uses them for ``all_names`` instead of reading them again (decision 0035: nothing is written in between)."""

    names: list[tuple] | None = None


def _match(session: Session, rows: list[_Row], report: ImportReport, filename: str,
           name_keys: Any = None) -> list[tuple[_Row, int | None, str | None]]:
    """Each row's vendor: by tax ID, then by normalised name (a name shared by two vendors is ambiguous).
    ``name_keys``: called with the rows not matched by tax ID before their name keys are wanted (they may come
    from the worker process)."""
    by_tax = _tax_matches(session, {r.tax_key for r in rows if r.tax_key})
    by_name: dict[str, list[int]] = {}
    tax_of = by_tax.get
    taxed = [tax_of(tk) if (tk := r.tax_key) else None for r in rows]  # each row's vendor by tax ID, or None
    unmatched = [r for r, vid in zip(rows, taxed, strict=True) if vid is None]
    plan = _Plan()
    # many rows to match by name: the whole vendor table's names (_lookup's scan, with each vendor's status: kept for
    # _load_state, see _Plan), read before the name keys are asked for (the worker process may still be at them);
    # few: the vendors with those names, in one statement. Either way the same vendors are found (sorted below).
    if len(unmatched) > _SCAN_ABOVE:
        if name_keys is not None:
            name_keys(unmatched, ask_only=True)  # the worker skips the rows matched by tax ID from now on
        vt = Vendor.__table__
        plan.names = _fetch(session, select(vt.c.id, vt.c.name_key, vt.c.status))
    if name_keys is not None:
        name_keys(unmatched)
    names = {r.name_key for r in unmatched}
    if plan.names is not None:
        found = [(vid, key) for vid, key, _ in plan.names if key in names]
    else:
        found = _among(session, select(Vendor.id, Vendor.name_key), Vendor.name_key, names)
    for vid, key in sorted(found):
        by_name.setdefault(key, []).append(vid)
    seen: dict[int, int] = {}
    new_keys: dict[str, int] = {}
    claimed_tax: dict[str, int] = {}  # a tax ID one row of this file gives to a vendor
    errors = report.errors
    name_of = by_name.get
    for r, vid in zip(rows, taxed, strict=True):
        tk, line = r.tax_key, r.line
        if vid is not None:
            how = "tax_id"
        else:
            named = name_of(r.name_key)
            if named is None:
                vid, how = None, None
            elif len(named) > 1:
                errors.append({"file": filename, "line": line, "field": "legal_name", "message": (
                    f"matches {len(named)} vendors by name; give the tax ID")})
                continue
            else:
                vid, how = named[0], "name"
        if vid:
            if vid in seen:
                errors.append({"file": filename, "line": line, "field": "tax_id" if tk else "legal_name",
                               "message": f"the same vendor as line {seen[vid]}"})
                continue
        else:  # a new vendor: one per tax key, or per name key without a tax ID
            key = tk or r.name_key
            if vid is None and key in new_keys:
                errors.append({"file": filename, "line": line, "field": "tax_id" if tk else "legal_name",
                               "message": f"the same vendor as line {new_keys[key]}"})
                continue
        if tk:
            if tk in claimed_tax:
                errors.append({"file": filename, "line": line, "field": "tax_id",
                               "message": f"the same tax ID as line {claimed_tax[tk]}"})
                continue
            claimed_tax[tk] = line
        if vid:
            seen[vid] = line
        else:
            new_keys[key] = line
        plan.append((r, vid, how))
    return plan


def _formatted(keys: list[str]) -> list[str]:
    """Stored forms of compact tax keys (EINs are stored as 12-3456789)."""
    return [f"{k[:2]}-{k[2:]}" for k in keys if len(k) == 9 and k.isdigit()]


def _tax_matches(session: Session, keys: set[str]) -> dict[str, int]:
    """The vendor holding each of these tax keys (``validation.tax_key`` forms), where one does: a stored value
    that is the key itself or its formatted form (``_formatted``) matches; where two do, the one read last.

    Few keys: IN batches of both forms. Many (decision 0035): one scan of the table, each stored value tested in
    Python against the keys without making the formatted forms: a value is the formatted form of a key exactly
    when it is ten characters with a hyphen third and the nine others, the hyphen dropped, are a key of digits;
    that key is then the value's ``tax_key``, as the value itself is for a stored value that is a key (keys are
    upper-case ASCII letters and digits). It scans wherever ``_lookup`` would have (more keys and forms than
    ``_SCAN_ABOVE``), with the same statement: the same pairs in the same order, so the same winner."""
    by_tax: dict[str, int] = {}
    if not keys:
        return by_tax
    # as many values as _lookup was given (the keys and the formatted forms, which differ: a key has no hyphen)
    if len(keys) > _SCAN_ABOVE or len(keys) + sum(len(k) == 9 and k.isdigit() for k in keys) > _SCAN_ABOVE:
        tv = VendorTaxId.__table__
        for vid, value in _fetch(session, select(tv.c.vendor_id, tv.c.value)):
            if value[2:3] == "-":  # (a key has no hyphen) the usual stored form of an EIN, 12-3456789
                if len(value) == 10:
                    # value[:2] + value[3:] where that can be a key: with a hyphen before the third character
                    # both keep one (the third, or that one) and neither is a key
                    k = value.replace("-", "", 1)
                    if k in keys and k.isdigit():
                        by_tax[k] = vid
            elif value in keys:
                by_tax[value] = vid
        return by_tax
    tk = list(keys)
    for vid, value in _lookup(session, VendorTaxId.value, VendorTaxId.vendor_id, set(tk) | set(_formatted(tk))):
        by_tax[validation.tax_key(value)] = vid
    return by_tax


_CHILD_TABLES = {"tax_ids": VendorTaxId.__table__, "bank_accounts": VendorBankAccount.__table__,
                 "addresses": VendorAddress.__table__, "contacts": VendorContact.__table__}
_SKIP = {"id", "vendor_id", "validated_on"}  # what service._child_rows leaves out
_VENDOR_COLS = ("id", "legal_name", "name_key", "other_names", "country", "status", "legal_review",
                "screening_status", "risk_tier")


def _child_stmt(table, cols: list[str] | None = None):
    """A vendor child table's rows for ``_load_state``: vendor id, id, then the columns compared (or ``cols``), in id
    order."""
    names = cols if cols is not None else [c.name for c in table.c if c.name not in _SKIP]
    return select(table.c.vendor_id, table.c.id, *[table.c[n] for n in names]).order_by(table.c.id)


def _child_rows_read(session: Session, table, ids: list[int], cols: list[str] | None = None) -> tuple[bool, list]:
    """A vendor child table's rows for these vendors, in id order: (whether the whole table was read (then all
    its rows are given), the rows). ``cols``: these columns only (``_child_stmt``)."""
    stmt = _child_stmt(table, cols)
    if len(ids) > _SCAN_ABOVE:
        return True, _fetch(session, stmt)
    result = _among(session, stmt, table.c.vendor_id, ids)
    result.sort(key=lambda r: r[1])
    return False, result


def _grouped(table, read: tuple[bool, list], idset: set[int], cols: list[str] | None = None) -> dict[int, list[dict]]:
    """``_child_rows_read``'s rows of these vendors as dicts, in id order, grouped by vendor."""
    names = cols if cols is not None else [c.name for c in table.c if c.name not in _SKIP]
    whole, result = read
    out: dict[int, list[dict]] = {}
    for r in (r for r in result if r[0] in idset) if whole else result:
        out.setdefault(r[0], []).append(dict(zip(names, r[2:], strict=True)))
    return out


def _new_bank(r: _Row, keys: Any) -> bool:
    """Whether the row gives its vendor a bank account it does not have (``keys``: the account keys of the ones it
    has): the rule of ``_diff_and_plan``, which ``_load_state`` also applies to decide whose accounts it reads
    whole (decision 0035)."""
    return bool(r.bank) and r.bank["account_key"] not in keys


@dataclass
class _State:
    """What the import compares against, read once: vendor columns, child rows, business units, firms.

    Bank accounts (decision 0035): ``bank_keys`` holds the account keys of every matched vendor's accounts (what the
    comparison reads); ``children["bank_accounts"]`` their whole rows (``service._child_rows``' columns: the audit's
    ``before``) only for the vendors the file gives a new account (``_new_bank``)."""

    vendors: dict[int, dict]
    children: dict[str, dict[int, list[dict]]]
    business_units: dict[int, list[int]]
    firms: dict[int, list[bool]]
    bank_keys: dict[int, list] = field(default_factory=dict)
    # with ``keep_all``, when the whole tables were read: (id, name_key, status) of every vendor and
    # (vendor id, account key) of every bank account, for duplicate detection (decision 0032)
    all_names: list[tuple] | None = None
    all_accounts: list[tuple] | None = None

    def release(self) -> None:
        """Every container emptied (the pipelined path, once the rows are compared: decision 0037)."""
        for d in (self.vendors, self.children, self.business_units, self.firms, self.bank_keys):
            d.clear()
        self.all_names = self.all_accounts = None

    def bank_rows(self, vid: int) -> list[dict]:
        """A vendor's bank accounts, whole rows in id order (``[]`` without any); only for a vendor the file gives a
        new account (``_new_bank``), whose rows were read: for another one that has accounts, a KeyError."""
        return self.children["bank_accounts"][vid] if vid in self.bank_keys else []


def _load_state(session: Session, plan: list, keep_all: bool = False, then: Any = None) -> _State:
    """What the rows are compared with, read once. Every read comes first; ``then`` (given ``all_names`` and
    ``all_accounts``, see ``_State``) is called after the last one, before the rows read are sorted into the
    state: from there on this function does not use the session (the pipelined path starts its writer).

    Reads through the driver (``_fetch``); bank accounts by key, and whole only for the vendors whose bank the
    file changes (decision 0035)."""
    ids = sorted({vid for _, vid, _ in plan if vid})
    idset = set(ids)
    rs = list(map(itemgetter(0), plan))
    vt, ba = Vendor.__table__, VendorBankAccount.__table__
    # other_names as the driver gives it (JSON text on SQLite): decoded only for a row that sets other names
    stmt = select(*[driver_value(vt.c[c]) if c == "other_names" else vt.c[c] for c in _VENDOR_COLS])
    whole = len(ids) > _SCAN_ABOVE
    rows = _among(session, stmt, vt.c.id, ids)
    # a row matched by its tax ID cannot change that vendor's tax IDs (it holds that one): only vendors matched
    # by name need theirs
    tax_ids = sorted({vid for r, vid, how in plan if vid and how != "tax_id" and r.tax})
    wanted = {"tax_ids": tax_ids, "addresses": ids if any(map(attrgetter("address"), rs)) else [],
              "contacts": ids if any(map(attrgetter("contact"), rs)) else []}
    child_reads = {key: _child_rows_read(session, _CHILD_TABLES[key], wanted[key]) for key in wanted if wanted[key]}
    # bank accounts: every matched vendor's account keys; whole rows for the vendors the file gives a new one
    keys_whole, keys_rows = _child_rows_read(session, ba, ids, ["account_key"]) if ids else (False, [])
    bank_keys: dict[int, list] = {}
    for vid, _, key in (r for r in keys_rows if r[0] in idset) if keys_whole else keys_rows:
        if vid in bank_keys:
            bank_keys[vid].append(key)
        else:
            bank_keys[vid] = [key]
    changed = sorted({vid for r, vid, _ in plan if vid in bank_keys and _new_bank(r, bank_keys[vid])})
    full_read = _child_rows_read(session, ba, changed) if changed else (False, [])
    bu_rows: list = []
    if ids and any(r.business_units is not None for r in rs):
        bt = VendorBusinessUnit.__table__
        bu_rows = _among(session, select(bt.c.vendor_id, bt.c.business_unit_id), bt.c.vendor_id, ids)
    ft = LawFirm.__table__
    firm_rows = _fetch(session, select(ft.c.vendor_id, ft.c.panel_member))
    all_names = all_accounts = None
    if keep_all and whole:  # many vendors: the whole bank account table was read (by key), the names are read
        all_names = getattr(plan, "names", None)
        if all_names is None:
            all_names = _fetch(session, select(vt.c.id, vt.c.name_key, vt.c.status))
        all_accounts = list(map(itemgetter(0, 2), keys_rows))
    if then is not None:
        then(all_names, all_accounts)
    vendors: dict[int, dict] = {}
    for r in rows:
        vendors[r[0]] = dict(zip(_VENDOR_COLS, r, strict=True))
    children = {key: _grouped(table, child_reads[key], set(wanted[key])) if key in child_reads else {}
                for key, table in _CHILD_TABLES.items()}
    children["bank_accounts"] = _grouped(ba, full_read, set(changed))
    bus: dict[int, list[int]] = {}
    for vid, bu in bu_rows:
        bus.setdefault(vid, []).append(bu)
    firms: dict[int, list[bool]] = {}
    for vid, member in firm_rows:
        if vid in idset:
            firms.setdefault(vid, []).append(member)
    return _State(vendors, children, bus, firms, bank_keys, all_names, all_accounts)


def _apply(session: Session, plan: list, report: ImportReport, source: str, filename: str, actor: Actor,
           pool: pipeline.DedupePool | None = None) -> None:
    """Compare every row with what Triad holds (read once), then write only the differences in bulk (Core
    executemany), with one audit event for the file naming every created or changed vendor. A bank or tax change
    to an active or suspended vendor goes through ``service.update_vendor`` (it is held for four eyes). The new
    vendors and their child rows are written before the rows are compared (decision 0037), the rest after.

    With ``pool`` (a large file, decision 0032) the same plan is written through a ``pipeline.Writer``: the new
    vendors' rows are queued before the rows are compared (their ids taken first), the rest after, and
    duplicate detection runs in the worker process meanwhile (``_Pipelined``)."""
    session.flush()
    open_conflicts = set(session.execute(select(VendorConflict.vendor_id, VendorConflict.field,
                                                VendorConflict.incoming)
                                         .where(VendorConflict.status == "open")).all())
    events: list[dict] = []
    w = _Writes()
    new_rows: list[tuple[RowOutcome, _Row, dict]] = []  # the new vendors' outcomes, rows and audit entries
    piped: _Pipelined | None = None

    def start(all_names: list | None, all_accounts: list | None) -> None:
        """After the state's reads: the writer starts (with the new vendors' insert) while the state is built."""
        nonlocal piped
        piped = _Pipelined(session, plan, all_names, all_accounts, source, actor, pool, w.today, early)

    # matching read every vendor's name: duplicate detection is asked for now, before the state's reads, so the
    # worker searches while this process reads rather than while it and the writer both work (decision 0037)
    early = _Pipelined.ask_early(session, plan, pool) if pool is not None and getattr(
        plan, "names", None) is not None else None
    try:
        state = _load_state(session, plan, keep_all=pool is not None, then=start if pool is not None else None)
        barrier = piped.writer.drain if piped is not None else None
        # the new vendors and their child rows go in before the rows are compared (the pipelined path queued
        # them when its writer started): in file order, their ids are these
        new_ids = piped.ids if piped is not None else _insert_vendors(session, plan, source, actor, w)
        w.dedupe_ids.update(new_ids)
        next_new = iter(new_ids).__next__
        draft = {"status": VendorStatus.draft.value, "legal_review": "none", "risk_tier": "medium"}  # a new vendor
        outcomes, firms_of, vendors = report.outcomes, state.firms.get, state.vendors
        addresses_of, bank_keys_of = state.children["addresses"].get, state.bank_keys.get
        address_inserts, address_replace = w.inserts["addresses"].append, w.replace["addresses"].append
        only_address = shared_fields(("addresses",))
        fast = FAST_ADDRESS_ROWS and source == "procurement"
        held = 0
        for r, vid, how in plan:
            if how == "tax_id" and fast and r.other_names is None and r.contact is None and \
                    r.business_units is None and (current := vendors[vid])["legal_name"] == r.legal_name and \
                    current["country"] == r.country and (not r.bank or r.bank["account_key"] in bank_keys_of(
                        vid, ())) and (a := r.address):
                # the usual updated row (decision 0038): matched by its tax ID, with its vendor's names, country
                # and bank account, so its address is all it can change. ``_diff_and_plan``'s result, made
                # directly: an address is neither held for four eyes nor reviewed data, so only the address
                # rows are replaced and the event names them (tests/integration/test_vendor_import_fast_row.py)
                had = addresses_of(vid, ())
                if had and _same_address(had[0], a):
                    out = RowOutcome(r.line, "unchanged", vid, current["legal_name"], "tax_id")
                    report.unchanged += 1
                else:
                    if had:
                        address_replace(vid)
                    address_inserts((vid, a))
                    out = RowOutcome(r.line, "updated", vid, current["legal_name"], "tax_id", only_address)
                    events.append({"vendor_id": vid, "action": "vendor.updated", "before": {"addresses": had},
                                   "after": {"source": source, "line": r.line, "changed": {"addresses": (a,)},
                                             "held_for_approval": ()}})
                    report.updated += 1
                firms = firms_of(vid, []) if r.legal else []
            elif vid is None:
                new_id = next_new()
                out = RowOutcome(r.line, "created", new_id, r.legal_name, changed=_CREATED)
                # one-item lists as tuples (serialised alike; one allocation each instead of two; decision 0038)
                event = {"vendor_id": new_id, "action": "vendor.created", "before": None,
                         "after": {"legal_name": r.legal_name, "source": source, "line": r.line,
                                   "tax_ids": (r.tax["value"],) if r.tax else (),
                                   "bank_accounts": (r.bank["account_key"],) if r.bank else ()}}
                events.append(event)
                new_rows.append((out, r, event))
                report.created += 1
                current, firms = draft, []
            else:
                current = vendors[vid]
                out = _diff_and_plan(session, current, r, source, actor, events, state, w, how, barrier)
                out.matched_by = how
                if out.action == "updated":
                    report.updated += 1
                else:
                    report.unchanged += 1
                if out._held_for_approval:
                    held += len(out._held_for_approval)
                firms = firms_of(vid, []) if r.legal else []
            for fld, triad_value, incoming in _legal_diffs(current, r, source, firms) if r.legal else ():
                if out.vendor_id is not None and (out.vendor_id, fld, incoming) in open_conflicts:
                    continue
                open_conflicts.add((out.vendor_id, fld, incoming))
                w.conflicts.append((out, {"field": fld, "source": source, "owner": OWNER[fld],
                                          "in_triad": triad_value, "incoming": incoming, "filename": filename[:255],
                                          "line": r.line, "status": "open"}))
                out.conflicts.append(fld)
                report.conflicts += 1
            outcomes.append(out)
        report.held_for_approval += held
        if piped is not None:
            def release() -> None:
                state.release()
                plan.clear()
                if isinstance(plan, _Plan):
                    plan.names = None

            piped.finish(report, filename, events, w, new_rows, release)
            return
    finally:
        if piped is not None:
            piped.writer.close()
    w.run(session)
    report.duplicates = flag_duplicates(session, sorted(w.dedupe_ids), {o.vendor_id for o, _, _ in new_rows})
    report.duplicates_flagged = len(report.duplicates)
    if events or report.conflicts or report.duplicates_flagged:
        # one hash-chained event for the file, naming every vendor it created or changed with its before and
        # after (decision 0024, round 2); ``service.audit_of_vendor`` finds it from the vendor
        record_large(session, actor=actor, action="vendor_import.applied", entity_type="vendor_import",
                     after=_summary(report, filename, source) | {"vendors": events})
    session.expire_all()  # rows changed under the ORM's feet: objects in the session read them again


class _Pipelined:
    """``_apply``'s writes for a large file (decision 0032), with the sequential path's results.

    Made once ``_load_state`` has read (before it sorts the rows into the state): it reads what duplicate
    detection will need from the master as it is (names, and for many vendors the whole (vendor, bank account)
    table: kept from ``_load_state``'s scans when it made them), takes the new vendors' ids (unless
    ``ask_early`` did), queues their insert, starts the writer and queues their child rows (decision 0037).
    While the rows are compared the writer inserts; a row that goes through the ORM (four eyes) waits for the
    writer to be idle first (``Writer.drain``). ``finish`` queues the rest of the writes, asks the worker
    process for what the first duplicate search left out and serialises the audit event's list of vendors
    while both work, frees the working data, then (after the join) writes the flags and the event. The
    session is left alone whenever the writer has work; an error in any queued statement is raised (``_import``
    rolls back)."""

    @staticmethod
    def ask_early(session: Session, plan: list, pool: pipeline.DedupePool) -> tuple[list[int], tuple | None]:
        """The new vendors' ids and the first duplicate-detection request (see ``__init__``), from the names
        ``_match`` read (``plan.names``): nothing is written before the writer starts, so both are what
        ``__init__`` would make of them."""
        fresh = [r for r, vid, _ in plan if vid is None]
        if not fresh:
            return [], None
        ids = _take_ids(session, len(fresh))
        return ids, _Pipelined._first(plan.names, ids, fresh, pool)

    @staticmethod
    def _first(names: list, ids: list[int], fresh: list[_Row], pool: pipeline.DedupePool) -> tuple:
        """Duplicate detection for the names as they will be if the file renames no vendor, with the new
        vendors in focus: (index, keys, focus, answer)."""
        index, keys = _names_then(names, {}, list(zip(ids, (r.name_key for r in fresh), strict=True)))
        pos = {vid: i for i, vid in enumerate(index)}
        focus = {pos[v] for v in ids}
        return index, keys, focus, pool.similar_names(keys, focus)

    def __init__(self, session: Session, plan: list, all_names: list | None, all_accounts: list | None,
                 source: str, actor: Actor, pool: pipeline.DedupePool, today: Any,
                 early: tuple[list[int], tuple | None] | None = None) -> None:
        self.session, self.pool, self.actor = session, pool, actor
        vt, ba = Vendor.__table__, VendorBankAccount.__table__
        session.flush()
        # the names as matching read them when it read them all (nothing is written before the writer starts)
        self.names = all_names if all_names is not None else getattr(plan, "names", None)
        if self.names is None:
            self.names = _fetch(session, select(vt.c.id, vt.c.name_key, vt.c.status))
        self.every = all_accounts  # None: looked up in ``finish`` (few vendors)
        if self.every is None and len(plan) > _SCAN_ABOVE:
            self.every = _fetch(session, select(ba.c.vendor_id, ba.c.account_key))
        self.writer = pipeline.Writer(session)
        self.every_new: list[tuple] = []
        fresh = [r for r, vid, _ in plan if vid is None]
        if early is not None:  # ids taken and the first request sent already (``ask_early``)
            self.ids = early[0]
        else:
            self.ids = _take_ids(session, len(fresh)) if fresh else []
        if fresh:
            self.writer.insert(vt, *_vendor_rows(fresh, self.ids, source, actor))
        self.writer.start()
        try:
            # the new vendors' child rows next, while the rows are compared (decision 0037; the sequential path
            # inserts them at the same point, so the rows' ids are the same)
            _insert_new_children(session, fresh, self.ids, today, self.writer)
            if self.every is not None:  # read before the writes: the new vendors' accounts are added in ``finish``
                self.every_new = [(vid, r.bank["account_key"]) for r, vid in zip(fresh, self.ids, strict=True)
                                  if r.bank]
        except BaseException:
            self.writer.close()  # the caller has no ``_Pipelined`` to close: the thread ends here, nothing more runs
            raise
        # duplicate detection asked for now (decision 0036), for the names as they will be if the file renames
        # no vendor, with the new vendors in focus; ``finish`` asks only for what this leaves out, or again
        # (replacing this request) if a name did change
        self.first: tuple | None = None
        self.first_names: list | None = None  # the names list the first request was made from
        if early is not None:
            self.first = early[1]
            self.first_names = plan.names
        elif fresh:
            self.first = self._first(self.names, self.ids, fresh, pool)
            self.first_names = self.names

    def finish(self, report: ImportReport, filename: str, events: list, w: _Writes, new_rows: list,
               release: Any = None) -> None:
        session, writer = self.session, self.writer
        vt, ba = Vendor.__table__, VendorBankAccount.__table__
        wanted = set(w.dedupe_ids)
        names, every = self.names, self.every
        if every is not None and self.every_new:
            every = every + self.every_new
        if w.orm_ids or (wanted and every is None):
            writer.drain()  # the session is ours until more is queued
            if w.orm_ids:  # names the ORM changed (a four-eyes row's name applies at once)
                ids = sorted(w.orm_ids)
                changed = {vid: (vid, key, status) for k in range(0, len(ids), _CHUNK) for vid, key, status in _read(
                    session, select(vt.c.id, vt.c.name_key, vt.c.status).where(vt.c.id.in_(ids[k:k + _CHUNK])))}
                names = [changed.get(row[0], row) for row in names]
                if every is not None:
                    every = [row for row in every if row[0] not in w.orm_ids] + [
                        tuple(row) for k in range(0, len(ids), _CHUNK) for row in _read(session, select(
                            ba.c.vendor_id, ba.c.account_key).where(ba.c.vendor_id.in_(ids[k:k + _CHUNK])))]
            if wanted and every is None:  # a few vendors: their rows, and the rows of the accounts they will have
                replaced = set(w.replace["bank_accounts"])
                every = [(vid, key) for key, vid in _lookup(session, ba.c.vendor_id, ba.c.account_key, wanted)]
                keys_then = {key for vid, key in every if key and vid not in replaced} | {
                    row["account_key"] for vid, row in w.inserts["bank_accounts"]
                    if vid in wanted and row["account_key"]}
                every += _lookup(session, ba.c.account_key, ba.c.vendor_id, keys_then)
        # the names as they will be: the master's, renamed by the queued updates, with the new vendors
        renamed = {u["_id"]: u["name_key"] for u in w.vendor_updates if "name_key" in u}
        if self.first is not None and not renamed and names is self.first_names:
            index, keys = self.first[:2]  # the same names as the first request's (the same list, none renamed)
        else:
            index, keys = _names_then(names, renamed, [(o.vendor_id, r.name_key) for o, r, _ in new_rows])
        pos = {vid: i for i, vid in enumerate(index)}
        focus = {pos[v] for v in wanted if v in pos}
        similar: list = []
        if self.first is not None and self.first[:2] == (index, keys):  # the names asked for at the start
            similar.append(self.first[3])
            if focus - self.first[2]:  # vendors with new bank accounts: their names' pairs too
                similar.append(self.pool.similar_names(keys, focus - self.first[2]))
        elif wanted:  # a name changed: asked again, replacing the first request
            similar.append(self.pool.similar_names(keys, focus, replaces=self.first is not None))
        w.run(session, writer)
        # meanwhile: the audit event's list of vendors, serialised once (the event is written after the join)
        vendors_json = json_dumps_large(events)
        accounts = _accounts_after(w, wanted, every) if wanted else {}
        # the working data is freed now, while the writer and the worker are still busy, rather than after the
        # join, on the way out, where nothing else runs (decision 0037): what the flags and the event need is kept
        any_event = bool(events)
        events.clear()
        new_rows.clear()
        w.release()
        self.names = self.every = self.first = self.every_new = self.first_names = None
        names = every = keys = pos = None  # noqa: F841 - references dropped
        if release is not None:
            release()
        pairs: dict[tuple[int, int], float] = {}
        for answer in similar:  # for the same names, the pairs of two focus sets merged are those of their union
            pairs.update(answer.result())
        writer.join()
        report.duplicates = _write_flags(session, index, pairs, accounts, wanted) if wanted else []
        report.duplicates_flagged = len(report.duplicates)
        if any_event or report.conflicts or report.duplicates_flagged:
            summary = _summary(report, filename, report.source)
            # ``record_large``'s text, put together: "vendors" sorts after every summary key, so the canonical
            # dump of the whole is the summary's with the list added last
            assert max(summary) < "vendors"
            record_json(session, actor=self.actor, action="vendor_import.applied", entity_type="vendor_import",
                        after_json=json_dumps(summary)[:-1] + ',"vendors":' + vendors_json + "}")
        session.expire_all()


def _names_then(names: list[tuple], renamed: dict[int, str], new: list[tuple[int, str]]) -> tuple[list, list]:
    """What duplicate detection compares: vendor ids in order and their name keys, for the master's vendors
    (``names``: id, name key, status; deactivated ones left out) renamed as given, and the new vendors."""
    final = [(vid, renamed.get(vid, key)) for vid, key, status in names if status != VendorStatus.deactivated]
    final += new
    final.sort()
    return [vid for vid, _ in final], [k or "" for _, k in final]


def _accounts_after(w: _Writes, wanted: set[int], every: list) -> dict[str, set[int]]:
    """What ``flag_duplicates`` reads after the writes, as far as it can give a flag: every account of a
    ``wanted`` vendor that two or more vendors are paid into, with those vendors (an account with one vendor
    gives no pair). From (vendor, account) rows read before the writes (``every``: the whole table, or at least
    every row of a wanted vendor and every row of an account a wanted vendor will have) with the queued deletes
    and inserts applied."""
    replaced = set(w.replace["bank_accounts"])
    kept = [row for row in every if row[0] not in replaced] if replaced else every
    added = [(vid, row["account_key"]) for vid, row in w.inserts["bank_accounts"]]
    rows = list(chain(kept, added))
    # the rows of accounts that appear more than once (counted in C: decision 0038), in order; only they can be shared
    counts = Counter(map(itemgetter(1), rows))
    repeated = {key for key, n in counts.items() if n > 1}
    first: dict[str, int] = {}  # each account's first vendor
    shared: dict[str, set[int]] = {}  # the accounts of more than one vendor
    for vid, key in compress(rows, map(repeated.__contains__, map(itemgetter(1), rows))):
        if key:
            one = first.setdefault(key, vid)
            if one != vid:
                if key in shared:
                    shared[key].add(vid)
                else:
                    shared[key] = {one, vid}
    return {key: vids for key, vids in shared.items() if not vids.isdisjoint(wanted)}


def _apply_legal(session: Session, plan: list, report: ImportReport, source: str, filename: str,
                 actor: Actor) -> None:
    """Legal's own file, row by row through the services (legal files are small: review, status, risk and
    panel data): legal's fields are applied as the named legal user (``legal_sync``), procurement's fields
    that differ go to the conflict queue for procurement. A row a service refuses is an error row."""
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
    touched: list[int] = []
    new_ids: set[int] = set()
    for r, vid, how in plan:
        if vid is None:
            out = _create(session, r, source, actor, events)
            new_ids.add(out.vendor_id)
            report.created += 1
        else:
            out = RowOutcome(r.line, "unchanged", vid, vendors[vid].legal_name)
            out.matched_by = how
        vendor = session.get(Vendor, out.vendor_id)
        legal_sync.apply_legal_fields(session=session, vendor=vendor, r=r, actor=actor,
                                      firms=panel.get(out.vendor_id, []), out=out, report=report,
                                      filename=filename, events=events)
        if out.action == "error":  # refused by a service: nothing else for this row
            report.outcomes.append(out)
            continue
        if vid is not None:
            report.updated += out.action == "updated"
            report.unchanged += out.action == "unchanged"
        for fld, triad_value, incoming in legal_sync.procurement_diffs(session, vendor, r):
            if (out.vendor_id, fld, incoming) in open_conflicts:
                continue
            open_conflicts.add((out.vendor_id, fld, incoming))
            session.add(VendorConflict(vendor_id=out.vendor_id, field=fld, source=source, owner=OWNER[fld],
                                       in_triad=triad_value, incoming=incoming, filename=filename[:255],
                                       line=r.line, status="open"))
            out.conflicts.append(fld)
            report.conflicts += 1
        touched.append(out.vendor_id)
        report.outcomes.append(out)
    session.flush()
    report.duplicates = flag_duplicates(session, touched, new_ids)
    report.duplicates_flagged = len(report.duplicates)
    record_many(session, actor=actor, events=events)
    if events or report.conflicts or report.duplicates_flagged:
        record(session, actor=actor, action="vendor_import.applied", entity_type="vendor_import", entity_id=None,
               after=_summary(report, filename, source))
    session.expire_all()


def _summary(report: ImportReport, filename: str, source: str) -> dict:
    """The counts of the ``vendor_import.applied`` event (both paths)."""
    return {"file": filename, "source": source, "rows": report.rows, "created": report.created,
            "updated": report.updated, "unchanged": report.unchanged, "held_for_approval": report.held_for_approval,
            "conflicts": report.conflicts, "duplicates_flagged": report.duplicates_flagged,
            "refused_rows": len({e["line"] for e in report.errors})}


def _create(session: Session, r: _Row, source: str, actor: Actor, events: list) -> RowOutcome:
    """One new vendor through the service (the legal file's path; procurement files insert in bulk)."""
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


@dataclass
class _Writes:
    """The writes an import collects, run in bulk at the end."""

    vendor_updates: list[dict] = field(default_factory=list)
    replace: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in (*_CHILD_TABLES, "business_units")})
    # per child table: (vendor id, row without vendor_id) pairs, in insertion order (the rows are not copied:
    # nothing changes them once planned)
    inserts: dict[str, list[tuple[int, dict]]] = field(
        default_factory=lambda: {k: [] for k in (*_CHILD_TABLES, "business_units")})
    conflicts: list[tuple[RowOutcome, dict]] = field(default_factory=list)
    dedupe_ids: set[int] = field(default_factory=set)  # vendors whose names or bank accounts are new
    orm_ids: set[int] = field(default_factory=set)  # vendors changed through the ORM (four eyes)

    today: Any = field(default_factory=lambda: utcnow().date())

    def release(self) -> None:
        """The planned rows dropped once queued (``_Pipelined.finish``); the outcomes are the report's."""
        self.vendor_updates.clear()
        self.conflicts.clear()
        for d in (self.replace, self.inserts):
            for rows in d.values():
                rows.clear()

    def children(self, vid: int, key: str, rows: list[dict]) -> None:
        add = self.inserts[key].append
        for row in rows:
            add((vid, row))

    def run(self, session: Session, writer: pipeline.Writer | None = None) -> None:
        """The writes, in this order (it decides the new rows' ids): vendor updates, then per child table its
        deletes and inserts, then conflicts. With ``writer`` they are queued to it (decision 0032)."""
        vt = Vendor.__table__
        by_cols: dict[tuple[str, ...], list[dict]] = {}
        for u in self.vendor_updates:
            by_cols.setdefault(tuple(sorted(k for k in u if k != "_id")), []).append(u)
        now = utcnow()
        for cols, items in by_cols.items():
            if writer is not None:
                writer.update_by_id(vt, cols, items, {"updated_at": now})
                continue
            stmt = update(vt).where(vt.c.id == bindparam("_id")).values(
                {c: bindparam(c) for c in cols} | {"updated_at": now})
            for k in range(0, len(items), 5000):
                session.execute(stmt, items[k:k + 5000])
        tables = {**_CHILD_TABLES, "business_units": VendorBusinessUnit.__table__}
        for key, table in tables.items():
            ids = self.replace[key]
            if writer is not None:
                writer.delete_vendors_rows(table, ids)
            else:
                for k in range(0, len(ids), _CHUNK):
                    session.execute(delete(table).where(table.c.vendor_id.in_(ids[k:k + _CHUNK])))
            _insert_children(session, table, self.inserts[key], self.today, writer)
        _insert_dicts(session, VendorConflict.__table__,
                      [{**c, "vendor_id": out.vendor_id, "created_at": now} for out, c in self.conflicts], writer)


def _insert_dicts(session: Session, table, rows: list[dict], writer: pipeline.Writer | None = None) -> None:
    """Insert dict rows through the driver (``ap.bulk.insert_rows``: one ``executemany`` on SQLite, ``COPY`` on
    PostgreSQL), grouped by their keys. A group that leaves out a column with a Python-side default goes
    through a Core insert instead, which applies the default (the driver path does not know it). With
    ``writer`` the groups are queued to it; there every group must name every column with a default."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for cols, items in groups.items():
        if any(c.default is not None and c.name not in cols for c in table.c):
            if writer is not None and writer.threaded:
                raise ValueError(f"{table.name}: a queued insert must give every column with a default")
            for k in range(0, len(items), 5000):
                session.execute(insert(table), items[k:k + 5000])
        else:
            ordered = _table_order(table, cols)
            tuples = list(map(itemgetter(*ordered), items)) if len(ordered) > 1 else [(row[ordered[0]],)
                                                                                     for row in items]
            if writer is not None:
                writer.insert(table, ordered, tuples)
            else:
                insert_rows(session, table, ordered, tuples)


def _insert_children(session: Session, table, pairs: list[tuple[int, dict]], today: Any,
                     writer: pipeline.Writer | None = None) -> None:
    """Insert child rows planned as (vendor id, row) pairs (``_Writes.children``): ``_insert_child_columns``."""
    if pairs:
        vids, rows = zip(*pairs, strict=True)
        _insert_child_columns(session, table, vids, rows, today, writer)


def _insert_child_columns(session: Session, table, vids: Sequence[int], rows: Sequence[dict], today: Any,
                          writer: pipeline.Writer | None = None) -> None:
    """Insert child rows, row i (a dict without ``vendor_id``) for vendor ``vids[i]``: grouped by the rows' set of
    keys (the usual case, one group: in the order given), each group's values taken out column by column in the
    table's column order (``vendor_id`` first after ``id``; a tax ID's ``validated_on`` last, ``today`` for a
    scheme validated by checksum) and inserted column-wise (decision 0038). The values stored are
    ``_insert_dicts``' for the rows with those columns added (a group of another shape still goes through it);
    rows with the same keys in another order are one group here, in the order given, where ``_insert_dicts``
    would make a group of each key order."""
    if not rows:
        return
    tax = table.name == VendorTaxId.__tablename__
    first = rows[0].keys()
    if all(map(first.__eq__, map(dict.keys, rows))):  # one set of keys: one group
        groups = [(vids, rows)]
    else:
        by_keys: dict[frozenset, tuple[list, list]] = {}
        for vid, row in zip(vids, rows, strict=True):
            ids, items = by_keys.setdefault(frozenset(row), ([], []))
            ids.append(vid)
            items.append(row)
        groups = list(by_keys.values())
    for ids, items in groups:
        extra = ["validated_on"] if tax else []
        cols = _table_order(table, ["vendor_id", *items[0], *extra])
        rest = cols[1:len(cols) - len(extra)]
        if cols[0] != "vendor_id" or cols[len(cols) - len(extra):] != extra or not rest or \
                any(c.default is not None and c.name not in cols for c in table.c):
            _insert_dicts(session, table, [{**row, "vendor_id": vid, **(
                {"validated_on": today if row["scheme"] in validation.VALIDATED_SCHEMES else None} if tax else {})}
                for vid, row in zip(ids, items, strict=True)], writer)
            continue
        columns = [ids, *zip(*map(itemgetter(*rest), items), strict=True)] if len(rest) > 1 else [
            ids, list(map(itemgetter(rest[0]), items))]
        if tax:
            schemes = columns[1 + rest.index("scheme")]
            columns.append([today] * len(ids) if set(schemes).issubset(validation.VALIDATED_SCHEMES) else [
                today if scheme in validation.VALIDATED_SCHEMES else None for scheme in schemes])
        if writer is not None:
            writer.insert_columns(table, cols, columns)
        else:
            insert_rows(session, table, cols, list(zip(*columns, strict=True)))


def _table_order(table, cols) -> list[str]:
    """``cols`` in the table's column order: the order of the compiled INSERT, so the driver path takes the
    tuples as they are instead of reordering every row. A name that is not a column is an error (as in a Core
    insert), never silently dropped."""
    unknown = set(cols) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name}: no column(s) {', '.join(sorted(unknown))}")
    return [c.name for c in table.c if c.name in cols]


def _insert_vendors(session: Session, plan: list, source: str, actor: Actor, w: _Writes) -> list[int]:
    """The sequential path: the plan's new vendors created as drafts in one multi-row insert (ids in row order),
    then their child rows; their ids, in plan order."""
    fresh = [r for r, vid, _ in plan if vid is None]
    if not fresh:
        return []
    ids = _insert_ids(session, _vendor_values(fresh, source, actor))
    _insert_new_children(session, fresh, ids, w.today)
    return ids


def _vendor_rows(rows: list[_Row], ids: list[int], source: str, actor: Actor) -> tuple[list[str], list[tuple]]:
    """``_vendor_values`` with these ids, as (columns in the table's order, a tuple per row): made straight
    from the rows when the table's columns are in the order this function writes them (they are: the test
    suite holds the two equal), else from the dicts."""
    values = _vendor_values(rows[:1], source, actor)[0]
    cols = ["id", *_table_order(Vendor.__table__, values)]
    if cols != _VENDOR_ROW_ORDER:
        get = itemgetter(*cols[1:])
        return cols, [(i, *get(v)) for i, v in zip(ids, _vendor_values(rows, source, actor), strict=True)]
    draft, pathway, by, now = (values[k] for k in ("status", "onboarding_pathway", "requested_by_id", "created_at"))
    return cols, [(i, r.legal_name, tuple(r.other_names or ()), r.country, draft, "medium", "not_screened",
                   r.name_key, pathway, by, "none", now, now) for i, r in zip(ids, rows, strict=True)]


_VENDOR_ROW_ORDER = ["id", "legal_name", "other_names", "country", "status", "risk_tier", "screening_status",
                     "name_key", "onboarding_pathway", "requested_by_id", "legal_review", "created_at", "updated_at"]


def _vendor_values(rows: list[_Row], source: str, actor: Actor) -> list[dict]:
    """The new vendors' rows: drafts."""
    now = utcnow()
    pathway = "procurement" if source == "procurement" else "legal"
    # other_names as a tuple: the same JSON text as a list, and hashable, so the bulk insert serialises the
    # common empty value once rather than once per row
    return [{"legal_name": r.legal_name, "other_names": tuple(r.other_names or ()), "country": r.country,
             "status": VendorStatus.draft.value, "risk_tier": "medium", "screening_status": "not_screened",
             "name_key": r.name_key, "onboarding_pathway": pathway, "requested_by_id": actor.user_id,
             "legal_review": "none", "created_at": now, "updated_at": now} for r in rows]


def _insert_new_children(session: Session, fresh: list[_Row], ids: list[int], today: Any,
                         writer: pipeline.Writer | None = None) -> None:
    """The new vendors' child rows, table by table in ``_Writes.run``'s order, each vendor's in file order.
    Both paths insert them right after the new vendors, before any other write of the import (decision 0037),
    which decides the rows' ids. Taken out of the rows column-wise (decision 0038)."""
    for key, part in (("tax_ids", "tax"), ("bank_accounts", "bank"), ("addresses", "address"), ("contacts", "contact")):
        parts = list(map(attrgetter(part), fresh))
        _insert_child_columns(session, _CHILD_TABLES[key], list(compress(ids, parts)), list(filter(None, parts)),
                              today, writer)
    units = [(vid, {"business_unit_id": bu}) for r, vid in zip(fresh, ids, strict=True) if r.business_units
             for bu in r.business_units]
    _insert_children(session, VendorBusinessUnit.__table__, units, today, writer)


def _insert_ids(session: Session, values: list[dict]) -> list[int]:
    """Insert vendor rows; their ids in row order.

    PostgreSQL: the ids are taken from the table's sequence first (``nextval`` once per row, in one query), then
    the rows go in with ``COPY`` carrying those ids. SQLite: the rows go in with one driver ``executemany`` and
    the ids are read back: SQLite has one writer, and from the first inserted row this transaction holds the
    write lock until it ends, so the new rows are the highest ids, in insertion order. Their names are checked
    against the values, so a surprise (another writer, a reused id) is an error, never a wrong id."""
    vt = Vendor.__table__
    cols = _table_order(vt, values[0])
    get = itemgetter(*cols)
    if session.get_bind().dialect.name != "sqlite":
        ids = _take_ids(session, len(values))
        insert_rows(session, vt, ["id", *cols], [(i, *get(v)) for i, v in zip(ids, values, strict=True)])
        return ids
    insert_rows(session, vt, cols, list(map(get, values)))
    got = session.execute(select(vt.c.id, vt.c.legal_name, vt.c.name_key).order_by(vt.c.id.desc())
                          .limit(len(values))).all()
    got.reverse()
    if len(got) != len(values) or any((n, k) != (v["legal_name"], v["name_key"])
                                      for (_, n, k), v in zip(got, values, strict=False)):
        raise RuntimeError("vendor import: the inserted vendors are not the newest rows; nothing was applied")
    return [i for i, _, _ in got]


def _take_ids(session: Session, n: int) -> list[int]:
    """Ids for ``n`` new vendors, taken before they are inserted (the writer inserts them with these ids).

    PostgreSQL: from the table's sequence. SQLite: the next ``n`` after the highest id,
    which are the ids SQLite itself would give (the id is the rowid, no AUTOINCREMENT): the transaction holds
    the write lock from its start (``BEGIN IMMEDIATE``), so no other writer can take them meanwhile; were one
    to, the insert fails on the primary key and nothing is applied, never a wrong id."""
    if session.get_bind().dialect.name != "sqlite":
        return list(session.execute(sql_text(
            "SELECT nextval(pg_get_serial_sequence('vendor', 'id')) FROM generate_series(1, :n)"), {"n": n}).scalars())
    top = session.execute(select(func.max(Vendor.__table__.c.id))).scalar() or 0
    return list(range(top + 1, top + 1 + n))


def _bank_in(bank: dict) -> dict:
    return {k: v for k, v in bank.items() if k != "account_key"}  # computed again by the schema


# A row matched by its tax ID that can change nothing but its address is compared in ``_apply``'s loop itself
# (decision 0038); off, every row goes through ``_diff_and_plan`` (the tests compare both ways).
FAST_ADDRESS_ROWS = True
_HELD_KINDS = frozenset({"tax_ids", "bank_accounts"})  # held for four eyes on an active or suspended vendor
_VENDOR_FIELDS = ("legal_name", "country", "other_names")  # the vendor row's own columns a file sets
_NAME_FIELDS = frozenset({"legal_name", "other_names"})
_REVIEWED_FIELDS = frozenset({"legal_name", "other_names", "tax_ids", "bank_accounts"})  # a change voids the review


def _same_address(held: dict, given: dict) -> bool:
    """Whether a vendor's first address (a row read) is the row's: the fields a file sets compared."""
    return (held["line1"], held["city"], held["postal_code"], held["country"]) == (
        given["line1"], given["city"], given["postal_code"], given["country"])


def _diff_and_plan(session: Session, v: dict, r: _Row, source: str, actor: Actor, events: list, state: _State,
                   w: _Writes, how: str | None = None, barrier: Any = None) -> RowOutcome:
    """Compare a row with its vendor; plan the writes (``w``) and the audit event (``events``). The rules are
    ``service.update_vendor``'s: child lists are replaced whole; names, tax IDs or bank details changed before
    activation void a completed legal review; changed names void the screening result."""
    vid = v["id"]
    out = RowOutcome(r.line, "unchanged", vid, v["legal_name"])
    if source != "procurement":
        return out  # a legal file's procurement fields are compared in _legal_diffs' mirror (conflicts)
    children = state.children
    changes: dict[str, Any] = {}
    before: dict[str, Any] = {}
    if r.legal_name != v["legal_name"]:
        changes["legal_name"], before["legal_name"] = r.legal_name, v["legal_name"]
    if r.country != v["country"]:
        changes["country"], before["country"] = r.country, v["country"]
    if r.other_names is not None:
        if isinstance(v["other_names"], str):
            v["other_names"] = json.loads(v["other_names"])
        if r.other_names != list(v["other_names"] or []):
            changes["other_names"], before["other_names"] = r.other_names, list(v["other_names"] or [])
    # matched by tax ID: the vendor holds this tax ID, so it is no change (and its tax IDs were not read)
    if r.tax and how != "tax_id":
        taxes = children["tax_ids"].get(vid, [])
        if not any(t["value"] == r.tax["value"] for t in taxes) and \
                r.tax_key not in {validation.tax_key(t["value"]) for t in taxes}:
            changes["tax_ids"], before["tax_ids"] = [r.tax], taxes
    if _new_bank(r, state.bank_keys.get(vid, ())):
        changes["bank_accounts"], before["bank_accounts"] = [_bank_in(r.bank)], state.bank_rows(vid)
    if r.address:
        addresses = children["addresses"].get(vid, [])
        if not addresses or not _same_address(addresses[0], r.address):
            changes["addresses"], before["addresses"] = [r.address], addresses
    if r.contact:
        contacts = children["contacts"].get(vid, [])
        first = contacts[0] if contacts else None
        if first is None or (first["name"], first["email"]) != (r.contact["name"], r.contact["email"]):
            changes["contacts"], before["contacts"] = [r.contact], contacts
    if r.business_units is not None:
        current_bus = sorted(state.business_units.get(vid, []))
        if sorted(r.business_units) != current_bus:
            changes["business_unit_ids"], before["business_unit_ids"] = r.business_units, current_bus
    if not changes:
        return out
    changed = changes.keys()
    four_eyes = v["status"] in (VendorStatus.active, VendorStatus.suspended)
    if four_eyes and not changed.isdisjoint(_HELD_KINDS):
        if barrier is not None:
            barrier()  # the writer idle first: this row goes through the ORM, on the same connection
        w.orm_ids.add(vid)
        vendor = session.get(Vendor, vid)
        out = _update(session, vendor, r, source, actor, events, [])
        v["legal_review"] = vendor.legal_review
        if "bank_accounts" in out.changed or {"legal_name", "other_names"} & set(out.changed):
            w.dedupe_ids.add(vid)
        return out
    upd: dict[str, Any] = {}
    if not changed.isdisjoint(_VENDOR_FIELDS):
        for key in _VENDOR_FIELDS:
            if key in changes:
                upd[key] = changes[key]
        if "legal_name" in changes:
            upd["name_key"] = r.name_key
    notes = []
    names_changed = not changed.isdisjoint(_NAME_FIELDS)
    if not four_eyes and v["status"] != VendorStatus.deactivated:
        if not changed.isdisjoint(_REVIEWED_FIELDS) and v["legal_review"] == "completed":
            upd.update(legal_review="none", legal_reviewed_by_id=None, legal_reviewed_at=None)
            v["legal_review"] = "none"
            notes.append("legal review voided: reviewed data changed")
        if names_changed and v["screening_status"] != ScreeningStatus.not_screened:
            upd["screening_status"] = ScreeningStatus.not_screened.value
            notes.append("screening voided: names changed")
    elif names_changed:
        upd["screening_status"] = ScreeningStatus.not_screened.value
        notes.append("names changed: screen again")
    if upd:
        w.vendor_updates.append({"_id": vid, **upd})
    # child lists are replaced whole: the vendor's rows (read in ``state``; ``before`` holds them) are deleted,
    # the new ones inserted. A vendor with none of those rows has nothing to delete: no statement for it.
    for key in _CHILD_TABLES.keys() & changed:
        if before[key]:
            w.replace[key].append(vid)
        w.children(vid, key, [r.bank] if key == "bank_accounts" else changes[key])
    if "business_unit_ids" in changes:
        if current_bus:
            w.replace["business_units"].append(vid)
        w.inserts["business_units"] += [(vid, {"business_unit_id": b}) for b in r.business_units]
    if names_changed or "bank_accounts" in changes:
        w.dedupe_ids.add(vid)
    out.action = "updated"
    out._changed = shared_fields(tuple(sorted(changes)))  # one tuple for every row with these fields
    after: dict[str, Any] = {"source": source, "line": r.line, "changed": changes, "held_for_approval": []}
    if notes:
        after["notes"] = notes
    events.append({"vendor_id": vid, "action": "vendor.updated", "before": before, "after": after})
    return out


def _update(session: Session, v: Vendor, r: _Row, source: str, actor: Actor, events: list,
            firms: list[LawFirm]) -> RowOutcome:
    """One row through ``service.update_vendor`` (the ORM path): used for bank and tax changes to an active or
    suspended vendor, which are held for a second approval."""
    out = RowOutcome(r.line, "unchanged", v.id, v.legal_name)
    if source != "procurement":
        return out
    changes: dict[str, Any] = {}
    before: dict[str, Any] = {}
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

    snap = service._full_snapshot(v)
    before = {k: snap.get(k) for k in changes}
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
        events.append({"vendor_id": v.id, "action": "vendor.updated", "before": {k: before[k] for k in out.changed},
                       "after": {"source": source, "line": r.line, "changed": {k: changes[k] for k in out.changed},
                                 "held_for_approval": [{"change_id": c.id, "kind": c.kind} for c in held]}})
    return out


def _legal_diffs(current: Any, r: _Row, source: str, firms: list) -> list[tuple[str, str | None, str]]:
    """Fields the source does not own that the row sets to something other than Triad's value.

    ``current``: the vendor's status, legal_review and risk_tier (a Vendor or a dict); ``firms``: its law
    firms' panel flags (bools or LawFirm rows)."""
    if source != "procurement" or not r.legal:  # most rows carry no legal field at all
        return []
    get = current.get if isinstance(current, dict) else lambda k: getattr(current, k)
    panel = [f if isinstance(f, bool) else f.panel_member for f in firms]
    values = {"status": get("status"), "legal_review": get("legal_review"), "risk_tier": get("risk_tier"),
              "panel_member": ("yes" if any(panel) else "no") if firms else None}
    out = []
    for fld, incoming in r.legal.items():
        if fld == "panel_member" and values[fld] is None:
            continue  # not a law firm: panel membership does not apply
        if incoming != values[fld]:
            out.append((fld, values[fld], incoming))
    return out


def flag_duplicates(session: Session, vendor_ids: list[int], new_ids: set[int]) -> list[dict]:
    """Flag likely duplicates of the given vendors against the whole master: the same bank account, or a
    similar normalised name (sorted neighbourhood, dedupe.similar_names). Flags are rows to review; nothing
    is merged. An import passes the vendors it created or whose names or bank accounts it changed."""
    if not vendor_ids:
        return []
    ids_wanted = set(vendor_ids)
    names = _read(session, select(Vendor.id, Vendor.name_key).where(Vendor.status != VendorStatus.deactivated))
    index = [vid for vid, _ in names]
    keys = [k or "" for _, k in names]
    pos = {vid: i for i, vid in enumerate(index)}
    focus = {pos[v] for v in ids_wanted if v in pos}
    similar = dedupe.similar_names(keys, new=focus)
    ba = VendorBankAccount.__table__
    # (account key, vendor id) pairs of the given vendors, then every vendor paid into one of those accounts
    accounts: dict[str, set[int]] = {}
    if len(ids_wanted) > _SCAN_ABOVE:  # many vendors: one read of the whole (vendor, account) column pair
        every = _read(session, select(ba.c.vendor_id, ba.c.account_key))
        wanted_keys = {key for vid, key in every if key and vid in ids_wanted}
        for vid, key in every:
            if key in wanted_keys:
                accounts.setdefault(key, set()).add(vid)
    else:
        wanted_keys = {key for key, _ in _lookup(session, ba.c.vendor_id, ba.c.account_key, ids_wanted) if key}
        for vid, key in _lookup(session, ba.c.account_key, ba.c.vendor_id, wanted_keys):
            accounts.setdefault(key, set()).add(vid)
    return _write_flags(session, index, similar, accounts, ids_wanted)


def _write_flags(session: Session, index: list[int], similar: dict[tuple[int, int], float],
                 accounts: dict[str, set[int]], ids_wanted: set[int]) -> list[dict]:
    """The flags of ``flag_duplicates`` from what it compared: ``similar`` (``dedupe.similar_names`` over the
    name keys of the vendors ``index`` lists, in that order) and ``accounts`` (every vendor paid into an
    account of a wanted vendor). Pairs already flagged (either way round) are left alone; the rest are
    written and returned, in vendor-id order."""
    pairs: dict[tuple[int, int], tuple[str, float | None]] = {}
    for (i, j), score in similar.items():
        a, b = sorted((index[i], index[j]))
        pairs[(a, b)] = ("similar_name", score)
    for members in accounts.values():
        ms = sorted(members)
        for x in range(len(ms)):
            for y in range(x + 1, len(ms)):
                if ms[x] in ids_wanted or ms[y] in ids_wanted:
                    pairs[(ms[x], ms[y])] = ("same_bank_account", None)
    if not pairs:
        return []
    dt_ = VendorDuplicate.__table__
    existing = set()
    flat = sorted({v for p in pairs for v in p})
    for k in range(0, len(flat), _CHUNK):
        chunk = flat[k:k + _CHUNK]
        existing |= set(session.execute(select(dt_.c.vendor_id, dt_.c.other_vendor_id).where(
            or_(dt_.c.vendor_id.in_(chunk), dt_.c.other_vendor_id.in_(chunk)))).all())
    out = []
    rows = []
    now = utcnow()
    for (a, b), (reason, score) in sorted(pairs.items()):
        if (a, b) in existing or (b, a) in existing:
            continue
        rows.append({"vendor_id": b, "other_vendor_id": a, "reason": reason, "created_at": now, "status": "open",
                     "score": Decimal(str(round(score, 1))) if score is not None else None})
        out.append({"vendor_id": b, "other_vendor_id": a, "reason": reason,
                    "score": round(score, 1) if score is not None else None})
    _insert_dicts(session, dt_, rows)
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
