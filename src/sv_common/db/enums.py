"""Closed value sets of the data model as `StrEnum`s.

Each enum is the one definition of its values: the database CHECK constraints are built from it
(`sv_common.db.models`), request bodies validate against it, and services compare with its members.
A `StrEnum` member *is* its string, so rows read back from the database compare equal to it.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Raid role of a character."""

    TANK = "tank"
    HEALER = "healer"
    MELEE_DPS = "melee_dps"
    RANGED_DPS = "ranged_dps"


class MainAlt(StrEnum):
    """A member's primary character versus the others."""

    MAIN = "main"
    ALT = "alt"


class RankSource(StrEnum):
    """Who decided a member's rank: an officer, or the Discord role sync."""

    MANUAL = "manual"
    DISCORD_SYNC = "discord_sync"


class CharacterOrigin(StrEnum):
    """Which writer created a character row."""

    MANUAL = "manual"
    ROSTER_FORM = "roster_form"
    SHEET_IMPORT = "sheet_import"
    BLIZZARD_SYNC = "blizzard_sync"
    ADDON = "addon"
    DEMO = "demo"


class CampaignStatus(StrEnum):
    """Lifecycle of a voting campaign."""

    DRAFT = "draft"
    LIVE = "live"
    CLOSED = "closed"
    ARCHIVED = "archived"


class CampaignType(StrEnum):
    """How ballots are cast."""

    RANKED_CHOICE = "ranked_choice"
    APPROVAL = "approval"


class CloseReason(StrEnum):
    """Why a campaign left `live`."""

    EXPIRED = "expired"
    EARLY_CLOSE = "early_close"
    MANUAL = "manual"


class CampaignOutcome(StrEnum):
    """Whether a closed campaign declared a result: `no_quorum` when turnout stayed below the
    campaign's quorum (the counts are still kept for the audit)."""

    DECLARED = "declared"
    NO_QUORUM = "no_quorum"


class CountingMethod(StrEnum):
    """How ballots are counted. The first three count ranked ballots; `approval` is the one
    method of `approval` campaigns (each pick is one approval) and of no other type."""

    WEIGHTED = "weighted"
    IRV = "irv"
    SCHULZE = "schulze"
    APPROVAL = "approval"


class DayOfWeek(StrEnum):
    """Days of the availability grid, Monday first."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


class ContestEvent(StrEnum):
    """Campaign announcements recorded so each is posted once."""

    LAUNCH = "launch"
    FIRST_VOTE = "first_vote"
    LEAD_CHANGE = "lead_change"
    MILESTONE_25 = "milestone_25"
    MILESTONE_50 = "milestone_50"
    MILESTONE_75 = "milestone_75"
    FINAL_STRETCH = "final_stretch"
    LAST_CALL = "last_call"
    EARLY_CLOSE = "early_close"
    RESULTS = "results"


class LinkSource(StrEnum):
    """Why a character or Discord account is linked to a member."""

    EXACT_NAME_MATCH = "exact_name_match"
    GUILD_NOTE = "guild_note"
    OFFICER_NOTE = "officer_note"
    FUZZY_MATCH = "fuzzy_match"
    MIGRATED_SHEET = "migrated_sheet"
    MANUAL = "manual"
    ROSTER_FORM = "roster_form"
    DISCORD_SYNC = "discord_sync"


class Confidence(StrEnum):
    """How sure a link is (`low` is reserved: no automatic path produces it)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class IssueType(StrEnum):
    """Kinds of data-integrity findings."""

    ORPHAN_WOW = "orphan_wow"
    ORPHAN_DISCORD = "orphan_discord"
    ROLE_MISMATCH = "role_mismatch"
    NO_GUILD_ROLE = "no_guild_role"
    STALE_CHARACTER = "stale_character"
    RANK_CHANGE = "rank_change"
    AUTO_LINK_SUGGESTION = "auto_link_suggestion"


class Severity(StrEnum):
    """Importance of an audit issue, declared lowest first; sort with `SEVERITY_ORDER`."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# Importance rank of each severity (never sort severities alphabetically).
SEVERITY_ORDER: dict[str, int] = {s.value: i for i, s in enumerate(Severity)}


class SyncSource(StrEnum):
    """Where a sync_log row's data came from."""

    BLIZZARD_API = "blizzard_api"
    DISCORD_BOT = "discord_bot"
    ADDON_UPLOAD = "addon_upload"
    SHEET_IMPORT = "sheet_import"
    HOUSEKEEPING = "housekeeping"  # the scheduler's daily clean-up (its counts and duration)


class SyncStatus(StrEnum):
    """State of one sync run."""

    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    ERROR = "error"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The enum's values in declaration order (for CHECK constraints and `Literal`-like checks)."""
    return tuple(member.value for member in enum)


def check_in(column: str, enum: type[StrEnum]) -> str:
    """SQL text of a `column IN (...)` CHECK constraint built from the enum."""
    return f"{column} IN ({', '.join(repr(v) for v in values(enum))})"
