"""Request bodies and response shapes of the identity API (`/api/identity/*`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool

from patt.core.fields import Id
from patt.core.schemas import Body, ReadModel


class LinkBody(Body):
    """Exactly two of the three ids; `move` re-links an entity that belongs to someone else."""

    character_id: Id | None = None
    discord_member_id: Id | None = None
    member_id: Id | None = None
    move: StrictBool = False


class ConfirmBody(Body):
    """Which link to confirm."""

    link_id: Id


class ResolveBody(Body):
    """How an officer closes an issue; `ignore` keeps it from ever coming back."""

    note: str | None = Field(default=None, max_length=2000)
    ignore: StrictBool = False


IssueStatus = Literal["open", "resolved", "all"]


class LinkBrief(ReadModel):
    """Why a character or account belongs to its member."""

    id: int
    source: str
    confidence: str
    confirmed: bool


class LinkRead(ReadModel):
    """One link with the names of both sides."""

    id: int
    member_id: int
    member_display_name: str | None
    character_id: int | None
    character_name: str | None
    discord_member_id: int | None
    discord_display_name: str | None
    source: str
    confidence: str
    confirmed: bool
    confirmed_by: str | None
    confirmed_at: str | None
    created_at: str | None


class PersonCharacter(ReadModel):
    """A member's character in the people list."""

    id: int
    name: str
    realm_slug: str
    character_class: str | None = Field(default=None, serialization_alias="class")
    spec: str | None = None
    role: str | None = None
    main_alt: str
    level: int | None = None
    item_level: int | None = None
    game_rank_name: str | None = None
    in_guild: bool
    link: LinkBrief | None = None


class PersonAccount(ReadModel):
    """A member's Discord account in the people list."""

    id: int
    discord_id: str
    username: str
    display_name: str | None
    highest_guild_role: str | None
    is_present: bool
    link: LinkBrief | None = None


class Person(ReadModel):
    """A member with every character and account, and why each belongs to them."""

    id: int
    display_name: str
    discord_username: str | None
    discord_id: str | None
    rank: dict[str, Any]
    rank_source: str
    registered: bool
    characters: list[PersonCharacter]
    discord_accounts: list[PersonAccount]
    open_issues: int


class PersonsPage(ReadModel):
    """Members matching the search, with the total."""

    total: int
    persons: list[Person]


class LinksPage(ReadModel):
    """Links matching the filter, with the total."""

    total: int
    links: list[LinkRead]


class IssueRead(ReadModel):
    """An audit issue with every column."""

    id: int
    issue_type: str
    severity: str
    summary: str
    details: dict[str, Any] | None = None
    character_id: int | None = None
    discord_member_id: int | None = None
    member_id: int | None = None
    first_detected: str | None = None
    last_detected: str | None = None
    notified_at: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None
    ignored: bool = False


class IssuesPage(ReadModel):
    """Issues matching the filter, newest first, with the total."""

    total: int
    issues: list[IssueRead]


class LinkResult(ReadModel):
    """The member both sides now belong to, and the links written."""

    member_id: int
    created_member: bool
    links: list[LinkRead]


class Removed(ReadModel):
    """The id of the link that was removed."""

    removed: int


class WowOrphans(ReadModel):
    """Unlinked in-guild characters with suggested accounts."""

    characters: list[dict[str, Any]]


class DiscordOrphans(ReadModel):
    """Accounts with a guild role but no character in the guild."""

    accounts: list[dict[str, Any]]


class Mismatches(ReadModel):
    """Open rank-mismatch issues, critical first."""

    issues: list[dict[str, Any]]
