"""The web app's FastAPI application: ``uvicorn --factory web.app:create``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from starlette.middleware.sessions import SessionMiddleware

from shared.metrics import METRICS_PATH, HTTPMetricsMiddleware
from shared.settings import Settings, get_settings
from web import (
    calendar_pages,
    checkin_pages,
    dispute_pages,
    exchange_rate_pages,
    goal_pages,
    notification_pages,
    pages,
    pay_unit_pages,
    policy_pages,
    rewards_settings_pages,
    signin,
    statement_pages,
    summary_pages,
    upward,
    values_pages,
)
from web.api import ApiError, Services
from web.rendering import Renderer
from web.session import CsrfRefused, NotAllowed, Person, SignInRequired, signin_location
from web.settings import WebBackend, WebSettings, get_web_settings

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "meritloop_session"
# Pages are our own HTML, styles, images and one script file (static/drafts.js) only: nothing from another
# origin, no inline script or event handler. script-src is spelled out so that loosening default-src for
# something else one day cannot let scripts in with it.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
log = logging.getLogger("meritloop.web")


def create_app(
    settings: Settings | None = None,
    web_settings: WebSettings | None = None,
    *,
    transports: Mapping[WebBackend, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    web_settings = web_settings or get_web_settings()
    web_settings.check(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await app.state.services.aclose()

    app = FastAPI(title="Meritloop web", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.web_settings = web_settings
    app.state.services = Services(web_settings.service_urls(settings), transports)
    render = Renderer()
    app.state.renderer = render
    app.state.oauth = signin.oauth_client(web_settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=web_settings.session_secret,
        session_cookie=SESSION_COOKIE,
        max_age=web_settings.session_max_age,
        same_site="lax",  # strict would drop the cookie on the identity provider's redirect back
        https_only=web_settings.cookie_secure,
    )

    # The same request metrics as the services, under service="web" (docs/operations.md).
    app.add_middleware(HTTPMetricsMiddleware, service="web")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: object) -> Response:
        response: Response = await call_next(request)  # type: ignore[operator]
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(signin.router)
    # Before pages: its catch-all POST /checkins/{id}/{what} would take /checkins/{id}/end.
    app.include_router(checkin_pages.router)
    app.include_router(goal_pages.router)
    app.include_router(pages.router)
    app.include_router(upward.router)
    app.include_router(policy_pages.router)
    app.include_router(summary_pages.router)
    app.include_router(statement_pages.router)
    app.include_router(pay_unit_pages.router)
    app.include_router(exchange_rate_pages.router)
    app.include_router(rewards_settings_pages.router)
    app.include_router(values_pages.router)
    app.include_router(calendar_pages.router)
    app.include_router(notification_pages.router)
    app.include_router(dispute_pages.router)
    calendar_pages.redacted_access_log()

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get(METRICS_PATH, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(REGISTRY), media_type=content_type)

    @app.exception_handler(SignInRequired)
    async def signin_required(request: Request, _exc: SignInRequired) -> Response:
        return RedirectResponse(signin_location(request), status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        return render.page(request, "error.html", _person(request), status_code=403, message_key="csrf")

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, _exc: NotAllowed) -> Response:
        return render.page(request, "error.html", _person(request), status_code=403, message_key="forbidden")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:
            request.session.pop("person", None)
            return RedirectResponse(signin_location(request), status_code=303)
        status = exc.status if exc.status in (403, 404, 409, 422) else 502
        key = {403: "forbidden", 404: "not_found"}.get(status, "service")
        if status == 502:
            log.warning("a service answered %s: %s", exc.status, exc.detail)
        return render.page(
            request, "error.html", _person(request), status_code=status, message_key=key, detail=exc.detail
        )

    @app.exception_handler(httpx.TransportError)
    async def unreachable(request: Request, exc: httpx.TransportError) -> Response:
        log.warning("a service is unreachable: %r", exc)
        return render.page(request, "error.html", _person(request), status_code=502, message_key="unreachable")

    return app


def _person(request: Request) -> Person | None:
    return Person.from_session(request.session.get("person"))


def create() -> FastAPI:
    """The uvicorn factory: settings from the environment."""
    return create_app()
