"""Vendor master services. The lifecycle gate (legal review, screening) builds on these."""

from __future__ import annotations

from sqlalchemy.orm import Session

from triad.audit.service import Actor
from triad.core import crud
from triad.vendors.models import Vendor, VendorStatus
from triad.vendors.schemas import VendorCreate, VendorUpdate


def create_vendor(*, session: Session, data: VendorCreate, actor: Actor) -> Vendor:
    """Create a vendor in ``draft``; it cannot be paid or engaged until activated."""
    return crud.create(session=session, model=Vendor, data=data, actor=actor, status=VendorStatus.draft)


def update_vendor(*, session: Session, obj: Vendor, data: VendorUpdate, actor: Actor) -> Vendor:
    return crud.update(session=session, obj=obj, data=data, actor=actor)
