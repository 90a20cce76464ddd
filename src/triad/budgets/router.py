from pydantic import BaseModel

from triad.budgets import schemas as s
from triad.budgets.models import Budget
from triad.core.crud_router import Resource, build_router
from triad.core.permissions import Perm


class BudgetFilters(BaseModel):
    matter_id: int | None = None
    vendor_id: int | None = None
    fiscal_period: str | None = None
    utbms_code: str | None = None


routers = [
    build_router(Resource(
        path="/budgets", model=Budget, read=s.BudgetRead, create=s.BudgetCreate, update=s.BudgetUpdate,
        read_perm=Perm.budgets_read, write_perm=Perm.budgets_write, filters=BudgetFilters)),
]
