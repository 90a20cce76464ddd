"""AP routes page: the rules that decide which approved invoices go to which AP system, in priority order
(lowest first) with a catch-all, edited by finance. Thin: validation is the API's schema, the write and its
audit event are the generic record service's, so the page and `/api/v1/ap-routes` behave the same."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from triad.ap.formats import MULTI_COLUMNS
from triad.ap.models import ApRoute
from triad.ap.schemas import ApRouteCreate, ApRouteUpdate
from triad.audit.service import Actor
from triad.auth.deps import DbSession
from triad.core import crud
from triad.core.errors import NotFound, TriadError
from triad.core.permissions import Perm, has
from triad.org.models import BusinessUnit
from triad.web.common import PageUser, page_user, render
from triad.web.routes import _check_form, _login_redirect, _need

router = APIRouter(include_in_schema=False)

_TEXT = ("ap_system", "legal_entity", "currency", "debtor_name", "debtor_iban", "debtor_bic")


def _parse_columns(text: str) -> dict[str, str]:
    """``our_column = Their header`` per line (blank lines ignored)."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        ours, sep, theirs = line.partition("=")
        if not sep:
            raise ValueError(f"column renames, line {n}: write it as our_column = Their header")
        out[ours.strip()] = theirs.strip()
    return out


def _form_values(form: dict[str, str]) -> dict:
    data: dict = {k: (form.get(k) or "").strip() or None for k in _TEXT}
    if data["currency"]:
        data["currency"] = data["currency"].upper()
    data["priority"] = int(form["priority"]) if (form.get("priority") or "").strip().lstrip("-").isdigit() \
        else form.get("priority")
    data["business_unit_id"] = int(form["business_unit_id"]) if (form.get("business_unit_id") or "").isdigit() else None
    data["csv_layout"] = form.get("csv_layout") or "single"
    data["csv_columns"] = _parse_columns(form.get("csv_columns") or "")
    data["is_active"] = form.get("is_active") == "1"
    return data


def _errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()]


def _page(request: Request, session, pu: PageUser, errors: list[str] | None = None, form: dict | None = None,
          editing: int | None = None, status_code: int = 200):
    routes = list(session.scalars(select(ApRoute).order_by(ApRoute.priority, ApRoute.name)))
    units = list(session.scalars(select(BusinessUnit).order_by(BusinessUnit.code)))
    return render(request, "ap/routes.html", pu, routes=routes, units={u.id: u for u in units},
                  unit_list=units, columns=MULTI_COLUMNS, errors=errors or [], form=form or {}, editing=editing,
                  can_write=has(pu.user.role, Perm.ap_write), status_code=status_code)


@router.get("/ap/routes", response_class=HTMLResponse)
def routes_page(request: Request, session: DbSession):
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _need(pu, Perm.ap_read)
    return _page(request, session, pu)


FormText = Annotated[str, Form()]


@router.post("/ap/routes", response_class=HTMLResponse)
def save_route(request: Request, session: DbSession, csrf_token: FormText = "", route_id: FormText = "",
               name: FormText = "", priority: FormText = "100", ap_system: FormText = "",
               business_unit_id: FormText = "", legal_entity: FormText = "", currency: FormText = "",
               csv_layout: FormText = "single", csv_columns: FormText = "", debtor_name: FormText = "",
               debtor_iban: FormText = "", debtor_bic: FormText = "", is_active: FormText = ""):
    """Create a route (no ``route_id``) or change one (its name is its key in exports and stays)."""
    pu = page_user(request, session)
    if pu is None:
        return _login_redirect(request)
    _check_form(pu, csrf_token)
    _need(pu, Perm.ap_write)
    form = {"route_id": route_id, "name": name, "priority": priority, "ap_system": ap_system,
            "business_unit_id": business_unit_id, "legal_entity": legal_entity, "currency": currency,
            "csv_layout": csv_layout, "csv_columns": csv_columns, "debtor_name": debtor_name,
            "debtor_iban": debtor_iban, "debtor_bic": debtor_bic, "is_active": is_active}
    editing = int(route_id) if route_id.isdigit() else None
    actor = Actor.of(pu.user)
    try:
        values = _form_values(form)
        if editing is None:
            route = crud.create(session=session, model=ApRoute, data=ApRouteCreate(name=name.strip(), **values),
                                actor=actor)
        else:
            route = session.get(ApRoute, editing)
            if route is None:
                raise NotFound(f"No AP route with id {editing}.")
            crud.update(session=session, obj=route, data=ApRouteUpdate(**values), actor=actor)
    except ValidationError as exc:
        session.rollback()
        return _page(request, session, pu, errors=_errors(exc), form=form, editing=editing, status_code=422)
    except ValueError as exc:
        session.rollback()
        return _page(request, session, pu, errors=[str(exc)], form=form, editing=editing, status_code=422)
    except TriadError as exc:
        session.rollback()
        return _page(request, session, pu, errors=[exc.detail], form=form, editing=editing, status_code=exc.status)
    session.commit()
    return RedirectResponse(f"/ap/routes#route-{route.id}", status_code=303)
