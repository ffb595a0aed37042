"""Request bodies and response shapes of the roster admin API (ranks, members, characters,
invites) and the public guild API; the bodies are shared with the admin pages.

Every model strips strings, ignores unknown fields and enforces the length limits of 30 §4.
Integers are strict (JSON numbers only: `"3"`, `3.5` and `true` are 422). PATCH models tell an
omitted field from an explicit `null` through `model_fields_set`: use `changes_of()`, which also
refuses `null` for fields that cannot be cleared.

Limits the spec leaves open (chosen here): rank `description` ≤ 500 characters, member `notes`
≤ 5000 characters, character `wow_class` ≤ 30 and `role` / `main_alt` ≤ 20.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    Field,
)

from patt.core.fields import Id, IsoTime, Name100, Snowflake
from patt.core.schemas import Body, ReadModel
from sv_common.db.models import Character, GuildMember
from sv_common.errors import Invalid


class RankCreate(Body):
    """POST /api/v1/admin/ranks."""

    name: str = Field(min_length=1, max_length=50)
    level: Id
    description: str | None = Field(default=None, max_length=500)
    discord_role_id: Snowflake | None = None


class RankUpdate(Body):
    """PATCH /api/v1/admin/ranks/{id}: omitted = unchanged; null clears description/role id."""

    name: str | None = Field(default=None, min_length=1, max_length=50)
    level: Id | None = None
    description: str | None = Field(default=None, max_length=500)
    discord_role_id: Snowflake | None = None

    NOT_NULL: ClassVar[tuple[str, ...]] = ("name", "level")


class MemberCreate(Body):
    """POST /api/v1/admin/members."""

    discord_username: Name100 | None = None
    discord_id: Snowflake | None = None
    display_name: Name100 | None = None
    rank_id: Id | None = None


class MemberUpdate(Body):
    """PATCH /api/v1/admin/members/{id}: null clears discord_id, discord_username and notes."""

    discord_username: Name100 | None = None
    discord_id: Snowflake | None = None
    display_name: Name100 | None = None
    rank_id: Id | None = None
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
    member_id: Id | None = None

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


# ------------------------------------------------------------------------ response shapes
class RankBrief(ReadModel):
    """A rank as nested in a member: `{id, name, level}`."""

    id: int
    name: str
    level: int


class PublicRank(RankBrief):
    """A rank in the public rank list."""

    description: str | None


class RankRead(PublicRank):
    """A rank for officers, with its Discord role mapping."""

    discord_role_id: str | None


class MemberRead(ReadModel):
    """A member (person) as the admin API shows it."""

    id: int
    discord_username: str | None
    display_name: str
    discord_id: str | None
    rank_id: int
    rank: RankBrief
    rank_source: str
    registered: bool
    registered_at: IsoTime | None
    on_raid_roster: bool

    @classmethod
    def of(cls, member: GuildMember, **extra: Any) -> Self:
        """From an ORM member with its rank loaded."""
        values = {
            name: getattr(member, name, None)
            for name in cls.model_fields
            if name not in extra and name != "registered"
        }
        values.update(registered=member.user_id is not None, **extra)
        return cls.model_validate(values)


class MemberOfficerRead(MemberRead):
    """Officers also see the member's notes."""

    notes: str | None


class CharacterRead(ReadModel):
    """A character: where it plays, what it plays, main or alt."""

    id: int
    name: str
    realm: str
    realm_slug: str
    character_class: str | None = Field(serialization_alias="class")
    spec: str | None
    role: str | None
    main_alt: str
    armory_url: str | None

    @classmethod
    def of(cls, character: Character) -> Self:
        """From an ORM character (the display realm falls back to the slug)."""
        values = {name: getattr(character, name, None) for name in cls.model_fields}
        values["realm"] = character.realm_name or character.realm_slug
        return cls.model_validate(values)


class CharacterOfficerRead(CharacterRead):
    """Officers also see the game data, both notes, membership and origin."""

    level: int | None
    item_level: int | None
    active_spec: str | None
    game_rank_name: str | None
    guild_note: str | None
    officer_note: str | None
    removed_at: IsoTime | None
    member_id: int | None
    origin: str


class MemberDetail(MemberOfficerRead):
    """One member with every character."""

    characters: list[CharacterOfficerRead]


class InviteSent(ReadModel):
    """The code created for a member and what happened to its DM."""

    member_id: int
    discord_id: str | None
    code: str
    expires_at: str | None
    register_url: str
    dm_sent: bool
    dm_status: str
    dm_message: str


class MemberSignedOut(ReadModel):
    """Every session of the member's account has ended."""

    member_id: int
    signed_out: bool = True


class MainCharacter(ReadModel):
    """A member's main character on the public roster."""

    name: str
    realm: str
    character_class: str | None = Field(serialization_alias="class")
    spec: str | None
    role: str | None
    armory_url: str | None


class RosterMember(ReadModel):
    """One member on the public roster."""

    display_name: str
    rank: str
    main_character: MainCharacter | None


class PublicRoster(ReadModel):
    """Every member by display name with their main character."""

    members: list[RosterMember]
