"""Raid planning rules without a database or I/O: who counts for a raid night and with which
character, the day ranking, guild-time-zone dates and the exact Raid-Helper command text.

Choices where the spec is silent:
- Only days with at least one available person get a rank badge (1–3); a week with nobody
  available shows no "best" days.
- Raid-Helper signups go auto-signed first, then tentative, then absent, each in roster order
  (the order of the generated command block).
- Time zones of the Create Event page map to IANA zones (EST America/New_York, CST
  America/Chicago, MST America/Denver, PST America/Los_Angeles) and are converted with zoneinfo
  to GUILD_TIMEZONE, so daylight saving is handled and the date rolls over past midnight.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sv_common.identity import classes

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- constants
# compositionTargets of 60 §8; the ranking uses each role's `min`.
COMPOSITION_TARGETS: dict[str, Any] = {
    "tank": {"min": 2, "max": 2},
    "healer": {"min": 4, "max": 5},
    "melee": {"min": 6, "max": 7},
    "ranged": {"min": 6, "max": 7},
    "dpsMin": 13,
}
ROLE_KEYS: tuple[str, ...] = ("tank", "healer", "melee", "ranged")
_ROLE_KEY_BY_LABEL = {"Tank": "tank", "Healer": "healer", "Melee": "melee", "Ranged": "ranged"}

# Sunday → Saturday, the raid admin's grid order (60 §2.3).
GRID_DAYS: tuple[str, ...] = (
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
)
_WEEKDAY_INDEX = {day: index for index, day in enumerate(classes.DAYS)}  # monday = 0
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

DEFAULT_TIMEZONE = "America/New_York"
EVENT_TIMEZONES: dict[str, str] = {
    "EST": "America/New_York",
    "CST": "America/Chicago",
    "MST": "America/Denver",
    "PST": "America/Los_Angeles",
}
GUILD_EVENT_DURATIONS: tuple[int, ...] = (60, 90, 120, 180, 240)
DEFAULT_EVENT_TEMPLATE = "wowretail2"
NO_SIGNUPS_TEXT = "No signup commands (no roster data)"

# Ad hoc guild event types of 60 §6.7 (key → icon, name, default title and description).
EVENT_TYPES: dict[str, dict[str, str]] = {
    "oldRaids": {
        "icon": "🏰",
        "name": "Old Raids",
        "title": "Old Raid Night",
        "description": "🏰 Legacy raid clears for mounts, transmog and pets.\n"
        "⚔️ Any level, any gear — we carry each other.\n"
        "🎁 Bring your wish list of drops!",
    },
    "achievements": {
        "icon": "🏆",
        "name": "Achievements",
        "title": "Achievement Run",
        "description": "🏆 Knocking out achievements together.\n"
        "📜 Meta progress, glory runs and odd feats.\n"
        "🙌 Everyone welcome, more hands make it easier.",
    },
    "mythicPlus": {
        "icon": "🔑",
        "name": "Mythic+",
        "title": "Mythic+ Night",
        "description": "🔑 Guild key night — bring your keystones.\n"
        "📈 All levels welcome.\n"
        "🗓️ Fill those vaults together.",
    },
    "pvp": {
        "icon": "⚔️",
        "name": "PvP",
        "title": "PvP Night",
        "description": "⚔️ Battlegrounds and skirmishes as a guild group.\n"
        "🛡️ No rating pressure, just fun.\n"
        "🎧 Hop in voice for callouts.",
    },
    "farming": {
        "icon": "🌾",
        "name": "Farming",
        "title": "Farming Event",
        "description": "🌾 Group farming for mats, reputations and gold.\n"
        "💰 Share the loot, share the laughs.",
    },
    "social": {
        "icon": "🎉",
        "name": "Social",
        "title": "Social Night",
        "description": "🎉 Hang out, chat and do silly things together.\n"
        "📸 Guild photos, fashion shows, races.\n"
        "💬 Everyone welcome, no gear needed.",
    },
    "other": {
        "icon": "✨",
        "name": "Other",
        "title": "Guild Event",
        "description": "✨ A guild get-together.\n📣 Details in the event post.",
    },
}


# ------------------------------------------------------------------------------- people
@dataclass(frozen=True, slots=True)
class AvailabilityEntry:
    """A raid-roster member's week (member-level values from their seven rows)."""

    member_id: int
    discord: str
    discord_id: str | None
    days: frozenset[str]
    auto_signup: bool
    wants_reminders: bool
    notes: str


@dataclass(frozen=True, slots=True)
class RosterCharacter:
    """A character as the tools see it (legacy role label already derived)."""

    member_id: int
    name: str
    class_name: str
    spec: str
    role: str
    is_main: bool


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who counts for the schedule, represented by one character."""

    member_id: int
    discord: str
    discord_id: str | None
    character: str
    class_name: str
    spec: str
    role: str  # Tank / Healer / Melee / Ranged
    days: frozenset[str]
    auto_signup: bool
    wants_reminders: bool
    notes: str

    def as_dict(self, *, with_reason: bool = False) -> dict[str, Any]:
        """The person shape of `GET /raid-schedule`."""
        data: dict[str, Any] = {
            "discord": self.discord,
            "character": self.character,
            "class": self.class_name,
            "spec": self.spec,
            "role": self.role,
            "autoSignup": self.auto_signup,
            "wantsReminders": self.wants_reminders,
            "hasDiscordId": bool(self.discord_id),
        }
        if with_reason:
            data["reason"] = self.notes or "Not available"
        return data


def legacy_role(class_name: str | None, spec: str | None, stored_role: str | None) -> str:
    """Tank/Healer/Melee/Ranged: stored role, else derived from class+spec, unknown → Ranged."""
    role = classes.role_for(class_name, spec or None, stored_role)
    return classes.legacy_role_label(role) or "Ranged"


def roster_key(name: str) -> str:
    """Roster order key: the Discord name, case-insensitive."""
    return name.casefold()


def build_people(
    entries: list[AvailabilityEntry], characters: list[RosterCharacter]
) -> tuple[list[Person], int]:
    """People with a representative character (Main, else first by name) and how many have none."""
    by_member: dict[int, list[RosterCharacter]] = {}
    for character in characters:
        by_member.setdefault(character.member_id, []).append(character)
    people: list[Person] = []
    without = 0
    for entry in sorted(entries, key=lambda e: (roster_key(e.discord), e.member_id)):
        owned = by_member.get(entry.member_id)
        if not owned:
            without += 1
            continue
        rep = sorted(owned, key=lambda c: (not c.is_main, c.name.casefold()))[0]
        people.append(
            Person(
                member_id=entry.member_id,
                discord=entry.discord,
                discord_id=entry.discord_id,
                character=rep.name,
                class_name=rep.class_name,
                spec=rep.spec,
                role=rep.role,
                days=entry.days,
                auto_signup=entry.auto_signup,
                wants_reminders=entry.wants_reminders,
                notes=entry.notes,
            )
        )
    return people, without


def _roster_order(person: Person) -> str:
    return roster_key(person.discord)


def split_day(people: list[Person], day: str) -> tuple[list[Person], list[Person]]:
    """(available, unavailable) on a day key, each in roster order."""
    ordered = sorted(people, key=_roster_order)
    return [p for p in ordered if day in p.days], [p for p in ordered if day not in p.days]


def role_counts(people: list[Person]) -> dict[str, int]:
    """{tank, healer, melee, ranged} counts of the people's roles."""
    counts = dict.fromkeys(ROLE_KEYS, 0)
    for person in people:
        counts[_ROLE_KEY_BY_LABEL.get(person.role, "ranged")] += 1
    return counts


def coverage_score(counts: dict[str, int], targets: dict[str, Any] | None = None) -> int:
    """min(tanks, 2) + min(healers, 4) + min(melee, 6) + min(ranged, 6) (targets' `min`)."""
    targets = targets or COMPOSITION_TARGETS
    return sum(min(counts.get(role, 0), int(targets[role]["min"])) for role in ROLE_KEYS)


# -------------------------------------------------------------------------------- dates
def guild_zone(name: str) -> ZoneInfo:
    """The guild time zone; a broken setting falls back to America/New_York (logged)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("GUILD_TIMEZONE %r is not a known time zone; using %s", name, DEFAULT_TIMEZONE)
        return ZoneInfo(DEFAULT_TIMEZONE)


def guild_today(now: datetime, zone_name: str) -> date:
    """Today's date in the guild time zone."""
    return now.astimezone(guild_zone(zone_name)).date()


def day_key(value: date) -> str:
    """monday … sunday for a date."""
    return classes.DAYS[value.weekday()]


def next_occurrence(today: date, day: str) -> date:
    """The next date with that weekday strictly after today (today's weekday → +7 days)."""
    delta = (_WEEKDAY_INDEX[day] - today.weekday()) % 7
    return today + timedelta(days=delta or 7)


def date_display(value: date) -> str:
    """`Mar 7`: English 3-letter month, day without a leading zero."""
    return f"{_MONTHS[value.month - 1]} {value.day}"


def to_guild_time(day: date, clock_time: str, zone_label: str, guild_tz: str) -> datetime:
    """The event start converted from the chosen zone (EST/CST/MST/PST) to the guild zone."""
    hours, minutes = (int(part) for part in clock_time.split(":"))
    source = datetime.combine(
        day, time(hours, minutes), tzinfo=ZoneInfo(EVENT_TIMEZONES[zone_label])
    )
    return source.astimezone(guild_zone(guild_tz))


# ----------------------------------------------------------------------------- commands
@dataclass(frozen=True, slots=True)
class RaidOptions:
    """The effective raid settings of 60 §6.2 used in commands and events."""

    title: str
    time: str
    duration: int
    template: str


def create_command(options: RaidOptions, day: date) -> str:
    """`/create title:… date:YYYY-MM-DD time:HH:MM duration:N template:ID` (one line)."""
    return (
        f"/create title:{options.title} date:{day.isoformat()} time:{options.time} "
        f"duration:{options.duration} template:{options.template}"
    )


def signup_groups(
    available: list[Person], unavailable: list[Person]
) -> tuple[list[Person], list[Person], list[Person]]:
    """(auto-signed, tentative, absent), each in roster order: the order signups are sent in."""
    available = sorted(available, key=_roster_order)
    unavailable = sorted(unavailable, key=_roster_order)
    auto = [p for p in available if p.auto_signup]
    tentative = [p for p in available if not p.auto_signup]
    return auto, tentative, unavailable


_COMMAND_BREAKERS = re.compile(r"[\s:/@\\]")


def mention(discord_name: str) -> str:
    """`@name` as one token of a Raid-Helper command. Old-style Discord names may hold spaces or
    colons; left as typed, a name like `x status:Absence#1234` would add an option to the
    command an officer pastes, so such characters become `_` (the mention then shows the odd
    name plainly instead of changing the command)."""
    return "@" + _COMMAND_BREAKERS.sub("_", discord_name)


def signup_commands(available: list[Person], unavailable: list[Person]) -> str:
    """The /adduser block of 60 §6.4: auto, tentative, absent, reminder line; empty ones left out."""
    auto, tentative, absent = signup_groups(available, unavailable)
    reminders = [p for p in sorted(available, key=_roster_order) if p.wants_reminders]
    sections: list[str] = []
    if auto:
        lines = [f"# Auto-signed up ({len(auto)}):"]
        lines += [
            f"/adduser [EVENT_ID] {mention(p.discord)} class:{p.class_name or 'Unknown'} "
            f"spec:{p.role or 'Melee'}"
            for p in auto
        ]
        sections.append("\n".join(lines))
    if tentative:
        lines = [f"# Tentative ({len(tentative)}):"]
        lines += [
            f"/adduser [EVENT_ID] {mention(p.discord)} class:{p.class_name or 'Unknown'} "
            "spec:Tentative"
            for p in tentative
        ]
        sections.append("\n".join(lines))
    if absent:
        lines = [f"# Marked absent ({len(absent)}):"]
        lines += [f"/adduser [EVENT_ID] {mention(p.discord)} status:Absence" for p in absent]
        sections.append("\n".join(lines))
    if reminders:
        names = ", ".join(mention(p.discord)[1:] for p in reminders)
        sections.append(f"# Wants 5pm reminder ({len(reminders)}): {names}")
    if not sections:
        return NO_SIGNUPS_TEXT
    return "\n\n".join(sections)


def signup_payloads(
    available: list[Person], unavailable: list[Person]
) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """Raid-Helper signup bodies [(discord, body)] and the names skipped for lack of an ID."""
    auto, tentative, absent = signup_groups(available, unavailable)
    ordered = (
        [(p, "auto") for p in auto]
        + [(p, "tentative") for p in tentative]
        + [(p, "absent") for p in absent]
    )
    payloads: list[tuple[str, dict[str, str]]] = []
    skipped: list[str] = []
    for person, status in ordered:
        if not person.discord_id:
            skipped.append(person.discord)
            continue
        body: dict[str, str] = {"userId": person.discord_id}
        if status == "auto":
            body["className"] = person.role if person.role in _ROLE_KEY_BY_LABEL else "Melee"
            spec = classes.find_spec(person.class_name, person.spec or None)
            if spec is not None:
                body["specName"] = spec.raid_helper_spec
        elif status == "tentative":
            body["className"] = "Tentative"
        else:
            body["className"] = "Absence"
        payloads.append((person.discord, body))
    return payloads, skipped


def build_schedule(
    people: list[Person],
    *,
    today: date,
    options: RaidOptions,
    timezone: str,
    without_characters: int = 0,
    targets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `GET /raid-schedule` data: seven days Sunday→Saturday, ranked, with commands."""
    days: list[dict[str, Any]] = []
    for day in GRID_DAYS:
        when = next_occurrence(today, day)
        available, unavailable = split_day(people, day)
        counts = role_counts(available)
        days.append(
            {
                "day": day,
                "name": day.capitalize(),
                "date": when.isoformat(),
                "dateDisplay": date_display(when),
                "rank": None,
                "coverage": coverage_score(counts, targets),
                "counts": counts,
                "available": [p.as_dict() for p in available],
                "unavailable": [p.as_dict(with_reason=True) for p in unavailable],
                "createCommand": create_command(options, when),
                "signupCommands": signup_commands(available, unavailable),
            }
        )
    for position, day_data in enumerate(rank_days(days), start=1):
        day_data["rank"] = position
    return {
        "today": today.isoformat(),
        "timezone": timezone,
        "days": days,
        "withoutCharacters": without_characters,
    }


def rank_days(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The top three days with anyone available: count, then coverage (desc), then earlier date."""
    candidates = [d for d in days if d["available"]]
    ordered = sorted(candidates, key=lambda d: (-len(d["available"]), -d["coverage"], d["date"]))
    return ordered[:3]
