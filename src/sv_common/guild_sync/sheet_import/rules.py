"""Cell rules of the sheet import: booleans, Discord IDs, dates and text as the sheet wrote them,
the findings (flags) an import reports, and the import's two errors.

Dates in CSV display format (`M/D/YYYY H:MM:SS`) are read in the guild time zone (the sheet
belonged to the guild), ISO dates without offset as UTC; the spec leaves both open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sv_common.identity import realms

# JSON numbers above 2^53 − 1 have lost digits by the time they are parsed, so a Discord ID
# written as a number is only trusted up to there.
MAX_SAFE_JSON_INTEGER = 2**53 - 1


class SheetImportError(Exception):
    """A fatal import problem (bad source, wrong shape, writing failed); nothing is written."""


class SheetUsageError(SheetImportError):
    """The command was called wrongly (exit code 2)."""


def parse_sheet_bool(value: Any) -> tuple[bool, bool]:
    """(value, understood) for a sheet cell: true/1/"yes"… and false/0/""/None/"no"…"""
    if value is None or isinstance(value, bool):
        return bool(value), True
    if isinstance(value, int | float):
        if value == 1:
            return True, True
        if value == 0:
            return False, True
        return False, False
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "yes", "1"):
            return True, True
        if word in ("false", "no", "0", ""):
            return False, True
    return False, False


def parse_snowflake(value: Any) -> str | None:
    """A Discord ID as 17–20 digits; JSON numbers only while exact (≤ 2^53−1); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value < 0 or value > MAX_SAFE_JSON_INTEGER:
            return None
        value = str(value)
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    return candidate if realms.is_snowflake(candidate) else None


def cell_text(value: Any) -> str:
    """A cell as trimmed text (numbers written without a trailing `.0`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value))
    return str(value).strip()


def parse_sheet_date(value: Any, sheet_tz: tzinfo) -> datetime | None:
    """ISO-8601 (JSON export) or `M/D/YYYY H:MM:SS` (CSV display) → aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except ValueError:
        pass
    for pattern in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y"):
        try:
            local = datetime.strptime(raw, pattern)
        except ValueError:
            continue
        return local.replace(tzinfo=sheet_tz).astimezone(UTC)
    return None


@dataclass
class Flag:
    """One import finding (60 §10.7); flags never stop the import."""

    code: str
    source: str
    row: int | None
    name: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON shape of the summary."""
        return {
            "code": self.code,
            "source": self.source,
            "row": self.row,
            "name": self.name,
            "message": self.message,
        }

    def line(self) -> str:
        """One line of the text summary."""
        where = f"{self.source} row {self.row}" if self.row is not None else self.source
        return f"[{self.code}] {where}: {self.message}"
