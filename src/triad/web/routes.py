"""Server-rendered pages. Thin: read the request, call services or scoped queries, render."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select

from triad.auth import service as auth
from triad.auth.deps import SESSION_COOKIE, DbSession
from triad.auth.models import User
from triad.auth.scoping import get_visible, visible_to
from triad.core.errors import NotFound, PermissionDenied
from triad.core.pagination import PageParams, paginate
from triad.core.permissions import Perm, has
from triad.firms.models import LawFirm, Timekeeper
from triad.invoices.models import Invoice
from triad.matters.models import Engagement, Matter
from triad.notifications import service as notes
from triad.vendors.models import Vendor
from triad.web.common import PRE_COOKIE, PageUser, new_nonce, page_user, render, set_cookie

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _safe_next(value: str | None) -> str:
    # Only same-site relative paths: never an open redirect.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _check_form(pu: PageUser, csrf_token: str) -> None:
    """Every state-changing form carries the session's CSRF token."""
    if not auth.check_csrf(pu.token, csrf_token):
        raise PermissionDenied("The form was not sent from this site (CSRF check failed).")


def _need(pu: PageUser, perm: Perm) -> None:
    if not has(pu.user.role, perm):
        raise PermissionDenied("Your role cannot open this page.")


# ---------------------------------------------------------------- login / logout


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: DbSession, next: str | None = None):
    if page_user(request, session):
        return RedirectResponse(_safe_next(next), status_code=303)
    nonce = request.cookies.get(PRE_COOKIE) or new_nonce()
    resp = render(request, "login.html", None, next=_safe_next(next), login_csrf=auth.csrf_token(nonce))
    set_cookie(resp, PRE_COOKIE, nonce, max_age=3600)
    return resp


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
):
    nonce = request.cookies.get(PRE_COOKIE)
    if not auth.check_csrf(nonce, csrf_token):
        nonce = new_nonce()
        resp = render(request, "login.html", None, status_code=403, next=_safe_next(next),
                      login_csrf=auth.csrf_token(nonce),
                      error="Your form expired or was not sent from this site. Please try again.")
        set_cookie(resp, PRE_COOKIE, nonce, max_age=3600)
        return resp
    ip = request.client.host if request.client else None
    result = auth.authenticate(session=session, username=username.strip(), password=password, ip=ip)
    if result.user is None:
        session.commit()  # keep the failure count
        resp = render(request, "login.html", None, status_code=429 if result.retry_after else 401,
                      next=_safe_next(next), login_csrf=auth.csrf_token(nonce), error=result.error,
                      username=username)
        if result.retry_after:
            resp.headers["Retry-After"] = str(result.retry_after)
        return resp
    token = auth.start_session(session=session, user=result.user, ip=ip)
    session.commit()
    resp = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(resp, SESSION_COOKIE, token)
    resp.delete_cookie(PRE_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(request: Request, session: DbSession, csrf_token: Annotated[str, Form()] = ""):
    token = request.cookies.get(SESSION_COOKIE)
    if not auth.check_csrf(token, csrf_token):
        raise PermissionDenied("The form was not sent from this site (CSRF check failed).")
    ws = auth.resolve_session(session=session, token=token) if token else None
    if ws is not None:
        auth.end_session(session=session, ws=ws)
    session.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


# ---------------------------------------------------------------- dashboard and notifications


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: DbSession):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    counts = {}
    for label, model, perm in (("Open matters", Matter, Perm.matters_read),
                               ("Invoices", Invoice, Perm.invoices_read),
                               ("Law firms", LawFirm, Perm.firms_read),
                               ("Vendors", Vendor, Perm.vendors_read)):
        if has(pu.user.role, perm):
            stmt = visible_to(model, pu.user)
            if model is Matter:
                stmt = stmt.where(Matter.status == "open")
            counts[label] = session.scalar(select(func.count()).select_from(stmt.subquery()))
    return render(request, "dashboard.html", pu, counts=counts,
                  notifications=notes.unread(session=session, user=pu.user, limit=10))


@router.post("/notifications/{note_id}/read")
def notification_read(request: Request, session: DbSession, note_id: int,
                      csrf_token: Annotated[str, Form()] = ""):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    if not notes.mark_read(session=session, user=pu.user, notification_id=note_id):
        raise NotFound("No such notification.")
    session.commit()
    return RedirectResponse("/", status_code=303)


# ---------------------------------------------------------------- record lists and details


def _list(request: Request, session, pu: PageUser, *, model, perm: Perm, search: tuple, template: str,
          title: str, q: str | None, page: int, order):
    _need(pu, perm)
    stmt = visible_to(model, pu.user)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(*[getattr(model, c).ilike(like) for c in search]))
    params = PageParams(page=page, size=PAGE_SIZE)
    rows, total = paginate(session, stmt.order_by(order), params)
    pages = max(1, -(-total // PAGE_SIZE))
    return render(request, template, pu, rows=rows, total=total, page=page, pages=pages, q=q or "",
                  title=title)


def _detail(session, pu: PageUser, model, perm: Perm, obj_id: int, noun: str):
    _need(pu, perm)
    obj = get_visible(session, model, obj_id, pu.user)
    if obj is None:
        raise NotFound(f"No {noun} with id {obj_id}.")
    return obj


PageNo = Annotated[int, Query(ge=1)]


@router.get("/vendors", response_class=HTMLResponse)
def vendors(request: Request, session: DbSession, q: str | None = None, page: PageNo = 1):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    return _list(request, session, pu, model=Vendor, perm=Perm.vendors_read, search=("legal_name", "country"),
                 template="records/vendors.html", title="Vendors", q=q, page=page, order=Vendor.legal_name)


# the vendor record and its forms: triad.web.vendor_pages


@router.get("/firms", response_class=HTMLResponse)
def firms(request: Request, session: DbSession, q: str | None = None, page: PageNo = 1):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    return _list(request, session, pu, model=LawFirm, perm=Perm.firms_read, search=("name", "ledes_firm_id"),
                 template="records/firms.html", title="Law firms", q=q, page=page, order=LawFirm.name)


@router.get("/firms/{obj_id:int}", response_class=HTMLResponse)
def firm(request: Request, session: DbSession, obj_id: int):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    f = _detail(session, pu, LawFirm, Perm.firms_read, obj_id, "law firm")
    tks = list(session.scalars(visible_to(Timekeeper, pu.user).where(Timekeeper.firm_id == f.id)
                               .order_by(Timekeeper.last_name)))
    engs = list(session.scalars(visible_to(Engagement, pu.user).where(Engagement.firm_id == f.id)))
    return render(request, "records/firm.html", pu, f=f, timekeepers=tks, engagements=engs)


@router.get("/matters", response_class=HTMLResponse)
def matters(request: Request, session: DbSession, q: str | None = None, page: PageNo = 1):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    return _list(request, session, pu, model=Matter, perm=Perm.matters_read, search=("number", "name"),
                 template="records/matters.html", title="Matters", q=q, page=page, order=Matter.number)


@router.get("/matters/{obj_id:int}", response_class=HTMLResponse)
def matter(request: Request, session: DbSession, obj_id: int):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    m = _detail(session, pu, Matter, Perm.matters_read, obj_id, "matter")
    engs = list(session.scalars(visible_to(Engagement, pu.user).where(Engagement.matter_id == m.id)))
    manager = session.get(User, m.manager_id) if m.manager_id else None
    return render(request, "records/matter.html", pu, m=m, engagements=engs, manager=manager)


@router.get("/invoices", response_class=HTMLResponse)
def invoices(request: Request, session: DbSession, q: str | None = None, page: PageNo = 1):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    return _list(request, session, pu, model=Invoice, perm=Perm.invoices_read,
                 search=("invoice_number", "description"), template="records/invoices.html",
                 title="Invoices", q=q, page=page, order=Invoice.invoice_date.desc())


@router.get("/invoices/{obj_id:int}", response_class=HTMLResponse)
def invoice(request: Request, session: DbSession, obj_id: int):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    inv = _detail(session, pu, Invoice, Perm.invoices_read, obj_id, "invoice")
    return _invoice_page(request, pu, inv)


def _invoice_page(request: Request, pu: PageUser, inv: Invoice, error: str | None = None, status_code: int = 200):
    from triad.invoices.service import COUNSEL_MOVES, REASON_CODES
    from triad.invoices.states import TRANSITIONS, State

    moves: list[str] = []
    if has(pu.user.role, Perm.invoices_review):
        moves = sorted(TRANSITIONS[State(inv.state)])
    elif has(pu.user.role, Perm.invoices_submit):
        moves = [m for m, sources in COUNSEL_MOVES.items() if inv.state in sources]
    return render(request, "records/invoice.html", pu, inv=inv, moves=moves, error=error, status_code=status_code,
                  can_decide=has(pu.user.role, Perm.invoices_review) and inv.state == State.in_review,
                  reason_codes=REASON_CODES)


@router.post("/invoices/{obj_id:int}/transition", response_class=HTMLResponse)
def invoice_transition(request: Request, session: DbSession, obj_id: int, to: Annotated[str, Form()],
                       reason: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    from triad.audit.service import Actor
    from triad.invoices.service import COUNSEL_MOVES, transition

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    inv = _detail(session, pu, Invoice, Perm.invoices_read, obj_id, "invoice")
    if not has(pu.user.role, Perm.invoices_review) and not (
            to in COUNSEL_MOVES and inv.state in COUNSEL_MOVES[to] and has(pu.user.role, Perm.invoices_submit)):
        raise PermissionDenied("Your role cannot make this change.")
    return _review_step(request, session, pu, obj_id, f"/invoices/{obj_id}", lambda: transition(
        session=session, invoice=inv, to=to, actor=Actor.of(pu.user), reason=reason.strip() or None))


def _review_step(request: Request, session, pu: PageUser, obj_id: int, done_url: str, step):
    """Run one review service call: commit and go back to the invoice, or show its error there."""
    from triad.core.errors import TriadError

    try:
        step()
    except TriadError as exc:
        session.rollback()
        return _invoice_page(request, pu, session.get(Invoice, obj_id), error=exc.detail, status_code=exc.status)
    session.commit()
    return RedirectResponse(done_url, status_code=303)


@router.post("/invoices/{obj_id:int}/lines/{line_no:int}/decision", response_class=HTMLResponse)
def invoice_line_decision(request: Request, session: DbSession, obj_id: int, line_no: int,
                          decision: Annotated[str, Form()], reason_code: Annotated[str, Form()] = "",
                          approved_total: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    from decimal import Decimal, InvalidOperation

    from triad.audit.service import Actor
    from triad.invoices.service import decide_line

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    inv = _detail(session, pu, Invoice, Perm.invoices_read, obj_id, "invoice")
    _need(pu, Perm.invoices_review)
    try:
        amount = Decimal(approved_total.strip()) if approved_total.strip() else None
    except InvalidOperation:
        return _invoice_page(request, pu, inv, error=f"{approved_total!r} is not an amount", status_code=422)
    return _review_step(request, session, pu, obj_id, f"/invoices/{obj_id}#line-{line_no}", lambda: decide_line(
        session=session, invoice=inv, line_no=line_no, decision=decision, actor=Actor.of(pu.user),
        reason_code=reason_code or None, approved_total=amount))


@router.get("/invoices/upload", response_class=HTMLResponse)
def upload_form(request: Request, session: DbSession):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.invoices_submit)
    return render(request, "invoices/upload.html", pu, result=None)


@router.post("/invoices/upload", response_class=HTMLResponse)
def upload(request: Request, session: DbSession, file: Annotated[UploadFile, File()],
           csrf_token: Annotated[str, Form()] = ""):
    from triad.audit.service import Actor
    from triad.invoices.intake import import_file
    from triad.invoices.router import read_upload

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    _need(pu, Perm.invoices_submit)
    data = read_upload(file)
    result = import_file(session=session, data=data, filename=file.filename or "upload", actor=Actor.of(pu.user),
                         user=pu.user)
    session.commit()
    status = 200 if result.ok or result.already_imported else 422
    return render(request, "invoices/upload.html", pu, result=result, status_code=status)


@router.get("/review", response_class=HTMLResponse)
def review(request: Request, session: DbSession):
    from triad.invoices.service import review_queue

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.invoices_review)
    return render(request, "invoices/queue.html", pu, rows=review_queue(session=session, user=pu.user))


@router.get("/reports/exceptions", response_class=HTMLResponse)
def exceptions_report(request: Request, session: DbSession):
    from triad.reports.service import exception_rates

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.invoices_read)
    return render(request, "reports/exceptions.html", pu, rows=exception_rates(session=session, user=pu.user))


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, session: DbSession, q: str | None = None, page: PageNo = 1):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    return _list(request, session, pu, model=User, perm=Perm.users_read, search=("username", "full_name"),
                 template="records/users.html", title="Users", q=q, page=page, order=User.username)


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, session: DbSession, page: PageNo = 1):
    from triad.audit.models import AuditEvent

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.audit_read)
    params = PageParams(page=page, size=50)
    rows, total = paginate(session, select(AuditEvent).order_by(AuditEvent.seq.desc()), params)
    return render(request, "audit.html", pu, rows=rows, total=total, page=page,
                  pages=max(1, -(-total // 50)), q="")


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    return Response(status_code=204)
