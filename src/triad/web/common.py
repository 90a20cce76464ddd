"""Shared helpers for the server-rendered pages: templates, the logged-in user, CSRF, navigation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from triad.auth import service as auth
from triad.auth.deps import SESSION_COOKIE
from triad.auth.models import User
from triad.config import get_settings
from triad.core.permissions import Perm, has

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
PRE_COOKIE = "triad_pre"  # pre-login nonce that the login form's CSRF token is bound to


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    perm: Perm | None


NAV = [
    NavItem("Dashboard", "/", None),
    NavItem("Matters", "/matters", Perm.matters_read),
    NavItem("Review queue", "/review", Perm.invoices_review),
    NavItem("Invoices", "/invoices", Perm.invoices_read),
    NavItem("Submit invoices", "/invoices/upload", Perm.invoices_submit),
    NavItem("Exception rates", "/reports/exceptions", Perm.invoices_read),
    NavItem("Guidelines", "/guidelines", Perm.guidelines_read),
    NavItem("Accounts payable", "/ap", Perm.ap_read),
    NavItem("Law firms", "/firms", Perm.firms_read),
    NavItem("Vendors", "/vendors", Perm.vendors_read),
    NavItem("Vendor risk", "/vendors/risk", Perm.vendors_risk),
    NavItem("Users", "/users", Perm.users_read),
    NavItem("Audit trail", "/audit", Perm.audit_read),
]


def nav_for(user: User) -> list[NavItem]:
    return [n for n in NAV if n.perm is None or has(user.role, n.perm)]


@dataclass
class PageUser:
    user: User
    token: str

    @property
    def csrf(self) -> str:
        return auth.csrf_token(self.token)


def page_user(request: Request, session: Session) -> PageUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    ws = auth.resolve_session(session=session, token=token)
    if session.dirty:
        session.commit()
    return PageUser(ws.user, token) if ws else None


def render(request: Request, name: str, pu: PageUser | None, status_code: int = 200, **ctx) -> HTMLResponse:
    base = {"me": pu.user if pu else None, "csrf": pu.csrf if pu else None,
            "nav": nav_for(pu.user) if pu else [], "path": request.url.path}
    return templates.TemplateResponse(request, name, base | ctx, status_code=status_code)


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {"me": None, "nav": [], "csrf": None,
                                      "status": status, "title": title, "detail": detail,
                                      "path": request.url.path}, status_code=status)


def set_cookie(response, key: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(key, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=get_settings().cookie_secure, path="/")


def new_nonce() -> str:
    return secrets.token_urlsafe(24)
