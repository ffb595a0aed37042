"""Request and response models: the one base class every request body extends (`Body`), the
one base of read models (`ReadModel`), and the one reader of JSON object bodies for routes that
read the body themselves.

- `Body`: unknown keys ignored, strings trimmed, NUL characters refused with 422 naming the
  field (PostgreSQL text cannot hold them, so the refusal happens before anything is written).
- `read_json_object`: empty, malformed, too deeply nested or non-object JSON is 400 — never a
  500 from the JSON decoder's recursion limit.
- `read_body`: `read_json_object`, then the model; the first invalid field gives a 422 whose
  message names it, with every problem in `details`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from sv_common.errors import BadRequest, Invalid

NUL_MESSAGE = "must not contain NUL characters"
MALFORMED_JSON = "Malformed JSON body."
NOT_AN_OBJECT = "The request body must be a JSON object."

Model = TypeVar("Model", bound=BaseModel)


class ReadModel(BaseModel):
    """Base of every response shape: built from ORM rows or dataclasses by attribute."""

    model_config = ConfigDict(from_attributes=True)


def check_no_nul(value: Any) -> Any:
    """A string containing a NUL character is refused (`must not contain NUL characters`)."""
    if isinstance(value, str) and "\x00" in value:
        raise PydanticCustomError("nul_character", NUL_MESSAGE)
    return value


class Body(BaseModel):
    """Base of every request body."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return check_no_nul(value)


def decode_json(raw: bytes | str) -> Any:
    """Any JSON value; 400 when the text is not JSON (or nests deeper than the decoder allows)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(MALFORMED_JSON) from exc


def read_json_object(raw: bytes | str) -> dict[str, Any]:
    """The body as a JSON object; 400 when it is empty, malformed or not an object."""
    if not raw.strip():
        raise BadRequest(NOT_AN_OBJECT)
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise BadRequest(NOT_AN_OBJECT)
    return data


def error_details(exc: ValidationError) -> list[dict[str, str]]:
    """`[{"field", "message"}]` for every problem a model found."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in exc.errors()
    ]


def validate(model: type[Model], data: Any) -> Model:
    """`model` from already-decoded data; 422 naming the first invalid field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = error_details(exc)
        first = details[0]
        raise Invalid(
            f"Invalid value for '{first['field']}': {first['message']}", details=details
        ) from exc


async def read_body(request: Request, model: type[Model]) -> Model:
    """The JSON object body validated against `model` (400 malformed / not an object, 422 fields)."""
    return validate(model, read_json_object(await request.body()))


def first_error(exc: ValidationError, labels: dict[str, str] | None = None) -> str:
    """One human sentence for the first validation error (pages show it beside the form)."""
    errors = exc.errors()
    if not errors:
        return "Invalid input."
    error = errors[0]
    field = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "input"
    label = (labels or {}).get(field, field)
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "missing":
        return f"{label} is required."
    return f"{label}: {message}."
