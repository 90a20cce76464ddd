"""Vendor master API: the record (generic CRUD with the vendor service plugged in) and the workflow
actions — lifecycle moves through the gate, legal review, four-eyes decisions, screening, conflicts.

No ``from __future__ import annotations`` here: FastAPI reads the annotations at definition time.
"""

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from triad.audit.service import Actor
from triad.auth.deps import CurrentUser, DbSession, require
from triad.auth.scoping import get_visible
from triad.core.crud_router import Resource, build_router
from triad.core.errors import NotFound, PermissionDenied
from triad.core.permissions import Perm, has
from triad.idempotency.api import idempotent
from triad.vendors import merge, screening, service, sync
from triad.vendors import schemas as s
from triad.vendors.models import ScreeningHit, Vendor, VendorConflict, VendorDuplicate, VendorPendingChange


class VendorFilters(BaseModel):
    status: str | None = None
    country: str | None = None
    risk_tier: str | None = None
    screening_status: str | None = None


def _visible_vendor(session, user, vendor_id: int) -> Vendor:
    vendor = get_visible(session, Vendor, vendor_id, user)
    if vendor is None:
        raise NotFound(f"no vendor with id {vendor_id}")
    return vendor


def _need(user, perm: Perm) -> None:
    if not has(user.role, perm):
        raise PermissionDenied(f"your role ({user.role}) lacks the permission {perm.value}")


actions = APIRouter(prefix="/vendors", tags=["vendors"])


@actions.post("/{item_id}/transitions", response_model=s.VendorRead, dependencies=[require(Perm.vendors_read)],
              summary="Move a vendor along its lifecycle (activation passes the legal-review gate)")
def move_vendor(item_id: int, body: s.TransitionIn, session: DbSession, user: CurrentUser):
    vendor = _visible_vendor(session, user, item_id)
    service.transition(session=session, vendor=vendor, to=body.to, actor=Actor.of(user), user=user,
                       reason=body.reason)
    session.commit()
    session.refresh(vendor)
    return s.VendorRead.model_validate(vendor)


@actions.post("/{item_id}/review", response_model=s.VendorRead, dependencies=[require(Perm.vendors_read)],
              summary="Record the legal review of a vendor pending review (completed or rejected)")
def review_vendor(item_id: int, body: s.ReviewIn, session: DbSession, user: CurrentUser):
    vendor = _visible_vendor(session, user, item_id)
    _need(user, Perm.vendors_review)
    service.record_review(session=session, vendor=vendor, reviewer=user, outcome=body.outcome, note=body.note)
    session.commit()
    session.refresh(vendor)
    return s.VendorRead.model_validate(vendor)


@actions.post("/{item_id}/screen", response_model=list[s.HitRead], dependencies=[require(Perm.vendors_read)],
              summary="Screen a vendor's names against the current sanctions lists; returns the new hits")
def screen_vendor(item_id: int, session: DbSession, user: CurrentUser):
    vendor = _visible_vendor(session, user, item_id)
    _need(user, Perm.vendors_review)
    hits = screening.screen_vendor(session=session, vendor=vendor, actor=Actor.of(user))
    session.commit()
    return [s.HitRead.model_validate(h) for h in hits]


@actions.get("/hits", response_model=list[s.HitRead], dependencies=[require(Perm.vendors_review)],
             summary="Sanctions screening matches (open ones block activation)")
def list_hits(session: DbSession, status: str = "open"):
    rows = session.scalars(select(ScreeningHit).where(ScreeningHit.status == status).order_by(ScreeningHit.id)
                           .limit(500))
    return [s.HitRead.model_validate(r) for r in rows]


@actions.post("/hits/{hit_id}/clear", response_model=s.HitRead, dependencies=[require(Perm.vendors_read)],
              summary="Clear a screening match as not the vendor, with a reason")
def clear_hit(hit_id: int, body: s.ClearHitIn, session: DbSession, user: CurrentUser):
    hit = session.get(ScreeningHit, hit_id)
    if hit is None or get_visible(session, Vendor, hit.vendor_id, user) is None:
        raise NotFound(f"no screening hit with id {hit_id}")
    _need(user, Perm.vendors_review)
    screening.clear_hit(session=session, hit=hit, reviewer=user, reason=body.reason)
    session.commit()
    return s.HitRead.model_validate(hit)


@actions.get("/conflicts", response_model=list[s.ConflictRead], dependencies=[require(Perm.vendors_review)],
             summary="Fields sent by a system that does not own them, waiting for the owner's decision")
def list_conflicts(session: DbSession, status: str = "open"):
    rows = session.scalars(select(VendorConflict).where(VendorConflict.status == status).order_by(VendorConflict.id)
                           .limit(500))
    return [s.ConflictRead.model_validate(r) for r in rows]


@actions.post("/conflicts/{conflict_id}/resolve", response_model=s.ConflictRead,
              dependencies=[require(Perm.vendors_read)],
              summary="The field's owner accepts (applies, through the gate) or rejects a queued conflict")
def resolve_conflict(conflict_id: int, body: s.ResolveIn, session: DbSession, user: CurrentUser):
    conflict = session.get(VendorConflict, conflict_id)
    if conflict is None or get_visible(session, Vendor, conflict.vendor_id, user) is None:
        raise NotFound(f"no conflict with id {conflict_id}")
    sync.resolve_conflict(session=session, conflict=conflict, accept=body.accept, user=user, reason=body.reason)
    session.commit()
    return s.ConflictRead.model_validate(conflict)


@actions.get("/duplicates", response_model=list[s.DuplicateRead], dependencies=[require(Perm.vendors_read)],
             summary="Likely duplicate vendors (similar name, same bank account), flagged for a person to merge; "
                     "procurement (vendors.write) and the legal reviewers who decide them (vendors.review)")
def list_duplicates(session: DbSession, user: CurrentUser, status: str = "open"):
    if not (has(user.role, Perm.vendors_write) or has(user.role, Perm.vendors_review)):
        raise PermissionDenied(f"your role ({user.role}) lacks the permission {Perm.vendors_write.value} or "
                               f"{Perm.vendors_review.value}")
    rows = session.scalars(select(VendorDuplicate).where(VendorDuplicate.status == status)
                           .order_by(VendorDuplicate.id).limit(500))
    return [s.DuplicateRead.model_validate(r) for r in rows]


def _visible_flag(session, user, duplicate_id: int) -> VendorDuplicate:
    flag = session.get(VendorDuplicate, duplicate_id)
    if flag is None or get_visible(session, Vendor, flag.vendor_id, user) is None or get_visible(
            session, Vendor, flag.other_vendor_id, user) is None:
        raise NotFound(f"no duplicate flag with id {duplicate_id}")
    return flag


@actions.post("/duplicates/{duplicate_id}/dismiss", response_model=s.DuplicateRead,
              dependencies=[require(Perm.vendors_read)],
              summary="A legal reviewer dismisses a likely-duplicate flag, with a reason (it does not come back)")
def dismiss_duplicate(duplicate_id: int, body: s.DismissIn, session: DbSession, user: CurrentUser):
    flag = _visible_flag(session, user, duplicate_id)
    merge.dismiss(session=session, flag=flag, user=user, reason=body.reason)
    session.commit()
    return s.DuplicateRead.model_validate(flag)


@actions.post("/duplicates/{duplicate_id}/merge", response_model=s.MergeRead,
              dependencies=[require(Perm.vendors_read)],
              summary="A legal reviewer merges the two flagged vendors into the survivor (refused, listing every "
                      "problem, when they are distinct legal entities)")
def merge_duplicate(duplicate_id: int, body: s.MergeIn, session: DbSession, user: CurrentUser):
    flag = _visible_flag(session, user, duplicate_id)
    result = merge.merge(session=session, flag=flag, survivor_id=body.survivor_id, user=user, reason=body.reason)
    session.commit()
    return s.MergeRead(duplicate=s.DuplicateRead.model_validate(flag), **result.__dict__)


@actions.post("/import", dependencies=[require(Perm.vendors_read), idempotent()],
              summary="Import a vendor file (CSV or JSON) from procurement or legal; the report of the CLI's --json",
              responses={200: {"description": "Applied (or, with dry_run, what would be); with partial, the bad "
                                              "rows are listed too"},
                         422: {"description": "Refused: every bad row is listed (file, line, field); nothing "
                                              "changed"}})
def import_vendor_file(file: Annotated[UploadFile, File(description="The vendor file (columns: docs/vendors.md)")],
                       session: DbSession, user: CurrentUser, source: str = "procurement", dry_run: bool = False,
                       partial: bool = False):
    from triad.invoices.router import read_upload

    _need(user, Perm.vendors_review if source == "legal" else Perm.vendors_write)
    report = sync.import_vendors(session=session, data=read_upload(file), filename=file.filename or "upload",
                                 source=source, actor=Actor.of(user), dry_run=dry_run, partial=partial)
    if report.applied:
        session.commit()
    body = report.as_dict()
    if report.errors and not report.applied and not (dry_run and partial):
        problem = {"type": "about:blank", "title": "Vendor file refused", "status": 422,
                   "detail": f"{report.file}: {len({e['line'] for e in report.errors})} bad row(s); nothing was "
                             "applied", **body}
        return JSONResponse(jsonable_encoder(problem), status_code=422, media_type="application/problem+json")
    return JSONResponse(jsonable_encoder(body), status_code=200)


@actions.get("/changes", response_model=list[s.PendingChangeRead], dependencies=[require(Perm.vendors_write)],
             summary="Bank and tax changes to active vendors, waiting for a second approval (four eyes)")
def list_changes(session: DbSession, status: str = "pending"):
    rows = session.scalars(select(VendorPendingChange).where(VendorPendingChange.status == status)
                           .order_by(VendorPendingChange.id).limit(500))
    return [s.PendingChangeRead.model_validate(r) for r in rows]


@actions.post("/changes/{change_id}/decision", response_model=s.PendingChangeRead,
              dependencies=[require(Perm.vendors_read)],
              summary="Approve (apply) or reject a held bank or tax change; not by the person who requested it")
def decide_change(change_id: int, body: s.DecisionIn, session: DbSession, user: CurrentUser):
    change = session.get(VendorPendingChange, change_id)
    if change is None or get_visible(session, Vendor, change.vendor_id, user) is None:
        raise NotFound(f"no pending change with id {change_id}")
    _need(user, Perm.vendors_write)
    service.decide_change(session=session, change=change, approve=body.approve, actor=Actor.of(user),
                          reason=body.reason)
    session.commit()
    return s.PendingChangeRead.model_validate(change)


routers = [
    actions,
    build_router(Resource(
        path="/vendors", model=Vendor, read=s.VendorRead, create=s.VendorCreate, update=s.VendorUpdate,
        read_perm=Perm.vendors_read, write_perm=Perm.vendors_write, filters=VendorFilters,
        search=("legal_name", "name_key"), create_fn=service.create_vendor, update_fn=service.update_vendor)),
]
