"""Domain errors raised by services; one exception handler turns them into the API envelope."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a rule-level failure with an HTTP status and one human sentence.

    `code` names the rule that refused (e.g. `wrong_pick_count`) so callers that phrase the
    refusal differently (a page, the CLI) test the code, never the wording of the message.
    """

    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        self.code = code


class BadRequest(DomainError):
    """Rule-level rejection of a well-formed request (bad invite code, username mismatch)."""

    status_code = 400


class Unauthorized(DomainError):
    """Not authenticated."""

    status_code = 401


class Forbidden(DomainError):
    """Authenticated but not allowed."""

    status_code = 403


class NotFound(DomainError):
    """The resource does not exist (or is hidden from this caller)."""

    status_code = 404


class Conflict(DomainError):
    """Conflict with the current state: duplicates, wrong status, already done."""

    status_code = 409


class Invalid(DomainError):
    """Input validation failure (types, ranges, enum values, unknown referenced ids)."""

    status_code = 422


class TooManyRequests(DomainError):
    """Throttled; carries a Retry-After value in seconds."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = max(1, int(retry_after))


class Unavailable(DomainError):
    """A dependency is unavailable or not configured."""

    status_code = 503


class BadGateway(DomainError):
    """An upstream service (Raid-Helper, Blizzard) failed."""

    status_code = 502
