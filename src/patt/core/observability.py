"""Per request: the request id, the access log line and the request metrics (one pure-ASGI
middleware, outermost, so it sees every answer including errors and early 413s).

- Request id: a sane incoming `X-Request-ID` (1–64 of letters, digits and `-_.:`, e.g. from the
  proxy) is kept, anything else is replaced by a new random id; it is sent back in the
  `X-Request-ID` response header and is on every log record written while the request runs.
- Access log (`patt.access`, ACCESS_LOG): method, path without secret query values, route
  template, status, duration in ms, client address.
- Metrics (METRICS_ENABLED): counts and latency by route template — a template such as
  `/api/v1/campaigns/{campaign_id}`, never the raw path, so the label set stays small.

The cost per request is a header scan, a context variable, two clock reads and one log call.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patt.core import metrics
from patt.core.logutil import REQUEST_ID, redact

access_log = logging.getLogger("patt.access")
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
UNMATCHED = "<unmatched>"


def request_id_from(raw: bytes | None) -> str:
    """The incoming id when it is sane, else a new one (32 hex characters)."""
    if raw:
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            value = ""
        if SANE_REQUEST_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template, or `<unmatched>` (404s, scanners)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestContextMiddleware:
    """Request id, access log and request metrics around the whole app."""

    def __init__(self, app: ASGIApp, *, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value
                break
        request_id = request_id_from(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            metrics.observe_request(scope.get("method", ""), route, status, seconds)
            if self.access_log_enabled:
                self._log(scope, route, status, seconds)
            REQUEST_ID.reset(token)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, seconds: float) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        path = redact(scope.get("path", "") + (f"?{query}" if query else ""))
        client = scope.get("client")
        duration_ms = round(seconds * 1000, 2)
        access_log.info(
            "%s %s %s %.2fms",
            scope.get("method", ""),
            path,
            status,
            duration_ms,
            extra={
                "http": {
                    "method": scope.get("method", ""),
                    "path": path,
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                    "client": client[0] if client else None,
                }
            },
        )
