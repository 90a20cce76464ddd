"""Vendor pages: the record with its gate, legal review, screening matches and held changes, the forms that
move a vendor along its lifecycle, and procurement's request form. Thin: every action is a service call,
so the gate and four eyes hold here exactly as in the API and the CLI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import or_, select

from triad.audit.service import Actor
from triad.auth.deps import DbSession
from triad.auth.scoping import get_visible, visible_to
from triad.core.errors import NotFound, PermissionDenied, TriadError
from triad.core.permissions import Perm, has
from triad.firms.models import LawFirm
from triad.reports import vendor_risk
from triad.vendors import merge, screening, service, sync
from triad.vendors.models import ScreeningHit, Vendor, VendorDuplicate, VendorPendingChange
from triad.vendors.schemas import VendorCreate
from triad.vendors.states import MOVE_PERM, TRANSITIONS
from triad.web.common import PageUser, page_user, render
from triad.web.routes import _check_form, _detail, _login_redirect, _need

router = APIRouter(include_in_schema=False)


def _page(request: Request, session, pu: PageUser, v: Vendor, error: str | None = None, status_code: int = 200,
          problems: list | None = None):
    role = pu.user.role
    firms = list(session.scalars(visible_to(LawFirm, pu.user).where(LawFirm.vendor_id == v.id)))
    moves = sorted(m for m in TRANSITIONS[v.status] if has(role, MOVE_PERM[m]))
    internal = has(role, Perm.vendors_write) or has(role, Perm.vendors_review)
    hits = list(session.scalars(select(ScreeningHit).where(ScreeningHit.vendor_id == v.id)
                                .order_by(ScreeningHit.id))) if internal else []
    changes = list(session.scalars(select(VendorPendingChange).where(VendorPendingChange.vendor_id == v.id,
                                                                     VendorPendingChange.status == "pending")
                                   .order_by(VendorPendingChange.id))) if internal else []
    gate = service.gate_problems(session, v) if v.status in ("pending_review", "suspended") and internal else []
    risk = None
    if has(role, Perm.vendors_risk):
        risk = vendor_risk.vendor_risks(session=session, user=pu.user, vendor_ids=[v.id], with_contracts=True)[0]
    duplicates = _open_flags(session, pu.user, v.id) if internal else []
    merged_into = session.get(Vendor, v.merged_into_id) if v.merged_into_id else None
    return render(request, "records/vendor.html", pu, v=v, firms=firms, moves=moves, hits=hits, changes=changes,
                  duplicates=duplicates, merged_into=merged_into,
                  gate=gate, error=error, risk=risk, problems=problems or [], status_code=status_code,
                  can_review=has(role, Perm.vendors_review), can_write=has(role, Perm.vendors_write),
                  payable=service.payable_bank_account(v) if internal else None)


@router.get("/vendors/{obj_id:int}", response_class=HTMLResponse)
def vendor(request: Request, session: DbSession, obj_id: int):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    return _page(request, session, pu, _detail(session, pu, Vendor, Perm.vendors_read, obj_id, "vendor"))


def _step(request: Request, session, pu: PageUser, obj_id: int, step):
    """Run one service call: commit and go back to the vendor, or show its error (and every gate problem)."""
    try:
        step()
    except TriadError as exc:
        session.rollback()
        return _page(request, session, pu, session.get(Vendor, obj_id), error=exc.detail, status_code=exc.status,
                     problems=exc.errors)
    session.commit()
    return RedirectResponse(f"/vendors/{obj_id}", status_code=303)


def _vendor_for_form(request: Request, session, obj_id: int, csrf_token: str):
    pu = page_user(request, session)
    if pu is None:
        return None, None
    _check_form(pu, csrf_token)
    return pu, _detail(session, pu, Vendor, Perm.vendors_read, obj_id, "vendor")


@router.post("/vendors/{obj_id:int}/transition", response_class=HTMLResponse)
def transition(request: Request, session: DbSession, obj_id: int, to: Annotated[str, Form()],
               reason: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    pu, v = _vendor_for_form(request, session, obj_id, csrf_token)
    if pu is None:
        return _login_redirect(request)
    return _step(request, session, pu, obj_id, lambda: service.transition(
        session=session, vendor=v, to=to, actor=Actor.of(pu.user), user=pu.user, reason=reason.strip() or None))


@router.post("/vendors/{obj_id:int}/review", response_class=HTMLResponse)
def review(request: Request, session: DbSession, obj_id: int, outcome: Annotated[str, Form()],
           note: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    pu, v = _vendor_for_form(request, session, obj_id, csrf_token)
    if pu is None:
        return _login_redirect(request)
    return _step(request, session, pu, obj_id, lambda: service.record_review(
        session=session, vendor=v, reviewer=pu.user, outcome=outcome, note=note.strip() or None))


@router.post("/vendors/{obj_id:int}/screen", response_class=HTMLResponse)
def screen(request: Request, session: DbSession, obj_id: int, csrf_token: Annotated[str, Form()] = ""):
    pu, v = _vendor_for_form(request, session, obj_id, csrf_token)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.vendors_review)
    return _step(request, session, pu, obj_id, lambda: screening.screen_vendor(
        session=session, vendor=v, actor=Actor.of(pu.user)))


@router.post("/vendors/{obj_id:int}/hits/{hit_id:int}/clear", response_class=HTMLResponse)
def clear_hit(request: Request, session: DbSession, obj_id: int, hit_id: int, reason: Annotated[str, Form()] = "",
              csrf_token: Annotated[str, Form()] = ""):
    pu, v = _vendor_for_form(request, session, obj_id, csrf_token)
    if pu is None:
        return _login_redirect(request)
    hit = session.get(ScreeningHit, hit_id)
    if hit is None or hit.vendor_id != v.id:
        raise NotFound("No such screening match.")
    return _step(request, session, pu, obj_id, lambda: screening.clear_hit(
        session=session, hit=hit, reviewer=pu.user, reason=reason))


@router.post("/vendors/{obj_id:int}/changes/{change_id:int}", response_class=HTMLResponse)
def decide_change(request: Request, session: DbSession, obj_id: int, change_id: int,
                  decision: Annotated[str, Form()], reason: Annotated[str, Form()] = "",
                  csrf_token: Annotated[str, Form()] = ""):
    pu, v = _vendor_for_form(request, session, obj_id, csrf_token)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.vendors_write)
    change = session.get(VendorPendingChange, change_id)
    if change is None or change.vendor_id != v.id:
        raise NotFound("No such held change.")
    return _step(request, session, pu, obj_id, lambda: service.decide_change(
        session=session, change=change, approve=decision == "approve", actor=Actor.of(pu.user),
        reason=reason.strip() or None))


@router.get("/vendors/new", response_class=HTMLResponse)
def new_form(request: Request, session: DbSession):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.vendors_write)
    return render(request, "vendors/new.html", pu, errors=[], form={})


@router.post("/vendors/new", response_class=HTMLResponse)
def create(request: Request, session: DbSession, legal_name: Annotated[str, Form()], country: Annotated[str, Form()],
           tax_scheme: Annotated[str, Form()] = "", tax_id: Annotated[str, Form()] = "",
           iban: Annotated[str, Form()] = "", bic: Annotated[str, Form()] = "",
           routing_number: Annotated[str, Form()] = "", account_number: Annotated[str, Form()] = "",
           currency: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    _need(pu, Perm.vendors_write)
    form = {"legal_name": legal_name, "country": country, "tax_scheme": tax_scheme, "tax_id": tax_id, "iban": iban,
            "bic": bic, "routing_number": routing_number, "account_number": account_number, "currency": currency}
    data = {"legal_name": legal_name, "country": country}
    if tax_id.strip():
        data["tax_ids"] = [{"scheme": tax_scheme, "value": tax_id, "country": country}]
    if any(x.strip() for x in (iban, routing_number, account_number)):
        data["bank_accounts"] = [{"holder_name": legal_name, "iban": iban or None, "bic": bic or None,
                                  "routing_number": routing_number or None, "account_number": account_number or None,
                                  "currency": currency}]
    try:
        v = service.create_vendor(session=session, data=VendorCreate(**data), actor=Actor.of(pu.user))
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                  for e in exc.errors()]
        return render(request, "vendors/new.html", pu, errors=errors, form=form, status_code=422)
    except TriadError as exc:
        session.rollback()
        return render(request, "vendors/new.html", pu, errors=[exc.detail], form=form, status_code=exc.status)
    session.commit()
    return RedirectResponse(f"/vendors/{v.id}", status_code=303)


# ---------------------------------------------------------------- aggregate risk and onboarding metrics


@router.get("/vendors/risk", response_class=HTMLResponse)
def risk_portfolio(request: Request, session: DbSession, sort: str = "risk", direction: str = "",
                   currency: str = "USD"):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.vendors_risk)
    sort = sort if sort in vendor_risk.SORTS else "risk"
    currency = currency.upper() if len(currency) == 3 and currency.isalpha() else "USD"
    rows = vendor_risk.sort_portfolio(vendor_risk.vendor_risks(session=session, user=pu.user), sort=sort,
                                      currency=currency,
                                      descending={"asc": False, "desc": True}.get(direction))
    currencies = sorted({c for r in rows for c in r.spend} | {currency})
    return render(request, "vendors/risk.html", pu, rows=rows, sort=sort, direction=direction, currency=currency,
                  currencies=currencies)


@router.get("/reports/vendor-onboarding", response_class=HTMLResponse)
def onboarding_report(request: Request, session: DbSession):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.vendors_risk)
    paths, rows = vendor_risk.onboarding_metrics(session=session)
    return render(request, "reports/vendor_onboarding.html", pu, paths=paths, rows=rows)


# ---------------------------------------------------------------- likely duplicates: dismiss or merge


def _open_flags(session, user, vendor_id: int | None = None) -> list[tuple[VendorDuplicate, Vendor, Vendor]]:
    """Open flags (both vendors visible to the user), with their two vendors."""
    stmt = select(VendorDuplicate).where(VendorDuplicate.status == "open").order_by(VendorDuplicate.id)
    if vendor_id is not None:
        stmt = stmt.where(or_(VendorDuplicate.vendor_id == vendor_id, VendorDuplicate.other_vendor_id == vendor_id))
    rows = []
    for d in session.scalars(stmt.limit(500)):
        a, b = get_visible(session, Vendor, d.vendor_id, user), get_visible(session, Vendor, d.other_vendor_id, user)
        if a is not None and b is not None:
            rows.append((d, a, b))
    return rows


def _duplicates_page(request: Request, session, pu: PageUser, error: str | None = None, problems: list | None = None,
                     status_code: int = 200):
    decided = list(session.scalars(select(VendorDuplicate).where(VendorDuplicate.status != "open")
                                   .order_by(VendorDuplicate.decided_at.desc(), VendorDuplicate.id.desc()).limit(50)))
    return render(request, "vendors/duplicates.html", pu, rows=_open_flags(session, pu.user), decided=decided,
                  can_review=has(pu.user.role, Perm.vendors_review), error=error, problems=problems or [],
                  status_code=status_code)


def _can_see_flags(pu: PageUser) -> None:
    if not (has(pu.user.role, Perm.vendors_write) or has(pu.user.role, Perm.vendors_review)):
        raise PermissionDenied("Your role cannot open this page.")


@router.get("/vendors/duplicates", response_class=HTMLResponse)
def duplicates(request: Request, session: DbSession):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _can_see_flags(pu)
    return _duplicates_page(request, session, pu)


def _decide_flag(request: Request, session, duplicate_id: int, csrf_token: str, next_url: str, step):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    _can_see_flags(pu)
    flag = session.get(VendorDuplicate, duplicate_id)
    if flag is None or get_visible(session, Vendor, flag.vendor_id, pu.user) is None or get_visible(
            session, Vendor, flag.other_vendor_id, pu.user) is None:
        raise NotFound("No such duplicate flag.")
    back = next_url if next_url.startswith("/vendors/") and "//" not in next_url else "/vendors/duplicates"
    try:
        step(pu, flag)
    except TriadError as exc:
        session.rollback()
        if back.startswith("/vendors/duplicates"):
            return _duplicates_page(request, session, pu, error=exc.detail, problems=exc.errors,
                                    status_code=exc.status)
        vid = int(back.removeprefix("/vendors/")) if back.removeprefix("/vendors/").isdigit() else flag.vendor_id
        return _page(request, session, pu, session.get(Vendor, vid), error=exc.detail, status_code=exc.status,
                     problems=exc.errors)
    session.commit()
    return RedirectResponse(back, status_code=303)


@router.post("/vendors/duplicates/{duplicate_id:int}/dismiss", response_class=HTMLResponse)
def dismiss_duplicate(request: Request, session: DbSession, duplicate_id: int, reason: Annotated[str, Form()] = "",
                      next: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    return _decide_flag(request, session, duplicate_id, csrf_token, next, lambda pu, flag: merge.dismiss(
        session=session, flag=flag, user=pu.user, reason=reason))


@router.post("/vendors/duplicates/{duplicate_id:int}/merge", response_class=HTMLResponse)
def merge_duplicate(request: Request, session: DbSession, duplicate_id: int, survivor_id: Annotated[int, Form()],
                    reason: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "",
                    csrf_token: Annotated[str, Form()] = ""):
    return _decide_flag(request, session, duplicate_id, csrf_token, next, lambda pu, flag: merge.merge(
        session=session, flag=flag, survivor_id=survivor_id, user=pu.user, reason=reason))


# ---------------------------------------------------------------- import a vendor file


def _import_page(request: Request, pu: PageUser, report: dict | None = None, source: str = "procurement",
                 error: str | None = None, problems: list | None = None, status_code: int = 200):
    role = pu.user.role
    sources = [s for s in sync.SOURCES if has(role, Perm.vendors_review if s == "legal" else Perm.vendors_write)]
    return render(request, "vendors/import.html", pu, report=report, sources=sources, source=source, error=error,
                  problems=problems or [], status_code=status_code)


def _can_import(pu: PageUser, source: str) -> None:
    if not has(pu.user.role, Perm.vendors_review if source == "legal" else Perm.vendors_write):
        raise PermissionDenied("Your role cannot import this vendor file.")


@router.get("/vendors/import", response_class=HTMLResponse)
def import_form(request: Request, session: DbSession):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _can_see_flags(pu)
    return _import_page(request, pu, source="legal" if not has(pu.user.role, Perm.vendors_write) else "procurement")


@router.post("/vendors/import", response_class=HTMLResponse)
def import_file(request: Request, session: DbSession, file: Annotated[UploadFile, File()],
                source: Annotated[str, Form()] = "procurement", dry_run: Annotated[str, Form()] = "",
                partial: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    from triad.invoices.router import read_upload

    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    _can_import(pu, source)
    try:
        report = sync.import_vendors(session=session, data=read_upload(file), filename=file.filename or "upload",
                                     source=source, actor=Actor.of(pu.user), dry_run=bool(dry_run),
                                     partial=bool(partial))
    except TriadError as exc:
        session.rollback()
        return _import_page(request, pu, source=source, error=exc.detail, problems=exc.errors,
                            status_code=exc.status)
    if report.applied:
        session.commit()
    refused = bool(report.errors) and not report.applied and not (report.dry_run and report.partial)
    return _import_page(request, pu, report=report.as_dict(), source=source, status_code=422 if refused else 200)
