"""Pure-ASGI middleware: API body limits and content type (30 §1), security headers (20 §8)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import lru_cache

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patt.config import Settings
from patt.core.envelope import error_body, is_sheet_style, sheet_error_body
from patt.core.netutil import is_trusted_proxy

DEFAULT_BODY_LIMIT = 64 * 1024
# Path → byte limit for endpoints whose chapter sets a different one; features add entries here.
BODY_LIMITS: dict[str, int] = {
    "/api/v1/guild/roster-submit": 8 * 1024,
    "/api/v1/guild/availability": 8 * 1024,
    "/api/v1/guild/mito/": 4 * 1024,
    "/api/guild-sync/addon-upload": 5 * 1024 * 1024,
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# Every page serves its scripts, styles and fonts from /static: no inline code, no outside host.
# Images may come from any https host (entry art, landing art) and data: URLs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "img-src 'self' https: data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
# /api/docs only: Swagger UI comes from its CDN (SWAGGER_CDN) and its bundle injects <style>
# elements, so styles there need 'unsafe-inline'. Scripts stay without 'unsafe-inline' (the
# page's start-up code is /static/js/api-docs.js); the page shows no user-written text.
SWAGGER_CDN = "https://cdn.jsdelivr.net"
DOCS_PATH = "/api/docs"
DOCS_CSP = (
    f"default-src 'self'; script-src 'self' {SWAGGER_CDN}; "
    f"style-src 'self' 'unsafe-inline' {SWAGGER_CDN}; font-src 'self' {SWAGGER_CDN}; "
    "img-src 'self' https: data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
SECURITY_HEADERS = [*BASE_HEADERS, (b"content-security-policy", CSP.encode())]
DOCS_HEADERS = [*BASE_HEADERS, (b"content-security-policy", DOCS_CSP.encode())]


def body_limit_for(path: str) -> int:
    """The byte limit for a request path (longest matching prefix wins)."""
    best = ""
    for prefix in BODY_LIMITS:
        if path.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return BODY_LIMITS[best] if best else DEFAULT_BODY_LIMIT


async def _send_error(send: Send, path: str, status: int, message: str) -> None:
    body = sheet_error_body(message) if is_sheet_style(path) else error_body(message)
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ]
            + SECURITY_HEADERS,
        }
    )
    await send({"type": "http.response.body", "body": raw})


class _BodyTooLarge(BaseException):  # noqa: N818
    """A streamed body passed its limit. Not an `Exception`: FastAPI turns any `Exception` raised
    while it reads a body into a generic 400, and this must reach `_run_limited` to become 413."""


PAGE_FORM_LIMIT = 64 * 1024


async def _send_page_413(send: Send) -> None:
    raw = (
        b"<!doctype html><title>Too large</title><h1>That form was too large.</h1>"
        b"<p><a href='/'>Go Home</a></p>"
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(raw)).encode()),
            ]
            + SECURITY_HEADERS,
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def _run_limited(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    limit: int,
    too_large: Callable[[], Awaitable[None]],
) -> None:
    """Run the app, aborting with `too_large()` once a streamed body passes `limit` bytes."""
    received = 0
    started = False

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge()
        return message

    async def tracking_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, limited_receive, tracking_send)
    except _BodyTooLarge:
        if not started:
            await too_large()


class ApiBodyMiddleware:
    """API: 415 for non-JSON write bodies and 413 for oversized ones, before any route runs.
    Pages: 413 for form posts above PAGE_FORM_LIMIT."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length_header = headers.get("content-length")
        if not path.startswith("/api/"):
            if length_header is not None and (
                not length_header.isdigit() or int(length_header) > PAGE_FORM_LIMIT
            ):
                await _send_page_413(send)
                return
            await _run_limited(
                self.app, scope, receive, send, PAGE_FORM_LIMIT, lambda: _send_page_413(send)
            )
            return

        limit = body_limit_for(path)
        too_large_text = f"Request body too large (limit {limit} bytes)."
        has_body = headers.get("transfer-encoding") is not None
        if length_header is not None:
            if not length_header.isdigit():
                await _send_error(send, path, 400, "Invalid Content-Length header.")
                return
            if int(length_header) > limit:
                await _send_error(send, path, 413, too_large_text)
                return
            has_body = int(length_header) > 0
        if has_body:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                await _send_error(send, path, 415, "Request body must be application/json.")
                return
        await _run_limited(
            self.app,
            scope,
            receive,
            send,
            limit,
            lambda: _send_error(send, path, 413, too_large_text),
        )


def _forwarded_https(scope: Scope, trusted: str) -> bool:
    """True when a trusted proxy says the client's request was HTTPS (`X-Forwarded-Proto`).

    `patt serve` runs uvicorn with proxy headers from TRUSTED_PROXIES, which already turns the
    scope's scheme into https; this covers servers started without that option."""
    # The proxy nearest to us writes last: the last header line, its last comma-separated value.
    values = [v for name, v in scope["headers"] if name.lower() == b"x-forwarded-proto"]
    if not values or values[-1].decode("latin-1").split(",")[-1].strip().lower() != "https":
        return False
    client = scope.get("client")
    return client is not None and _is_trusted_peer(str(client[0]), trusted)


@lru_cache(maxsize=1024)
def _is_trusted_peer(host: str, trusted: str) -> bool:
    """`is_trusted_proxy` for the raw TRUSTED_PROXIES text, remembered per peer (a hot path)."""
    return is_trusted_proxy(host, [p.strip() for p in trusted.split(",") if p.strip()])


def is_https_request(scope: Scope, settings: Settings) -> bool:
    """The browser reached us over HTTPS: directly, or through a trusted TLS proxy."""
    return scope.get("scheme") == "https" or _forwarded_https(scope, settings.trusted_proxies)


def security_headers_for(scope: Scope, settings: Settings | None) -> list[tuple[bytes, bytes]]:
    """nosniff, referrer, frame and CSP headers for this request, plus HSTS when the site is
    HTTPS-only (HTTPS_ONLY, on in production) or the request came over HTTPS."""
    headers = list(DOCS_HEADERS if scope.get("path") == DOCS_PATH else SECURITY_HEADERS)
    if settings is not None and settings.hsts_seconds > 0:
        if settings.site_is_https_only or is_https_request(scope, settings):
            value = f"max-age={settings.hsts_seconds}".encode()
            headers.append((b"strict-transport-security", value))
    return headers


class SecurityHeadersMiddleware:
    """Adds the security headers (`security_headers_for`) to every response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Read at request time: the settings object on the app may be replaced (tests do).
        owner = scope.get("app")
        settings = getattr(getattr(owner, "state", None), "settings", None)
        wanted = security_headers_for(scope, settings)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in wanted if k not in existing]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
