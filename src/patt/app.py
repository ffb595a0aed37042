"""`create_app()`: settings, database, error envelope, middleware, routers, pages, lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from patt import __version__
from patt.config import Settings, check_production, get_settings, resolve_jwt_secret
from patt.core import metrics
from patt.core.caches import ProcessCaches
from patt.core.envelope import error_for_path, error_response
from patt.core.middleware import ApiBodyMiddleware, SecurityHeadersMiddleware
from patt.core.observability import RequestContextMiddleware
from patt.core.render import LoginRequired, PageError, login_redirect, render
from sv_common.auth.throttle import SharedWindow, ThrottleStore
from sv_common.db.engine import is_outage, make_engine, make_sessionmaker
from sv_common.errors import DomainError

log = logging.getLogger("patt")
STATIC_DIR = Path(__file__).resolve().parent / "static"

# Features register start/stop hooks here (Discord bot, campaign checker, scheduler).
StartupHook = Callable[[FastAPI], Awaitable[None]]


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[-1] if loc else "body")


# Headings of the generic error page for client errors (the 500 page's own text otherwise).
ERROR_HEADINGS = {
    400: "That request could not be used",
    409: "That conflicts with current data",
    413: "That was too large",
    422: "Please check what you entered",
    429: "Too many attempts",
    503: "Temporarily unavailable",
}


async def page_error(request: Request, status: int, message: str | None = None) -> Response:
    """The 403/404/500 page (or the JSON envelope under /api)."""
    if _is_api(request):
        defaults = {403: "Forbidden.", 404: "Not found.", 500: "Internal server error"}
        return error_response(status, message or defaults.get(status, "Error."))
    template = {403: "public/403.html", 404: "public/404.html"}.get(status, "public/500.html")
    member = getattr(request.state, "member", None)
    context = {"message": message, "status_code": status, "heading": ERROR_HEADINGS.get(status)}
    try:
        return await render(request, template, context, member=member, status_code=status)
    except Exception:  # never let the error page itself fail
        log.exception("error page rendering failed")
        return HTMLResponse("<h1>Something went wrong</h1>", status_code=status)


async def _client_error(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        return error_for_path(request.url.path, status, message)
    return await page_error(request, 400, message)


DB_UNAVAILABLE = "The guild database is unavailable for a moment. Please try again shortly."
RETRY_SOON = {"Retry-After": "5"}


async def database_unavailable(request: Request, exc: BaseException) -> Response:
    """503 while PostgreSQL cannot be reached (restart, network): the request changed nothing,
    and pooled connections are re-checked, so the app recovers by itself."""
    log.warning(
        "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    if _is_api(request):
        return error_response(503, DB_UNAVAILABLE, headers=RETRY_SOON)
    request.state.member = None  # the page is drawn without anything that needs the database
    response = await page_error(request, 503, DB_UNAVAILABLE)
    response.headers.update(RETRY_SOON)
    return response


def install_error_handlers(app: FastAPI) -> None:
    """One envelope for every API error; error pages for the site."""

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if _is_api(request):
            return error_response(
                exc.status_code, exc.message, details=exc.details, headers=exc.headers
            )
        return await page_error(request, exc.status_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "Malformed JSON body.")
        details = [
            {"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
            for e in errors
        ]
        first = details[0] if details else {"field": "body", "message": "invalid"}
        message = f"Invalid value for '{first['field']}': {first['message']}"
        if not _is_api(request):
            return await page_error(
                request, 404 if "path" in str(errors[0].get("loc")) else 400, None
            )
        return error_response(422, message, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            messages = {404: "Not found.", 405: "Method not allowed.", 401: "Not authenticated."}
            text = (
                exc.detail
                if isinstance(exc.detail, str)
                and exc.detail not in ("Not Found", "Method Not Allowed")
                else messages.get(exc.status_code, "Request failed.")
            )
            return error_response(exc.status_code, text, headers=getattr(exc, "headers", None))
        if exc.status_code in (403, 404):
            return await page_error(request, exc.status_code)
        if exc.status_code == 405:
            return await page_error(request, 404)
        return await page_error(request, exc.status_code)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        response = login_redirect(exc.next_path)
        if getattr(request.state, "drop_session_cookie", False):  # an invalid cookie is removed
            response.delete_cookie(
                "patt_token",
                path="/",
                httponly=True,
                samesite="lax",
                secure=request.app.state.settings.secure_cookies,
            )
        return response

    @app.exception_handler(PageError)
    async def page_error_handler(request: Request, exc: PageError) -> Response:
        return await page_error(request, exc.status_code, exc.message)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        # Safety net: services validate first, but a value PostgreSQL refuses (a NUL character,
        # text longer than its column, a number out of range, a constraint) is the client's
        # input problem — answer 4xx, never 500. The request's transaction is already rolled back.
        if is_outage(exc):
            return await database_unavailable(request, exc)
        state = str(getattr(exc.orig, "sqlstate", "") or "")
        if state.startswith("22"):
            return await _client_error(
                request,
                422,
                "A value could not be stored: it contains an "
                "invalid character or is too long or out of range.",
            )
        if state.startswith("23"):
            return await _client_error(request, 409, "That change conflicts with existing data.")
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        if is_outage(exc):
            return await database_unavailable(request, exc)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if _is_api(request):
            return error_response(500, "Internal server error")
        return await page_error(request, 500)

    @app.exception_handler(OSError)
    async def connection_error(request: Request, exc: OSError) -> Response:
        # Connecting to a stopped database raises OSError (connection refused, or no Unix socket
        # file while the embedded server restarts). Answered here, not by the catch-all above:
        # an exception that reaches the catch-all is re-raised to uvicorn, which then logs a
        # traceback and drops the client's keep-alive connection for every request of an outage.
        return await unexpected(request, exc)


# name: (limit, window in seconds) — 20 §8
THROTTLE_LIMITS = {
    "login_user": (5, 15 * 60),
    "login_ip": (20, 15 * 60),
    "register_ip": (10, 15 * 60),
    "setup_ip": (5, 15 * 60),
    "api_key_ip": (10, 15 * 60),
    "roster_submit_ip": (30, 60 * 60),
    "invite_member": (1, 60),
}


def _throttles(store: ThrottleStore) -> dict[str, SharedWindow]:
    """Every throttle of the app, counted in PostgreSQL so all processes share them."""
    return {
        name: store.window(name, limit, window) for name, (limit, window) in THROTTLE_LIMITS.items()
    }


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start hooks in order (seed, Discord, checker, scheduler); stop them in reverse."""
    for hook in app.state.startup_hooks:
        await hook(app)
    try:
        yield
    finally:
        for stop in reversed(app.state.shutdown_hooks):
            try:
                await asyncio.wait_for(stop(app), timeout=15)
            except Exception:  # shutdown must never hang or crash
                log.exception("shutdown hook failed")
        await app.state.engine.dispose()
        await app.state.state_engine.dispose()


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> FastAPI:
    """Build the application. `database_url` overrides settings (the CLI resolves the embedded one)."""
    settings = settings or get_settings()
    check_production(settings)
    url = database_url or settings.database_url
    if not url:
        from sv_common.db.embedded import start_embedded

        url = start_embedded(settings.patt_data_dir)
    app = FastAPI(
        title="PATT Guild Platform",
        version=__version__,
        lifespan=lifespan,
        debug=False,  # never: tracebacks stay in the log (20 §8)
        docs_url=None,  # patt.core.api_docs serves /api/docs without inline code
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.database_url = url
    app.state.engine = make_engine(url)
    app.state.caches = ProcessCaches()
    app.state.sessionmaker = make_sessionmaker(
        app.state.engine, info=app.state.caches.session_info()
    )
    app.state.jwt_secret = resolve_jwt_secret(settings)
    # Throttles use their own small pool: a request that already holds a connection of the main
    # pool never waits on that pool for a second one (no self-deadlock under a login flood).
    # Its commits do not wait for the disk (synchronous_commit off): a crash can lose the last
    # few throttle hits at worst, never other data, and a failed login answers sooner.
    app.state.state_engine = make_engine(
        url,
        pool_size=2,
        max_overflow=4,
        connect_args={"timeout": 5, "server_settings": {"synchronous_commit": "off"}},
    )
    app.state.throttle_store = ThrottleStore(app.state.state_engine)
    app.state.throttles = _throttles(app.state.throttle_store)
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []

    install_error_handlers(app)
    app.add_middleware(ApiBodyMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    # outermost: the request id and timing cover every answer, errors and early 413s included
    app.add_middleware(RequestContextMiddleware, access_log_enabled=settings.access_log)
    metrics.enable(settings.metrics_enabled)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    from patt import features
    from patt.core import api_docs

    api_docs.install(app)
    features.install(app)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse("/static/img/favicon.svg", status_code=301)

    return app
