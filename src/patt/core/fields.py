"""Field types shared by every request model and route: ids, Discord snowflakes, limits.

`IdPath` accepts only plain decimal digits (a non-integer path id is 422): pydantic's lax int
parsing would otherwise read `1.0`, `+1`, ` 1` or `1_0` as numbers. JSON ids are strict
integers (`"3"`, `3.5` and `true` are refused) within PostgreSQL's int4 range, so an id that
cannot exist never reaches the database.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, StrictInt

from sv_common.identity.names import INVISIBLE_MESSAGE, invisible_character
from sv_common.identity.realms import is_snowflake

INT32_MAX = 2**31 - 1  # ids and levels are PostgreSQL int4
_DIGITS = re.compile(r"[0-9]{1,10}")

# Text limits of the data model that several features share.
DISPLAY_NAME_MAX = 100
DISCORD_USERNAME_MAX = 100
CHARACTER_NAME_MAX = 50


def _plain_digits(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a positive whole number")
    return value


def _snowflake(value: str) -> str:
    if not is_snowflake(value):
        raise ValueError("must be a Discord ID of 17–20 digits")
    return value


def _visible(value: str) -> str:
    if invisible_character(value) is not None:
        raise ValueError(INVISIBLE_MESSAGE)
    return value


IdPath = Annotated[int, BeforeValidator(_plain_digits), Path(ge=1, le=INT32_MAX)]
"""A row id in the URL path."""

Id = Annotated[StrictInt, Field(ge=1, le=INT32_MAX)]
"""A row id (or rank level) in a JSON body."""

Snowflake = Annotated[str, AfterValidator(_snowflake)]
"""A Discord id: 17–20 digits, kept as a string."""

VisibleText = Annotated[str, AfterValidator(_visible)]
"""A name people type and others read: no control, zero-width or text-direction characters."""

Name100 = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_visible)]
"""A visible name of 1–100 characters (display names, Discord usernames)."""


IsoTime = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)]
"""A timezone-aware time, written as ISO 8601 with its offset (`…+00:00`)."""


def int_or_none(raw: str) -> int | None:
    """A form field's whole number within int4, or None when it is not one."""
    text = raw.strip()
    if not text or not text.isascii() or not text.isdigit() or int(text) > INT32_MAX:
        return None
    return int(text)
