"""Request bodies of the campaign endpoints (30 §6–7): campaigns, entries and ballots.

JSON numbers and booleans are strict (`"3"` or `true` is not an integer). Field rules that need
the database (rank levels exist, type and counting method values, the view ≤ vote rule) are
checked by `campaign_service`, so the API and the admin pages share one set of messages.
Empty optional strings count as "not given" (null). No text field may contain a NUL character
(PostgreSQL cannot store it): 422 naming the field, before anything is written.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from sv_common.errors import BadRequest, Invalid

INT32_MAX = 2**31 - 1
SNOWFLAKE = re.compile(r"^\d{17,20}$")
HTTPS_URL = re.compile(r"^https://[^\s/?#\\]+[^\s\\]*$", re.IGNORECASE)
STATIC_PREFIX = "/static/"
STATIC_PATH = re.compile(r"^/static/[^\s?#]+$")
IMAGE_URL_MESSAGE = (
    "must be an https:// URL or a path under /static/ (no '..', '%2e', backslashes or '//')"
)
NUL_MESSAGE = "must not contain NUL characters"
PICKS_MESSAGE = "picks must be a list of {entry_id, rank} objects"

Id = Annotated[StrictInt, Field(ge=1, le=INT32_MAX)]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
SortOrder = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]


def check_no_nul(value: Any) -> Any:
    """A string containing a NUL character is refused (`must not contain NUL characters`)."""
    if isinstance(value, str) and "\x00" in value:
        raise PydanticCustomError("nul_character", NUL_MESSAGE)
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return check_no_nul(value)


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def image_url_allowed(value: str) -> bool:
    """Decision 11: an `https://…` URL (no whitespace or backslash), or a path under `/static/`
    with no `..`, `%2e` (any case), backslash or `//` after the prefix."""
    if HTTPS_URL.match(value):
        return True
    if not STATIC_PATH.match(value):
        return False
    rest = value[len(STATIC_PREFIX) :]
    return not (
        ".." in rest or "%2e" in rest.lower() or "\\" in rest or "//" in rest or rest[0] == "/"
    )


def check_image_url(value: str | None) -> str | None:
    """Decision 11: `https://…` or a path under `/static/`, at most 2048 characters (422)."""
    if value is None:
        return None
    if len(value) > 2048:
        raise PydanticCustomError("image_url_length", "must be at most 2048 characters")
    if not image_url_allowed(value):
        raise PydanticCustomError("image_url", IMAGE_URL_MESSAGE)
    return value


def check_snowflake(value: str | None) -> str | None:
    """Null or 17–20 digits."""
    if value is not None and not SNOWFLAKE.match(value):
        raise ValueError("discord_channel_id must be 17-20 digits")
    return value


class _CampaignFields(_Body):
    @field_validator("description", "discord_channel_id", mode="before", check_fields=False)
    @classmethod
    def _optional_text(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("discord_channel_id", check_fields=False)
    @classmethod
    def _snowflake(cls, value: str | None) -> str | None:
        return check_snowflake(value)


class CampaignCreate(_CampaignFields):
    """POST /api/v1/admin/campaigns (30 §6)."""

    title: Title
    description: Description | None = None
    type: Annotated[str, Field(max_length=20)] = "ranked_choice"
    picks_per_voter: Annotated[StrictInt, Field(ge=1, le=10)] = 3
    min_rank_to_vote: Annotated[StrictInt, Field(ge=1, le=INT32_MAX)]
    min_rank_to_view: Annotated[StrictInt, Field(ge=1, le=INT32_MAX)] | None = None
    start_at: datetime
    duration_hours: Annotated[StrictInt, Field(ge=1, le=8760)]
    early_close_if_all_voted: StrictBool = True
    discord_channel_id: str | None = None
    counting_method: Annotated[str, Field(max_length=20)] = "weighted"


NOT_NULLABLE = (
    "title",
    "type",
    "picks_per_voter",
    "min_rank_to_vote",
    "start_at",
    "duration_hours",
    "early_close_if_all_voted",
    "counting_method",
)


class CampaignUpdate(_CampaignFields):
    """PATCH /api/v1/admin/campaigns/{id}: omitted = unchanged; null clears nullable fields."""

    title: Title | None = None
    description: Description | None = None
    type: Annotated[str, Field(max_length=20)] | None = None
    picks_per_voter: Annotated[StrictInt, Field(ge=1, le=10)] | None = None
    min_rank_to_vote: Annotated[StrictInt, Field(ge=1, le=INT32_MAX)] | None = None
    min_rank_to_view: Annotated[StrictInt, Field(ge=1, le=INT32_MAX)] | None = None
    start_at: datetime | None = None
    duration_hours: Annotated[StrictInt, Field(ge=1, le=8760)] | None = None
    early_close_if_all_voted: StrictBool | None = None
    discord_channel_id: str | None = None
    counting_method: Annotated[str, Field(max_length=20)] | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent; explicit null on a required field is a 422."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        for name in NOT_NULLABLE:
            if name in sent and sent[name] is None:
                raise Invalid(f"Invalid value for '{name}': cannot be null")
        return sent


class _EntryFields(_Body):
    @field_validator("description", "image_url", mode="before", check_fields=False)
    @classmethod
    def _optional_text(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("image_url", check_fields=False)
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        return check_image_url(value)


class EntryCreate(_EntryFields):
    """POST /api/v1/admin/campaigns/{id}/entries."""

    name: Title
    description: Description | None = None
    image_url: str | None = None
    associated_member_id: Id | None = None
    sort_order: SortOrder | None = None


class EntryUpdate(_EntryFields):
    """PATCH /api/v1/admin/campaign-entries/{eid}: omitted = unchanged."""

    name: Title | None = None
    description: Description | None = None
    image_url: str | None = None
    associated_member_id: Id | None = None
    sort_order: SortOrder | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent; `name` and `sort_order` cannot be null."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        for name in ("name", "sort_order"):
            if name in sent and sent[name] is None:
                raise Invalid(f"Invalid value for '{name}': cannot be null")
        return sent


# ------------------------------------------------------------------------------ ballots
class Pick(BaseModel):
    """One `{entry_id, rank}` pair; range rules are the vote service's (40 §3 rules 7–11)."""

    model_config = ConfigDict(extra="ignore")

    entry_id: Annotated[StrictInt, Field(ge=-INT32_MAX, le=INT32_MAX)]
    rank: Annotated[StrictInt, Field(ge=-INT32_MAX, le=INT32_MAX)]


class VoteBody(BaseModel):
    """`{"picks": [{entry_id, rank}, …]}`."""

    model_config = ConfigDict(extra="ignore")

    picks: Annotated[list[Pick], Field(max_length=100)]


_VOTE_ADAPTER = TypeAdapter(VoteBody)


def parse_vote_body(raw: bytes) -> list[Pick]:
    """Rule 2 of 40 §3: unparseable JSON → 400, wrong shape → 422 with the rule's message."""
    try:
        data = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deeply nested too
        raise BadRequest("Malformed JSON body.") from exc
    try:
        return _VOTE_ADAPTER.validate_python(data).picks
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        raise Invalid(PICKS_MESSAGE, details=details) from exc
