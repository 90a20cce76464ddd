"""FastAPI application factory: JSON API under /api/v1, server-rendered pages, static files."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from triad import __version__
from triad.core import db
from triad.core.errors import TooManyAttempts, TriadError

log = logging.getLogger("triad")
PROBLEM = "application/problem+json"


def api_router() -> APIRouter:
    from triad.ap.router import routers as ap_routers
    from triad.auth.router import routers as auth_routers
    from triad.budgets.router import routers as budget_routers
    from triad.firms.router import routers as firm_routers
    from triad.guidelines.router import routers as guideline_routers
    from triad.invoices.router import routers as invoice_routers
    from triad.matters.router import routers as matter_routers
    from triad.org.router import routers as org_routers
    from triad.reports.router import routers as report_routers
    from triad.vendors.router import routers as vendor_routers

    api = APIRouter(prefix="/api/v1")
    for r in (org_routers + vendor_routers + firm_routers + matter_routers + budget_routers
              + ap_routers + invoice_routers + guideline_routers + auth_routers + report_routers):
        api.include_router(r)
    return api


def _problem(request: Request, status: int, title: str, detail: str, errors: list | None = None,
             headers: dict | None = None) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "instance": request.url.path}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def create_app(session_factory: sessionmaker[Session] | None = None) -> FastAPI:
    app = FastAPI(
        title="Triad", version=__version__,
        description="One source of truth for legal, finance (AP) and procurement.",
        openapi_url="/openapi.json", docs_url="/api/docs", redoc_url=None,
    )
    app.state.session_factory = session_factory or db.session_factory()
    app.include_router(api_router())

    from triad.web.ap_pages import router as ap_pages
    from triad.web.routes import router as web_router
    from triad.web.vendor_pages import router as vendor_pages

    app.include_router(vendor_pages)
    app.include_router(ap_pages)
    app.include_router(web_router)
    static = Path(__file__).parent / "web" / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/healthz", tags=["ops"], summary="Liveness and database check")
    def healthz() -> dict:
        with app.state.session_factory() as s:
            s.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    @app.exception_handler(TriadError)
    async def _triad_error(request: Request, exc: TriadError):
        if _wants_html(request):
            from triad.web.common import error_page

            return error_page(request, exc.status, exc.title, exc.detail)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return _problem(request, exc.status, exc.title, exc.detail, exc.errors, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"],
             "location": e["loc"][0] if e["loc"] else None}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return _problem(request, 422, "Validation failed", detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if _wants_html(request):
            from triad.web.common import error_page

            return error_page(request, exc.status_code, "Error", str(exc.detail))
        return _problem(request, exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _problem(request, 500, "Internal error", "Something went wrong; it has been logged.")

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                "frame-ancestors 'none'; form-action 'self'",
            )
        return response

    from triad.idempotency.api import install as install_idempotency

    install_idempotency(app)  # the Idempotency-Key middleware and replay handler (docs/decisions/0020)
    return app
