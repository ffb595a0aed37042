"""What counts as an identity problem, how it is worded and which problems went away (pure).

Every finding is a `DetectedIssue` whose hash (`issue_hash`) identifies the problem across runs:
the same problem found again refreshes its open issue instead of opening a second one.

Ranks: a character's platform rank is the rank named like its in-game rank index in the
configured game rank names; characters whose index has no such rank are left out of every rank
comparison. An account's Discord rank is the rank named in `highest_guild_role`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sv_common.db.enums import IssueType, Severity

DEFAULT_GAME_RANK_NAMES = ("Guild Leader", "Officer", "Veteran", "Member", "Initiate")

# Types whose open issues the checker re-evaluates and resolves when not found again; the other
# two belong to their creators (suggestions to the matching engine, rank changes to the Blizzard
# sync) and are resolved by the rules in `auto_resolutions`.
CHECKER_TYPES = (
    IssueType.ORPHAN_WOW,
    IssueType.ORPHAN_DISCORD,
    IssueType.ROLE_MISMATCH,
    IssueType.NO_GUILD_ROLE,
    IssueType.STALE_CHARACTER,
)


def issue_hash(issue_type: str, *keys: object) -> str:
    """sha256 hex of "type:k1:k2…": the identity of a problem across runs."""
    return hashlib.sha256(":".join([str(issue_type), *map(str, keys)]).encode()).hexdigest()


@dataclass(frozen=True)
class DetectedIssue:
    """One finding, ready to be stored as an audit issue."""

    issue_type: str
    severity: str
    summary: str
    keys: tuple[object, ...]
    details: dict[str, Any] = field(default_factory=dict)
    character_id: int | None = None
    discord_member_id: int | None = None
    member_id: int | None = None

    @property
    def issue_hash(self) -> str:
        """Hash of the type and keys."""
        return issue_hash(self.issue_type, *self.keys)


# ------------------------------------------------------------------------------ snapshot
@dataclass(frozen=True)
class RankInfo:
    """A platform rank."""

    id: int
    name: str
    level: int


@dataclass(frozen=True)
class MemberInfo:
    """A member as the checker sees it."""

    id: int
    display_name: str


@dataclass(frozen=True)
class CharacterInfo:
    """An in-guild character."""

    id: int
    name: str
    realm_slug: str
    character_class: str | None
    game_rank: int | None
    game_rank_name: str | None
    member_id: int | None
    last_login_at: datetime | None


@dataclass(frozen=True)
class AccountInfo:
    """A present Discord account."""

    id: int
    discord_id: str
    username: str
    display: str
    highest_guild_role: str | None
    member_id: int | None


@dataclass(frozen=True)
class OpenIssue:
    """An unresolved audit issue, as far as auto-resolution needs it."""

    id: int
    issue_type: str
    issue_hash: str
    character_id: int | None
    discord_member_id: int | None
    member_id: int | None
    first_detected: datetime


@dataclass
class CheckSnapshot:
    """Everything one check evaluates: in-guild characters and present accounts only."""

    ranks: list[RankInfo]
    members: list[MemberInfo]
    characters: list[CharacterInfo]
    accounts: list[AccountInfo]


@dataclass
class CheckSettings:
    """Thresholds and names the rules depend on."""

    now: datetime
    stale_days: int = 30
    rank_change_expiry_days: int = 7
    game_rank_names: Sequence[str] = DEFAULT_GAME_RANK_NAMES
    admin_rank_level: int = 4


# ------------------------------------------------------------------------------ builders
def suggestion_issue(
    *,
    character_id: int,
    character_name: str,
    realm_slug: str,
    account_id: int,
    account_display: str,
    score: float,
    member_id: int | None = None,
) -> DetectedIssue:
    """A possible character ↔ Discord account match for an officer to review."""
    return DetectedIssue(
        issue_type=IssueType.AUTO_LINK_SUGGESTION,
        severity=Severity.INFO,
        summary=f"Possible match: {character_name} ↔ {account_display} ({score:.0%})",
        keys=(character_id, account_id),
        details={
            "character": character_name,
            "character_id": character_id,
            "realm": realm_slug,
            "account": account_display,
            "discord_member_id": account_id,
            "member_id": member_id,
            "score": round(score, 4),
        },
        character_id=character_id,
        discord_member_id=account_id,
        member_id=member_id,
    )


def rank_change_issue(
    *,
    character_id: int,
    character_name: str,
    old_index: int,
    new_index: int,
    old_name: str,
    new_name: str,
    member_id: int | None = None,
) -> DetectedIssue:
    """An in-game rank change seen by the Blizzard sync (expires on its own after a week)."""
    return DetectedIssue(
        issue_type=IssueType.RANK_CHANGE,
        severity=Severity.INFO,
        summary=f"'{character_name}' changed rank in game: {old_name} → {new_name}",
        keys=(character_id, old_index, new_index),
        details={
            "character": character_name,
            "character_id": character_id,
            "old_index": old_index,
            "new_index": new_index,
            "old_rank": old_name,
            "new_rank": new_name,
        },
        character_id=character_id,
        member_id=member_id,
    )


# ---------------------------------------------------------------------------- evaluation
@dataclass
class _MemberRanks:
    """A member's highest in-game rank and what its present accounts say on Discord."""

    game_rank: RankInfo | None = None
    ranked_characters: list[str] = field(default_factory=list)
    account_count: int = 0
    accounts_with_role: int = 0
    discord_rank: RankInfo | None = None
    account_names: list[str] = field(default_factory=list)


class Evaluation:
    """The snapshot indexed once; `issues()` lists every finding, `resolutions()` explains
    which open issues went away."""

    def __init__(self, snapshot: CheckSnapshot, settings: CheckSettings) -> None:
        self.snapshot = snapshot
        self.settings = settings
        rank_by_name = {rank.name.casefold(): rank for rank in snapshot.ranks}
        self.rank_by_name = rank_by_name
        self.game_rank_by_index: dict[int, RankInfo] = {}
        for index, name in enumerate(settings.game_rank_names):
            rank = rank_by_name.get(name.strip().casefold())
            if rank is not None:
                self.game_rank_by_index[index] = rank
        self.members = {member.id: member for member in snapshot.members}
        self.characters = {character.id: character for character in snapshot.characters}
        self.accounts = {account.id: account for account in snapshot.accounts}
        self.members_in_guild = {c.member_id for c in snapshot.characters if c.member_id}
        self.member_ranks: dict[int, _MemberRanks] = {}
        for character in sorted(snapshot.characters, key=lambda c: c.id):
            rank = self.character_rank(character)
            if character.member_id is None or rank is None:
                continue
            entry = self.member_ranks.setdefault(character.member_id, _MemberRanks())
            entry.ranked_characters.append(character.name)
            if entry.game_rank is None or rank.level > entry.game_rank.level:
                entry.game_rank = rank
        for account in sorted(snapshot.accounts, key=lambda a: a.id):
            if account.member_id is None or account.member_id not in self.member_ranks:
                continue
            entry = self.member_ranks[account.member_id]
            entry.account_count += 1
            entry.account_names.append(account.display)
            if account.highest_guild_role:
                entry.accounts_with_role += 1
                discord = rank_by_name.get(account.highest_guild_role.casefold())
                if discord is not None and (
                    entry.discord_rank is None or discord.level > entry.discord_rank.level
                ):
                    entry.discord_rank = discord

    # -------------------------------------------------------------------------- helpers
    def character_rank(self, character: CharacterInfo) -> RankInfo | None:
        """Platform rank of the character's in-game rank index (None when unknown)."""
        if character.game_rank is None:
            return None
        return self.game_rank_by_index.get(character.game_rank)

    def rank_label(self, character: CharacterInfo) -> str:
        """How the character's in-game rank is shown in a summary."""
        if character.game_rank_name:
            return character.game_rank_name
        names = self.settings.game_rank_names
        if character.game_rank is not None and 0 <= character.game_rank < len(names):
            return names[character.game_rank]
        if character.game_rank is not None:
            return f"Rank {character.game_rank}"
        return "no rank"

    def days_inactive(self, character: CharacterInfo) -> int | None:
        """Whole days since the last login, or None when Blizzard never reported one."""
        if character.last_login_at is None:
            return None
        return (self.settings.now - character.last_login_at).days

    def is_stale(self, character: CharacterInfo) -> bool:
        """Logged in longer ago than the stale threshold."""
        if character.last_login_at is None:
            return False
        return self.settings.now - character.last_login_at > timedelta(
            days=self.settings.stale_days
        )

    # ---------------------------------------------------------------------------- rules
    def issues(self) -> list[DetectedIssue]:
        """Every finding of the checker-owned types."""
        found: list[DetectedIssue] = []
        found.extend(self._character_issues())
        found.extend(self._account_issues())
        found.extend(self._member_issues())
        return found

    def _character_issues(self) -> Iterable[DetectedIssue]:
        for character in sorted(self.snapshot.characters, key=lambda c: c.id):
            rank = self.rank_label(character)
            if character.member_id is None:
                yield DetectedIssue(
                    issue_type=IssueType.ORPHAN_WOW,
                    severity=Severity.WARNING,
                    summary=(
                        f"Character '{character.name}' ({character.character_class or 'unknown class'}, "
                        f"{rank}) is not linked to any member"
                    ),
                    keys=(character.id,),
                    details={
                        "character": character.name,
                        "character_id": character.id,
                        "realm": character.realm_slug,
                        "class": character.character_class,
                        "rank": rank,
                        "game_rank": character.game_rank,
                        "last_login": _iso(character.last_login_at),
                    },
                    character_id=character.id,
                )
            if self.is_stale(character):
                days = self.days_inactive(character)
                yield DetectedIssue(
                    issue_type=IssueType.STALE_CHARACTER,
                    severity=Severity.INFO,
                    summary=f"'{character.name}' ({rank}) has not logged in for {days} days",
                    keys=(character.id,),
                    details={
                        "character": character.name,
                        "character_id": character.id,
                        "realm": character.realm_slug,
                        "rank": rank,
                        "last_login": _iso(character.last_login_at),
                        "days_inactive": days,
                    },
                    character_id=character.id,
                    member_id=character.member_id,
                )

    def _account_issues(self) -> Iterable[DetectedIssue]:
        for account in sorted(self.snapshot.accounts, key=lambda a: a.id):
            if not account.highest_guild_role:
                continue
            if account.member_id is not None and account.member_id in self.members_in_guild:
                continue
            yield DetectedIssue(
                issue_type=IssueType.ORPHAN_DISCORD,
                severity=Severity.WARNING,
                summary=(
                    f"Discord member '{account.display}' ({account.highest_guild_role}) "
                    "has no character in the guild"
                ),
                keys=(account.id,),
                details={
                    "account": account.display,
                    "discord_member_id": account.id,
                    "discord_id": account.discord_id,
                    "username": account.username,
                    "guild_role": account.highest_guild_role,
                    "member_id": account.member_id,
                },
                discord_member_id=account.id,
                member_id=account.member_id,
            )

    def _member_issues(self) -> Iterable[DetectedIssue]:
        for member_id in sorted(self.member_ranks):
            entry = self.member_ranks[member_id]
            member = self.members.get(member_id)
            if member is None or entry.game_rank is None or entry.account_count == 0:
                continue
            game = entry.game_rank
            if entry.accounts_with_role == 0:
                yield DetectedIssue(
                    issue_type=IssueType.NO_GUILD_ROLE,
                    severity=Severity.WARNING,
                    summary=(
                        f"'{member.display_name}' is {game.name} in game "
                        "but has no guild role on Discord"
                    ),
                    keys=(member_id,),
                    details={
                        "member": member.display_name,
                        "member_id": member_id,
                        "game_rank": game.name,
                        "game_rank_level": game.level,
                        "characters": entry.ranked_characters,
                        "accounts": entry.account_names,
                    },
                    member_id=member_id,
                )
                continue
            discord = entry.discord_rank
            if discord is None or discord.level == game.level:
                continue
            officer_level = self.settings.admin_rank_level
            critical = max(game.level, discord.level) >= officer_level
            yield DetectedIssue(
                issue_type=IssueType.ROLE_MISMATCH,
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                summary=(
                    f"'{member.display_name}' is {game.name} in game but {discord.name} on "
                    f"Discord (expected Discord role: {game.name})"
                ),
                keys=(member_id,),
                details={
                    "member": member.display_name,
                    "member_id": member_id,
                    "game_rank": game.name,
                    "game_rank_level": game.level,
                    "discord_rank": discord.name,
                    "discord_rank_level": discord.level,
                    "expected_role": game.name,
                    "characters": entry.ranked_characters,
                    "accounts": entry.account_names,
                },
                member_id=member_id,
            )

    # ---------------------------------------------------------------------- resolutions
    def resolutions(
        self, open_issues: Iterable[OpenIssue], detected_hashes: set[str]
    ) -> list[tuple[int, str]]:
        """(issue id, resolution note) for every open issue whose problem went away."""
        resolved: list[tuple[int, str]] = []
        for issue in open_issues:
            if issue.issue_hash in detected_hashes:
                continue
            note = self._resolution_note(issue)
            if note is not None:
                resolved.append((issue.id, note))
        return resolved

    def _resolution_note(self, issue: OpenIssue) -> str | None:
        kind = issue.issue_type
        if kind == IssueType.RANK_CHANGE:
            expiry = timedelta(days=self.settings.rank_change_expiry_days)
            return "expired" if self.settings.now - issue.first_detected >= expiry else None
        if kind == IssueType.AUTO_LINK_SUGGESTION:
            return self._suggestion_note(issue)
        if kind not in CHECKER_TYPES:
            return None
        owner = _owner_key(issue)
        if owner is None:
            return "no longer applicable"
        if issue_hash(kind, owner) != issue.issue_hash:
            # Same type, other keys: opened by another writer (role sync's top-rank finding),
            # which resolves it itself.
            return None
        if kind in (IssueType.ORPHAN_WOW, IssueType.STALE_CHARACTER):
            character = self.characters.get(owner)
            if character is None:
                return "left the guild"
            if kind == IssueType.ORPHAN_WOW:
                return "character linked" if character.member_id is not None else "not found again"
            return "logged in recently"
        if kind == IssueType.ORPHAN_DISCORD:
            account = self.accounts.get(owner)
            if account is None:
                return "account left"
            if not account.highest_guild_role:
                return "guild role gone"
            return "has a character in the guild"
        entry = self.member_ranks.get(owner)
        if kind == IssueType.NO_GUILD_ROLE:
            if entry is not None and entry.accounts_with_role:
                return "guild role appeared"
            return "no longer applicable"
        if (
            entry is not None
            and entry.game_rank is not None
            and entry.discord_rank is not None
            and entry.game_rank.level == entry.discord_rank.level
        ):
            return "ranks agree"
        return "no longer applicable"

    def _suggestion_note(self, issue: OpenIssue) -> str | None:
        if issue.character_id is None or issue.character_id not in self.characters:
            return "character left the guild"
        if self.characters[issue.character_id].member_id is not None:
            return "character linked"
        if issue.discord_member_id is None or issue.discord_member_id not in self.accounts:
            return "account left"
        return None


def _owner_key(issue: OpenIssue) -> int | None:
    """The entity a checker-owned issue is about (its only hash key)."""
    if issue.issue_type in (IssueType.ORPHAN_WOW, IssueType.STALE_CHARACTER):
        return issue.character_id
    if issue.issue_type == IssueType.ORPHAN_DISCORD:
        return issue.discord_member_id
    return issue.member_id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
