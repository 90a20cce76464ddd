from typing import Annotated

from fastapi import APIRouter, File, UploadFile
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
from triad.invoices import schemas as s
from triad.invoices.intake import import_file
from triad.invoices.models import Invoice
from triad.invoices.service import COUNSEL_MOVES, decide_line, transition


class InvoiceFilters(BaseModel):
    firm_id: int | None = None
    state: str | None = None
    currency: str | None = None


routers = [
    build_router(Resource(
        path="/invoices", model=Invoice, read=s.InvoiceRead, read_perm=Perm.invoices_read,
        filters=InvoiceFilters, search=("invoice_number", "description"))),
]


# -- intake and review ---------------------------------------------------------------
intake_router = APIRouter(prefix="/invoices", tags=["invoices"])


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
                    dependencies=[require(Perm.invoices_read)])
def move_invoice(item_id: int, body: TransitionIn, session: DbSession, user: CurrentUser):
    inv = _visible_invoice(session, user, item_id)
    counsel_ok = body.to in COUNSEL_MOVES and inv.state in COUNSEL_MOVES.get(body.to, set()) and has(
        user.role, Perm.invoices_submit)
    if not has(user.role, Perm.invoices_review) and not counsel_ok:
        raise PermissionDenied("your role can only withdraw its own open invoices or appeal a rejection")
    transition(session=session, invoice=inv, to=body.to, actor=Actor.of(user), reason=body.reason)
    session.commit()
    session.refresh(inv)
    return s.InvoiceRead.model_validate(inv)


@intake_router.post("/{item_id}/lines/{line_no}/decision", response_model=s.InvoiceRead,
                    summary="Accept, adjust or reject one line of an invoice in review",
                    dependencies=[require(Perm.invoices_read)])
def decide(item_id: int, line_no: int, body: DecisionIn, session: DbSession, user: CurrentUser):
    inv = _visible_invoice(session, user, item_id)
    if not has(user.role, Perm.invoices_review):
        raise PermissionDenied(f"your role ({user.role}) lacks the permission {Perm.invoices_review.value}")
    decide_line(session=session, invoice=inv, line_no=line_no, decision=body.decision, actor=Actor.of(user),
                reason_code=body.reason_code, approved_total=body.approved_total, comment=body.comment)
    session.commit()
    session.refresh(inv)
    return s.InvoiceRead.model_validate(inv)


routers.append(intake_router)
