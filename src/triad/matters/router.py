from pydantic import BaseModel

from triad.core.crud_router import Resource, build_router
from triad.core.permissions import Perm
from triad.matters import schemas as s
from triad.matters.models import Engagement, Matter


class MatterFilters(BaseModel):
    status: str | None = None
    matter_type: str | None = None
    business_unit_id: int | None = None
    cost_center_id: int | None = None
    manager_id: int | None = None


class EngagementFilters(BaseModel):
    firm_id: int | None = None
    matter_id: int | None = None
    status: str | None = None


routers = [
    build_router(Resource(
        path="/matters", model=Matter, read=s.MatterRead, create=s.MatterCreate, update=s.MatterUpdate,
        read_perm=Perm.matters_read, write_perm=Perm.matters_write, filters=MatterFilters,
        search=("number", "name"))),
    build_router(Resource(
        path="/engagements", model=Engagement, read=s.EngagementRead, create=s.EngagementCreate,
        update=s.EngagementUpdate, read_perm=Perm.matters_read, write_perm=Perm.matters_write,
        filters=EngagementFilters, search=("firm_matter_id",))),
]
