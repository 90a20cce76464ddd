"""Invoice to payment: route approved invoices to an AP system, export them in batches exactly once,
apply payment confirmations exactly once, and re-open an invoice when a person decides to.

Callers commit. Every export and import is a ``SyncRun``; refused ones are recorded by the edges in
a transaction of their own (the refused work itself changes nothing).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from json.encoder import encode_basestring_ascii as _ascii
from typing import Any

from sqlalchemy import bindparam, cast, func, insert, literal, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from triad.ap import bulk, formats
from triad.ap.models import ApBatch, ApBatchItem, ApRoute, ImportedPaymentFile, InvoiceCredit, Payment, SyncRun
from triad.audit.service import Actor, record, record_json
from triad.core.db import json_dumps, utcnow
from triad.core.errors import Conflict, NotFound, ValidationFailed
from triad.core.gcpause import cyclic_gc_paused
from triad.core.money import Money, allocate, minor_units, quantize
from triad.files.models import StoredFile
from triad.invoices.approvals import approved_amount
from triad.invoices.models import Invoice, InvoiceAllocation, InvoiceLine, InvoiceStateChange
from triad.invoices.states import State
from triad.matters.models import Matter

FORMATS = ("csv", "json", "pain001")
_CHUNK = 5000  # ids per IN (...) list: well under SQLite's and PostgreSQL's bound-parameter limits


def _chunks(values: Any, size: int = _CHUNK) -> Any:
    seq = list(values)
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def credits_total(invoice: Invoice, session: Session) -> Decimal:
    # summed in Python: SQLite's SUM over exact decimal text would be a float
    return sum(session.scalars(select(InvoiceCredit.amount).where(InvoiceCredit.invoice_id == invoice.id)),
               Decimal(0))


def amount_due(session: Session, invoice: Invoice) -> Decimal:
    """What the company owes: the approved amount less credit notes and write-downs."""
    return approved_amount(invoice) - Decimal(credits_total(invoice, session))


def business_unit_of(invoice: Invoice) -> Any:
    """The invoice's business unit for routing: that of its first line's matter (decision 0009)."""
    return invoice.lines[0].matter.business_unit if invoice.lines else None


def route_for(invoice: Invoice, routes: list[ApRoute]) -> ApRoute | None:
    return _first_route(business_unit_of(invoice), invoice.currency, routes)


def _first_route(bu: Any, currency: str, routes: list[ApRoute]) -> ApRoute | None:
    for r in routes:
        if r.business_unit_id is not None and (bu is None or bu.id != r.business_unit_id):
            continue
        if r.legal_entity is not None and (bu is None or (bu.legal_entity or "") != r.legal_entity):
            continue
        if r.currency is not None and r.currency != currency:
            continue
        return r
    return None


def active_routes(session: Session) -> list[ApRoute]:
    return list(session.scalars(select(ApRoute).where(ApRoute.is_active).order_by(ApRoute.priority, ApRoute.id)))


def rescale_allocations(*, session: Session, invoice: Invoice) -> None:
    """Make the allocations add up to the approved amount, matter by matter, keeping their proportions
    (largest remainder). Called when the invoice is approved; after that they are frozen."""
    per_matter: dict[int, Decimal] = {}
    for ln in invoice.lines:
        per_matter[ln.matter_id] = per_matter.get(ln.matter_id, Decimal(0)) + (
            ln.approved_total if ln.decision else ln.total)
    for matter_id, target in per_matter.items():
        rows = [a for a in invoice.allocations if a.matter_id == matter_id]
        if not rows or sum((a.amount for a in rows), Decimal(0)) == quantize(target, invoice.currency):
            continue
        weights = [a.amount for a in rows] if any(a.amount > 0 for a in rows) else [Decimal(1)] * len(rows)
        for a, part in zip(rows, allocate(Money.of(target, invoice.currency), weights), strict=True):
            a.amount = part.amount
    session.flush()


# ---------------------------------------------------------------- export


@dataclass
class ExportResult:
    route: str
    format: str
    dry_run: bool
    invoices: list[dict[str, Any]] = field(default_factory=list)
    content: bytes = b""
    sha256: str | None = None
    batch_id: int | None = None
    run_id: int | None = None
    totals: dict[str, str] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # left out, with the reason

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.route, "format": self.format, "dry_run": self.dry_run, "batch_id": self.batch_id,
                "run_id": self.run_id, "sha256": self.sha256, "count": len(self.invoices), "totals": self.totals,
                "skipped": self.skipped,
                "invoices": self.invoices}


def ready_invoices(session: Session, route: ApRoute) -> list[Invoice]:
    """Approved invoices whose first matching route is ``route``, oldest first."""
    routes = active_routes(session)
    candidates = session.scalars(
        select(Invoice).where(Invoice.state == State.approved).order_by(Invoice.invoice_date, Invoice.id)
        .options(selectinload(Invoice.lines).selectinload(InvoiceLine.matter).selectinload(Matter.business_unit),
                 selectinload(Invoice.allocations).selectinload(InvoiceAllocation.cost_center),
                 selectinload(Invoice.allocations).selectinload(InvoiceAllocation.gl_account),
                 selectinload(Invoice.firm)))
    return [inv for inv in candidates if (r := route_for(inv, routes)) is not None and r.id == route.id]


class _Unit:
    """A business unit as routing needs it (id, code, legal entity), read in bulk."""

    __slots__ = ("id", "code", "legal_entity")

    def __init__(self, id: int, code: str, legal_entity: str | None) -> None:  # noqa: A002
        self.id, self.code, self.legal_entity = id, code, legal_entity


class _Ready:
    """An approved invoice as the export needs it, read with plain queries (no ORM object graph)."""

    __slots__ = ("id", "invoice_number", "invoice_date", "vendor_id", "firm_id", "currency", "approved", "bu",
                 "allocations", "first_line")

    def __init__(self, id: int, invoice_number: str, invoice_date: dt.date, vendor_id: int, firm_id: int,  # noqa: A002
                 currency: str) -> None:
        self.id, self.invoice_number, self.invoice_date = id, invoice_number, invoice_date
        self.vendor_id, self.firm_id, self.currency = vendor_id, firm_id, currency
        self.approved = Decimal(0)  # approved_amount: decided lines at their approved total, the rest as billed
        self.bu: _Unit | None = None
        self.allocations: list[tuple[int, int, int, Decimal]] = []  # matter, cost center, GL account, amount
        self.first_line: tuple[int, int] | None = None  # (line_no, matter_id) of the first line


def _ready(session: Session, route: ApRoute) -> list[_Ready]:
    """``ready_invoices`` in a handful of set-based queries (decision 0023): approved invoices whose
    first matching route is ``route``, oldest first, with their approved amount, business unit and
    allocations (by id). Amounts are read as the driver gives them and made exact here."""
    from triad.org.models import BusinessUnit

    routes = active_routes(session)
    session.flush()
    conn = session.connection()
    approved = Invoice.state == State.approved
    by_id: dict[int, _Ready] = {}
    cands = []
    days: dict[Any, dt.date] = {}  # SQLite gives dates as ISO text: each distinct one parsed once
    for iid, number, day, vendor_id, firm_id, ccy in bulk.fetch(conn, select(
            Invoice.id, Invoice.invoice_number, bulk.raw(Invoice.invoice_date), Invoice.vendor_id, Invoice.firm_id,
            Invoice.currency).where(approved).order_by(Invoice.invoice_date, Invoice.id)):
        date = days.get(day)
        if date is None:
            date = days[day] = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
        c = by_id[iid] = _Ready(iid, number, date, vendor_id, firm_id, ccy)
        cands.append(c)
    # amounts repeat: each distinct one made exact once, keyed by what the driver gave (text on SQLite,
    # so equal values written differently stay apart; a Decimal at the column's scale on PostgreSQL)
    exacts: dict[Any, Decimal] = {}
    for iid, line_no, matter_id, decision, approved_total, total in bulk.fetch(conn, select(
            InvoiceLine.invoice_id, InvoiceLine.line_no, InvoiceLine.matter_id, bulk.raw(InvoiceLine.decision),
            bulk.raw(InvoiceLine.approved_total), bulk.raw(InvoiceLine.total))
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id).where(approved)):
        c = by_id.get(iid)
        if c is None:  # approved since the first query: it waits for the next export
            continue
        amount = approved_total if decision else total
        if amount is not None:
            exact = exacts.get(amount)
            if exact is None:
                exact = exacts[amount] = Decimal(amount)
            c.approved += exact
        if c.first_line is None or line_no < c.first_line[0]:
            c.first_line = (line_no, matter_id)
    matter_ids = {c.first_line[1] for c in cands if c.first_line}
    matter_bu: dict[int, int] = {}
    for chunk in _chunks(matter_ids):
        matter_bu.update(conn.execute(select(Matter.id, Matter.business_unit_id).where(Matter.id.in_(chunk))).all())
    units = {row[0]: _Unit(*row) for row in conn.execute(
        select(BusinessUnit.id, BusinessUnit.code, BusinessUnit.legal_entity)
        .where(BusinessUnit.id.in_(set(matter_bu.values()))))} if matter_bu else {}
    ready = []
    mine_by: dict[tuple[int | None, str], bool] = {}  # (business unit, currency) -> routed here: decided once
    for c in cands:
        c.bu = bu = units[matter_bu[c.first_line[1]]] if c.first_line else None
        key = (bu.id if bu is not None else None, c.currency)
        here = mine_by.get(key)
        if here is None:
            r = _first_route(bu, c.currency, routes)
            here = mine_by[key] = r is not None and r.id == route.id
        if here:
            ready.append(c)
    mine = {c.id: c for c in ready}
    shared: dict[tuple[Any, ...], tuple[int, int, int, Decimal]] = {}  # equal rows, one tuple (read-only)
    for row in bulk.fetch(conn, select(
            InvoiceAllocation.invoice_id, InvoiceAllocation.matter_id, InvoiceAllocation.cost_center_id,
            InvoiceAllocation.gl_account_id, bulk.raw(InvoiceAllocation.amount))
            .join(Invoice, Invoice.id == InvoiceAllocation.invoice_id).where(approved)
            .order_by(InvoiceAllocation.id)):
        c = mine.get(row[0])
        if c is not None:
            key = row[1:]
            alloc = shared.get(key)
            if alloc is None:
                alloc = shared[key] = (row[1], row[2], row[3], Decimal(row[4]))
            c.allocations.append(alloc)
    return ready


def _whole(memo: dict[tuple[Decimal, ...], bool], amounts: list[Decimal], unit: Decimal) -> bool:
    """Every amount in whole minor units (``unit``), decided once per distinct (unit, amounts): the answer
    depends on those values alone."""
    key = (unit, *amounts)
    done = memo.get(key)
    if done is None:
        done = memo[key] = all(a == a.quantize(unit) for a in amounts)
    return done


def _bank(vendor) -> dict[str, str | None]:
    """The vendor's payable account: approved by four eyes, never one still on hold (vendor master)."""
    from triad.vendors.service import payable_bank_account

    acct = payable_bank_account(vendor)
    if acct is None:
        return {}
    return {"holder_name": acct.holder_name, "iban": acct.iban, "bic": acct.bic, "account_number": acct.account_number,
            "routing_number": acct.routing_number}


def _names(session: Session, id_col: Any, name_col: Any, ids: set[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for chunk in _chunks(ids):
        out.update(session.execute(select(id_col, name_col).where(id_col.in_(chunk))).all())
    return out


def _vendor_blocks(session: Session, vendors: dict[int, Any]) -> dict[int, list[str]]:
    """Why a vendor is not paid now, if it is not: suspended or deactivated, or an open (uncleared)
    sanctions screening hit (vendor master, ``triad.vendors.screening``)."""
    from triad.vendors.models import ScreeningHit

    out: dict[int, list[str]] = {}
    for vid, v in vendors.items():
        if v.status in ("suspended", "deactivated"):
            out.setdefault(vid, []).append(f"vendor {vid} is {v.status}: it is not paid")
    hits: dict[int, list[str]] = {}
    for chunk in _chunks(vendors):
        for vid, source, name in session.execute(
                select(ScreeningHit.vendor_id, ScreeningHit.list_source, ScreeningHit.entry_name)
                .where(ScreeningHit.vendor_id.in_(chunk), ScreeningHit.status == "open").order_by(ScreeningHit.id)):
            hits.setdefault(vid, []).append(f"{name} ({source})")
    for vid in vendors:
        if hits.get(vid) or vendors[vid].screening_status == "hit":
            named = "; ".join(hits.get(vid, [])) or "see the vendor's screening"
            out.setdefault(vid, []).append(f"vendor {vid} has an open sanctions screening hit ({named}): it is not "
                                           "paid until a reviewer clears it")
    return out


@cyclic_gc_paused()
def export(*, session: Session, route_name: str, fmt: str, actor: Actor, dry_run: bool = False,
           execution_date: dt.date | None = None) -> ExportResult:
    """Export every invoice ready for ``route_name`` as one batch file, each invoice with its own
    idempotency key, and mark them sent to AP in the same transaction. ``dry_run`` computes the
    same file and changes nothing. Raises ValidationFailed listing every invoice that cannot go
    (no allocation, allocations not adding up, no bank details for pain.001)."""
    from triad.firms.models import LawFirm
    from triad.org.models import CostCenter, GLAccount
    from triad.vendors.models import Vendor

    if fmt not in FORMATS:
        raise ValidationFailed(f"format must be one of {', '.join(FORMATS)}",
                               errors=[{"field": "format", "message": "unknown format"}])
    route = session.scalar(select(ApRoute).where(ApRoute.name == route_name))
    if route is None or not route.is_active:
        raise NotFound(f"no active AP route named {route_name!r}")
    if fmt == "pain001" and not (route.debtor_name and route.debtor_iban and route.debtor_bic):
        raise ValidationFailed(f"route {route.name} has no paying account (debtor name, IBAN, BIC) for pain.001",
                               errors=[{"field": "route", "message": "debtor account missing"}])
    invoices = _ready(session, route)
    result = ExportResult(route=route.name, format=fmt, dry_run=dry_run)
    if not invoices:
        return result
    vendors = {v.id: v for v in session.scalars(select(Vendor).where(Vendor.id.in_({i.vendor_id for i in invoices}))
                                                .options(selectinload(Vendor.bank_accounts)))}
    banks = {vid: _bank(v) for vid, v in vendors.items()}
    unpaid = _vendor_blocks(session, vendors)
    seq = (session.scalar(select(func.max(ApBatch.id))) or 0) + 1
    batch_ref = f"TRIAD-B{seq:07d}"
    rows: list[formats.ExportInvoice] = []
    errors: list[dict[str, Any]] = []
    allocs = [a for i in invoices for a in i.allocations]
    matters = _names(session, Matter.id, Matter.number, {a[0] for a in allocs})
    cost_centers = _names(session, CostCenter.id, CostCenter.code, {a[1] for a in allocs})
    gl_accounts = _names(session, GLAccount.id, GLAccount.number, {a[2] for a in allocs})
    firms = _names(session, LawFirm.id, LawFirm.name, {i.firm_id for i in invoices})
    credits: dict[int, Decimal] = {}
    for inv_id, amt in session.connection().execute(
            select(InvoiceCredit.invoice_id, bulk.raw(InvoiceCredit.amount))
            .join(Invoice, Invoice.id == InvoiceCredit.invoice_id).where(Invoice.state == State.approved)).all():
        credits[inv_id] = credits.get(inv_id, Decimal(0)) + Decimal(amt)
    units: dict[str, Decimal] = {}
    whole: dict[tuple[Decimal, ...], bool] = {}  # allocation amounts -> all in whole minor units
    labelled: dict[int, formats.ExportAllocation] = {}  # id of an allocation tuple (all alive) -> its names
    vendor_names = {vid: v.legal_name for vid, v in vendors.items()}  # read once, not an ORM attribute per row
    for inv in invoices:
        ccy = inv.currency
        unit = units.get(ccy) or units.setdefault(ccy, Decimal(1).scaleb(-minor_units(ccy)))
        credited = credits.get(inv.id)
        approved = inv.approved.quantize(unit, rounding=ROUND_HALF_UP)
        due = approved if credited is None else quantize(inv.approved - credited, ccy)
        if due <= 0:  # nothing to pay (credited in full, or approved at zero): left out, never holding up the route
            result.skipped.append({"invoice_id": inv.id, "invoice_number": inv.invoice_number,
                                   "reason": "nothing is due: credits cover the approved amount" if credited
                                   else "nothing is due: the approved amount is zero"})
            continue
        amounts = [a[3] for a in inv.allocations]
        allocated = sum(amounts, Decimal(0))
        for why in unpaid.get(inv.vendor_id, ()):
            errors.append({"invoice": inv.invoice_number, "field": "vendor", "message": why})
        if not inv.allocations:
            errors.append({"invoice": inv.invoice_number, "field": "allocations", "message": "no cost allocation"})
        elif allocated != approved:
            errors.append({"invoice": inv.invoice_number, "field": "allocations",
                           "message": f"allocations add up to {allocated}, the approved amount is {inv.approved}"})
        bank = banks[inv.vendor_id]
        if fmt == "pain001" and not (bank.get("iban") or (bank.get("account_number") and bank.get("routing_number"))):
            errors.append({"invoice": inv.invoice_number, "field": "bank",
                           "message": f"vendor {inv.vendor_id} has no approved bank account to pay by transfer"})
        if errors:
            continue  # the batch is refused: only the list of problems matters now
        # the allocation as approved; credits reduce every share in proportion, still adding up exactly.
        # Nothing credited and whole minor units: the shares are the amounts themselves (what allocate gives).
        if due == allocated and _whole(whole, amounts, unit):
            # each allocation tuple (shared by equal rows, _ready) named once
            named = []
            for a in inv.allocations:
                e = labelled.get(id(a))
                if e is None:
                    e = labelled[id(a)] = formats.ExportAllocation(matters[a[0]], cost_centers[a[1]],
                                                                   gl_accounts[a[2]], a[3])
                named.append(e)
        else:
            shares = [m.amount for m in allocate(Money.of(due, ccy), amounts)]
            named = [formats.ExportAllocation(matters[a[0]], cost_centers[a[1]], gl_accounts[a[2]], part)
                     for a, part in zip(inv.allocations, shares, strict=True)]
        rows.append(formats.ExportInvoice(
            f"TRIAD-{inv.id}-{seq}", inv.id, inv.invoice_number, inv.invoice_date, inv.vendor_id,
            vendor_names[inv.vendor_id], firms[inv.firm_id], ccy, due, inv.bu.code if inv.bu else "", named, bank))
    if errors:
        raise ValidationFailed(f"{len(errors)} invoice(s) cannot be exported on route {route.name}; nothing was "
                               "exported", errors=errors)
    if not rows:
        return result
    totals: dict[str, Decimal] = {}
    for r in rows:
        totals[r.currency] = totals.get(r.currency, Decimal(0)) + r.amount
    result.totals = {k: format(v, "f") for k, v in sorted(totals.items())}
    now = utcnow()
    # mark them sent (guarded: a concurrent export that took one first makes this one refuse, whole) and
    # write each one's state-history row; the database does that while this thread writes the file
    # (decision 0030). pain.001 is validated first: its refusal must find nothing moved.
    ids = [r.invoice_id for r in rows]
    mark = None if dry_run else _MarkSent(session, ids, now, actor, f"AP batch {batch_ref}")
    if mark is not None and fmt != "pain001":
        mark.start()
    try:
        content = _export_content(fmt, route, batch_ref, rows, result, now, execution_date)
        result.content, result.sha256 = content, hashlib.sha256(content).hexdigest()
        result.invoices = [{"invoice_id": r.invoice_id, "invoice_number": r.invoice_number, "currency": r.currency,
                            "amount": format(r.amount, "f"), "idempotency_key": r.idempotency_key} for r in rows]
        # the batch's audit event, its JSON written once (decision 0027): the same text as json_dumps of
        # {"route", "format", "sha256", "invoices", "totals"}, keys sorted
        head = json_dumps({"format": fmt, "route": route.name, "sha256": result.sha256, "totals": result.totals})
        listed = ",".join(f'{{"amount":{_ascii(i["amount"])},"currency":{_ascii(i["currency"])},'
                          f'"idempotency_key":{_ascii(i["idempotency_key"])},"invoice_id":{i["invoice_id"]},'
                          f'"invoice_number":{_ascii(i["invoice_number"])}}}' for i in result.invoices)
    except BaseException:
        if mark is not None and mark.started:
            mark.wait()  # the connection is the caller's again before the error reaches it (it rolls back)
        raise
    if dry_run:
        return result
    if not mark.started:  # pain.001: the file validated, now the move
        mark.start()
    if mark.join() != len(ids):
        raise Conflict("another export or a state change took some of these invoices at the same time; nothing "
                       "was exported, run the export again")
    ext = {"csv": "csv", "json": "json", "pain001": "xml"}[fmt]
    stored = StoredFile(sha256=result.sha256, kind="ap_export", filename=f"{batch_ref}.{ext}", size=len(content),
                        content=content, detected_format=fmt, uploaded_by_id=actor.user_id,
                        media_type={"csv": "text/csv", "json": "application/json", "pain001": "application/xml"}[fmt])
    session.add(stored)
    session.flush()
    batch = ApBatch(route_id=route.id, format=fmt, file_id=stored.id, sha256=result.sha256, invoice_count=len(rows),
                    totals=result.totals, created_by=actor.label)
    session.add(batch)
    session.flush()
    bulk.insert_rows(session, ApBatchItem.__table__,
                     ("batch_id", "invoice_id", "idempotency_key", "amount", "currency"),
                     ((batch.id, r.invoice_id, r.idempotency_key, r.amount, r.currency) for r in rows))
    run = SyncRun(kind="ap_export", status="applied", actor=actor.label, filename=stored.filename,
                  sha256=result.sha256, format=fmt, batch_id=batch.id, finished_at=utcnow(),
                  counts={"invoices": len(rows), "totals": result.totals})
    session.add(run)
    session.flush()
    sent = set(ids)
    for obj in list(session.identity_map.values()):  # invoices the caller holds read their new state
        if isinstance(obj, Invoice) and obj.id in sent:
            session.expire(obj, ["state", "updated_at"])
    result.batch_id, result.run_id = batch.id, run.id
    at = head.index(',"route":')
    record_json(session, actor=actor, action="ap.batch_exported", entity_type="ap_batch", entity_id=batch.id,
                after_json=f'{head[:at]},"invoices":[{listed}]{head[at:]}')
    return result


def _export_content(fmt: str, route: ApRoute, batch_ref: str, rows: list[formats.ExportInvoice],
                    result: ExportResult, now: dt.datetime, execution_date: dt.date | None) -> bytes:
    """The batch file in ``fmt`` (pure: no database)."""
    if fmt == "csv":
        return formats.write_csv(batch_ref, rows, layout=route.csv_layout, columns=route.csv_columns)
    if fmt == "json":
        return formats.write_json({"id": batch_ref, "route": route.name, "ap_system": route.ap_system,
                                   "created_at": now.isoformat(), "count": len(rows), "totals": result.totals}, rows)
    try:
        return formats.write_pain001(batch_ref, now, {"name": route.debtor_name, "iban": route.debtor_iban,
                                                      "bic": route.debtor_bic}, rows, execution_date or now.date())
    except ValueError as exc:  # the XSD refused it: say so, naming the batch's invoices, and export nothing
        raise ValidationFailed(f"the pain.001 file does not validate against its schema ({exc}); nothing was "
                               "exported", errors=[{"invoice": r.invoice_number, "field": "bank",
                                                    "message": "check this vendor's bank details"} for r in rows]
                               ) from None


class _MarkSent:
    """The export's state move, set-based (decision 0030): the guarded ``UPDATE invoice ... WHERE id IN
    (ids) AND state = 'approved'`` and one state-history row per moved invoice by ``INSERT ... SELECT``
    (in export order: invoice date, id), at ``now``. On PostgreSQL one statement (the UPDATE's RETURNING
    feeds the INSERT), on SQLite two. ``start`` runs them on a thread of their own, on the session's
    connection, which the caller leaves alone until ``join`` returns the number of invoices moved:
    the driver waits for the database without holding the GIL (psycopg; sqlite3 while it steps), so the
    caller writes the file meanwhile. Both statements are compiled here, before the thread starts."""

    def __init__(self, session: Session, ids: list[int], now: dt.datetime, actor: Actor, reason: str) -> None:
        session.flush()
        self.conn = session.connection()
        pg = self.conn.dialect.name == "postgresql"
        inv, moves = Invoice.__table__, InvoiceStateChange.__table__
        moved = update(inv).where(bulk.among(self.conn, inv.c.id, ids), inv.c.state == str(State.approved)).values(
            state=str(State.sent_to_ap), updated_at=now)
        same = {"from_state": str(State.approved), "to_state": str(State.sent_to_ap), "actor": actor.label,
                "actor_id": actor.user_id, "reason": reason, "at": now}
        # there a parameter in a select list needs its type said
        values = [cast(literal(v, moves.c[k].type), moves.c[k].type) if pg else literal(v, moves.c[k].type)
                  for k, v in same.items()]
        if pg:
            done = moved.returning(inv.c.id, inv.c.invoice_date).cte("moved")
            self.stmts = [insert(moves).from_select(["invoice_id", *same], select(done.c.id, *values)
                                                    .order_by(done.c.invoice_date, done.c.id))]
        else:
            self.stmts = [moved, insert(moves).from_select(["invoice_id", *same], select(inv.c.id, *values).where(
                bulk.among(self.conn, inv.c.id, ids)).order_by(inv.c.invoice_date, inv.c.id))]
        self.compiled = [bulk.compiled(self.conn, stmt) for stmt in self.stmts]
        self.started = False
        self._thread: threading.Thread | None = None
        self._out: list[Any] = []

    def _run(self) -> None:
        try:
            self._out.append(bulk.execute_compiled(self.conn, self.compiled[0]))
            for c in self.compiled[1:]:
                bulk.execute_compiled(self.conn, c)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by join()
            self._out.append(exc)

    def start(self) -> None:
        self.started = True
        self._thread = threading.Thread(target=self._run, name="ap-export-mark-sent", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()

    def join(self) -> int:
        self._thread.join()
        for out in self._out:  # an error in any statement (the history INSERT after the UPDATE, too)
            if isinstance(out, BaseException):
                raise out
        return self._out[0]


def batch_file(*, session: Session, batch_id: int) -> StoredFile:
    """The stored file of an export batch (the API and the page serve it byte for byte)."""
    batch = session.get(ApBatch, batch_id)
    if batch is None:
        raise NotFound(f"no AP batch with id {batch_id}")
    return session.get(StoredFile, batch.file_id)


def reopen(*, session: Session, invoice: Invoice, actor: Actor, reason: str) -> None:
    """A person takes an exported invoice back (sent to AP -> approved) so it may be exported again."""
    from triad.invoices.service import transition

    if invoice.state != State.sent_to_ap:
        raise Conflict(f"invoice {invoice.invoice_number} is {invoice.state}; only an invoice sent to AP and not "
                       "yet paid can be re-opened")
    if not (reason or "").strip():
        raise ValidationFailed("re-opening needs a reason", errors=[{"field": "reason", "message": "required"}])
    item = session.scalar(select(ApBatchItem).where(ApBatchItem.invoice_id == invoice.id,
                                                    ApBatchItem.reopened_at.is_(None)))
    if item is not None:
        item.reopened_at, item.reopened_by, item.reopen_reason = utcnow(), actor.label, reason
    transition(session=session, invoice=invoice, to=State.approved, actor=actor, reason=reason, audit=False,
               _signed=True)
    record(session, actor=actor, action="ap.invoice_reopened", entity_type="invoice", entity_id=invoice.id,
           before={"state": State.sent_to_ap, "idempotency_key": item.idempotency_key if item else None},
           after={"state": State.approved}, reason=reason)


# ---------------------------------------------------------------- payment confirmations


@dataclass
class ImportResult:
    filename: str
    format: str
    sha256: str
    message_id: str | None = None
    status: str = "applied"  # applied, partial, duplicate, rejected, empty, dry_run
    applied: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # entries already applied earlier
    errors: list[dict[str, Any]] = field(default_factory=list)  # {file, line, field, reason}
    flags: list[dict[str, Any]] = field(default_factory=list)  # overpayments and the like
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("applied", "partial", "duplicate", "empty", "dry_run")

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.filename, "format": self.format, "sha256": self.sha256, "message_id": self.message_id,
                "status": self.status, "applied": self.applied, "already_applied": self.skipped,
                "errors": self.errors, "flags": self.flags, "run_id": self.run_id}


IMPORT_LOCK = 727_001  # PostgreSQL advisory lock: one payment import at a time


def serialize_imports(session: Session) -> None:
    """Payment imports run one at a time, so a second import of the same file (another process, the
    same moment) waits and then finds it already imported. SQLite transactions here begin IMMEDIATE,
    which serializes writers already; PostgreSQL takes a transaction-scoped advisory lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK)))


class _Target:
    """What an import needs of an invoice, read in bulk (no ORM object per invoice)."""

    __slots__ = ("id", "vendor_id", "invoice_number", "currency", "state")

    def __init__(self, id: int, vendor_id: int, invoice_number: str, currency: str, state: str) -> None:  # noqa: A002
        self.id, self.vendor_id, self.invoice_number, self.currency, self.state = (
            id, vendor_id, invoice_number, currency, state)


_TARGET_COLUMNS = (Invoice.id, Invoice.vendor_id, Invoice.invoice_number, Invoice.currency, Invoice.state)


def _match_all(session: Session, entries: list[formats.Entry], lock: bool = False
               ) -> tuple[list[tuple[_Target | None, str | None]], dict[str, Any]]:
    """Match every entry, in a few queries: invoice id first (or the export's end-to-end id), then
    invoice number + vendor. Returns (invoice or None, why) per entry, and the batch items by key."""
    session.flush()
    conn = session.connection()
    keys = {e.end_to_end_id for e in entries if e.end_to_end_id}
    items: dict[str, Any] = {}
    if keys:
        for row in conn.execute(select(ApBatchItem.id, ApBatchItem.invoice_id, ApBatchItem.idempotency_key,
                                       ApBatchItem.amount, ApBatchItem.reopened_at)
                                .where(bulk.among(conn, ApBatchItem.idempotency_key, keys))).all():
            items[row.idempotency_key] = row
    ids = {e.invoice_id for e in entries if not e.end_to_end_id and e.invoice_id is not None}
    ids |= {row.invoice_id for row in items.values()}
    by_id: dict[int, _Target] = {}
    if ids:
        stmt = select(*_TARGET_COLUMNS).where(bulk.among(conn, Invoice.id, ids))
        for row in conn.execute(stmt.with_for_update(of=Invoice) if lock else stmt).all():
            by_id[row[0]] = _Target(*row)
    pairs = {(e.invoice_number, e.vendor_id) for e in entries if not e.end_to_end_id and e.invoice_id is None}
    by_pair: dict[tuple[str | None, int | None], list[_Target]] = {}
    numbers = {n for n, v in pairs if n is not None and v is not None}
    if numbers:
        stmt = select(*_TARGET_COLUMNS).where(bulk.among(conn, Invoice.invoice_number, numbers)).order_by(Invoice.id)
        for row in conn.execute(stmt.with_for_update(of=Invoice) if lock else stmt).all():
            if (row[2], row[1]) in pairs:
                inv = by_id.setdefault(row[0], _Target(*row))
                by_pair.setdefault((row[2], row[1]), []).append(inv)
    out: list[tuple[_Target | None, str | None]] = []
    for e in entries:
        if e.end_to_end_id:
            item = items.get(e.end_to_end_id)
            out.append((by_id[item.invoice_id], None) if item is not None
                       else (None, f"no exported invoice has the end-to-end id {e.end_to_end_id!r}"))
        elif e.invoice_id is not None:
            inv = by_id.get(e.invoice_id)
            if inv is None:
                out.append((None, f"no invoice with id {e.invoice_id}"))
            elif e.vendor_id is not None and inv.vendor_id != e.vendor_id:
                out.append((None, f"invoice {e.invoice_id} is not vendor {e.vendor_id}'s"))
            else:
                out.append((inv, None))
        else:
            found = by_pair.get((e.invoice_number, e.vendor_id), [])
            if len(found) != 1:
                out.append((None, f"no invoice {e.invoice_number!r} from vendor {e.vendor_id}" if not found
                            else f"{len(found)} invoices {e.invoice_number!r} from vendor {e.vendor_id}: "
                                 "give invoice_id"))
            else:
                out.append((found[0], None))
    return out, items


@cyclic_gc_paused()
def import_payments(*, session: Session, data: bytes, filename: str, actor: Actor, dry_run: bool = False,
                    partial: bool = False) -> ImportResult:
    """Apply a payment-confirmation file: all or nothing, or (``partial``) the good entries with a
    report of the rest. The same file (content hash or message id) again changes nothing and says
    so; an entry already applied by another file is skipped. A refused or empty file is recorded as a
    sync run (and a refusal notifies finance) in the same transaction. The caller commits once.

    Done in bulk: the invoices, their payments, credits and lines are read in a few queries, the new
    states computed in Python entry by entry (in file order), then payments, state moves and one audit
    event per applied entry are written with multi-row statements, in the caller's transaction."""
    feed = formats.read(data, filename)
    digest = hashlib.sha256(data).hexdigest()
    if not dry_run:
        serialize_imports(session)
    res = ImportResult(filename=filename, format=feed.format, sha256=digest, message_id=feed.message_id)
    res.errors = [{"file": filename, **p} for p in feed.problems]
    seen = session.scalar(select(ImportedPaymentFile).where(
        (ImportedPaymentFile.sha256 == digest) | ((ImportedPaymentFile.message_id == feed.message_id)
                                                  if feed.message_id else False)))
    if seen is not None:
        res.status, res.run_id = "duplicate", seen.run_id
        res.errors = []
        return res
    plan: list[tuple[formats.Entry, _Target]] = []
    matched, items = _match_all(session, feed.entries, lock=not dry_run)  # states cannot change under us
    for e, (inv, why) in zip(feed.entries, matched, strict=True):
        if inv is None:
            res.errors.append({"file": filename, "line": e.line, "field": "invoice", "reason": why})
            continue
        if e.currency is not None and e.currency != inv.currency:
            res.errors.append({"file": filename, "line": e.line, "field": "currency",
                               "reason": f"invoice {inv.invoice_number} is in {inv.currency}, "
                                         f"the entry in {e.currency}"})
            continue
        if e.status == "paid" and inv.state not in (State.sent_to_ap, State.partially_paid, State.paid):
            res.errors.append({"file": filename, "line": e.line, "field": "status",
                               "reason": f"invoice {inv.invoice_number} is {inv.state}: it was not sent to AP"})
            continue
        if e.status == "reversed" and inv.state not in (State.partially_paid, State.paid):
            res.errors.append({"file": filename, "line": e.line, "field": "status",
                               "reason": f"invoice {inv.invoice_number} is {inv.state}: there is no payment to "
                                         "reverse"})
            continue
        plan.append((e, inv))
    if res.errors and not partial:
        res.status = "rejected"
        record_refused_run(session=session, res=res, actor=actor)  # wrote nothing else; kept for monitoring
        return res
    if not plan and not res.errors:  # e.g. a status report that only confirms receipt: nothing to apply
        res.status = "empty"
        record_refused_run(session=session, res=res, actor=actor)
        return res
    if dry_run:
        res.status = "dry_run"
        res.applied = [{"line": e.line, "invoice_id": inv.id, "status": e.status,
                        "amount": format(e.amount, "f") if e.amount is not None else None} for e, inv in plan]
        return res
    run = SyncRun(kind="ap_import", status="applied", actor=actor.label, filename=filename[:255], sha256=digest,
                  message_id=feed.message_id, format=feed.format)
    session.add(run)
    session.flush()
    res.run_id = run.id
    conn = session.connection()
    done_refs: set[str] = set(conn.execute(select(Payment.entry_ref).where(
        bulk.among(conn, Payment.entry_ref, {e.entry_ref for e, _ in plan}))).scalars())
    todo: list[tuple[formats.Entry, _Target]] = []
    for e, inv in plan:
        if e.entry_ref in done_refs:
            res.skipped.append({"line": e.line, "invoice_id": inv.id, "entry_ref": e.entry_ref})
            continue
        done_refs.add(e.entry_ref)
        todo.append((e, inv))
    _apply_all(session, todo, items, run, actor, res)
    if res.errors:
        res.status = "partial"
    run.status = res.status
    run.counts = {"entries": len(feed.entries), "applied": len(res.applied), "already_applied": len(res.skipped),
                  "errors": len(res.errors), "flags": len(res.flags)}
    run.errors = res.errors
    run.finished_at = utcnow()
    session.add(ImportedPaymentFile(sha256=digest, message_id=feed.message_id, format=feed.format, run_id=run.id))
    session.flush()
    return res


def _apply_all(session: Session, todo: list[tuple[formats.Entry, _Target]], items: dict[str, Any], run: SyncRun,
               actor: Actor, res: ImportResult) -> None:
    """Apply the entries in file order, each seeing the ones before it, and write the lot in bulk.

    Reads are one query each (``bulk.among``), amounts as the driver gives them; rows to write are
    tuples handed to the driver; the audit event's JSON is written once, entry by entry (decision 0027)."""
    from triad.core.db import _plain
    from triad.invoices.service import check_move

    if not todo:
        return
    conn = session.connection()
    csv_rejected = {inv.id for e, inv in todo if e.status == "rejected" and not e.end_to_end_id}
    open_items: dict[int, Any] = {}
    if csv_rejected:
        for row in conn.execute(select(ApBatchItem.id, ApBatchItem.invoice_id, ApBatchItem.idempotency_key,
                                       ApBatchItem.amount, ApBatchItem.reopened_at)
                                .where(bulk.among(conn, ApBatchItem.invoice_id, csv_rejected),
                                       ApBatchItem.reopened_at.is_(None))):
            open_items[row.invoice_id] = row
    invoices = {inv.id: inv for _, inv in todo}
    zero = Decimal(0)
    paid: dict[int, Decimal] = dict.fromkeys(invoices, zero)  # paid less reversed, as stored
    approved: dict[int, Decimal] = dict.fromkeys(invoices, zero)
    credits: dict[int, Decimal] = dict.fromkeys(invoices, zero)
    for iid, status, amount in conn.execute(select(Payment.invoice_id, Payment.status, bulk.raw(Payment.amount))
                                            .where(bulk.among(conn, Payment.invoice_id, invoices))).all():
        if status == "paid":
            paid[iid] += _plain(Decimal(amount))
        elif status == "reversed":
            paid[iid] -= _plain(Decimal(amount))
    for iid, decision, approved_total, total in conn.execute(
            select(InvoiceLine.invoice_id, InvoiceLine.decision, bulk.raw(InvoiceLine.approved_total),
                   bulk.raw(InvoiceLine.total)).where(bulk.among(conn, InvoiceLine.invoice_id, invoices))).all():
        approved[iid] += Decimal(approved_total if decision else total)
    for iid, amount in conn.execute(select(InvoiceCredit.invoice_id, bulk.raw(InvoiceCredit.amount))
                                    .where(bulk.among(conn, InvoiceCredit.invoice_id, invoices))).all():
        credits[iid] += Decimal(amount)
    now = utcnow()
    today = now.date()
    payments: list[tuple[Any, ...]] = []  # in the order of _PAYMENT_COLUMNS
    moves: list[tuple[Any, ...]] = []  # in the order of _MOVE_COLUMNS
    final: dict[int, str] = {}  # invoice -> its last new state
    legal: set[tuple[str, str]] = set()  # moves the state table was asked about already
    reopened: dict[int, dict[str, Any]] = {}  # batch item id -> its re-opening
    entries: list[str] = []  # the audit: every invoice's before and after, in one event per file

    def plain(value: Decimal) -> str:
        """format(value, "f"), a third of the cost: str() is the same text unless it chose an exponent."""
        text = str(value)
        return format(value, "f") if "E" in text else text

    def move(inv: _Target, to: State, reason: str) -> None:
        """A state move as ``invoices.service.transition`` makes it (same rules, same record)."""
        if (inv.state, to) not in legal:
            check_move(inv.invoice_number, inv.state, to)
            legal.add((inv.state, to))
        moves.append((inv.id, str(inv.state), str(to), actor.label, actor.user_id, reason, now))
        inv.state = final[inv.id] = to

    for e, inv in todo:
        before_paid = paid[inv.id]
        before_state = inv.state
        line = e.line if isinstance(e.line, int) else None
        if e.status == "rejected":
            # the transfer rejected: the one named by its end-to-end id, or (CSV) the invoice's open export
            item = items.get(e.end_to_end_id) if e.end_to_end_id else open_items.get(inv.id)
            payments.append((inv.id, today, item.amount if item else zero, inv.currency, None, e.reference[:100],
                             "rejected", e.entry_ref, run.id, line, now, now))
            live = item is not None and item.reopened_at is None and item.id not in reopened
            if inv.state == State.sent_to_ap and live:
                reopened[item.id] = {"item_id": item.id, "at": now, "by": actor.label, "why": f"bank: {e.reason}"}
                move(inv, State.approved, f"transfer rejected by the bank ({e.reason}); export it again once fixed")
            else:  # an older transfer (re-opened since) or one already settled: record it, change nothing
                res.flags.append({"line": e.line, "invoice_id": inv.id, "flag": "stale_rejection",
                                  "message": f"the rejected transfer is not invoice {inv.invoice_number}'s open "
                                             "export; its state was not changed"})
        else:
            payments.append((inv.id, e.paid_on, e.amount, e.currency, e.fx_rate, e.reference[:100], e.status,
                             e.entry_ref, run.id, line, now, now))
            stored = _plain(e.amount)  # what the database gives back for it
            paid[inv.id] = now_paid = before_paid + stored if e.status == "paid" else before_paid - stored
            due = approved[inv.id] - credits[inv.id]
            target = State.paid if now_paid >= due else State.partially_paid if now_paid > 0 else State.sent_to_ap
            if target != inv.state:
                move(inv, target, f"{e.status} {e.amount} {e.currency} ({e.reference})")
            if now_paid > due:
                res.flags.append({"line": e.line, "invoice_id": inv.id, "flag": "overpaid",
                                  "message": f"paid {quantize(now_paid, inv.currency)} {inv.currency} against "
                                             f"{quantize(due, inv.currency)} due"})
        amount = plain(e.amount) if e.amount is not None else None
        res.applied.append({"line": e.line, "invoice_id": inv.id, "invoice_number": inv.invoice_number,
                            "status": e.status, "amount": amount, "state": inv.state})
        entries.append(_entry_json(e, inv, before_state, plain(before_paid), plain(paid[inv.id])))
    bulk.insert_rows(session, Payment.__table__, _PAYMENT_COLUMNS, payments)
    if reopened:
        t = ApBatchItem.__table__
        conn.execute(update(t).where(t.c.id == bindparam("item_id"))
                     .values(reopened_at=bindparam("at"), reopened_by=bindparam("by"),
                             reopen_reason=bindparam("why")), list(reopened.values()))
    if moves:
        bulk.insert_rows(session, InvoiceStateChange.__table__, _MOVE_COLUMNS, moves)
        by_state: dict[str, list[int]] = {}
        for iid, st in final.items():
            by_state.setdefault(str(st), []).append(iid)
        t = Invoice.__table__
        for st, iids in by_state.items():  # one UPDATE per new state
            conn.execute(update(t).where(bulk.among(conn, t.c.id, iids)).values(state=st, updated_at=now))
        # objects the caller already holds see the new state; re-opened batch items are read again
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Invoice) and obj.id in final:
                set_committed_value(obj, "state", str(final[obj.id]))
                session.expire(obj, ["updated_at"])
            elif isinstance(obj, ApBatchItem) and obj.id in reopened:
                session.expire(obj, ["reopened_at", "reopened_by", "reopen_reason"])
    # one hash-chained event for the file, naming every invoice it changed with its state and paid amount
    # before and after (decision 0023); ``audit_of_invoice`` finds it from the invoice
    head = json_dumps({"file": run.filename, "sha256": run.sha256, "message_id": run.message_id,
                       "format": run.format})
    record_json(session, actor=actor, action="ap.payments_imported", entity_type="sync_run", entity_id=run.id,
                after_json=f'{{"entries":[{",".join(entries)}],{head[1:]}')


def _js(value: Any) -> str:
    """One scalar as ``json_dumps`` writes it (text ASCII-escaped, a Decimal as its text)."""
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    return _ascii(str(value))


def _entry_json(e: formats.Entry, inv: _Target, before_state: str, before_paid: str, after_paid: str) -> str:
    """An entry of the import's audit event as canonical JSON (``json_dumps`` of the dict: keys sorted,
    no spaces), written directly: the same text, without building and sorting a dict per entry."""
    return (f'{{"after":{{"paid":"{after_paid}","state":{_ascii(str(inv.state))}}},'
            f'"amount":{_js(e.amount)},'
            f'"before":{{"paid":"{before_paid}","state":{_ascii(str(before_state))}}},'
            f'"currency":{_js(e.currency)},"entry_ref":{_ascii(e.entry_ref)},"invoice_id":{inv.id},'
            f'"invoice_number":{_ascii(inv.invoice_number)},"line":{_js(e.line)},"status":{_ascii(e.status)}}}')


_PAYMENT_COLUMNS = ("invoice_id", "paid_on", "amount", "currency", "fx_rate", "reference", "status", "entry_ref",
                    "run_id", "source_line", "created_at", "updated_at")
_MOVE_COLUMNS = ("invoice_id", "from_state", "to_state", "actor", "actor_id", "reason", "at")


def audit_of_invoice(*, session: Session, invoice_id: int) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The audit events that concern an invoice in the AP cycle, oldest first: its own (credits,
    re-opening...) and the export batches and payment imports that name it (decision 0023), each with
    the part about this invoice (for an event of its own, its before and after)."""
    from triad.audit.models import AuditEvent

    runs = [str(r) for r in session.scalars(select(Payment.run_id).where(Payment.invoice_id == invoice_id).distinct())
            if r is not None]
    batches = [str(b) for b in session.scalars(select(ApBatchItem.batch_id)
                                               .where(ApBatchItem.invoice_id == invoice_id).distinct())]
    cond = (AuditEvent.entity_type == "invoice") & (AuditEvent.entity_id == str(invoice_id))
    if runs:
        cond |= (AuditEvent.action == "ap.payments_imported") & AuditEvent.entity_id.in_(runs)
    if batches:
        cond |= (AuditEvent.action == "ap.batch_exported") & AuditEvent.entity_id.in_(batches)
    out = []
    for ev in session.scalars(select(AuditEvent).where(cond).order_by(AuditEvent.seq)):
        if ev.action == "ap.payments_imported":
            part = [x for x in ev.after["entries"] if x["invoice_id"] == invoice_id]
        elif ev.action == "ap.batch_exported":
            part = [x for x in ev.after["invoices"] if x["invoice_id"] == invoice_id]
        else:
            part = [{"before": ev.before, "after": ev.after}]
        if part:
            out.append((ev, part))
    return out


def record_refused_run(*, session: Session, res: ImportResult, actor: Actor) -> SyncRun:
    """A refused (or empty) import is recorded too (sync monitoring); it applied nothing. A refusal
    also tells the finance team (in the app and by email)."""
    run = SyncRun(kind="ap_import", status=res.status, actor=actor.label, filename=res.filename[:255],
                  sha256=res.sha256, message_id=(res.message_id or "")[:100] or None, format=res.format,
                  counts={"errors": len(res.errors)}, errors=res.errors[:500], finished_at=utcnow())
    session.add(run)
    session.flush()
    res.run_id = run.id
    if res.status == "rejected":
        notify_failure(session=session, run=run, detail=f"{len(res.errors)} problem(s), first: "
                       + (f"line {res.errors[0]['line']}: {res.errors[0]['reason']}" if res.errors else "-"))
    return run


def notify_failure(*, session: Session, run: SyncRun, detail: str) -> None:
    """Tell every active finance/AP user that a sync run failed, with a link to the runs page."""
    from triad.auth.models import User
    from triad.core.permissions import Role
    from triad.notifications.service import notify

    for user in session.scalars(select(User).where(User.role == Role.finance_ap, User.is_active)):
        notify(session=session, user=user, subject=f"AP {run.kind.replace('ap_', '')} refused: {run.filename}",
               body=f"Sync run {run.id} ({run.format}) was refused: {detail}. Nothing was applied.",
               link=f"/ap#run-{run.id}")


def add_credit(*, session: Session, invoice: Invoice, kind: str, amount: Decimal, reason: str, actor: Actor,
               reference: str | None = None) -> InvoiceCredit:
    """A credit note or write-down against an approved (or later) invoice; it reduces what is due."""
    if kind not in ("credit_note", "write_down"):
        raise ValidationFailed("kind must be credit_note or write_down",
                               errors=[{"field": "kind", "message": "unknown kind"}])
    if invoice.state not in (State.approved, State.sent_to_ap, State.partially_paid, State.paid):
        raise Conflict(f"invoice {invoice.invoice_number} is {invoice.state}; credits apply to approved invoices")
    from triad.core.money import minor_units

    if -amount.as_tuple().exponent > minor_units(invoice.currency):
        raise ValidationFailed(f"the amount has more decimals than {invoice.currency} allows",
                               errors=[{"field": "amount", "message": "too many decimals"}])
    # one credit at a time per invoice (PostgreSQL row lock; SQLite writers are serialized already)
    session.execute(select(Invoice.id).where(Invoice.id == invoice.id).with_for_update())
    if amount <= 0 or amount > amount_due(session, invoice):
        raise ValidationFailed(f"the amount must be above 0 and at most the {amount_due(session, invoice)} "
                               f"{invoice.currency} still due", errors=[{"field": "amount", "message": "out of range"}])
    credit = InvoiceCredit(invoice_id=invoice.id, kind=kind, amount=quantize(amount, invoice.currency),
                           currency=invoice.currency, reference=reference, reason=reason, created_by=actor.label)
    session.add(credit)
    session.flush()
    record(session, actor=actor, action=f"invoice.{kind}", entity_type="invoice", entity_id=invoice.id,
           before=None, after={"credit_id": credit.id, "amount": credit.amount, "currency": credit.currency,
                               "due_after": amount_due(session, invoice)}, reason=reason)
    return credit
