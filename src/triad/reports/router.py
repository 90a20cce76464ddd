from fastapi import APIRouter
from pydantic import BaseModel

from triad.auth.deps import CurrentUser, DbSession, require
from triad.core.permissions import Perm
from triad.core.schemas import AmountIn
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


routers = [router]
