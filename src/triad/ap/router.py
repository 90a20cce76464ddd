"""AP over the API: routes, exports, payment imports, credits, re-opening, runs, reconciliation."""

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from triad.ap import reconcile
from triad.ap import schemas as s
from triad.ap import service as ap
from triad.ap.models import ApRoute, SyncRun
from triad.audit.service import Actor
from triad.auth.deps import CurrentUser, DbSession, require
from triad.core.crud_router import Resource, build_router
from triad.core.errors import NotFound
from triad.core.permissions import Perm
from triad.idempotency.api import idempotent

router = APIRouter(tags=["ap"])


@router.post("/ap/exports", status_code=201, summary="Export the invoices ready on a route as one batch file",
             dependencies=[require(Perm.ap_write), idempotent()],
             responses={200: {"description": "Dry run, or nothing was ready: nothing changed"}})
def create_export(body: s.ExportIn, session: DbSession, user: CurrentUser):
    res = ap.export(session=session, route_name=body.route, fmt=body.format, actor=Actor.of(user),
                    dry_run=body.dry_run, execution_date=body.execution_date)
    session.commit()
    out = res.as_dict() | {"file": f"/api/v1/ap/batches/{res.batch_id}/file" if res.batch_id else None}
    return JSONResponse(out, status_code=201 if res.batch_id else 200)


@router.get("/ap/batches/{item_id}/file", summary="The exported file, byte for byte",
            dependencies=[require(Perm.ap_read)])
def batch_file(item_id: int, session: DbSession):
    return download(ap.batch_file(session=session, batch_id=item_id))


def download(f) -> Response:
    """A stored file as an attachment, with its content hash."""
    return Response(f.content, media_type=f.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{f.filename}"',
                             "X-Content-SHA256": f.sha256})


@router.post("/ap/imports", summary="Apply a payment-confirmation file (CSV, pain.002, camt.054)",
             dependencies=[require(Perm.ap_write), idempotent()],
             responses={200: {"description": "Applied, already imported, or dry run"},
                        422: {"description": "Refused: every bad entry is listed; nothing changed"}})
def create_import(file: Annotated[UploadFile, File(description="The file from the AP system or bank")],
                  session: DbSession, user: CurrentUser, dry_run: bool = False, partial: bool = False):
    from triad.invoices.router import read_upload

    data = read_upload(file)
    res = ap.import_payments(session=session, data=data, filename=file.filename or "upload", actor=Actor.of(user),
                             dry_run=dry_run, partial=partial)
    session.commit()
    if res.status == "rejected":
        body = {"type": "about:blank", "title": "Payment file refused", "status": 422,
                "detail": f"{res.filename}: {len(res.errors)} problem(s); nothing was applied", **res.as_dict()}
        return JSONResponse(body, status_code=422, media_type="application/problem+json")
    return JSONResponse(res.as_dict(), status_code=200)


@router.post("/invoices/{item_id}/reopen", summary="Take an exported invoice back so it can be exported again",
             dependencies=[require(Perm.ap_write), idempotent()])
def reopen_invoice(item_id: int, body: s.ReopenIn, session: DbSession, user: CurrentUser):
    from triad.invoices.models import Invoice

    inv = session.get(Invoice, item_id)
    if inv is None:
        raise NotFound(f"no invoice with id {item_id}")
    ap.reopen(session=session, invoice=inv, actor=Actor.of(user), reason=body.reason)
    session.commit()
    return {"invoice_id": inv.id, "state": inv.state}


@router.post("/invoices/{item_id}/credits", status_code=201, summary="Record a credit note or write-down",
             dependencies=[require(Perm.ap_write), idempotent()])
def create_credit(item_id: int, body: s.CreditIn, session: DbSession, user: CurrentUser):
    from triad.invoices.models import Invoice

    inv = session.get(Invoice, item_id)
    if inv is None:
        raise NotFound(f"no invoice with id {item_id}")
    credit = ap.add_credit(session=session, invoice=inv, kind=body.kind, amount=body.amount, reason=body.reason,
                           reference=body.reference, actor=Actor.of(user))
    session.commit()
    return {"id": credit.id, "invoice_id": inv.id, "kind": credit.kind, "amount": format(credit.amount, "f"),
            "currency": credit.currency, "due": format(ap.amount_due(session, inv), "f")}


@router.get("/reports/reconciliation", summary="Sent vs confirmed vs paid, differences, FX, stuck invoices",
            dependencies=[require(Perm.ap_read)])
def reconciliation(session: DbSession, stuck_days: Annotated[int, Query(ge=0, le=3650)] = 14,
                   reporting_currency: str = "USD", format: str = "json"):
    from triad.core.errors import ValidationFailed
    from triad.core.money import CurrencyError, currency

    try:
        ccy = currency(reporting_currency)
    except CurrencyError as exc:
        raise ValidationFailed(str(exc),
                               errors=[{"field": "reporting_currency", "message": "unknown currency"}]) from None
    rows = reconcile.report(session=session, stuck_days=stuck_days, reporting_currency=ccy)
    if format == "csv":
        return Response(reconcile.to_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="reconciliation.csv"'})
    return rows


routers = [
    router,
    build_router(Resource(path="/ap-routes", model=ApRoute, read=s.ApRouteRead, create=s.ApRouteCreate,
                          update=s.ApRouteUpdate, read_perm=Perm.ap_read, write_perm=Perm.ap_write, search=("name",),
                          tags=["ap"])),
    build_router(Resource(path="/ap/runs", model=SyncRun, read=s.SyncRunRead, read_perm=Perm.ap_read,
                          search=("filename",), tags=["ap"])),
]
