"""Aggregate vendor risk and onboarding metrics (issue 6, points 5 and 6; docs/decisions/0014).

Read-only. Every figure is computed with a handful of bulk queries over all vendors (or the ones asked
for), never one query per vendor. Amounts are summed with Decimal in Python and kept per currency: SQL
``SUM`` over amount columns would give floats on SQLite, and currencies are never added together.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triad.ap.models import InvoiceCredit
from triad.contracts.models import Contract, ContractKeyDate
from triad.core.money import quantize
from triad.firms.models import LawFirm
from triad.guidelines.models import InvoiceFinding
from triad.invoices.models import Invoice, InvoiceStateChange
from triad.matters.models import Engagement, Matter
from triad.org.models import BusinessUnit
from triad.reports.service import exception_rates
from triad.vendors.models import ScreeningHit, Vendor, VendorBusinessUnit, VendorStatusChange

# invoice states that count as spend: approved by the company, whether or not paid yet
SPEND_STATES = ("approved", "sent_to_ap", "partially_paid", "paid")
TIER_RANK = {"high": 3, "medium": 2, "low": 1}
PATHWAYS = ("self_service", "procurement", "legal")
SORTS = ("risk", "name", "risk_tier", "open_hits", "exception_rate", "spend", "open_matters")
_CHUNK = 900


def _chunks(ids: list[int]):
    for k in range(0, len(ids), _CHUNK):
        yield ids[k:k + _CHUNK]


@dataclass
class VendorRisk:
    vendor_id: int
    vendor: str
    status: str
    risk_tier: str
    screening_status: str
    screened_at: dt.datetime | None
    onboarding_pathway: str
    open_hits: int = 0
    open_matters: int = 0
    invoices: int = 0
    invoices_with_findings: int = 0
    spend: dict[str, Decimal] = field(default_factory=dict)  # currency -> approved/paid invoice total less credits
    business_units: list[dict] = field(default_factory=list)  # {id, code, name, declared}
    contracts: list[dict] = field(default_factory=list)

    @property
    def exception_rate(self) -> Decimal:
        if not self.invoices:
            return Decimal("0.0000")
        return (Decimal(self.invoices_with_findings) / self.invoices).quantize(Decimal("0.0001"))


def vendor_risks(*, session: Session, user, vendor_ids: Collection[int] | None = None,
                 with_contracts: bool = False) -> list[VendorRisk]:
    """Risk figures for every vendor (or those in ``vendor_ids``), across all business units.

    Args:
        session: the database session.
        user: the reader; invoices are counted as ``exception_rates`` counts them for this user.
        vendor_ids: limit to these vendors; None for all.
        with_contracts: also load each vendor's contracts and their key dates (the one-vendor view).

    Returns:
        One ``VendorRisk`` per vendor, ordered by id.
    """
    vq = select(Vendor.id, Vendor.legal_name, Vendor.status, Vendor.risk_tier, Vendor.screening_status,
                Vendor.screened_at, Vendor.onboarding_pathway).order_by(Vendor.id)
    if vendor_ids is not None:
        vq = vq.where(Vendor.id.in_(list(vendor_ids) or [0]))
    out = {r.id: VendorRisk(r.id, r.legal_name, r.status, r.risk_tier, r.screening_status, r.screened_at,
                            r.onboarding_pathway) for r in session.execute(vq)}
    if not out:
        return []
    wanted = list(out) if vendor_ids is not None else None

    def only(stmt, column):
        return stmt if wanted is None else stmt.where(column.in_(wanted))

    firm_vendor = dict(session.execute(only(select(LawFirm.id, LawFirm.vendor_id), LawFirm.vendor_id)).all())
    for vid, n in session.execute(only(select(ScreeningHit.vendor_id, func.count()).where(
            ScreeningHit.status == "open").group_by(ScreeningHit.vendor_id), ScreeningHit.vendor_id)):
        if vid in out:
            out[vid].open_hits = n
    # spend: exact decimals summed here, per currency
    for vid, amount, currency in session.execute(only(select(Invoice.vendor_id, Invoice.total_amount,
                                                             Invoice.currency)
                                                      .where(Invoice.state.in_(SPEND_STATES)), Invoice.vendor_id)):
        if vid in out:
            spend = out[vid].spend
            spend[currency] = spend.get(currency, Decimal(0)) + amount
    # credit notes and write-downs against those invoices reduce the spend (in the credit's currency)
    credit_stmt = (select(Invoice.vendor_id, InvoiceCredit.amount, InvoiceCredit.currency)
                   .join(Invoice, Invoice.id == InvoiceCredit.invoice_id).where(Invoice.state.in_(SPEND_STATES)))
    for vid, amount, currency in session.execute(only(credit_stmt, Invoice.vendor_id)):
        if vid in out:
            spend = out[vid].spend
            spend[currency] = spend.get(currency, Decimal(0)) - amount
    # exception rate: the firm-level report, added up per vendor
    for vr in out.values():
        vr.spend = {c: quantize(a, c) for c, a in vr.spend.items()}
    firm_ids = None if wanted is None else list(firm_vendor)
    for fe in exception_rates(session=session, user=user, firm_ids=firm_ids):
        vr = out.get(firm_vendor.get(fe.firm_id))
        if vr is not None:
            vr.invoices += fe.invoices
            vr.invoices_with_findings += fe.invoices_with_findings
    # open matters: distinct open matters the vendor's firms are engaged on; their business units
    served: dict[int, set[int]] = defaultdict(set)
    matters: dict[int, set[int]] = defaultdict(set)
    for vid, matter_id, bu_id in session.execute(only(
            select(LawFirm.vendor_id, Matter.id, Matter.business_unit_id)
            .join(Engagement, Engagement.firm_id == LawFirm.id).join(Matter, Matter.id == Engagement.matter_id)
            .where(Matter.status == "open"), LawFirm.vendor_id)):
        matters[vid].add(matter_id)
        served[vid].add(bu_id)
    declared: dict[int, set[int]] = defaultdict(set)
    for vid, bu_id in session.execute(only(select(VendorBusinessUnit.vendor_id, VendorBusinessUnit.business_unit_id),
                                           VendorBusinessUnit.vendor_id)):
        declared[vid].add(bu_id)
    bu_ids = set().union(*served.values(), *declared.values())
    units = {b.id: b for b in session.execute(select(BusinessUnit.id, BusinessUnit.code, BusinessUnit.name)
                                              .where(BusinessUnit.id.in_(bu_ids or {0})))}
    for vid, vr in out.items():
        vr.open_matters = len(matters.get(vid, ()))
        ids = declared.get(vid, set()) | served.get(vid, set())
        vr.business_units = sorted(({"id": i, "code": units[i].code, "name": units[i].name,
                                     "declared": i in declared.get(vid, ())} for i in ids if i in units),
                                   key=lambda b: b["code"])
    if with_contracts:
        contracts = list(session.scalars(select(Contract).where(Contract.vendor_id.in_(list(out)))
                                         .order_by(Contract.id)))
        keys: dict[int, list] = defaultdict(list)
        for k in session.scalars(select(ContractKeyDate).where(
                ContractKeyDate.contract_id.in_([c.id for c in contracts] or [0])).order_by(ContractKeyDate.due_on)):
            keys[k.contract_id].append({"kind": k.kind, "due_on": k.due_on, "lead_days": k.lead_days,
                                        "description": k.description})
        for c in contracts:
            out[c.vendor_id].contracts.append({
                "id": c.id, "title": c.title, "contract_type": c.contract_type, "status": c.status,
                "value": quantize(c.value, c.currency) if c.value is not None and c.currency else c.value,
                "currency": c.currency, "risk_tier": c.risk_tier, "executed_on": c.executed_on,
                "effective_on": c.effective_on, "expires_on": c.expires_on, "key_dates": keys.get(c.id, [])})
    return list(out.values())


def sort_portfolio(rows: list[VendorRisk], *, sort: str = "risk", currency: str = "USD",
                   descending: bool | None = None) -> list[VendorRisk]:
    """Order the portfolio. ``risk``: risk tier, then open screening hits, exception rate, then spend in
    ``currency`` (currencies are never added, so spend compares in one currency), all highest first; the
    vendor name breaks ties. Other sorts order by that one column (names A→Z, figures highest first)."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")

    def spend(r: VendorRisk) -> Decimal:
        return r.spend.get(currency, Decimal(0))

    keys = {
        "risk": lambda r: (TIER_RANK.get(r.risk_tier, 0), r.open_hits, r.exception_rate, spend(r)),
        "risk_tier": lambda r: TIER_RANK.get(r.risk_tier, 0),
        "open_hits": lambda r: r.open_hits,
        "exception_rate": lambda r: r.exception_rate,
        "spend": spend,
        "open_matters": lambda r: r.open_matters,
    }
    by_name = sorted(rows, key=lambda r: (r.vendor.casefold(), r.vendor_id))
    if sort == "name":
        return list(reversed(by_name)) if descending else by_name
    # stable sort on the name order: ties stay alphabetical
    return sorted(by_name, key=keys[sort], reverse=True if descending is None else descending)


# ---- onboarding metrics ------------------------------------------------------------------------------------

@dataclass
class VendorOnboarding:
    vendor_id: int
    vendor: str
    onboarding_pathway: str
    status: str
    contract_executed_on: dt.date | None  # the vendor's earliest executed contract
    activated_at: dt.datetime | None  # first activation (UTC)
    screening_hits: int = 0
    suspensions: int = 0
    guideline_rejections: int = 0

    @property
    def days_to_activation(self) -> int | None:
        if self.contract_executed_on is None or self.activated_at is None:
            return None
        return (self.activated_at.astimezone(dt.UTC).date() - self.contract_executed_on).days

    @property
    def incidents(self) -> int:
        return self.screening_hits + self.suspensions + self.guideline_rejections


@dataclass
class PathwayMetrics:
    pathway: str
    vendors: int = 0
    activated: int = 0
    measured: int = 0  # activated vendors with an executed contract
    median_days: Decimal | None = None
    average_days: Decimal | None = None
    screening_hits: int = 0
    suspensions: int = 0
    guideline_rejections: int = 0
    vendors_with_incidents: int = 0

    @property
    def incidents(self) -> int:
        return self.screening_hits + self.suspensions + self.guideline_rejections

    @property
    def incidents_per_vendor(self) -> Decimal:
        return (Decimal(self.incidents) / self.vendors).quantize(Decimal("0.01")) if self.vendors else Decimal("0.00")


def onboarding_metrics(*, session: Session) -> tuple[list[PathwayMetrics], list[VendorOnboarding]]:
    """Time from contract execution to activation, and risk incidents, per vendor and per onboarding pathway.

    An incident (docs/decisions/0014) is a sanctions screening match found for the vendor (cleared or not),
    a move of the vendor to ``suspended``, or one of its invoices rejected that carries a guideline finding.

    Returns:
        (one ``PathwayMetrics`` per pathway: self_service, procurement, legal, then any other value found;
        one ``VendorOnboarding`` per vendor, ordered by id)
    """
    rows = {r.id: VendorOnboarding(r.id, r.legal_name, r.onboarding_pathway, r.status, None, r.activated_at)
            for r in session.execute(select(Vendor.id, Vendor.legal_name, Vendor.onboarding_pathway, Vendor.status,
                                            Vendor.activated_at).order_by(Vendor.id))}
    for vid, executed in session.execute(select(Contract.vendor_id, func.min(Contract.executed_on))
                                         .where(Contract.executed_on.is_not(None)).group_by(Contract.vendor_id)):
        if vid in rows:
            rows[vid].contract_executed_on = executed
    for vid, n in session.execute(select(ScreeningHit.vendor_id, func.count()).group_by(ScreeningHit.vendor_id)):
        if vid in rows:
            rows[vid].screening_hits = n
    for vid, n in session.execute(select(VendorStatusChange.vendor_id, func.count()).where(
            VendorStatusChange.to_status == "suspended", VendorStatusChange.event == "transition")
            .group_by(VendorStatusChange.vendor_id)):
        if vid in rows:
            rows[vid].suspensions = n
    rejected = select(InvoiceStateChange.invoice_id).where(InvoiceStateChange.to_state == "rejected")
    with_findings = select(InvoiceFinding.invoice_id)
    for vid, n in session.execute(select(Invoice.vendor_id, func.count(Invoice.id)).where(
            Invoice.id.in_(rejected), Invoice.id.in_(with_findings)).group_by(Invoice.vendor_id)):
        if vid in rows:
            rows[vid].guideline_rejections = n
    by_path: dict[str, PathwayMetrics] = {p: PathwayMetrics(p) for p in PATHWAYS}
    days: dict[str, list[int]] = defaultdict(list)
    for r in rows.values():
        pm = by_path.setdefault(r.onboarding_pathway, PathwayMetrics(r.onboarding_pathway))
        pm.vendors += 1
        pm.activated += r.activated_at is not None
        if r.days_to_activation is not None:
            days[r.onboarding_pathway].append(r.days_to_activation)
        pm.screening_hits += r.screening_hits
        pm.suspensions += r.suspensions
        pm.guideline_rejections += r.guideline_rejections
        pm.vendors_with_incidents += r.incidents > 0
    tenth = Decimal("0.1")
    for path, values in days.items():
        pm = by_path[path]
        pm.measured = len(values)
        pm.median_days = statistics.median(sorted(Decimal(v) for v in values)).quantize(tenth)
        pm.average_days = (Decimal(sum(values)) / len(values)).quantize(tenth)
    return list(by_path.values()), list(rows.values())

