import datetime as dt
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from triad.auth.deps import CurrentUser, DbSession, require
from triad.core.errors import NotFound
from triad.core.permissions import Perm
from triad.core.schemas import AmountIn
from triad.reports import vendor_risk as vr
from triad.reports.service import exception_rates


class CurrencyAmounts(BaseModel):
    currency: str
    billed: AmountIn
    billed_with_findings: AmountIn
    share_with_findings: AmountIn


class FirmExceptionRate(BaseModel):
    firm_id: int
    firm: str
    invoices: int
    invoices_with_findings: int
    share_of_invoices: AmountIn
    amounts: list[CurrencyAmounts]
    invoices_by_rule: dict[str, int]


router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/exception-rate", response_model=list[FirmExceptionRate],
            summary="Invoice exception rate by firm: share of invoices and of billed amount with guideline findings",
            dependencies=[require(Perm.invoices_read)])
def exception_rate(session: DbSession, user: CurrentUser):
    return [FirmExceptionRate(
        firm_id=f.firm_id, firm=f.firm, invoices=f.invoices, invoices_with_findings=f.invoices_with_findings,
        share_of_invoices=f.invoice_rate, invoices_by_rule=f.by_rule,
        amounts=[CurrencyAmounts(currency=c, billed=f.billed[c], billed_with_findings=f.billed_with_findings.get(c, 0),
                                 share_with_findings=f.amount_rate(c)) for c in sorted(f.billed)])
        for f in exception_rates(session=session, user=user)]


class Money(BaseModel):
    currency: str
    amount: AmountIn


class BusinessUnitServed(BaseModel):
    id: int
    code: str
    name: str
    declared: bool  # listed on the vendor record (else: only through an engagement on an open matter)


class KeyDate(BaseModel):
    kind: str
    due_on: dt.date
    lead_days: int
    description: str | None


class ContractTerms(BaseModel):
    id: int
    title: str
    contract_type: str
    status: str
    value: AmountIn | None
    currency: str | None
    risk_tier: str
    executed_on: dt.date | None
    effective_on: dt.date | None
    expires_on: dt.date | None
    key_dates: list[KeyDate]


class VendorRiskRow(BaseModel):
    vendor_id: int
    vendor: str
    status: str
    risk_tier: str
    screening_status: str
    screened_at: dt.datetime | None
    open_screening_hits: int
    onboarding_pathway: str
    open_matters: int
    invoices: int
    invoices_with_findings: int
    exception_rate: AmountIn
    spend: list[Money]  # approved or paid invoice totals, one entry per currency
    business_units: list[BusinessUnitServed]


class VendorRiskRead(VendorRiskRow):
    contracts: list[ContractTerms]


def _row(r: vr.VendorRisk, model=VendorRiskRow):
    extra = {"contracts": r.contracts} if model is VendorRiskRead else {}
    return model(vendor_id=r.vendor_id, vendor=r.vendor, status=r.status, risk_tier=r.risk_tier,
                 screening_status=r.screening_status, screened_at=r.screened_at, open_screening_hits=r.open_hits,
                 onboarding_pathway=r.onboarding_pathway, open_matters=r.open_matters, invoices=r.invoices,
                 invoices_with_findings=r.invoices_with_findings, exception_rate=r.exception_rate,
                 spend=[Money(currency=c, amount=r.spend[c]) for c in sorted(r.spend)],
                 business_units=r.business_units, **extra)


vendor_risk_router = APIRouter(prefix="/vendors", tags=["vendors"])


@vendor_risk_router.get("/{item_id}/risk", response_model=VendorRiskRead, dependencies=[require(Perm.vendors_risk)],
                        summary="Aggregate risk of one vendor across all business units (internal roles only)")
def vendor_risk(item_id: int, session: DbSession, user: CurrentUser):
    rows = vr.vendor_risks(session=session, user=user, vendor_ids=[item_id], with_contracts=True)
    if not rows:
        raise NotFound(f"no vendor with id {item_id}")
    return _row(rows[0], VendorRiskRead)


@router.get("/vendor-risk", response_model=list[VendorRiskRow], dependencies=[require(Perm.vendors_risk)],
            summary="Vendor risk portfolio, sorted by risk (tier, open screening hits, exception rate, spend)")
def vendor_risk_portfolio(session: DbSession, user: CurrentUser,
                          sort: Literal[vr.SORTS] = "risk",  # type: ignore[valid-type]
                          direction: Literal["asc", "desc"] | None = None,
                          currency: str = Query("USD", pattern="^[A-Z]{3}$",
                                                description="the currency spend is compared in"),
                          limit: int = Query(1000, ge=1, le=100000), offset: int = Query(0, ge=0)):
    rows = vr.sort_portfolio(vr.vendor_risks(session=session, user=user), sort=sort, currency=currency,
                             descending=None if direction is None else direction == "desc")
    return [_row(r) for r in rows[offset:offset + limit]]


class PathwayRead(BaseModel):
    pathway: str
    vendors: int
    activated: int
    measured: int  # activated vendors with an executed contract: the base of the two figures below
    median_days_to_activation: AmountIn | None
    average_days_to_activation: AmountIn | None
    incidents: int
    screening_hits: int
    suspensions: int
    guideline_rejections: int
    vendors_with_incidents: int
    incidents_per_vendor: AmountIn


class VendorOnboardingRow(BaseModel):
    vendor_id: int
    vendor: str
    onboarding_pathway: str
    status: str
    contract_executed_on: dt.date | None
    activated_at: dt.datetime | None
    days_to_activation: int | None
    incidents: int
    screening_hits: int
    suspensions: int
    guideline_rejections: int


class OnboardingReport(BaseModel):
    pathways: list[PathwayRead]
    vendors: list[VendorOnboardingRow]


@router.get("/vendor-onboarding", response_model=OnboardingReport, dependencies=[require(Perm.vendors_risk)],
            summary="Days from contract execution to vendor activation, and risk incidents, by onboarding pathway")
def vendor_onboarding(session: DbSession):
    paths, rows = vr.onboarding_metrics(session=session)
    return OnboardingReport(
        pathways=[PathwayRead(pathway=p.pathway, vendors=p.vendors, activated=p.activated, measured=p.measured,
                              median_days_to_activation=p.median_days, average_days_to_activation=p.average_days,
                              incidents=p.incidents, screening_hits=p.screening_hits, suspensions=p.suspensions,
                              guideline_rejections=p.guideline_rejections,
                              vendors_with_incidents=p.vendors_with_incidents,
                              incidents_per_vendor=p.incidents_per_vendor) for p in paths],
        vendors=[VendorOnboardingRow(vendor_id=r.vendor_id, vendor=r.vendor, onboarding_pathway=r.onboarding_pathway,
                                     status=r.status, contract_executed_on=r.contract_executed_on,
                                     activated_at=r.activated_at, days_to_activation=r.days_to_activation,
                                     incidents=r.incidents, screening_hits=r.screening_hits,
                                     suspensions=r.suspensions, guideline_rejections=r.guideline_rejections)
                 for r in rows])


routers = [vendor_risk_router, router]
