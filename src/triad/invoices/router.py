from pydantic import BaseModel

from triad.core.crud_router import Resource, build_router
from triad.core.permissions import Perm
from triad.invoices import schemas as s
from triad.invoices.models import Invoice


class InvoiceFilters(BaseModel):
    firm_id: int | None = None
    state: str | None = None
    currency: str | None = None


routers = [
    build_router(Resource(
        path="/invoices", model=Invoice, read=s.InvoiceRead, read_perm=Perm.invoices_read,
        filters=InvoiceFilters, search=("invoice_number", "description"))),
]
