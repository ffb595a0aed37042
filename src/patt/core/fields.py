"""Path parameters shared by the API and the pages.

`IdPath` accepts only plain decimal digits (30 §1: a non-integer path id is 422): pydantic's lax
int parsing would otherwise read `1.0`, `+1`, ` 1` or `1_0` as numbers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator

INT32_MAX = 2**31 - 1  # ids are PostgreSQL int4
_DIGITS = re.compile(r"[0-9]{1,10}")


def _plain_digits(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a positive whole number")
    return value


IdPath = Annotated[int, BeforeValidator(_plain_digits), Path(ge=1, le=INT32_MAX)]
