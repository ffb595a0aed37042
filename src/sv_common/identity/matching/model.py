"""What the matching planner reads (a snapshot of the guild) and what it decides (a plan),
as plain dataclasses, plus the rule for the member created from a Discord account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sv_common.db.enums import MainAlt, RankSource

DISPLAY_NAME_MAX = 100  # common.guild_members.display_name varchar(100)


# ------------------------------------------------------------------------------ snapshot
@dataclass(frozen=True)
class RankRow:
    """A platform rank."""

    id: int
    name: str
    level: int


@dataclass(frozen=True)
class MemberRow:
    """A member (person)."""

    id: int
    display_name: str
    discord_username: str | None = None
    discord_id: str | None = None


@dataclass(frozen=True)
class AccountRow:
    """A Discord account (bots are never stored)."""

    id: int
    discord_id: str
    username: str
    global_name: str | None = None
    nickname: str | None = None
    display_name: str | None = None
    highest_guild_role: str | None = None
    is_present: bool = True
    member_id: int | None = None

    @property
    def shown_name(self) -> str:
        """The name people see: nickname, else global name, else username."""
        return self.nickname or self.global_name or self.display_name or self.username


@dataclass(frozen=True)
class CharacterRow:
    """A character; `in_guild` is false once it left the guild."""

    id: int
    name: str
    realm_slug: str = ""
    member_id: int | None = None
    in_guild: bool = True
    main_alt: str = MainAlt.ALT
    guild_note: str | None = None
    officer_note: str | None = None


@dataclass
class Snapshot:
    """Everything one matching run reads."""

    ranks: list[RankRow]
    members: list[MemberRow]
    accounts: list[AccountRow]
    characters: list[CharacterRow]
    rejected_character_member: set[tuple[int, int]] = field(default_factory=set)
    rejected_character_account: set[tuple[int, int]] = field(default_factory=set)
    rejected_account_member: set[tuple[int, int]] = field(default_factory=set)
    ignored_hashes: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class NewMember:
    """A member to create for an unlinked account; `ref` (negative) stands for its id."""

    ref: int
    account_id: int
    display_name: str
    discord_username: str | None
    discord_id: str | None
    rank_id: int
    rank_source: str


@dataclass(frozen=True)
class PlannedLink:
    """One link to write; `member_ref` is a member id, or a `NewMember.ref` when negative."""

    member_ref: int
    source: str
    confidence: str
    confirmed: bool
    character_id: int | None = None
    account_id: int | None = None
    main_alt: str | None = None  # the character's main/alt after linking
    strategy: str = "accounts_linked"  # the stat this link counts in


@dataclass(frozen=True)
class PlannedSuggestion:
    """A near-miss pair for an officer to review."""

    character_id: int
    account_id: int
    score: float
    member_id: int | None  # the account's member when it has one


@dataclass
class MatchingStats:
    """Counts of one matching run (stored in the pipeline's sync log)."""

    accounts_linked: int = 0
    exact: int = 0
    guild_note: int = 0
    officer_note: int = 0
    token: int = 0
    fuzzy: int = 0
    suggestions: int = 0
    members_created: int = 0
    ambiguous: int = 0
    unmatched: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain dict for logs, sync_log details and JSON."""
        return asdict(self)


@dataclass
class Plan:
    """Every write a matching run makes, in the order the engine applies them."""

    new_members: list[NewMember] = field(default_factory=list)
    account_links: list[PlannedLink] = field(default_factory=list)
    member_discord_ids: list[tuple[int, str]] = field(default_factory=list)
    character_links: list[PlannedLink] = field(default_factory=list)
    promote_to_main: list[tuple[int, int]] = field(default_factory=list)  # (character, member ref)
    suggestions: list[PlannedSuggestion] = field(default_factory=list)
    stats: MatchingStats = field(default_factory=MatchingStats)


def member_values_for_account(
    account: AccountRow,
    ranks: Sequence[RankRow],
    *,
    username_taken: bool,
    discord_id_taken: bool,
) -> dict[str, Any] | None:
    """Column values of a member created from a Discord account, or None without any rank.

    The rank comes from the account's guild role (`discord_sync`); without one it is the lowest
    rank (`manual`): the character that led here shows the person belongs to the guild, but an
    in-game rank or a name guess never decides a member's rank.
    """
    if not ranks:
        return None
    by_name = {rank.name.casefold(): rank for rank in ranks}
    role_rank = (
        by_name.get(account.highest_guild_role.casefold()) if account.highest_guild_role else None
    )
    if role_rank is not None:
        rank, source = role_rank, RankSource.DISCORD_SYNC
    else:
        rank, source = min(ranks, key=lambda r: r.level), RankSource.MANUAL
    return {
        "display_name": (account.shown_name.strip() or account.username)[:DISPLAY_NAME_MAX],
        "discord_username": None if username_taken else account.username,
        "discord_id": None if discord_id_taken else account.discord_id,
        "rank_id": rank.id,
        "rank_source": str(source),
    }
