"""Guideline sets and versions in the database, and screening stored invoices with them.

Layers: the company default, overridden per firm, overridden per engagement. Each layer has
versions with effective dates; an invoice line is judged by the layers' versions in force on the
line's date, merged (``schema.merge``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, exists, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from triad.audit.service import Actor, record
from triad.core.db import _plain, utcnow
from triad.core.errors import ValidationFailed
from triad.guidelines.model import ApprovedRate, Context, EarlierLine, Finding, History, InvoiceView, Version
from triad.guidelines.models import GuidelineSet, GuidelineVersion
from triad.guidelines.runner import evaluate
from triad.guidelines.schema import DocumentError, load_text, merge, validate_document

SCOPES = ("company", "firm", "engagement")


def load(*, session: Session, text: str, scope: str = "company", firm_id: int | None = None,
         engagement_id: int | None = None, effective_from: dt.date, effective_to: dt.date | None = None,
         actor: Actor) -> GuidelineVersion:
    """Validate a guideline document and store it as the next version of its set.

    Args: text (YAML or JSON), scope and its target (firm_id for firm, engagement_id for
    engagement), the dates it is in force, actor. Returns the new version. The previous open-ended
    version of the set ends the day before, so exactly one version is in force on any date.
    Raises ValidationFailed naming every problem in the document.
    """
    if scope not in SCOPES:
        raise ValidationFailed(f"scope must be one of {', '.join(SCOPES)}", errors=[{"field": "scope",
                                                                                   "message": "unknown scope"}])
    if (scope == "firm") != (firm_id is not None) or (scope == "engagement") != (engagement_id is not None):
        raise ValidationFailed("give --firm for a firm override and --engagement for an engagement override, "
                               "nothing for the company default", errors=[{"field": "scope", "message": "target"}])
    from triad.firms.models import LawFirm
    from triad.matters.models import Engagement

    if firm_id is not None and session.get(LawFirm, firm_id) is None:
        raise ValidationFailed(f"no law firm with id {firm_id}", errors=[{"field": "firm_id", "message": "unknown"}])
    if engagement_id is not None and session.get(Engagement, engagement_id) is None:
        raise ValidationFailed(f"no engagement with id {engagement_id}",
                               errors=[{"field": "engagement_id", "message": "unknown"}])
    if effective_to is not None and effective_to < effective_from:
        raise ValidationFailed("effective_to is before effective_from",
                               errors=[{"field": "effective_to", "message": "before effective_from"}])
    try:
        doc = validate_document(load_text(text))
    except DocumentError as exc:
        raise ValidationFailed(f"the guideline document has {len(exc.errors)} problem(s): {exc}",
                               errors=exc.errors) from None
    gset = session.scalar(select(GuidelineSet).where(
        GuidelineSet.scope == scope, GuidelineSet.firm_id.is_(firm_id) if firm_id is None
        else GuidelineSet.firm_id == firm_id,
        GuidelineSet.engagement_id.is_(None) if engagement_id is None
        else GuidelineSet.engagement_id == engagement_id))
    if gset is None:
        gset = GuidelineSet(scope=scope, firm_id=firm_id, engagement_id=engagement_id, name=doc.name)
        session.add(gset)
        session.flush()
    before = None
    for v in gset.versions:
        if v.effective_from >= effective_from:
            raise ValidationFailed(
                f"version {v.version_no} already starts on {v.effective_from}; a new version must start later",
                errors=[{"field": "effective_from", "message": "not after the latest version"}])
        if v.effective_to is None or v.effective_to >= effective_from:
            before = {"version": v.version_no, "effective_to": v.effective_to}
            v.effective_to = effective_from - dt.timedelta(days=1)
    version = GuidelineVersion(guideline_set=gset, version_no=len(gset.versions) + 1, effective_from=effective_from,
                               effective_to=effective_to, document=doc.model_dump(mode="json"),
                               source_text=text if isinstance(text, str) else text.decode(), created_by=actor.label)
    session.add(version)
    gset.name = doc.name
    session.flush()
    record(session, actor=actor, action="guideline.version_loaded", entity_type="guideline_version",
           entity_id=version.id, before=before,
           after={"set": gset.label, "version": version.version_no, "effective_from": effective_from,
                  "effective_to": effective_to, "document": version.document})
    return version


def versions_for(*, session: Session, firm_id: int, engagement_id: int | None) -> list[Version]:
    """The merged guideline versions for an engagement, one per span of dates where the same
    company, firm and engagement versions are in force."""
    sets = list(session.scalars(select(GuidelineSet).where(
        (GuidelineSet.scope == "company") | ((GuidelineSet.scope == "firm") & (GuidelineSet.firm_id == firm_id))
        | ((GuidelineSet.scope == "engagement") & (GuidelineSet.engagement_id == engagement_id)))))
    layers = sorted(sets, key=lambda s: SCOPES.index(s.scope))
    versions = [v for s in layers for v in s.versions]
    if not versions:
        return []
    starts = sorted({v.effective_from for v in versions} | {v.effective_to + dt.timedelta(days=1)
                                                             for v in versions if v.effective_to})
    out: list[Version] = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - dt.timedelta(days=1) if i + 1 < len(starts) else None
        active = [v for s in layers for v in s.versions if v.effective_from <= start
                  and (v.effective_to is None or v.effective_to >= start)]
        if not active:
            continue
        out.append(Version(" + ".join(v.label for v in active), start, end,
                           merge(*[v.document.get("rules", {}) for v in active])))
    return out


@dataclass
class ScreenItem:
    invoice_id: int
    view: InvoiceView
    firm_id: int
    engagement_id: int | None
    engagement_currency: str | None
    matter_ids: list[int]


# Up to this many new lines (an upload or a submission of a few invoices), the history is read with
# indexed lookups restricted to the new lines' keys; above it (bulk imports), the firm's lines on
# the batch's days are read at once.
TARGETED_MAX_LINES = 5_000
TARGETED_MAX_PAIRS = 400


def screen(*, session: Session, items: list[ScreenItem]) -> dict[int, list[Finding]]:
    """Run the guidelines over freshly stored invoices and store the findings (in bulk).

    Shared data (versions, approved rates, earlier lines) is loaded once per firm, not per
    invoice. Returns the findings by invoice id.
    """
    from triad.firms.models import Timekeeper, TimekeeperRate

    out: dict[int, list[Finding]] = {}
    rows: list[dict] = []
    by_firm: dict[int, list[ScreenItem]] = {}
    for item in items:
        by_firm.setdefault(item.firm_id, []).append(item)
    for firm_id, firm_items in by_firm.items():
        rates = tuple(ApprovedRate(*r) for r in session.execute(
            select(Timekeeper.tk_id, TimekeeperRate.rate, TimekeeperRate.currency, TimekeeperRate.effective_from,
                   TimekeeperRate.effective_to)
            .join(TimekeeperRate, TimekeeperRate.timekeeper_id == Timekeeper.id).where(Timekeeper.firm_id == firm_id)))
        billed, history = _firm_history(session, firm_id, firm_items)
        version_cache: dict[int | None, list[Version]] = {}
        for it in firm_items:
            if it.engagement_id not in version_cache:
                version_cache[it.engagement_id] = versions_for(session=session, firm_id=firm_id,
                                                               engagement_id=it.engagement_id)
            versions = version_cache[it.engagement_id]
            if not versions:
                out[it.invoice_id] = []
                continue
            ctx = Context(engagement_currency=it.engagement_currency, approved_rates=rates,
                          known_timekeepers=frozenset(tk for m, tk in billed if m in it.matter_ids),
                          history=history)
            findings = evaluate(it.view, ctx, versions)
            out[it.invoice_id] = findings
            rows += [{"invoice_id": it.invoice_id, "line_no": f.line_no, "source_line": f.source_line, "rule": f.rule,
                      "severity": f.severity, "action": f.action, "message": f.message, "adjustment": f.adjustment,
                      "currency": it.view.currency, "guideline_version": f.guideline_version, "clause": f.clause,
                      "created_at": utcnow()} for f in findings]
    from triad.guidelines.models import InvoiceFinding

    for i in range(0, len(rows), 5000):
        session.execute(insert(InvoiceFinding.__table__), rows[i:i + 5000])
    return out


def _firm_history(session: Session, firm_id: int, items: list[ScreenItem]) -> tuple[set[tuple[int, str]], History]:
    """Who billed the batch's matters before (matter id, timekeeper), and the firm's earlier lines
    the rules compare with: the lines of earlier invoices (not withdrawn) that could be duplicates
    of a new line, hours per timekeeper on the new lines' days, and the batch's own lines."""
    from triad.firms.models import Timekeeper
    from triad.invoices.models import Invoice, InvoiceLine

    new_lines = [(it.view.invoice_number, ln) for it in items for ln in it.view.lines]
    tks = sorted({ln.timekeeper_id for _, ln in new_lines if ln.timekeeper_id})
    matters = sorted({m for it in items for m in it.matter_ids})
    new_ids = [it.invoice_id for it in items]
    tk_ids = {tk: i for tk, i in session.execute(select(Timekeeper.tk_id, Timekeeper.id).where(
        Timekeeper.firm_id == firm_id, Timekeeper.tk_id.in_(tks)))} if tks else {}
    earlier = (Invoice.firm_id == firm_id, Invoice.id.not_in(bindparam("new", expanding=True)))
    pairs = [(m, tk) for m in matters for tk in tk_ids]
    if len(new_lines) > TARGETED_MAX_LINES or len(pairs) > TARGETED_MAX_PAIRS:
        return _firm_history_bulk(session, firm_id, items, new_lines, tks, matters)
    # Statements below are built once and run per matter or timekeeper with expanding IN lists, so
    # they compile once; each is answered from an index.
    new = bindparam("new", new_ids, expanding=True)
    # who billed the batch's matters before: one EXISTS per (matter, timekeeper)
    billed: set[tuple[int, str]] = set()
    billed_before = select(literal(1)).where(exists(
        select(InvoiceLine.id).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(InvoiceLine.matter_id == bindparam("m"), InvoiceLine.timekeeper_id == bindparam("tk"),
               Invoice.firm_id == firm_id, InvoiceLine.invoice_id.not_in(new))))
    for m, tk in pairs:
        if session.execute(billed_before, {"m": m, "tk": tk_ids[tk]}).first():
            billed.add((m, tk))
    # Hours already billed per (timekeeper, day), counted per distinct number of hours and summed
    # exactly here, from the (timekeeper, day, type, units, total, invoice) index alone: a
    # timekeeper is the firm's own, so its lines are the firm's. Lines of withdrawn invoices are
    # counted apart (few) and taken off.
    fee_days: dict[str, set[dt.date]] = defaultdict(set)
    for _, ln in new_lines:
        if ln.line_type == "F" and ln.timekeeper_id in tk_ids:
            fee_days[ln.timekeeper_id].add(ln.date)
    group = (InvoiceLine.work_date, InvoiceLine.units)
    on_days = (InvoiceLine.timekeeper_id == bindparam("tk"),
               InvoiceLine.work_date.in_(bindparam("days", expanding=True)),
               InvoiceLine.line_type == "F", InvoiceLine.invoice_id.not_in(new))
    all_hours = select(*group, func.count()).where(*on_days).group_by(*group)
    withdrawn_hours = (select(*group, func.count()).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
                       .where(*on_days, Invoice.state == "withdrawn").group_by(*group))
    hours: dict[tuple[str, dt.date], list[tuple[str | None, Decimal]]] = defaultdict(list)
    for tk, days in sorted(fee_days.items()):
        params = {"tk": tk_ids[tk], "days": sorted(days), "new": new_ids}
        counts = {(day, units): n for day, units, n in session.execute(all_hours, params)}
        for day, units, n in session.execute(withdrawn_hours, params):
            counts[(day, units)] -= n
        sums: dict[dt.date, Decimal] = {}
        for (day, units), n in counts.items():
            if n:
                sums[day] = sums.get(day, Decimal(0)) + units * n
        for day, total in sums.items():
            hours[(tk, day)].append((None, total))
    # earlier lines with the same timekeeper, day and amount as a new line (duplicate candidates)
    dup_keys: dict[str | None, set[tuple[dt.date, Decimal]]] = defaultdict(set)
    for _, ln in new_lines:
        if ln.line_type in ("F", "E") and (ln.timekeeper_id in tk_ids or not ln.timekeeper_id):
            dup_keys[ln.timekeeper_id or None].add((ln.date, ln.total))
    cols = (Invoice.invoice_number, InvoiceLine.work_date, Timekeeper.tk_id, InvoiceLine.units, InvoiceLine.total,
            InvoiceLine.description, InvoiceLine.line_type, InvoiceLine.expense_code, InvoiceLine.id)
    same = (InvoiceLine.work_date.in_(bindparam("days", expanding=True)),
            InvoiceLine.total.in_(bindparam("totals", expanding=True)), Invoice.state != "withdrawn", *earlier)
    by_tk = (select(*cols).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
             .join(Timekeeper, Timekeeper.id == InvoiceLine.timekeeper_id)
             .where(InvoiceLine.timekeeper_id == bindparam("tk"), *same))
    no_tk = (select(*cols).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
             .outerjoin(Timekeeper, Timekeeper.id == InvoiceLine.timekeeper_id)
             .where(InvoiceLine.timekeeper_id.is_(None), *same))
    found: list = []
    for tk, keys in dup_keys.items():
        params = {"days": sorted({d for d, _ in keys}), "totals": sorted({t for _, t in keys}), "new": new_ids}
        rows = session.execute(by_tk, {**params, "tk": tk_ids[tk]}) if tk else session.execute(no_tk, params)
        found += [r for r in rows if (r.work_date, r.total) in keys]
    found.sort(key=lambda r: r[-1])
    lines = [EarlierLine(number, day, tk, units, total, desc or "", ltype, exp)
             for number, day, tk, units, total, desc, ltype, exp, _ in found]
    # the batch's own lines, as stored (they are history for the batch's other invoices)
    for number, ln in new_lines:
        units, total = _plain(ln.units), _plain(ln.total)
        if ln.line_type == "F" and ln.timekeeper_id:
            hours[(ln.timekeeper_id, ln.date)].append((number, units))
        lines.append(EarlierLine(number, ln.date, ln.timekeeper_id, units, total, ln.description, ln.line_type,
                                 ln.expense_code))
    return billed, History(lines, hours=hours)


def _firm_history_bulk(session: Session, firm_id: int, items: list[ScreenItem], new_lines, tks: list[str],
                       matters: list[int]) -> tuple[set[tuple[int, str]], History]:
    """The same for a large batch: the firm's lines on the batch's days, read at once."""
    from triad.firms.models import Timekeeper
    from triad.invoices.models import Invoice, InvoiceLine

    new_ids = [it.invoice_id for it in items]
    days = sorted({ln.date for _, ln in new_lines})
    billed = set(session.execute(
        select(InvoiceLine.matter_id, Timekeeper.tk_id).join(Timekeeper, Timekeeper.id == InvoiceLine.timekeeper_id)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(Invoice.firm_id == firm_id, Invoice.id.not_in(new_ids), InvoiceLine.matter_id.in_(matters),
               Timekeeper.tk_id.in_(tks)).distinct()).all())
    history = History(
        EarlierLine(number, day, tk, units, total, desc or "", ltype, exp)
        for number, day, tk, units, total, desc, ltype, exp in session.execute(
            select(Invoice.invoice_number, InvoiceLine.work_date, Timekeeper.tk_id, InvoiceLine.units,
                   InvoiceLine.total, InvoiceLine.description, InvoiceLine.line_type, InvoiceLine.expense_code)
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
            .outerjoin(Timekeeper, Timekeeper.id == InvoiceLine.timekeeper_id)
            .where(Invoice.firm_id == firm_id, InvoiceLine.work_date.in_(days),
                   or_(Timekeeper.tk_id.in_(tks), InvoiceLine.timekeeper_id.is_(None)),
                   Invoice.state != "withdrawn")
            .order_by(InvoiceLine.id)))
    return billed, history
