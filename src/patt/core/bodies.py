"""JSON bodies and the no-store envelope of the guild-tool APIs (raid admin, Mito's Corner, 60 §9.1).

`read_body()`: malformed JSON or a body that is not a JSON object → 400, invalid fields → 422
with `details`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from sv_common.errors import BadRequest, Invalid

NO_STORE = {"Cache-Control": "no-store"}

Model = TypeVar("Model", bound=BaseModel)


class Body(BaseModel):
    """Request bodies: unknown keys ignored, strings trimmed."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


async def read_body(request: Request, model: type[Model]) -> Model:
    """The JSON object body validated against `model` (400 malformed / not an object, 422 fields)."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else None
    except ValueError as exc:
        raise BadRequest("Malformed JSON body.") from exc
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        first = details[0]
        raise Invalid(
            f"Invalid value for '{first['field']}': {first['message']}", details=details
        ) from exc


def ok(data: Any, status_code: int = 200) -> JSONResponse:
    """The platform envelope."""
    return JSONResponse({"ok": True, "data": data}, status_code=status_code, headers=NO_STORE)
