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

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from triad.audit.service import Actor, record
from triad.core.db import _plain, utcnow
from triad.core.errors import ValidationFailed
from triad.guidelines.model import ApprovedRate, Context, EarlierLine, Finding, History, InvoiceView, Version
from triad.guidelines.models import GuidelineSet, GuidelineVersion
from triad.guidelines.runner import evaluate, evaluate_many
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
    # the invoice's position (``inv``) in the ``columns`` handed to ``screen``, and the classification
    # its view gives each timekeeper ID (the same dict object for every invoice of a firm)
    columns_inv: int | None = None
    classification: dict[str, str | None] | None = None


# Up to this many new lines (an upload or a submission of a few invoices), the history is read with
# indexed lookups restricted to the new lines' keys; above it (bulk imports), the firm's lines on
# the batch's days are read at once.
TARGETED_MAX_LINES = 5_000
TARGETED_MAX_PAIRS = 400
# From this many lines sharing versions and context, the rules run through the pre-filtered batch
# runner (``runner.evaluate_many``: the same findings, a fraction of the time on large imports).
BATCH_MIN_LINES = 2_000
# A batch reads its rules' columns from ``columns`` (the file's LEDES frame) when the caller gives them.
USE_LEDES_COLUMNS = True


def screen(*, session: Session, items: list[ScreenItem], columns=None) -> dict[int, list[Finding]]:
    """Run the guidelines over freshly stored invoices and store the findings (in bulk).

    Shared data (versions, approved rates, earlier lines) is loaded once per firm, not per
    invoice. Returns the findings by invoice id.

    ``columns``: the rules' raw columns of the file the invoices come from (``frame.ledes_columns``
    with each column as the views hold it, except ``cls``, which is taken per group from the items'
    ``classification``); each item names its invoice in them (``columns_inv``). A large group is
    screened from its invoices' rows; without them (or when anything does not match) from the views.
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
        # invoices that share versions and context are screened together: a large group through
        # the pre-filtered batch runner, a small one (a submission) invoice by invoice
        groups: dict[tuple, tuple[Context, list[ScreenItem]]] = {}
        for it in firm_items:
            if it.engagement_id not in version_cache:
                version_cache[it.engagement_id] = versions_for(session=session, firm_id=firm_id,
                                                               engagement_id=it.engagement_id)
            known = frozenset(tk for m, tk in billed if m in it.matter_ids)
            key = (it.engagement_id, it.engagement_currency, known)
            if key not in groups:
                groups[key] = (Context(engagement_currency=it.engagement_currency, approved_rates=rates,
                                       known_timekeepers=known, history=history), [])
            groups[key][1].append(it)
        for (engagement_id, _, _), (ctx, group) in groups.items():
            versions = version_cache[engagement_id]
            if not versions:
                found = [[] for _ in group]
            elif sum(len(it.view.lines) for it in group) >= BATCH_MIN_LINES:
                cols = _group_columns(columns, group) if columns is not None and USE_LEDES_COLUMNS else None
                found = evaluate_many([it.view for it in group], ctx, versions, columns=cols)
            else:
                found = [evaluate(it.view, ctx, versions) for it in group]
            for it, findings in zip(group, found, strict=True):
                out[it.invoice_id] = findings
        for it in firm_items:
            rows += [{"invoice_id": it.invoice_id, "line_no": f.line_no, "source_line": f.source_line, "rule": f.rule,
                      "severity": f.severity, "action": f.action, "message": f.message, "adjustment": f.adjustment,
                      "currency": it.view.currency, "guideline_version": f.guideline_version, "clause": f.clause,
                      "created_at": utcnow()} for f in out[it.invoice_id]]
    from triad.guidelines.models import InvoiceFinding

    for i in range(0, len(rows), 5000):
        session.execute(insert(InvoiceFinding.__table__), rows[i:i + 5000])
    return out


def _group_columns(columns, group: list[ScreenItem]):
    """The rows of ``group``'s invoices in ``columns``, in the group's order with ``inv`` renumbered
    0..k-1 and ``cls`` the classification of the items' views; None when an item has no row or the
    items do not share one classification map (``evaluate_many`` also checks line counts and numbers)."""
    import polars as pl

    rows = [it.columns_inv for it in group]
    classes = group[0].classification
    if (classes is None or any(r is None for r in rows) or len(set(rows)) != len(rows)
            or any(it.classification is not classes for it in group)):
        return None
    renumber = dict(zip(rows, range(len(rows)), strict=True))
    sub = columns.filter(pl.col("inv").is_in(rows)).with_columns(
        pl.col("inv").replace_strict(renumber, return_dtype=pl.UInt32),
        pl.col("tk").replace_strict(classes, default=None, return_dtype=pl.String).alias("cls"))
    if rows != sorted(rows):
        sub = sub.sort("inv", maintain_order=True)
    return sub


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
    # Hours already billed per (timekeeper, day), from the (timekeeper, day, type, units, total,
    # invoice) index alone (a timekeeper is the firm's own, so its lines are the firm's), added up
    # exactly (``_earlier_hours``).
    fee_days: dict[str, set[dt.date]] = defaultdict(set)
    for _, ln in new_lines:
        if ln.line_type == "F" and ln.timekeeper_id in tk_ids:
            fee_days[ln.timekeeper_id].add(ln.date)
    wanted_days = {(tk_ids[tk], day) for tk, days in fee_days.items() for day in days}
    names = {i: tk for tk, i in tk_ids.items()}
    hours: dict[tuple[str, dt.date], list[tuple[str | None, Decimal]]] = defaultdict(list)
    for (k, day), total in sorted(_earlier_hours(session, wanted_days, new_ids).items()):
        hours[(names[k], day)].append((None, total))
    # earlier lines with the same timekeeper, day, type, hours and amount as a new line (duplicate
    # candidates), looked up by those exact values in the same index: the keys as a VALUES table
    # joined to the lines, one index lookup per key (lines without a timekeeper apart)
    keys: dict[bool, set[tuple]] = defaultdict(set)
    for _, ln in new_lines:
        if ln.line_type in ("F", "E") and (ln.timekeeper_id in tk_ids or not ln.timekeeper_id):
            tk = tk_ids[ln.timekeeper_id] if ln.timekeeper_id else None
            keys[tk is not None].add((tk or 0, ln.date, ln.line_type, ln.units, ln.total))
    found: dict[int, tuple] = {}
    for with_tk, wanted_keys in keys.items():
        ordered = sorted(wanted_keys)
        for at in range(0, len(ordered), _KEYS_PER_LOOKUP):
            chunk = ordered[at:at + _KEYS_PER_LOOKUP]
            chunk += [chunk[0]] * (_KEYS_PER_LOOKUP - len(chunk))  # padded: one statement shape, one compilation
            params = {"firm": firm_id, "new": new_ids}
            for n, (k, d, t, u, a) in enumerate(chunk):
                params.update({f"k{n}": k, f"d{n}": d, f"t{n}": t, f"u{n}": u, f"a{n}": a})
            for row in session.execute(_duplicate_lookup(with_tk), params):
                found[row[-1]] = row  # a padded key finds its lines again: once each
    found = [found[i] for i in sorted(found)]
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


def _earlier_hours(session: Session, wanted: set[tuple[int, dt.date]], new_ids: list[int]
                   ) -> dict[tuple[int, dt.date], Decimal]:
    """Hours already billed per wanted (timekeeper id, day) on earlier invoices (not withdrawn, not
    among ``new_ids``): the same Decimal (value and digits) as adding each line's hours one by one.

    Statements take expanding IN lists of timekeepers and days (compiled once per process; the
    index is searched for each pair, pairs not asked for are dropped). On SQLite the lines are
    first added up as floats, with the sum of their sizes and their most decimals
    (``_hours_by_float``): where the float error is provably below a quarter of the last decimal,
    rounding gives the exact total; other pairs, and pairs with lines of withdrawn invoices, are
    added up exactly (``_hours_exact``), as on PostgreSQL."""
    from triad.invoices.models import Invoice, InvoiceLine

    if not wanted:
        return {}
    params = {"tks": sorted({k for k, _ in wanted}), "days": sorted({d for _, d in wanted}), "new": new_ids}
    gone = select(Invoice.id).where(Invoice.state == "withdrawn")
    any_withdrawn = session.execute(gone.limit(1)).first() is not None  # (indexed by state)
    redo = set(wanted)
    out: dict[tuple[int, dt.date], Decimal] = {}
    if session.get_bind().dialect.name == "sqlite":
        found, redo = _hours_by_float(session, params)
        if any_withdrawn:  # pairs with lines of withdrawn invoices: added up exactly, those lines left out
            redo |= set(session.execute(select(InvoiceLine.timekeeper_id, InvoiceLine.work_date).where(
                *_lines_on(), InvoiceLine.invoice_id.in_(gone)).distinct(), params).all())
        out = {key: total for key, total in found.items() if key in wanted and key not in redo}
        redo &= wanted
        if not redo:
            return out
        params = {"tks": sorted({k for k, _ in redo}), "days": sorted({d for _, d in redo}), "new": new_ids}
    out.update({key: total for key, total in _hours_exact(session, params, any_withdrawn).items() if key in redo})
    return out


def _lines_on():
    from triad.invoices.models import InvoiceLine

    return (InvoiceLine.timekeeper_id.in_(bindparam("tks", expanding=True)),
            InvoiceLine.work_date.in_(bindparam("days", expanding=True)),
            InvoiceLine.line_type == "F", InvoiceLine.invoice_id.not_in(bindparam("new", expanding=True)))


def _hours_by_float(session: Session, params: dict
                    ) -> tuple[dict[tuple[int, dt.date], Decimal], set[tuple[int, dt.date]]]:
    """SQLite: per (timekeeper id, day), the lines' hours added up as floats (``total``), with their
    count and their most decimals, in one pass over the covering index (no per-line integer
    arithmetic on text, no sort); pairs with a negative number apart (for them the sum of the
    sizes is not the sum). The exact sum is a multiple of 10^-decimals; the float sum is within
    (n + 2) * sum|units| * 2^-52 of it (each text read to the nearest double, each addition
    rounded; 2^-40 is used, a margin of 4096), so when that bound is below a quarter of
    10^-decimals, rounding the float to that many decimals gives the exact sum. Returns those sums
    and the pairs where it is not so (the caller adds those up exactly)."""
    from sqlalchemy import Float, type_coerce

    from triad.invoices.models import InvoiceLine

    units = type_coerce(InvoiceLine.units, String)
    point = func.instr(units, ".")
    places = func.max(case((point > 0, func.length(units) - point), else_=0))
    key = (InvoiceLine.timekeeper_id, InvoiceLine.work_date)
    stmt = select(*key, func.total(units, type_=Float), func.count(), places).where(*_lines_on()).group_by(*key)
    # pairs with a line whose text does not start with a digit (a negative number): their sum of
    # sizes is not their sum, so they are added up exactly (an index range, not a pass over the lines)
    signed = select(*key).where(*_lines_on(), units < "0").distinct()
    missing: set[tuple[int, dt.date]] = set(session.execute(signed, params).all())
    out: dict[tuple[int, dt.date], Decimal] = {}
    for k, day, total, n, most in session.execute(stmt, params):
        if (k, day) in missing:
            continue
        exact = _rounded_exactly(total, total, n, int(most or 0))
        if exact is None:
            missing.add((k, day))
        else:
            out[(k, day)] = exact
    return out, missing


def _rounded_exactly(total: float, size: float, n: int, places: int) -> Decimal | None:
    """The exact sum of ``n`` decimals of at most ``places`` decimals, from their float sum
    ``total`` and the float sum of their sizes ``size``; None when the float error could reach a
    quarter of the last decimal (or the numbers are not finite)."""
    import math

    if not (math.isfinite(total) and math.isfinite(size)) or places > 20:
        return None
    step = Decimal(1).scaleb(-places)
    bound = (n + 2) * size * 2.0 ** -40  # 2^-52 per read and addition, with a margin of 4096
    if not bound < 0.25 * float(step):
        return None
    try:
        return Decimal(total).quantize(step)
    except ArithmeticError:
        return None


def _hours_exact(session: Session, params: dict, any_withdrawn: bool) -> dict[tuple[int, dt.date], Decimal]:
    """Per (timekeeper id, day), the hours of earlier lines (not withdrawn) added up exactly by the
    database (``_hours_sums``), per number of decimals; lines of withdrawn invoices added up apart
    (only when there are any) and taken off; digits as if added one by one."""
    from triad.invoices.models import Invoice, InvoiceLine

    exact_sum, decimals, plain = _hours_sums(session)
    lines_on = _lines_on()
    group = (InvoiceLine.timekeeper_id, InvoiceLine.work_date, decimals)
    summed = select(*group, exact_sum, func.count()).where(*lines_on)
    withdrawn = Invoice.id == InvoiceLine.invoice_id
    all_hours = summed.where(plain).group_by(*group)
    withdrawn_hours = summed.join(Invoice, withdrawn).where(plain, Invoice.state == "withdrawn").group_by(*group)
    # amounts too long to add up as integers (never seen in practice): one row per distinct value
    single = (InvoiceLine.timekeeper_id, InvoiceLine.work_date, InvoiceLine.units)
    counted = select(*single, func.count()).where(*lines_on)
    long_hours = counted.where(~plain).group_by(*single)
    long_withdrawn = counted.join(Invoice, withdrawn).where(~plain, Invoice.state == "withdrawn").group_by(*single)
    signs = ((1, all_hours), (-1, withdrawn_hours)) if any_withdrawn else ((1, all_hours),)
    long_signs = ((1, long_hours), (-1, long_withdrawn)) if any_withdrawn else ((1, long_hours),)
    # per (timekeeper, day): exact sum and count per number of decimals
    per_day: dict[tuple[int, dt.date], dict[int, list]] = defaultdict(dict)
    for sign, stmt in signs:
        for k, day, places, amount, n in session.execute(stmt, params):
            places = int(places or 0)
            value = Decimal(amount).scaleb(-places) if isinstance(amount, int) else Decimal(amount)
            cur = per_day[(k, day)].setdefault(places, [Decimal(0), 0])
            cur[0] += sign * value
            cur[1] += sign * n
    for sign, stmt in long_signs:
        for k, day, units, n in session.execute(stmt, params):
            places = max(0, -units.as_tuple().exponent)
            cur = per_day[(k, day)].setdefault(places, [Decimal(0), 0])
            cur[0] += sign * units * n
            cur[1] += sign * n
    out: dict[tuple[int, dt.date], Decimal] = {}
    for key, by_places in per_day.items():
        present = [places for places, (_, n) in by_places.items() if n]
        if not present:
            continue
        total = sum((v for v, n in by_places.values() if n), Decimal(0))
        # the same Decimal (value and digits) as adding each line's hours one by one
        out[key] = total.quantize(Decimal(1).scaleb(-max(present)))
    return out


_KEYS_PER_LOOKUP = 64
_LOOKUPS: dict[bool, object] = {}


def _duplicate_lookup(with_tk: bool):
    """Earlier lines of firm ``:firm`` (not withdrawn, not among ``:new``) with the same (timekeeper,
    day, type, hours, amount) as one of ``_KEYS_PER_LOOKUP`` keys ``k0, d0, t0, u0, a0`` ... (without
    a timekeeper: its ``k`` is ignored): a VALUES table joined to the lines, one index seek per key.
    A plain text statement with typed bound parameters, built once per process: SQLAlchemy caches
    its compilation (a ``values()`` construct is compiled again at every execution, and that was
    the largest cost of a submission)."""
    stmt = _LOOKUPS.get(with_tk)
    if stmt is not None:
        return stmt
    from sqlalchemy import text

    from triad.firms.models import Timekeeper
    from triad.invoices.models import Invoice, InvoiceLine

    L, i, t = InvoiceLine.__table__, Invoice.__table__, Timekeeper.__table__
    key_cols = (L.c.timekeeper_id, L.c.work_date, L.c.line_type, L.c.units, L.c.total)
    rows = ", ".join("(" + ", ".join(f":{c}{n}" for c in "kdtua") + ")" for n in range(_KEYS_PER_LOOKUP))
    same = " AND ".join([f"l.{L.c.timekeeper_id.name} = w.k" if with_tk else f"l.{L.c.timekeeper_id.name} IS NULL",
                         *(f"l.{col.name} = w.{c}" for c, col in zip("dtua", key_cols[1:], strict=True))])
    sql = (f"WITH w (k, d, t, u, a) AS (VALUES {rows}) "  # noqa: S608 - names from our own tables, values bound
           f"SELECT i.{i.c.invoice_number.name}, l.{L.c.work_date.name}, tk.{t.c.tk_id.name}, l.{L.c.units.name}, "
           f"l.{L.c.total.name}, l.{L.c.description.name}, l.{L.c.line_type.name}, l.{L.c.expense_code.name}, "
           f"l.{L.c.id.name} FROM w JOIN {L.name} l ON {same} JOIN {i.name} i ON i.{i.c.id.name} = "
           f"l.{L.c.invoice_id.name} LEFT OUTER JOIN {t.name} tk ON tk.{t.c.id.name} = l.{L.c.timekeeper_id.name} "
           f"WHERE i.{i.c.state.name} != 'withdrawn' AND i.{i.c.firm_id.name} = :firm "
           f"AND i.{i.c.id.name} NOT IN :new")
    params = [bindparam("firm", type_=i.c.firm_id.type), bindparam("new", expanding=True, type_=i.c.id.type)]
    for n in range(_KEYS_PER_LOOKUP):
        params += [bindparam(f"{c}{n}", type_=col.type) for c, col in zip("kdtua", key_cols, strict=True)]
    stmt = text(sql).bindparams(*params).columns(
        i.c.invoice_number, L.c.work_date, t.c.tk_id, L.c.units, L.c.total, L.c.description, L.c.line_type,
        L.c.expense_code, L.c.id)
    _LOOKUPS[with_tk] = stmt
    return stmt


def _hours_sums(session: Session):
    """(exact sum of the hours, number of decimals, which lines the sum can take) as SQL.

    PostgreSQL adds numeric exactly. SQLite keeps each number as its shortest decimal text
    (``core.db.Exact``): lines grouped by their number of decimals add up exactly as integers
    once the point is dropped ("1.25" -> 125 hundredths). Texts of more than 15 characters are left
    out of that sum (the caller adds them one value at a time), so it can never overflow.
    """
    from triad.invoices.models import InvoiceLine

    units = InvoiceLine.units
    if session.get_bind().dialect.name == "postgresql":
        return func.sum(units), func.min_scale(units), literal(True)
    text = cast(units, String)
    point = func.instr(text, ".")
    decimals = case((point == 0, 0), else_=func.length(text) - point)
    return (func.sum(cast(func.replace(text, ".", ""), Integer)), decimals, func.length(text) <= 15)


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
