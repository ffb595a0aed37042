"""What the Blizzard sync reads from the API: roster entries, character profiles and the merged
guild snapshot, with the defensive parsers that build them from untrusted JSON.

Blizzard's JSON is input we do not control. Every field is read defensively: a missing or
malformed value becomes `None` (never 0, so a gap is never mistaken for data), an absurd value
(negative level, unknown class id) is logged and dropped, and a roster member without a usable
name, realm or id is skipped with a warning. Nothing here raises on bad data except
`parse_roster`, which refuses a response that has no members list at all.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sv_common.identity import classes

log = logging.getLogger(__name__)

# Column widths of common.characters, so a parsed value always fits where it is stored.
NAME_MAX = 50
REALM_SLUG_MAX = 50
REALM_NAME_MAX = 100
SPEC_MAX = 50
RANK_NAME_MAX = 50

# Plausibility bounds: anything outside is treated as garbage rather than stored.
LEVEL_MIN, LEVEL_MAX = 1, 200
RANK_MIN, RANK_MAX = 0, 255
ITEM_LEVEL_MIN, ITEM_LEVEL_MAX = 0, 2000
# Last login between 2004 (the game's launch) and 2200, in epoch milliseconds.
LOGIN_MS_MIN = 1_072_915_200_000
LOGIN_MS_MAX = 7_258_118_400_000

DEFAULT_RANK_NAMES: tuple[str, ...] = ("Guild Leader", "Officer", "Veteran", "Member", "Initiate")


class ProfileStatus(StrEnum):
    """Outcome of one character's profile request."""

    OK = "ok"
    MISSING = "missing"  # 404: deleted, renamed, transferred or hidden character
    FAILED = "failed"  # error after retries, or cancelled by the sync deadline


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One usable member of the guild roster."""

    blizzard_id: int
    name: str
    realm_slug: str
    realm_name: str | None
    level: int | None
    class_name: str | None
    rank: int | None


@dataclass(frozen=True, slots=True)
class Roster:
    """The parsed roster; `unidentified_ids` are ids of members skipped for a missing name/realm."""

    guild_name: str | None
    entries: tuple[RosterEntry, ...]
    skipped: int = 0
    unidentified_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Profile:
    """The fields of a character profile the sync uses (all optional)."""

    blizzard_id: int | None
    name: str | None
    realm_slug: str | None
    realm_name: str | None
    class_name: str | None
    active_spec: str | None
    level: int | None
    item_level: int | None  # equipped item level
    average_item_level: int | None
    last_login_at: datetime | None
    race: str | None
    gender: str | None
    guild_name: str | None


@dataclass(frozen=True, slots=True)
class SnapshotCharacter:
    """Roster entry merged with its profile: what the roster writer stores."""

    blizzard_id: int
    name: str
    realm_slug: str
    realm_name: str | None
    class_name: str | None
    level: int | None
    active_spec: str | None
    item_level: int | None
    last_login_at: datetime | None
    game_rank: int | None
    game_rank_name: str | None
    profile_status: ProfileStatus


@dataclass(frozen=True)
class GuildSnapshot:
    """The whole guild as fetched by one sync, plus how the fetch went."""

    guild_name: str | None
    characters: tuple[SnapshotCharacter, ...]
    profiles_ok: int = 0
    profiles_missing: int = 0
    profiles_failed: int = 0
    requests: int = 0
    seconds: float = 0.0
    deadline_hit: bool = False
    duplicates: int = 0
    skipped_entries: int = 0
    # Members present in the roster but unusable; their rows must not be marked removed.
    unidentified_ids: frozenset[int] = field(default_factory=frozenset)


# ------------------------------------------------------------------------------ field readers
def dig(data: Any, *keys: str) -> Any:
    """`data[k1][k2]…`, or None as soon as a level is missing or not an object."""
    current = data
    for key in keys:
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current


def read_int(value: Any, *, low: int, high: int, what: str) -> int | None:
    """An integer within [low, high]; None (with a log line when present but bad) otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    else:
        number = None
    if number is None or not low <= number <= high:
        log.warning(
            "Blizzard data: ignoring %s %r (expected a whole number %s-%s)", what, value, low, high
        )
        return None
    return number


def read_text(value: Any, *, max_length: int, what: str) -> str | None:
    """A non-blank string (NFC, trimmed) that fits its column; None otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        log.warning("Blizzard data: ignoring %s %r (not a string)", what, value)
        return None
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        return None
    if len(text) > max_length:
        log.warning("Blizzard data: ignoring %s %r (longer than %s)", what, text[:60], max_length)
        return None
    return text


def read_id(value: Any) -> int | None:
    """A positive integer id (Blizzard ids are positive 64-bit numbers)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        return None
    return value


def read_level(value: Any) -> int | None:
    """Character level; None when absent or implausible."""
    return read_int(value, low=LEVEL_MIN, high=LEVEL_MAX, what="level")


def class_from_id(value: Any) -> str | None:
    """Class name for a `playable_class.id`; an unknown id is logged and gives None."""
    if value is None:
        return None
    class_id = read_id(value)
    name = classes.class_id_to_name(class_id) if class_id is not None else None
    if name is None:
        log.warning("Blizzard data: unknown playable_class id %r", value)
    return name


def rank_name(rank: int | None, names: tuple[str, ...]) -> str | None:
    """Configured name of an in-game rank index; `Rank n` for indexes beyond the list."""
    if rank is None:
        return None
    if 0 <= rank < len(names):
        return names[rank][:RANK_NAME_MAX]
    return f"Rank {rank}"


def login_time(value: Any) -> datetime | None:
    """`last_login_timestamp` (milliseconds since the epoch, UTC) as an aware datetime."""
    millis = read_int(value, low=LOGIN_MS_MIN, high=LOGIN_MS_MAX, what="last_login_timestamp")
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


# ------------------------------------------------------------------------------------ parsers
class MalformedRoster(ValueError):
    """The roster response cannot be used at all (not an object, or no members list)."""


def parse_roster_entry(member: Any, index: int) -> RosterEntry | None:
    """One roster member, or None (logged) when it cannot identify a character."""
    if not isinstance(member, dict):
        log.warning("Blizzard roster: member #%s is not an object; skipped", index)
        return None
    character = member.get("character")
    blizzard_id = read_id(dig(character, "id"))
    name = read_text(dig(character, "name"), max_length=NAME_MAX, what="character name")
    slug = read_text(dig(character, "realm", "slug"), max_length=REALM_SLUG_MAX, what="realm slug")
    if blizzard_id is None or name is None or slug is None:
        log.warning(
            "Blizzard roster: member #%s lacks a usable id, name or realm slug; skipped", index
        )
        return None
    return RosterEntry(
        blizzard_id=blizzard_id,
        name=name,
        realm_slug=slug.lower(),
        realm_name=read_text(
            dig(character, "realm", "name"), max_length=REALM_NAME_MAX, what="realm name"
        ),
        level=read_level(dig(character, "level")),
        class_name=class_from_id(dig(character, "playable_class", "id")),
        rank=read_int(member.get("rank"), low=RANK_MIN, high=RANK_MAX, what="rank"),
    )


def parse_roster(data: Any) -> Roster:
    """The roster response; raises `MalformedRoster` only when there is no members list."""
    if not isinstance(data, dict):
        raise MalformedRoster("roster response is not a JSON object")
    members = data.get("members")
    if not isinstance(members, list):
        raise MalformedRoster("roster response has no members list")
    entries: list[RosterEntry] = []
    skipped = 0
    unidentified: set[int] = set()
    for index, member in enumerate(members):
        entry = parse_roster_entry(member, index)
        if entry is None:
            skipped += 1
            # A member we cannot name still exists: remember its id so its row is not removed.
            member_id = read_id(dig(member, "character", "id"))
            if member_id is not None:
                unidentified.add(member_id)
            continue
        entries.append(entry)
    return Roster(
        guild_name=read_text(dig(data, "guild", "name"), max_length=200, what="guild name"),
        entries=tuple(entries),
        skipped=skipped,
        unidentified_ids=frozenset(unidentified),
    )


def parse_profile(data: Any) -> Profile:
    """A character profile; any unusable field becomes None."""
    spec = read_text(dig(data, "active_spec", "name"), max_length=SPEC_MAX, what="active spec")
    class_text = read_text(dig(data, "character_class", "name"), max_length=30, what="class")
    class_name = classes.match_class(class_text)
    if class_text is not None and class_name is None:
        log.warning("Blizzard profile: unknown class name %r", class_text)
    slug = read_text(dig(data, "realm", "slug"), max_length=REALM_SLUG_MAX, what="realm slug")
    return Profile(
        blizzard_id=read_id(dig(data, "id")),
        name=read_text(dig(data, "name"), max_length=NAME_MAX, what="character name"),
        realm_slug=slug.lower() if slug else None,
        realm_name=read_text(dig(data, "realm", "name"), max_length=REALM_NAME_MAX, what="realm"),
        class_name=class_name,
        active_spec=spec,
        level=read_level(dig(data, "level")),
        item_level=read_int(
            dig(data, "equipped_item_level"), low=ITEM_LEVEL_MIN, high=ITEM_LEVEL_MAX, what="ilvl"
        ),
        average_item_level=read_int(
            dig(data, "average_item_level"), low=ITEM_LEVEL_MIN, high=ITEM_LEVEL_MAX, what="ilvl"
        ),
        last_login_at=login_time(dig(data, "last_login_timestamp")),
        race=read_text(dig(data, "race", "name"), max_length=50, what="race"),
        gender=read_text(dig(data, "gender", "name"), max_length=20, what="gender"),
        guild_name=read_text(dig(data, "guild", "name"), max_length=200, what="guild name"),
    )


def merge_character(
    entry: RosterEntry,
    profile: Profile | None,
    status: ProfileStatus,
    *,
    rank_names: tuple[str, ...],
    home_realm_slug: str,
    home_realm_name: str | None,
) -> SnapshotCharacter:
    """Roster entry plus profile: the profile's values win where it has them."""
    usable = profile if status is ProfileStatus.OK else None
    realm_name = (usable.realm_name if usable else None) or entry.realm_name
    if realm_name is None and entry.realm_slug == home_realm_slug:
        realm_name = home_realm_name
    return SnapshotCharacter(
        blizzard_id=entry.blizzard_id,
        name=(usable.name if usable else None) or entry.name,
        realm_slug=entry.realm_slug,
        realm_name=realm_name,
        class_name=(usable.class_name if usable else None) or entry.class_name,
        level=(usable.level if usable else None) or entry.level,
        active_spec=usable.active_spec if usable else None,
        item_level=usable.item_level if usable else None,
        last_login_at=usable.last_login_at if usable else None,
        game_rank=entry.rank,
        game_rank_name=rank_name(entry.rank, rank_names),
        profile_status=status,
    )
