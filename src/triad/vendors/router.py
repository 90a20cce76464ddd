from pydantic import BaseModel

from triad.core.crud_router import Resource, build_router
from triad.core.permissions import Perm
from triad.vendors import schemas as s
from triad.vendors import service
from triad.vendors.models import Vendor


class VendorFilters(BaseModel):
    status: str | None = None
    country: str | None = None
    risk_tier: str | None = None


routers = [
    build_router(Resource(
        path="/vendors", model=Vendor, read=s.VendorRead, create=s.VendorCreate, update=s.VendorUpdate,
        read_perm=Perm.vendors_read, write_perm=Perm.vendors_write, filters=VendorFilters,
        search=("legal_name",), create_fn=service.create_vendor, update_fn=service.update_vendor)),
]
