"""The one injectable clock: services call `now()`; tests move it with `set_now`/`advance`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """Current time as a timezone-aware UTC datetime (moved or frozen in tests)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def set_now(value: datetime | None) -> None:
    """Freeze the clock at `value` (None unfreezes and clears any offset)."""
    global _frozen, _offset
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    _frozen = value
    if value is None:
        _offset = timedelta(0)


def advance(delta: timedelta) -> None:
    """Move the clock forward by `delta` (frozen or running)."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset = _offset + delta


def reset() -> None:
    """Back to the real clock."""
    set_now(None)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with its offset (`…+00:00`), or None."""
    return value.isoformat() if value is not None else None
