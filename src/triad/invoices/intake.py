"""Invoice intake: a LEDES file in, invoices stored (or a clear refusal), nothing half-done.

Rules:
- The file is validated first; if it has any error, nothing at all is stored.
- The same bytes again (same SHA-256) change nothing and say so.
- Each invoice is resolved on its own: law firm by LAW_FIRM_ID (its tax ID) or the uploading
  user's firm; matter by CLIENT_MATTER_ID or the firm's own matter ID on the engagement;
  timekeepers by ID. An invoice with an unknown firm, matter or timekeeper, a firm not engaged
  on the matter, or a number the firm already used, is refused with a clear error and nothing
  of it is stored; the file's other invoices are stored.
- The original file is kept, content-hashed; every stored invoice and line records where it
  came from (file and line).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triad import ledes
from triad.audit.service import Actor, record_many
from triad.auth.models import User
from triad.core.db import utcnow
from triad.core.errors import Conflict
from triad.core.money import Money, allocate, minor_units, quantize
from triad.core.permissions import Role
from triad.files.models import StoredFile
from triad.firms.models import LawFirm, Timekeeper
from triad.guidelines.model import InvoiceView, LineView
from triad.guidelines.service import ScreenItem, screen
from triad.invoices.models import Invoice, InvoiceAllocation, InvoiceLine
from triad.invoices.service import apply_auto_actions
from triad.matters.models import Engagement, Matter
from triad.vendors.models import VendorStatus

BLOCKED_VENDOR = {VendorStatus.suspended, VendorStatus.deactivated}
_MEDIA = {ledes.FORMAT_XML: "application/xml"}


@dataclass
class Outcome:
    invoice_number: str
    status: str  # stored, rejected, already_imported
    invoice_id: int | None = None
    state: str | None = None
    firm_id: int | None = None
    total: str | None = None
    currency: str | None = None
    lines: int = 0
    errors: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    auto_actions: list[dict] = field(default_factory=list)


@dataclass
class ImportResult:
    filename: str
    sha256: str
    format: str | None
    already_imported: bool = False
    problems: list[dict] = field(default_factory=list)
    invoices: list[Outcome] = field(default_factory=list)

    @property
    def file_valid(self) -> bool:
        return not any(p["severity"] == "error" for p in self.problems)

    @property
    def ok(self) -> bool:
        return self.file_valid and all(o.status != "rejected" for o in self.invoices)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def _norm(tax_id: str | None) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", tax_id or "").upper()


def import_file(
    *, session: Session, data: bytes, filename: str, actor: Actor, user: User | None = None
) -> ImportResult:
    """Validate and store the invoices of one LEDES file. The caller commits.

    Args: data (the bytes as received), filename, actor (who, for the audit trail), user (the
    uploading user; outside counsel may submit only for their own firm).
    Returns: an ImportResult with the file's problems and, per invoice, what happened.
    """
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(select(StoredFile).where(StoredFile.sha256 == digest))
    report = ledes.validate(data, keep_frame=True)
    result = ImportResult(filename, digest, report.format, problems=[p.as_dict() for p in report.problems])
    if not report.valid:
        return result
    from triad.ledes import build

    parsed = build.invoices(report.frame)
    ctx = _Context(session, parsed)
    done: dict[tuple[int, str], Invoice] = {}
    if existing is not None:
        # The same bytes again: invoices stored from them are not touched; any that were refused the
        # first time are tried again (their firm, matter or timekeeper may exist now).
        result.already_imported = True
        done = {(i.firm_id, i.invoice_number): i
                for i in session.scalars(select(Invoice).where(Invoice.source_file_id == existing.id))}
    accepted: list[tuple[ledes.Invoice, _Plan, Outcome]] = []
    for inv in parsed:
        firm = ctx.firm_for(inv, user)
        prior = done.get((firm.id, inv.invoice_number)) if firm else None
        if prior is not None:
            if user is None or user.role != Role.outside_counsel or prior.firm_id == user.firm_id:
                result.invoices.append(Outcome(prior.invoice_number, "already_imported", prior.id, prior.state,
                                               prior.firm_id, format(prior.total_amount, "f"), prior.currency,
                                               len(inv.lines)))
            continue
        outcome, plan = _resolve(ctx, inv, user)
        result.invoices.append(outcome)
        if plan is not None:
            accepted.append((inv, plan, outcome))
    columns = _file_columns(report.frame, parsed, accepted)
    if accepted and existing is not None:
        result.already_imported = False
        _store(session, accepted, existing, report.format, actor, user, columns)
    elif accepted:
        stored_file = StoredFile(sha256=digest, kind="ledes", filename=filename[:255], size=len(data), content=data,
                                 detected_format=report.format, uploaded_by_id=user.id if user else None,
                                 media_type=_MEDIA.get(report.format or "", "text/plain"))
        try:
            with session.begin_nested():
                session.add(stored_file)
                session.flush()
        except IntegrityError:
            # the same bytes were stored by a request running at the same time
            raise Conflict(f"{filename}: the same file is being imported right now; try again to see its outcome"
                           ) from None
        _store(session, accepted, stored_file, report.format, actor, user, columns)
    return result


# Python's ``str.isspace`` characters (what ``str.strip()`` removes); polars' default strip differs
# (e.g. it keeps \x1c-\x1f). tests/integration/test_intake_screen_columns.py checks the list.
PY_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                 "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _file_columns(frame, parsed: list[ledes.Invoice], accepted: list) -> tuple | None:
    """``file_columns`` when the accepted invoices are enough lines for the batch runner, else None."""
    from triad.guidelines import service as guidelines

    if (not guidelines.USE_LEDES_COLUMNS or frame is None
            or sum(len(inv.lines) for inv, _, _ in accepted) < guidelines.BATCH_MIN_LINES):
        return None
    return file_columns(frame, parsed)


def file_columns(frame, parsed: list[ledes.Invoice]) -> tuple | None:
    """The rules' raw columns of the whole file (``frame.ledes_columns``) as intake's views hold
    them (no timekeeper for an empty ID, a missing line date is the invoice's date, descriptions
    stripped as ``str.strip`` does; ``cls`` is replaced per firm by ``screen``), and each parsed
    invoice's position in them (by ``id``); None when the file's invoices do not line up with
    ``parsed`` (then the rules read the views)."""
    import numpy as np
    import polars as pl

    from triad.guidelines.frame import ledes_columns

    cols = ledes_columns(frame)
    if cols is None:
        return None
    # (``inv`` ascends from 0: each invoice's rows are one run) the same invoices, line counts and first lines
    counts = np.bincount(cols["inv"].to_numpy())
    if (len(counts) != len(parsed) or counts.tolist() != [len(inv.lines) for inv in parsed]
            or cols["source_line"].gather(np.cumsum(counts) - counts).to_list()
            != [inv.lines[0].source_line for inv in parsed]):
        return None
    tk = pl.col("tk")
    cols = cols.with_columns(pl.when(tk == "").then(None).otherwise(tk).alias("tk"),
                             pl.col("date").fill_null(pl.col("inv_date")),
                             pl.col("desc").str.strip_chars(PY_WHITESPACE))
    return cols, {id(inv): i for i, inv in enumerate(parsed)}


class _Context:
    """Everything the file's invoices refer to, loaded once (not one query per invoice)."""

    def __init__(self, session: Session, parsed: list[ledes.Invoice]):
        self.session = session
        self.firms = list(session.scalars(select(LawFirm)))
        self.by_tax: dict[str, LawFirm | None] = {}
        for f in self.firms:  # None marks an ID two firms share once punctuation is ignored
            key = _norm(f.ledes_firm_id)
            self.by_tax[key] = None if key in self.by_tax else f
        numbers = {ln.client_matter_id for inv in parsed for ln in inv.lines if ln.client_matter_id}
        self.matters: dict[str, Matter] = {}
        for chunk in _chunks(sorted(numbers), 500):
            self.matters |= {m.number: m for m in session.scalars(select(Matter).where(Matter.number.in_(chunk)))}
        self.numbers = sorted({inv.invoice_number for inv in parsed})
        self._firm: dict[int, _FirmData] = {}
        self.seen_numbers: dict[int, set[str]] = {}

    def firm_for(self, inv: ledes.Invoice, user: User | None) -> LawFirm | None:
        firm = self.by_tax.get(_norm(inv.law_firm.id))
        if firm is None and user is not None and user.role == Role.outside_counsel:
            return user.firm
        return firm

    def firm_data(self, firm: LawFirm) -> _FirmData:
        if firm.id not in self._firm:
            s = self.session
            engagements = {e.matter_id: e for e in s.scalars(select(Engagement).where(Engagement.firm_id == firm.id))}
            by_firm_matter: dict[str, Engagement | None] = {}
            for e in engagements.values():  # None marks a firm matter ID used on two engagements
                if e.firm_matter_id:
                    by_firm_matter[e.firm_matter_id] = None if e.firm_matter_id in by_firm_matter else e
            self._firm[firm.id] = _FirmData(
                engagements=engagements,
                by_firm_matter=by_firm_matter,
                timekeepers={t.tk_id: (t.id, t.classification)
                             for t in s.scalars(select(Timekeeper).where(Timekeeper.firm_id == firm.id))},
                # only the file's own numbers can clash: look those up (indexed), not the firm's every number
                used_numbers={n for chunk in _chunks(self.numbers, 500) for n in s.scalars(
                    select(Invoice.invoice_number).where(Invoice.firm_id == firm.id,
                                                         Invoice.invoice_number.in_(chunk)))},
            )
        return self._firm[firm.id]


@dataclass
class _FirmData:
    engagements: dict[int, Engagement]
    by_firm_matter: dict[str, Engagement | None]
    timekeepers: dict[str, tuple[int, str]]  # tk_id -> (id, classification)
    used_numbers: set[str]


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i:i + n]


@dataclass
class _Plan:
    firm: LawFirm
    currency: str
    matters: dict[int, Matter]  # line index -> matter
    timekeepers: dict[int, int]  # line index -> timekeeper id
    firm_timekeepers: dict[str, tuple[int, str]]  # tk_id -> (id, classification)
    engagements: dict[int, Engagement]  # matter id -> the firm's engagement


def _resolve(ctx: _Context, inv: ledes.Invoice, user: User | None):
    out = Outcome(inv.invoice_number, "rejected", total=format(inv.total, "f"), currency=inv.currency,
                  lines=len(inv.lines))
    first_line = inv.lines[0].source_line if inv.lines else None

    def fail(field_name: str, message: str, line: int | None = first_line):
        out.errors.append({"field": field_name, "line": line, "message": message})

    key = _norm(inv.law_firm.id)
    if key in ctx.by_tax and ctx.by_tax[key] is None:
        fail("LAW_FIRM_ID", f"LAW_FIRM_ID {inv.law_firm.id!r} matches more than one law firm in Triad; ask legal ops "
                            "to correct the firms' IDs")
        return out, None
    firm = ctx.by_tax.get(key)
    if user is not None and user.role == Role.outside_counsel:
        # Outside counsel submit for their own firm: an ID Triad does not know means the uploader's
        # firm; an ID that belongs to another firm is refused.
        if firm is None:
            firm = user.firm
        elif firm.id != user.firm_id:
            fail("LAW_FIRM_ID", f"LAW_FIRM_ID {inv.law_firm.id!r} is not your firm's ID; you can submit invoices "
                                "only for your own firm")
            return out, None
    if firm is None:
        fail("LAW_FIRM_ID", f"no law firm has the ID {inv.law_firm.id!r} (the firm's tax ID on its Triad record)")
        return out, None
    out.firm_id = firm.id
    if firm.vendor.status in BLOCKED_VENDOR:
        fail("LAW_FIRM_ID", f"{firm.name} is {firm.vendor.status}; it cannot submit invoices")
        return out, None
    fd = ctx.firm_data(firm)
    if inv.invoice_number in fd.used_numbers:
        fail("INVOICE_NUMBER", f"{firm.name} already submitted an invoice numbered {inv.invoice_number!r}")
        return out, None
    engagements, by_firm_matter, tks = fd.engagements, fd.by_firm_matter, fd.timekeepers
    matters: dict[int, Matter] = {}
    tk_ids: dict[int, int] = {}
    for i, ln in enumerate(inv.lines):
        matter = None
        if ln.client_matter_id:
            matter = ctx.matters.get(ln.client_matter_id)
            if matter is None:
                fail("CLIENT_MATTER_ID", f"no matter numbered {ln.client_matter_id!r}", ln.source_line)
                continue
        elif ln.law_firm_matter_id in by_firm_matter:
            eng = by_firm_matter[ln.law_firm_matter_id]
            if eng is None:
                fail("LAW_FIRM_MATTER_ID", f"the firm matter ID {ln.law_firm_matter_id!r} is on more than one "
                                           f"engagement of {firm.name}; give CLIENT_MATTER_ID", ln.source_line)
                continue
            matter = eng.matter
        else:
            fail("LAW_FIRM_MATTER_ID", f"no engagement of {firm.name} has the firm matter ID "
                                       f"{ln.law_firm_matter_id!r}, and CLIENT_MATTER_ID is empty", ln.source_line)
            continue
        eng = engagements.get(matter.id)
        if eng is None or eng.status != "active":
            fail("CLIENT_MATTER_ID", f"{firm.name} is not engaged on matter {matter.number}", ln.source_line)
            continue
        matters[i] = matter
        if ln.timekeeper_id:
            tk = tks.get(ln.timekeeper_id)
            if tk is None:
                fail("TIMEKEEPER_ID", f"{firm.name} has no timekeeper {ln.timekeeper_id!r} in Triad", ln.source_line)
                continue
            tk_ids[i] = tk[0]
    if out.errors:
        return out, None
    currencies = {engagements[m.id].currency for m in matters.values()}
    if inv.currency is None and len(currencies) > 1:
        shown = ", ".join(sorted(currencies))
        fail("CLIENT_MATTER_ID", f"the invoice's matters are engaged in different currencies ({shown}); "
                                 "submit one invoice per currency")
        return out, None
    currency = inv.currency or currencies.pop()
    amounts = [("INVOICE_TOTAL", inv.total, first_line)] + [("LINE_ITEM_TOTAL", ln.total, ln.source_line)
                                                            for ln in inv.lines]
    for name, amount, line in amounts:
        if quantize(amount, currency) != amount:
            fail(name, f"{amount} has more decimals than {currency} allows ({minor_units(currency)})", line)
            return out, None
    fd.used_numbers.add(inv.invoice_number)  # a second invoice with this number in the same file is refused too
    out.currency = currency
    return out, _Plan(firm, currency, matters, tk_ids, tks, engagements)


def _store(session: Session, accepted: list[tuple[ledes.Invoice, _Plan, Outcome]], stored_file: StoredFile,
           fmt: str | None, actor: Actor, user: User | None, columns: tuple | None = None) -> None:
    """Insert the accepted invoices in bulk: invoices, then every line in one multi-row insert,
    then allocations, then one audit event per invoice (appended to the chain together)."""
    now = utcnow()
    rows = [Invoice(firm_id=plan.firm.id, vendor_id=plan.firm.vendor_id, invoice_number=inv.invoice_number,
                    invoice_date=inv.invoice_date, billing_start=inv.billing_start, billing_end=inv.billing_end,
                    currency=plan.currency, total_amount=quantize(inv.total, plan.currency), state="submitted",
                    description=(inv.description or "").strip() or None, submitted_at=now,
                    source_file_id=stored_file.id, source_format=fmt, submitted_by_id=user.id if user else None)
            for inv, plan, _ in accepted]
    session.add_all(rows)
    session.flush()
    zero = Decimal(0)
    lines: list[dict] = []
    lines_by_invoice: dict[int, list[dict]] = {}
    events: list[dict] = []
    for row, (inv, plan, out) in zip(rows, accepted, strict=True):
        per_matter: dict[int, Decimal] = {}
        start = len(lines)
        for i, ln in enumerate(inv.lines):
            matter = plan.matters[i]
            per_matter[matter.id] = per_matter.get(matter.id, zero) + ln.total
            lines.append({
                # pipe formats number lines 1, 2, 3 … (checked unique); XML ids are free text, so keep the order
                "invoice_id": row.id, "matter_id": matter.id, "line_type": ln.line_type,
                "line_no": int(ln.line_no) if fmt != ledes.FORMAT_XML else i + 1,
                "work_date": ln.date or inv.invoice_date, "timekeeper_id": plan.timekeepers.get(i),
                "task_code": ln.task_code, "activity_code": ln.activity_code, "expense_code": ln.expense_code,
                "units": ln.units if ln.units is not None else zero,
                "unit_cost": ln.unit_cost if ln.unit_cost is not None else zero,
                "adjustment": ln.adjustment if ln.adjustment is not None else zero, "total": ln.total,
                "description": (ln.description or "").strip() or None, "source_line": ln.source_line,
            })
        lines_by_invoice[row.id] = lines[start:]
        _allocate(session, row, plan, per_matter)
        events.append({"action": "invoice.submitted", "entity_type": "invoice", "entity_id": row.id,
                       "after": {"invoice_number": row.invoice_number, "firm_id": row.firm_id,
                                 "total_amount": row.total_amount, "currency": row.currency,
                                 "lines": len(inv.lines), "source_file_id": stored_file.id,
                                 "source_sha256": stored_file.sha256}})
        out.status, out.invoice_id, out.state = "stored", row.id, row.state
    for chunk in _chunks(lines, 5000):
        session.execute(insert(InvoiceLine.__table__), chunk)  # Core executemany: one statement per chunk
    # the classification each firm's views give a timekeeper ID (one dict per firm: screen's batch
    # puts it in the file's columns)
    classes: dict[int, dict[str, str | None]] = {}
    for _, plan, _ in accepted:
        if plan.firm.id not in classes:
            classes[plan.firm.id] = {k: v[1] for k, v in plan.firm_timekeepers.items()}
    frame, positions = columns if columns is not None else (None, {})
    items = [_screen_item(row, inv, plan, lines_by_invoice[row.id], positions.get(id(inv)), classes[plan.firm.id])
             for row, (inv, plan, _) in zip(rows, accepted, strict=True)]
    findings = screen(session=session, items=items, columns=frame)
    for row, event, (_, _, out) in zip(rows, events, accepted, strict=True):
        found = findings.get(row.id, [])
        totals = {d["line_no"]: d["total"] for d in lines_by_invoice[row.id]}
        out.auto_actions = apply_auto_actions(session=session, invoice=row, line_totals=totals, findings=found)
        out.state = row.state
        if out.auto_actions:
            event["after"]["auto_actions"] = out.auto_actions
            event["after"]["state"] = row.state
        out.findings = [{"rule": f.rule, "severity": f.severity, "line": f.line_no, "source_line": f.source_line,
                         "message": f.message, "adjustment": format(f.adjustment, "f"), "action": f.action,
                         "guideline_version": f.guideline_version, "clause": f.clause} for f in found]
        event["after"]["findings"] = len(found)
    record_many(session, actor=actor, events=events)


def _screen_item(row: Invoice, inv: ledes.Invoice, plan: _Plan, lines: list[dict], columns_inv: int | None = None,
                 classification: dict[str, str | None] | None = None) -> ScreenItem:
    tk_names = {v[0]: (k, v[1]) for k, v in plan.firm_timekeepers.items()}
    views = tuple(
        LineView(line_no=d["line_no"], line_type=d["line_type"], date=d["work_date"], units=d["units"],
                 unit_cost=d["unit_cost"], total=d["total"], adjustment=d["adjustment"],
                 timekeeper_id=tk_names[d["timekeeper_id"]][0] if d["timekeeper_id"] else None,
                 classification=tk_names[d["timekeeper_id"]][1] if d["timekeeper_id"] else None,
                 task_code=d["task_code"], activity_code=d["activity_code"], expense_code=d["expense_code"],
                 description=d["description"] or "", source_line=d["source_line"])
        for d in lines)
    first_matter = plan.matters[0] if 0 in plan.matters else next(iter(plan.matters.values()))
    eng = plan.engagements[first_matter.id]
    view = InvoiceView(row.invoice_number, row.invoice_date, row.billing_start, row.billing_end, row.currency,
                       row.total_amount, views)
    return ScreenItem(row.id, view, plan.firm.id, eng.id, eng.currency, sorted({m.id for m in plan.matters.values()}),
                      columns_inv, classification)


def _allocate(session: Session, row: Invoice, plan: _Plan, per_matter: dict[int, Decimal]) -> None:
    """Each matter's share takes the matter's default allocation (percentages); without one it
    goes to the matter's own cost center once a GL account is agreed (AP issue), so it is left open."""
    matters = {m.id: m for m in plan.matters.values()}
    for matter_id, amount in per_matter.items():
        matter = matters[matter_id]
        shares = [a for a in matter.allocations if a.percent is not None]
        if not shares:
            continue
        parts = allocate(Money.of(amount, plan.currency), [a.percent for a in shares])
        for a, part in zip(shares, parts, strict=True):
            session.add(InvoiceAllocation(invoice_id=row.id, matter_id=matter_id, cost_center_id=a.cost_center_id,
                                          gl_account_id=a.gl_account_id, amount=part.amount, currency=plan.currency))
