"""Response shapes of the guild-tool roster endpoints (the bodies are checked field by field by
`signup` and `availability`, which report every problem at once in the sheet-style envelope).

The legacy shapes keep the old sheet's camelCase keys: existing browser tools read them.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from patt.core.schemas import ReadModel


class WeekEntry(ReadModel):
    """One member's week: a boolean per day, notes and preferences."""

    model_config = ConfigDict(extra="allow")  # one key per day of the week

    discord: str
    notes: str
    autoSignup: bool
    wantsReminders: bool
    updated: str | None


class RosterCharacter(ReadModel):
    """A raid-roster character with the old sheet's role labels."""

    discord: str
    character: str
    character_class: str = Field(serialization_alias="class")
    spec: str
    role: str
    mainAlt: str


class RosterData(ReadModel):
    """`GET /roster-data`: the sheet-style roster (Discord IDs and issues for officers only)."""

    success: bool
    availability: list[WeekEntry]
    characters: list[RosterCharacter]
    discordIds: dict[str, str]
    validationIssues: list[dict[str, str]]


class SubmitCreated(ReadModel):
    """What a sign-up created."""

    member: bool
    character: bool


class SubmitResult(ReadModel):
    """`POST /roster-submit` success."""

    success: bool
    message: str
    created: SubmitCreated


class SheetError(ReadModel):
    """A sheet-style failure."""

    success: bool
    error: str
    fields: dict[str, str] | None = None
    retryAfter: int | None = None


class AvailabilityUpdated(ReadModel):
    """`POST /availability` success (the platform envelope plus a message)."""

    ok: bool
    message: str
    data: WeekEntry
