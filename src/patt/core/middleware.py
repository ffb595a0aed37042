"""Pure-ASGI middleware: API body limits and content type (30 §1), security headers (20 §8)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patt.core.envelope import error_body, is_sheet_style, sheet_error_body

DEFAULT_BODY_LIMIT = 64 * 1024
# Path → byte limit for endpoints whose chapter sets a different one; features add entries here.
BODY_LIMITS: dict[str, int] = {
    "/api/v1/guild/roster-submit": 8 * 1024,
    "/api/v1/guild/availability": 8 * 1024,
    "/api/v1/guild/mito/": 4 * 1024,
    "/api/guild-sync/addon-upload": 5 * 1024 * 1024,
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "img-src 'self' https: data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
]


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


class SecurityHeadersMiddleware:
    """Adds nosniff, referrer, frame and CSP headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in existing]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
