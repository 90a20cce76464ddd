from pydantic import BaseModel

from triad.core.crud_router import Resource, build_router
from triad.core.permissions import Perm
from triad.org import schemas as s
from triad.org.models import BusinessUnit, CostCenter, GLAccount


class BusinessUnitFilters(BaseModel):
    is_active: bool | None = None


class CostCenterFilters(BaseModel):
    business_unit_id: int | None = None
    is_active: bool | None = None


class GLAccountFilters(BaseModel):
    kind: str | None = None
    is_active: bool | None = None


routers = [
    build_router(Resource(
        path="/business-units", model=BusinessUnit, read=s.BusinessUnitRead, create=s.BusinessUnitCreate,
        update=s.BusinessUnitUpdate, read_perm=Perm.org_read, write_perm=Perm.org_write,
        filters=BusinessUnitFilters, search=("code", "name"))),
    build_router(Resource(
        path="/cost-centers", model=CostCenter, read=s.CostCenterRead, create=s.CostCenterCreate,
        update=s.CostCenterUpdate, read_perm=Perm.org_read, write_perm=Perm.org_write,
        filters=CostCenterFilters, search=("code", "name"))),
    build_router(Resource(
        path="/gl-accounts", model=GLAccount, read=s.GLAccountRead, create=s.GLAccountCreate,
        update=s.GLAccountUpdate, read_perm=Perm.org_read, write_perm=Perm.org_write,
        filters=GLAccountFilters, search=("number", "name"))),
]
