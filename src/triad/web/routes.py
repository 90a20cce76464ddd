"""Server-rendered pages. Thin: read the request, call services or scoped queries, render."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import object_session

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
    rows, total = paginate(session, stmt.order_by(*(order if isinstance(order, tuple) else (order,))), params)
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
                 template="records/vendors.html", title="Vendors", q=q, page=page,
                 # by normalised name (case, punctuation and legal form ignored), ties by id: the name_key index
                 # serves it (decision 0037)
                 order=(Vendor.name_key, Vendor.id))


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
    from triad.invoices.service import AP_STATES, COUNSEL_MOVES, REASON_CODES
    from triad.invoices.states import TRANSITIONS, State

    moves: list[str] = []
    if has(pu.user.role, Perm.invoices_review) and inv.state not in AP_STATES:
        moves = sorted(m for m in TRANSITIONS[State(inv.state)] if m not in AP_STATES)
    elif has(pu.user.role, Perm.invoices_submit):
        moves = [m for m, sources in COUNSEL_MOVES.items() if inv.state in sources]
    from triad.invoices.approvals import status as approval_status

    approval = approval_status(session=object_session(inv), invoice=inv) if inv.state in (
        State.in_review, State.approved) and pu.user.role != "outside_counsel" else None
    session = object_session(inv)
    can_allocate = has(pu.user.role, Perm.invoices_review) and inv.state in (State.submitted, State.in_review)
    choices = {}
    if can_allocate:
        from triad.org.models import CostCenter, GLAccount

        matters = {ln.matter_id: ln.matter for ln in inv.lines}
        ccs = select(CostCenter).where(CostCenter.is_active).order_by(CostCenter.code)
        gls = select(GLAccount).where(GLAccount.is_active).order_by(GLAccount.number)
        choices = {"matters": list(matters.values()), "ccs": list(session.scalars(ccs)),
                   "gls": list(session.scalars(gls))}
    return render(request, "records/invoice.html", pu, inv=inv, moves=moves, error=error, status_code=status_code,
                  can_decide=has(pu.user.role, Perm.invoices_review) and inv.state == State.in_review,
                  reason_codes=REASON_CODES, approval=approval, can_allocate=can_allocate, choices=choices)


@router.post("/invoices/{obj_id:int}/allocations", response_class=HTMLResponse)
def invoice_allocations(request: Request, session: DbSession, obj_id: int,
                        matter_id: Annotated[list[str] | None, Form()] = None,
                        cost_center_id: Annotated[list[str] | None, Form()] = None,
                        gl_account_id: Annotated[list[str] | None, Form()] = None,
                        amount: Annotated[list[str] | None, Form()] = None,
                        csrf_token: Annotated[str, Form()] = ""):
    """Replace the allocation from the invoice page; rows with an empty amount are left out."""
    from decimal import InvalidOperation

    from triad.audit.service import Actor
    from triad.core.money import D
    from triad.invoices.service import set_allocations

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    inv = _detail(session, pu, Invoice, Perm.invoices_read, obj_id, "invoice")
    _need(pu, Perm.invoices_review)
    rows = []
    cols = [matter_id or [], cost_center_id or [], gl_account_id or [], amount or []]
    if len({len(c) for c in cols}) != 1:
        return _invoice_page(request, pu, inv, error="The allocation form was incomplete; reload the page.",
                             status_code=422)
    for n, (m, cc, gl, amt) in enumerate(zip(*cols, strict=True), start=1):
        if not amt.strip():
            continue
        try:
            rows.append({"matter_id": int(m), "cost_center_id": int(cc), "gl_account_id": int(gl),
                         "amount": D(amt.strip().replace(",", ""))})
        except (ValueError, TypeError, InvalidOperation):
            return _invoice_page(request, pu, inv, error=f"Allocation row {n}: {amt!r} is not an amount.",
                                 status_code=422)
    if not rows:
        return _invoice_page(request, pu, inv, error="Give at least one allocation row.", status_code=422)
    return _review_step(request, session, pu, obj_id, f"/invoices/{obj_id}#allocation", lambda: set_allocations(
        session=session, invoice=inv, allocations=rows, actor=Actor.of(pu.user), reason="changed on the invoice page"))


@router.post("/invoices/{obj_id:int}/transition", response_class=HTMLResponse)
def invoice_transition(request: Request, session: DbSession, obj_id: int, to: Annotated[str, Form()],
                       reason: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    from triad.invoices.service import COUNSEL_MOVES, move

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    inv = _detail(session, pu, Invoice, Perm.invoices_read, obj_id, "invoice")
    if not has(pu.user.role, Perm.invoices_review) and not (
            to in COUNSEL_MOVES and inv.state in COUNSEL_MOVES[to] and has(pu.user.role, Perm.invoices_submit)):
        raise PermissionDenied("Your role cannot make this change.")
    return _review_step(request, session, pu, obj_id, f"/invoices/{obj_id}", lambda: move(
        session=session, invoice=inv, to=to, user=pu.user, reason=reason.strip() or None))


def _review_step(request: Request, session, pu: PageUser, obj_id: int, done_url: str, step):
    """Run one review service call: commit and go back to the invoice, or show its error there."""
    from triad.core.errors import TriadError

    try:
        step()
    except TriadError as exc:
        session.rollback()
        detail = exc.detail + ("; " + "; ".join(e.get("message", "") for e in exc.errors[:20]) if exc.errors else "")
        return _invoice_page(request, pu, session.get(Invoice, obj_id), error=detail, status_code=exc.status)
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


@router.post("/review/bulk-approve", response_class=HTMLResponse)
def review_bulk_approve(request: Request, session: DbSession,
                        invoice_ids: Annotated[list[int] | None, Form()] = None,
                        csrf_token: Annotated[str, Form()] = ""):
    from triad.invoices.service import bulk_approve, review_queue

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    _need(pu, Perm.invoices_review)
    if not invoice_ids:
        return render(request, "invoices/queue.html", pu, rows=review_queue(session=session, user=pu.user),
                      outcomes=[{"id": "–", "outcome": "nothing selected", "reason": "tick the invoices to approve"}],
                      status_code=422)
    outcomes = bulk_approve(session=session, user=pu.user, invoice_ids=invoice_ids[:500])
    session.commit()
    return render(request, "invoices/queue.html", pu, rows=review_queue(session=session, user=pu.user),
                  outcomes=outcomes)


@router.get("/reports/exceptions", response_class=HTMLResponse)
def exceptions_report(request: Request, session: DbSession):
    from triad.reports.service import exception_rates

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.invoices_read)
    return render(request, "reports/exceptions.html", pu, rows=exception_rates(session=session, user=pu.user))


# ---------------------------------------------------------------- billing guidelines


def _guideline_sets(session, pu: PageUser):
    from triad.guidelines.models import GuidelineSet

    return list(session.scalars(visible_to(GuidelineSet, pu.user).order_by(GuidelineSet.scope, GuidelineSet.id)))


@router.get("/guidelines", response_class=HTMLResponse)
def guidelines(request: Request, session: DbSession):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.guidelines_read)
    firms = list(session.scalars(visible_to(LawFirm, pu.user).order_by(LawFirm.name)))
    return render(request, "guidelines/list.html", pu, sets=_guideline_sets(session, pu), firms=firms,
                  can_write=has(pu.user.role, Perm.guidelines_write), form={}, errors=[], error=None)


@router.get("/guidelines/{obj_id:int}", response_class=HTMLResponse)
def guideline_set(request: Request, session: DbSession, obj_id: int, version: int | None = None):
    from triad.guidelines.models import GuidelineSet

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    gset = _detail(session, pu, GuidelineSet, Perm.guidelines_read, obj_id, "guideline set")
    return _guideline_page(request, pu, gset, version)


def _guideline_page(request: Request, pu: PageUser, gset, version: int | None, *, form: dict | None = None,
                    errors: list | None = None, error: str | None = None, status_code: int = 200):
    import datetime as dt

    shown = next((v for v in gset.versions if v.version_no == version), gset.versions[-1] if gset.versions else None)
    latest = gset.versions[-1] if gset.versions else None
    default_from = max(dt.date.today(), latest.effective_from + dt.timedelta(days=1)) if latest else dt.date.today()
    form = form or {"text": latest.source_text if latest else "", "effective_from": default_from.isoformat(),
                    "effective_to": ""}
    return render(request, "guidelines/set.html", pu, gset=gset, shown=shown, form=form, errors=errors or [],
                  error=error, can_write=has(pu.user.role, Perm.guidelines_write), status_code=status_code)


@router.post("/guidelines/versions", response_class=HTMLResponse)
def guideline_new_version(request: Request, session: DbSession, text: Annotated[str, Form()],
                          effective_from: Annotated[str, Form()], scope: Annotated[str, Form()] = "company",
                          firm_id: Annotated[str, Form()] = "", engagement_id: Annotated[str, Form()] = "",
                          effective_to: Annotated[str, Form()] = "", set_id: Annotated[str, Form()] = "",
                          csrf_token: Annotated[str, Form()] = ""):
    """A new version of a guideline set (from its page) or the first version of a new set (from the list)."""
    import datetime as dt

    from triad.audit.service import Actor
    from triad.core.errors import TriadError
    from triad.guidelines.models import GuidelineSet
    from triad.guidelines.service import load

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    _need(pu, Perm.guidelines_write)
    if set_id and not set_id.strip().isdigit():
        raise NotFound(f"No guideline set {set_id!r}.")
    gset = _detail(session, pu, GuidelineSet, Perm.guidelines_read, int(set_id), "guideline set") if set_id else None
    form = {"text": text, "effective_from": effective_from, "effective_to": effective_to, "scope": scope,
            "firm_id": firm_id, "engagement_id": engagement_id}

    def failed(message: str, errors: list | None = None, status: int = 422):
        session.rollback()
        if gset is not None:
            return _guideline_page(request, pu, session.get(GuidelineSet, gset.id), None, form=form, errors=errors,
                                   error=message, status_code=status)
        firms = list(session.scalars(visible_to(LawFirm, pu.user).order_by(LawFirm.name)))
        return render(request, "guidelines/list.html", pu, sets=_guideline_sets(session, pu), firms=firms,
                      can_write=True, form=form, errors=errors or [], error=message, status_code=status)

    try:
        start = dt.date.fromisoformat(effective_from.strip())
        end = dt.date.fromisoformat(effective_to.strip()) if effective_to.strip() else None
        ids = {k: int(v) if v.strip() else None for k, v in (("firm_id", firm_id), ("engagement_id", engagement_id))}
    except ValueError as exc:
        return failed(f"Dates are YYYY-MM-DD and ids are numbers: {exc}")
    if gset is not None:
        scope, ids = gset.scope, {"firm_id": gset.firm_id, "engagement_id": gset.engagement_id}
    try:
        v = load(session=session, text=text.replace("\r\n", "\n"), scope=scope, effective_from=start,
                 effective_to=end, actor=Actor.of(pu.user), **ids)
    except TriadError as exc:
        return failed(exc.detail, exc.errors, exc.status)
    session.commit()
    return RedirectResponse(f"/guidelines/{v.set_id}?version={v.version_no}", status_code=303)


# ---------------------------------------------------------------- accounts payable


def _ap_page(request: Request, session, pu: PageUser, status_code: int = 200, **ctx):
    from triad.ap.models import ApRoute, SyncRun

    routes = list(session.scalars(select(ApRoute).where(ApRoute.is_active).order_by(ApRoute.priority)))
    runs = list(session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(50)))
    base = {"export": None, "imported": None, "error": None, "errors": []}
    return render(request, "ap/index.html", pu, routes=routes, runs=runs,
                  can_write=has(pu.user.role, Perm.ap_write), status_code=status_code, **(base | ctx))


@router.get("/ap", response_class=HTMLResponse)
def ap_home(request: Request, session: DbSession):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.ap_read)
    return _ap_page(request, session, pu)


@router.post("/ap/export", response_class=HTMLResponse)
def ap_export(request: Request, session: DbSession, route: Annotated[str, Form()], fmt: Annotated[str, Form()],
              dry_run: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    from triad.ap.service import export
    from triad.audit.service import Actor
    from triad.core.errors import TriadError

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    _need(pu, Perm.ap_write)
    try:
        res = export(session=session, route_name=route, fmt=fmt, actor=Actor.of(pu.user), dry_run=bool(dry_run))
    except TriadError as exc:
        session.rollback()
        return _ap_page(request, session, pu, error=exc.detail, errors=exc.errors, status_code=exc.status)
    session.commit()
    return _ap_page(request, session, pu, export=res)


@router.get("/ap/batches/{obj_id:int}/file")
def ap_batch_file(request: Request, session: DbSession, obj_id: int):
    from triad.ap.router import download
    from triad.ap.service import batch_file

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.ap_read)
    return download(batch_file(session=session, batch_id=obj_id))


@router.post("/ap/import", response_class=HTMLResponse)
def ap_import(request: Request, session: DbSession, file: Annotated[UploadFile, File()],
              dry_run: Annotated[str, Form()] = "", partial: Annotated[str, Form()] = "",
              csrf_token: Annotated[str, Form()] = ""):
    from triad.ap.service import import_payments
    from triad.audit.service import Actor
    from triad.invoices.router import read_upload

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    _need(pu, Perm.ap_write)
    res = import_payments(session=session, data=read_upload(file), filename=file.filename or "upload",
                          actor=Actor.of(pu.user), dry_run=bool(dry_run), partial=bool(partial))
    session.commit()
    return _ap_page(request, session, pu, imported=res, errors=res.errors,
                    status_code=422 if res.status == "rejected" else 200)


@router.get("/ap/reconciliation", response_class=HTMLResponse)
def ap_reconciliation(request: Request, session: DbSession, stuck_days: Annotated[int, Query(ge=0, le=3650)] = 14):
    from triad.ap.reconcile import report

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.ap_read)
    return render(request, "ap/reconciliation.html", pu, rows=report(session=session, stuck_days=stuck_days),
                  stuck_days=stuck_days, reporting="USD")


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
    from sqlalchemy.orm import defer

    # the list shows no payloads: an import's event can list 100,000 records, so they are not loaded here
    query = (select(AuditEvent).options(defer(AuditEvent.before), defer(AuditEvent.after))
             .order_by(AuditEvent.seq.desc()))
    rows, total = paginate(session, query, params)
    return render(request, "audit.html", pu, rows=rows, total=total, page=page,
                  pages=max(1, -(-total // 50)), q="")


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    return Response(status_code=204)
