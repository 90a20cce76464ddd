from pydantic import BaseModel

from triad.core import crud
from triad.core.crud_router import Resource, build_router
from triad.core.permissions import Perm
from triad.firms import schemas as s
from triad.firms.models import LawFirm, Timekeeper


def create_firm(*, session, data: s.LawFirmCreate, actor):
    """A firm links to one vendor and its LAW_FIRM_ID is that vendor's tax ID (vendor master rule)."""
    from triad.vendors.service import check_firm_link

    check_firm_link(session, data.vendor_id, data.ledes_firm_id)
    return crud.create(session=session, model=LawFirm, data=data, actor=actor)


class FirmFilters(BaseModel):
    vendor_id: int | None = None
    panel_member: bool | None = None


class TimekeeperFilters(BaseModel):
    firm_id: int | None = None
    classification: str | None = None
    is_active: bool | None = None


routers = [
    build_router(Resource(
        path="/firms", model=LawFirm, read=s.LawFirmRead, create=s.LawFirmCreate, update=s.LawFirmUpdate,
        read_perm=Perm.firms_read, write_perm=Perm.firms_write, filters=FirmFilters,
        search=("name", "ledes_firm_id"), create_fn=create_firm)),
    build_router(Resource(
        path="/timekeepers", model=Timekeeper, read=s.TimekeeperRead, create=s.TimekeeperCreate,
        update=s.TimekeeperUpdate, read_perm=Perm.firms_read, write_perm=Perm.firms_write,
        filters=TimekeeperFilters, search=("last_name", "first_name", "tk_id"))),
]
