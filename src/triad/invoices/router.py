from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from triad.audit.service import Actor
from triad.auth.deps import CurrentUser, DbSession, require
from triad.auth.scoping import get_visible
from triad.config import get_settings
from triad.core.crud_router import Resource, build_router
from triad.core.errors import (
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from triad.core.permissions import Perm, has
from triad.core.schemas import AmountIn
from triad.idempotency.api import idempotent
from triad.invoices import approvals
from triad.invoices import schemas as s
from triad.invoices.intake import import_file
from triad.invoices.models import ApprovalLevel, Invoice
from triad.invoices.service import (
    COUNSEL_MOVES,
    bulk_approve,
    decide_line,
    move,
    review_queue,
    set_allocations,
)


class InvoiceFilters(BaseModel):
    firm_id: int | None = None
    state: str | None = None
    currency: str | None = None


def _create_level(*, session, data, actor):
    from triad.core import crud

    approvals.check_level(session=session, data=data.model_dump())
    return crud.create(session=session, model=ApprovalLevel, data=data, actor=actor)


def _update_level(*, session, obj, data, actor):
    from triad.core import crud

    merged = {"currency": obj.currency, "approver_id": obj.approver_id,
              "fallback_approver_id": obj.fallback_approver_id, **data.model_dump(exclude_unset=True)}
    approvals.check_level(session=session, data=merged, level_id=obj.id)
    return crud.update(session=session, obj=obj, data=data, actor=actor)


INVOICES = build_router(Resource(
    path="/invoices", model=Invoice, read=s.InvoiceRead, read_perm=Perm.invoices_read,
    filters=InvoiceFilters, search=("invoice_number", "description")))

routers = [
    build_router(Resource(
        path="/approval-levels", model=ApprovalLevel, read=s.ApprovalLevelRead, create=s.ApprovalLevelCreate,
        update=s.ApprovalLevelUpdate, read_perm=Perm.approvals_read, write_perm=Perm.approvals_write,
        search=("name",), create_fn=_create_level, update_fn=_update_level, tags=["approvals"])),
]


# -- intake and review ---------------------------------------------------------------
intake_router = APIRouter(prefix="/invoices", tags=["invoices"])


class QueueItem(BaseModel):
    id: int
    invoice_number: str
    firm_id: int
    firm: str
    state: str
    total_amount: str
    currency: str
    submitted_at: str | None
    findings: int
    rejecting_findings: int
    awaiting: list[str]


@intake_router.get("/review-queue", response_model=list[QueueItem],
                   summary="Invoices waiting for the caller's review or approval, exceptions first",
                   dependencies=[require(Perm.invoices_review)])
def review_queue_api(session: DbSession, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=500)] = 200):
    rows = review_queue(session=session, user=user, limit=limit)
    return [QueueItem(id=inv.id, invoice_number=inv.invoice_number, firm_id=inv.firm_id, firm=inv.firm.name,
                      state=inv.state, total_amount=format(inv.total_amount, "f"), currency=inv.currency,
                      submitted_at=inv.submitted_at.isoformat() if inv.submitted_at else None, findings=n,
                      rejecting_findings=r, awaiting=awaiting) for inv, n, r, awaiting in rows]


class BulkApproveIn(BaseModel):
    invoice_ids: list[int] = Field(min_length=1, max_length=500)
    comment: str | None = Field(default=None, max_length=2000)


class BulkOutcome(BaseModel):
    id: int
    outcome: str  # approved, signed (awaiting a higher level), skipped
    state: str | None
    reason: str | None = None


@intake_router.post("/bulk-approve", response_model=list[BulkOutcome],
                    summary="Approve clean invoices (no findings, no adjusted or rejected lines) in one go",
                    dependencies=[require(Perm.invoices_review), idempotent()])
def bulk_approve_api(body: BulkApproveIn, session: DbSession, user: CurrentUser):
    outcomes = bulk_approve(session=session, user=user, invoice_ids=body.invoice_ids, comment=body.comment)
    session.commit()
    return [BulkOutcome(**o) for o in outcomes]


class AllocationIn(BaseModel):
    matter_id: int
    cost_center_id: int
    gl_account_id: int
    amount: AmountIn


class AllocationsIn(BaseModel):
    allocations: list[AllocationIn] = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=2000)


@intake_router.post("/{item_id}/allocations", response_model=s.InvoiceRead,
                    summary="Replace the invoice's cost allocation before approval (each matter exactly its total)",
                    dependencies=[require(Perm.invoices_read), idempotent()])
def change_allocations(item_id: int, body: AllocationsIn, session: DbSession, user: CurrentUser):
    inv = _visible_invoice(session, user, item_id)
    if not has(user.role, Perm.invoices_review):
        raise PermissionDenied(f"your role ({user.role}) lacks the permission {Perm.invoices_review.value}")
    set_allocations(session=session, invoice=inv, allocations=[a.model_dump() for a in body.allocations],
                    actor=Actor.of(user), reason=body.reason)
    session.commit()
    session.refresh(inv)
    return s.InvoiceRead.model_validate(inv)


@intake_router.get("/{item_id}/approval", summary="The approval steps an invoice needs and those signed",
                   dependencies=[require(Perm.approvals_read)])
def approval_status(item_id: int, session: DbSession, user: CurrentUser) -> dict:
    inv = _visible_invoice(session, user, item_id)
    return approvals.status(session=session, invoice=inv)


def read_upload(file: UploadFile) -> bytes:
    """The uploaded bytes, refusing files over the configured limit (read synchronously: the
    routes using it are plain ``def`` so database work runs in the thread pool, not on the event loop)."""
    limit = get_settings().max_upload_mb * 1024 * 1024
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed(f"{file.filename}: larger than the {get_settings().max_upload_mb} MB upload limit",
                               errors=[{"field": "file", "message": "file too large"}])
    return data


@intake_router.post("", status_code=201, summary="Submit a LEDES file (1998B, 98BI or XML 2.x)",
                    dependencies=[require(Perm.invoices_submit)],
                    responses={200: {"description": "The same file was imported before; nothing changed"},
                               422: {"description": "The file or every invoice in it was refused"}})
def submit_invoices(file: Annotated[UploadFile, File(description="The LEDES file")], session: DbSession,
                    user: CurrentUser):
    data = read_upload(file)
    result = import_file(session=session, data=data, filename=file.filename or "upload", actor=Actor.of(user),
                         user=user)
    session.commit()
    body = result.as_dict()
    if result.already_imported:
        return JSONResponse(body, status_code=200)
    if not result.file_valid or not any(o.status == "stored" for o in result.invoices):
        errors = [{"field": p["field"], "line": p["line"], "code": p["code"], "message": p["message"]}
                  for p in result.problems if p["severity"] == "error"]
        errors += [{"invoice_number": o.invoice_number, **e} for o in result.invoices for e in o.errors]
        problem = {"type": "about:blank", "title": "Invoice refused", "status": 422,
                   "detail": f"{file.filename}: nothing was stored", "errors": errors, **body}
        return JSONResponse(problem, status_code=422, media_type="application/problem+json")
    return JSONResponse(body, status_code=201)


class TransitionIn(BaseModel):
    to: str
    reason: str | None = Field(default=None, max_length=2000)


class DecisionIn(BaseModel):
    decision: str = Field(pattern="^(accepted|adjusted|rejected)$")
    reason_code: str | None = Field(default=None, max_length=40)
    approved_total: AmountIn | None = None
    comment: str | None = Field(default=None, max_length=2000)


def _visible_invoice(session, user, item_id: int) -> Invoice:
    obj = get_visible(session, Invoice, item_id, user)
    if obj is None:
        raise NotFound(f"no invoice with id {item_id}")
    return obj


@intake_router.post("/{item_id}/transitions", response_model=s.InvoiceRead,
                    summary="Move an invoice to another state (review, approve, reject, hold, appeal, withdraw)",
                    dependencies=[require(Perm.invoices_read), idempotent()])
def move_invoice(item_id: int, body: TransitionIn, session: DbSession, user: CurrentUser):
    inv = _visible_invoice(session, user, item_id)
    counsel_ok = body.to in COUNSEL_MOVES and inv.state in COUNSEL_MOVES.get(body.to, set()) and has(
        user.role, Perm.invoices_submit)
    if not has(user.role, Perm.invoices_review) and not counsel_ok:
        raise PermissionDenied("your role can only withdraw its own open invoices or appeal a rejection")
    move(session=session, invoice=inv, to=body.to, user=user, reason=body.reason)
    session.commit()
    session.refresh(inv)
    return s.InvoiceRead.model_validate(inv)


@intake_router.post("/{item_id}/lines/{line_no}/decision", response_model=s.InvoiceRead,
                    summary="Accept, adjust or reject one line of an invoice in review",
                    dependencies=[require(Perm.invoices_read), idempotent()])
def decide(item_id: int, line_no: int, body: DecisionIn, session: DbSession, user: CurrentUser):
    inv = _visible_invoice(session, user, item_id)
    if not has(user.role, Perm.invoices_review):
        raise PermissionDenied(f"your role ({user.role}) lacks the permission {Perm.invoices_review.value}")
    decide_line(session=session, invoice=inv, line_no=line_no, decision=body.decision, actor=Actor.of(user),
                reason_code=body.reason_code, approved_total=body.approved_total, comment=body.comment)
    session.commit()
    session.refresh(inv)
    return s.InvoiceRead.model_validate(inv)


# the workflow routes first: /invoices/review-queue must not be taken for /invoices/{item_id}
routers += [intake_router, INVOICES]
