"""Request bodies and response shapes of the campaign endpoints: campaigns, entries, ballots,
results and statistics.

JSON numbers and booleans are strict (`"3"` or `true` is not an integer). Field rules that need
the database (rank levels exist, type and counting method values, the view ≤ vote rule) are
checked by `campaign_service`, so the API and the admin pages share one set of messages.
Empty optional strings count as "not given" (null). No text field may contain a NUL character
(PostgreSQL cannot store it): 422 naming the field, before anything is written.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from patt.campaigns.rules import end_at
from patt.core.fields import INT32_MAX, Id, IsoTime
from patt.core.schemas import Body, ReadModel, decode_json, error_details
from sv_common.db.models import Campaign
from sv_common.errors import Invalid

SNOWFLAKE = re.compile(r"^\d{17,20}$")
HTTPS_URL = re.compile(r"^https://[^\s/?#\\]+[^\s\\]*$", re.IGNORECASE)
STATIC_PREFIX = "/static/"
STATIC_PATH = re.compile(r"^/static/[^\s?#]+$")
IMAGE_URL_MESSAGE = (
    "must be an https:// URL or a path under /static/ (no '..', '%2e', backslashes or '//')"
)
PICKS_MESSAGE = "picks must be a list of {entry_id, rank} objects"

Title = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
SortOrder = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]
# Minimum turnout for a declared result, in percent of the eligible voters (null: no quorum).
Quorum = Annotated[StrictInt, Field(ge=1, le=100)]


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


class _CampaignFields(Body):
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
    eligibility_snapshot: StrictBool = False
    quorum_percent: Quorum | None = None
    allow_vote_change: StrictBool = False

    @model_validator(mode="after")
    def _approval_method(self) -> Self:
        """An approval campaign has one counting method, `approval`: when the caller leaves
        `counting_method` out it follows the type (a different value sent is the service's
        422)."""
        if self.type == "approval" and "counting_method" not in self.model_fields_set:
            self.counting_method = "approval"
        return self


NOT_NULLABLE = (
    "title",
    "type",
    "picks_per_voter",
    "min_rank_to_vote",
    "start_at",
    "duration_hours",
    "early_close_if_all_voted",
    "counting_method",
    "eligibility_snapshot",
    "allow_vote_change",
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
    eligibility_snapshot: StrictBool | None = None
    quorum_percent: Quorum | None = None
    allow_vote_change: StrictBool | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent; explicit null on a required field is a 422."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        for name in NOT_NULLABLE:
            if name in sent and sent[name] is None:
                raise Invalid(f"Invalid value for '{name}': cannot be null")
        return sent


class _EntryFields(Body):
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
    """One `{entry_id, rank}` pair; range rules are the vote service's (40 §3 rules 7–11).

    `rank` may be left out (or null) because approval ballots are unordered and ignore it; the
    campaign type is not known while the body is parsed, so for a ranked-choice campaign a
    missing rank is refused by the vote service (422, same message as a malformed body).
    """

    model_config = ConfigDict(extra="ignore")

    entry_id: Annotated[StrictInt, Field(ge=-INT32_MAX, le=INT32_MAX)]
    rank: Annotated[StrictInt, Field(ge=-INT32_MAX, le=INT32_MAX)] | None = None


class VoteBody(BaseModel):
    """`{"picks": [{entry_id, rank}, …]}`."""

    model_config = ConfigDict(extra="ignore")

    picks: Annotated[list[Pick], Field(max_length=100)]


_VOTE_ADAPTER = TypeAdapter(VoteBody)


def parse_vote_body(raw: bytes) -> list[Pick]:
    """Unparseable JSON → 400, wrong shape → 422 with the picks rule's message."""
    data = decode_json(raw) if raw.strip() else None
    try:
        return _VOTE_ADAPTER.validate_python(data).picks
    except ValidationError as exc:
        raise Invalid(PICKS_MESSAGE, details=error_details(exc)) from exc


# ------------------------------------------------------------------------ response shapes
class EntryRead(ReadModel):
    """One campaign entry."""

    id: int
    name: str
    description: str | None
    image_url: str | None
    sort_order: int
    associated_member_id: int | None


class EntryCreated(EntryRead):
    """The entry-create response, which also names its campaign."""

    campaign_id: int


class CampaignRead(ReadModel):
    """A campaign with its derived end and (unless hidden) its entries."""

    id: int
    title: str
    description: str | None
    type: str
    counting_method: str
    picks_per_voter: int
    min_rank_to_vote: int
    min_rank_to_view: int | None
    start_at: IsoTime
    end_at: IsoTime
    duration_hours: int
    status: str
    early_close_if_all_voted: bool
    discord_channel_id: str | None
    created_by: int | None
    closed_at: IsoTime | None
    close_reason: str | None
    eligibility_snapshot: bool
    quorum_percent: int | None
    allow_vote_change: bool
    outcome: str | None
    entries: list[EntryRead]

    @classmethod
    def of(cls, campaign: Campaign, *, show_entries: bool = True, **extra: Any) -> Self:
        """The shape of an ORM campaign (entries loaded); entries empty when not shown."""
        return cls.model_validate(
            {
                **{name: getattr(campaign, name) for name in _CAMPAIGN_COLUMNS},
                "end_at": end_at(campaign),
                "entries": campaign.entries if show_entries else [],
                **extra,
            }
        )

    @classmethod
    def public(cls, campaign: Campaign, *, officer: bool) -> Self:
        """For the public API: a draft shows no entries to non-officers."""
        return cls.of(campaign, show_entries=officer or campaign.status != "draft")


_CAMPAIGN_COLUMNS = tuple(
    name for name in CampaignRead.model_fields if name not in ("end_at", "entries")
)


class CampaignAdminRead(CampaignRead):
    """The officers' view adds the ballot count."""

    votes_cast: int


class PickRead(ReadModel):
    """One ranked choice of a ballot."""

    entry_id: int
    rank: int


class BallotCast(ReadModel):
    """The answer to a vote (or a vote change): the ballot and its new receipt code."""

    campaign_id: int
    member_id: int
    receipt: str
    votes: list[PickRead]


class MyVote(ReadModel):
    """The caller's own ballot with its receipt code."""

    campaign_id: int
    cast_at: IsoTime | None
    receipt: str
    votes: list[PickRead]


class ResultEntry(ReadModel):
    """The entry of a results row."""

    id: int
    name: str
    image_url: str | None
    description: str | None
    associated_member: str | None


class ResultRow(ReadModel):
    """One entry's standing: place counts, score and rank (ties share a rank)."""

    entry: ResultEntry
    first_place_count: int
    second_place_count: int
    third_place_count: int
    rank_counts: list[int]
    weighted_score: int
    final_rank: int
    method_details: Any = None


class VoteStats(ReadModel):
    """Participation of eligible voters (no standings)."""

    total_eligible: int
    total_voted: int
    percent_voted: float
    all_voted: bool


class BallotEntry(ReadModel):
    """An entry named in the ballot export."""

    id: int
    name: str


class AnonymousBallot(ReadModel):
    """A ballot without voter or time, with its receipt code."""

    receipt: str
    picks: list[PickRead]


class BallotExport(ReadModel):
    """The anonymised ballots of a closed campaign, in random order."""

    campaign_id: int
    title: str
    status: str
    counting_method: str
    picks_per_voter: int
    entries: list[BallotEntry]
    ballot_count: int
    ballots: list[AnonymousBallot]


class AuditRead(ReadModel):
    """The audit snapshot taken when the campaign closed (40 §9.2), returned beside final
    results. `ballot_digest` is the SHA-256 of the canonical ballot list (docs/CAMPAIGNS.md)."""

    outcome: str | None
    result_declared: bool
    eligible_count_at_close: int | None
    ballot_count: int | None
    counting_method: str | None
    point_table: list[int] | None
    quorum_percent: int | None
    eligibility: str
    calculated_at: str | None
    digest_algorithm: str
    canonical_format: str
    ballot_digest: str
    ballot_list_url: str


class ResultsEnvelope(ReadModel):
    """`GET /results`: the rows in `data` and, for closed campaigns, `audit` beside them."""

    ok: bool = True
    data: list[ResultRow]
    audit: AuditRead | None = None


class PublishedBallotList(ReadModel):
    """The anonymised ballot list of a closed campaign, ordered by receipt: what voters check
    their receipt against. `digest` is computed from the ballots as served; `audit_digest` is
    the one recorded at close — they match unless a ballot changed after close."""

    campaign_id: int
    ballot_count: int
    canonical_format: str
    digest: str
    audit_digest: str | None
    ballots: list[AnonymousBallot]
