"""Request bodies of the admin roster API (30 §4), shared with the admin pages.

Every model strips strings, ignores unknown fields and enforces the length limits of 30 §4.
Integers are strict (JSON numbers only: `"3"`, `3.5` and `true` are 422). PATCH models tell an
omitted field from an explicit `null` through `model_fields_set`: use `changes_of()`, which also
refuses `null` for fields that cannot be cleared.

Limits the spec leaves open (chosen here): rank `description` ≤ 500 characters, member `notes`
≤ 5000 characters, character `wow_class` ≤ 30 and `role` / `main_alt` ≤ 20.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
)

from sv_common.errors import Invalid
from sv_common.identity.realms import is_snowflake


def _snowflake(value: str) -> str:
    if not is_snowflake(value):
        raise ValueError("must be a Discord ID of 17–20 digits")
    return value


MAX_ID = 2_147_483_647  # ids and levels are PostgreSQL int4

Snowflake = Annotated[str, AfterValidator(_snowflake)]
PositiveId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


class Body(BaseModel):
    """Base for request bodies: strings stripped, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it here instead of failing in the database.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class RankCreate(Body):
    """POST /api/v1/admin/ranks."""

    name: str = Field(min_length=1, max_length=50)
    level: StrictInt = Field(ge=1, le=MAX_ID)
    description: str | None = Field(default=None, max_length=500)
    discord_role_id: Snowflake | None = None


class RankUpdate(Body):
    """PATCH /api/v1/admin/ranks/{id}: omitted = unchanged; null clears description/role id."""

    name: str | None = Field(default=None, min_length=1, max_length=50)
    level: StrictInt | None = Field(default=None, ge=1, le=MAX_ID)
    description: str | None = Field(default=None, max_length=500)
    discord_role_id: Snowflake | None = None

    NOT_NULL: ClassVar[tuple[str, ...]] = ("name", "level")


class MemberCreate(Body):
    """POST /api/v1/admin/members."""

    discord_username: str | None = Field(default=None, min_length=1, max_length=100)
    discord_id: Snowflake | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    rank_id: PositiveId | None = None


class MemberUpdate(Body):
    """PATCH /api/v1/admin/members/{id}: null clears discord_id, discord_username and notes."""

    discord_username: str | None = Field(default=None, min_length=1, max_length=100)
    discord_id: Snowflake | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    rank_id: PositiveId | None = None
    rank_source: Literal["manual", "discord_sync"] | None = None
    notes: str | None = Field(default=None, max_length=5000)

    NOT_NULL: ClassVar[tuple[str, ...]] = ("display_name", "rank_id", "rank_source")


class CharacterCreate(Body):
    """POST /api/v1/admin/members/{id}/characters (class, spec and role checked by the service)."""

    name: str = Field(min_length=2, max_length=50)
    realm: str = Field(min_length=1, max_length=100)
    wow_class: str = Field(min_length=1, max_length=30)
    spec: str | None = Field(default=None, max_length=30)
    role: str | None = Field(default=None, max_length=20)
    main_alt: str = Field(default="main", max_length=20)


class CharacterUpdate(Body):
    """PATCH /api/v1/admin/characters/{id}: null clears spec/role; `member_id` null unlinks."""

    name: str | None = Field(default=None, min_length=2, max_length=50)
    realm: str | None = Field(default=None, min_length=1, max_length=100)
    wow_class: str | None = Field(default=None, min_length=1, max_length=30)
    spec: str | None = Field(default=None, max_length=30)
    role: str | None = Field(default=None, max_length=20)
    main_alt: str | None = Field(default=None, max_length=20)
    member_id: PositiveId | None = None

    NOT_NULL: ClassVar[tuple[str, ...]] = ("name", "realm", "wow_class", "main_alt")


def changes_of(body: BaseModel) -> dict[str, Any]:
    """The fields the client sent (explicit nulls included); 422 for a null that cannot clear."""
    not_null: tuple[str, ...] = getattr(body, "NOT_NULL", ())
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    for name in not_null:
        if name in changes and changes[name] is None:
            raise Invalid(f"Invalid value for '{name}': cannot be null")
    # An empty spec/role means "clear it", like null.
    for name in ("spec", "role"):
        if name in changes and changes[name] == "":
            changes[name] = None
    return changes


def first_error(exc: ValidationError, labels: dict[str, str] | None = None) -> str:
    """One human sentence for the first validation error (used by the admin pages)."""
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
