"""The two response envelopes, in one place.

- The platform envelope: `{"ok": true, "data": …}` for success and
  `{"ok": false, "error": "…", "details"?: […]}` for every API error. `Envelope[T]` is its
  typed form, used as the `response_model` of JSON routes so `/api/docs` shows real shapes.
- The old sheet-style envelope of the legacy roster endpoints that existing browser tools read:
  `{"success": true, …}` / `{"success": false, "error": "…", "fields"?, "retryAfter"?}`.

Hot routes whose JSON is built by PostgreSQL splice that text in with `raw_ok` instead of
decoding and re-encoding it.
"""

from __future__ import annotations

import json
from typing import Any, Generic, Literal, TypeVar

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, TypeAdapter

T = TypeVar("T")

NO_STORE = {"Cache-Control": "no-store"}

# Paths of the legacy roster endpoints that answer in the sheet-style envelope.
SHEET_STYLE_PATHS = ("/api/v1/guild/roster-submit", "/api/v1/guild/roster-data")


class Envelope(BaseModel, Generic[T]):
    """A successful platform response."""

    ok: Literal[True] = True
    data: T


class ErrorDetail(BaseModel):
    """One invalid field."""

    field: str
    message: str


class Deleted(BaseModel):
    """The answer to a delete."""

    deleted: bool = True


class ErrorEnvelope(BaseModel):
    """A failed platform response."""

    ok: Literal[False] = False
    error: str
    details: list[ErrorDetail] | None = None


def is_sheet_style(path: str) -> bool:
    """Whether the path belongs to a legacy endpoint with the sheet-style envelope."""
    return path.startswith(SHEET_STYLE_PATHS)


def error_body(message: str, *, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`{"ok": false, "error", "details"?}`."""
    body: dict[str, Any] = {"ok": False, "error": message}
    if details:
        body["details"] = details
    return body


def error_response(
    status: int,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An API error in the platform envelope."""
    return JSONResponse(error_body(message, details=details), status_code=status, headers=headers)


def sheet_error_body(
    message: str, *, fields: dict[str, str] | None = None, retry_after: int | None = None
) -> dict[str, Any]:
    """`{"success": false, "error", "fields"?, "retryAfter"?}`."""
    body: dict[str, Any] = {"success": False, "error": message}
    if fields:
        body["fields"] = fields
    if retry_after is not None:
        body["retryAfter"] = retry_after
    return body


def error_for_path(path: str, status: int, message: str) -> JSONResponse:
    """An error in whichever envelope the path's clients expect."""
    if is_sheet_style(path):
        return JSONResponse(sheet_error_body(message), status_code=status)
    return error_response(status, message)


# Serialises read models, lists of them and plain data alike (pydantic's serializer, in Rust).
_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def ok(
    data: Any,
    status_code: int = 200,
    *,
    headers: dict[str, str] | None = NO_STORE,
    beside: dict[str, Any] | None = None,
) -> Response:
    """A success envelope around read models or plain data (never cached by clients);
    `beside` adds top-level keys next to `data` (e.g. a closed campaign's `audit`)."""
    content = _ANY.dump_json({"ok": True, "data": data, **(beside or {})}, by_alias=True)
    return Response(
        content, status_code=status_code, headers=headers, media_type="application/json"
    )


def raw_ok(data_json: str, status_code: int = 200) -> Response:
    """A success envelope around JSON text that is already encoded (built in SQL or cached)."""
    return Response(
        f'{{"ok": true, "data": {data_json}}}',
        status_code=status_code,
        media_type="application/json",
        headers=NO_STORE,
    )


def dumps(value: Any) -> str:
    """Compact JSON text of plain data (for splicing into a raw envelope)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
