from pydantic import BaseModel

from triad.core import crud
from triad.core.crud_router import Resource, build_router
from triad.core.permissions import Perm
from triad.matters import schemas as s
from triad.matters.models import Engagement, Matter


def create_engagement(*, session, data: s.EngagementCreate, actor):
    """A suspended or deactivated vendor's firm cannot be engaged (vendor master gate)."""
    from triad.vendors.service import ensure_engageable

    ensure_engageable(session, data.firm_id)
    return crud.create(session=session, model=Engagement, data=data, actor=actor)


def update_engagement(*, session, obj: Engagement, data: s.EngagementUpdate, actor):
    from triad.vendors.service import ensure_engageable

    if data.status == "active" and obj.status != "active":
        ensure_engageable(session, obj.firm_id)
    return crud.update(session=session, obj=obj, data=data, actor=actor)


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
        filters=EngagementFilters, search=("firm_matter_id",), create_fn=create_engagement,
        update_fn=update_engagement)),
]
