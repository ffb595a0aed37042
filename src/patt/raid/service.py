"""Raid planning for the raid admin dashboard (60 §6, §9.6, §9.7).

Owns: who counts for a raid night and with which character, the day ranking, the exact
Raid-Helper command text, event creation and signups through Raid-Helper, ad hoc guild events,
the Discord ID mapping and the raid-roster maintenance actions.

The top half is pure (unit-tested without a database); the bottom half reads the roster with a
constant number of queries (two) and runs the flows.

Choices where the spec is silent:
- Only days with at least one available person get a rank badge (1–3); a week with nobody
  available shows no "best" days.
- Raid-Helper signups are sent auto-signed first, then tentative, then absent, each in roster
  order (the order of the generated command block).
- Missing API key or server ID → 503; only the (user-editable) signup channel missing → 422
  (decision 7, which replaces the 409 of 60 §9.6).
- `POST /guild-events` also accepts `channelId` / `voiceChannelId` (the officer's per-browser
  overrides); empty → event signup channel, then raid signup channel, from the configuration.
- Time zones of the Create Event page map to IANA zones (EST America/New_York, CST
  America/Chicago, MST America/Denver, PST America/Los_Angeles) and are converted with zoneinfo
  to GUILD_TIMEZONE, so daylight saving is handled and the date rolls over past midnight.
- The rank guard of decision 5 applies to every member write here (Discord IDs, make main,
  remove from the raid roster): officers cannot change members at or above their own rank.
- Quote-like free text (titles, descriptions) may not contain control characters other than
  newlines in descriptions; a title with a newline would break the one-line /create command.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from patt.raid.raid_helper import NOT_CONFIGURED_ITEM, RaidHelper, event_id_from
from sv_common import clock
from sv_common.db.models import Character, GuildMember, MemberAvailability
from sv_common.errors import BadGateway, Conflict, Forbidden, Invalid, NotFound, Unavailable
from sv_common.identity import classes, realms
from sv_common.identity import members as member_service

if TYPE_CHECKING:
    from patt.config import Settings

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

_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TEMPLATE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
TITLE_MAX = 100
DESCRIPTION_MAX = 2000


# ------------------------------------------------------------------------- pure: people
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


def split_day(people: list[Person], day: str) -> tuple[list[Person], list[Person]]:
    """(available, unavailable) on a day key, each in roster order."""
    ordered = sorted(people, key=lambda p: roster_key(p.discord))
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


# -------------------------------------------------------------------------- pure: dates
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


# ---------------------------------------------------------------------- pure: commands
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


def signup_commands(available: list[Person], unavailable: list[Person]) -> str:
    """The /adduser block of 60 §6.4: auto, tentative, absent, reminder line; empty ones left out."""
    available = sorted(available, key=lambda p: roster_key(p.discord))
    unavailable = sorted(unavailable, key=lambda p: roster_key(p.discord))
    auto = [p for p in available if p.auto_signup]
    tentative = [p for p in available if not p.auto_signup]
    reminders = [p for p in available if p.wants_reminders]
    sections: list[str] = []
    if auto:
        lines = [f"# Auto-signed up ({len(auto)}):"]
        lines += [
            f"/adduser [EVENT_ID] @{p.discord} class:{p.class_name or 'Unknown'} "
            f"spec:{p.role or 'Melee'}"
            for p in auto
        ]
        sections.append("\n".join(lines))
    if tentative:
        lines = [f"# Tentative ({len(tentative)}):"]
        lines += [
            f"/adduser [EVENT_ID] @{p.discord} class:{p.class_name or 'Unknown'} spec:Tentative"
            for p in tentative
        ]
        sections.append("\n".join(lines))
    if unavailable:
        lines = [f"# Marked absent ({len(unavailable)}):"]
        lines += [f"/adduser [EVENT_ID] @{p.discord} status:Absence" for p in unavailable]
        sections.append("\n".join(lines))
    if reminders:
        names = ", ".join(p.discord for p in reminders)
        sections.append(f"# Wants 5pm reminder ({len(reminders)}): {names}")
    if not sections:
        return NO_SIGNUPS_TEXT
    return "\n\n".join(sections)


def signup_payloads(
    available: list[Person], unavailable: list[Person]
) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """Raid-Helper signup bodies [(discord, body)] and the names skipped for lack of an ID."""
    available = sorted(available, key=lambda p: roster_key(p.discord))
    unavailable = sorted(unavailable, key=lambda p: roster_key(p.discord))
    ordered = (
        [(p, "auto") for p in available if p.auto_signup]
        + [(p, "tentative") for p in available if not p.auto_signup]
        + [(p, "absent") for p in unavailable]
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


# -------------------------------------------------------------------- input validation
class Problems:
    """Collects field problems; `raise_if_any()` → one 422 naming the first, listing all."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        """Record a problem with one field."""
        self.items.append({"field": field, "message": message})

    def raise_if_any(self) -> None:
        """422 when anything was recorded."""
        if self.items:
            first = self.items[0]
            raise Invalid(
                f"Invalid value for '{first['field']}': {first['message']}", details=self.items
            )


def clean_title(value: str | None, default: str, problems: Problems, field: str = "title") -> str:
    """1–100 characters, no control characters."""
    text = default if value is None or not value.strip() else value.strip()
    if not text:
        problems.add(field, "a title is required")
    elif len(text) > TITLE_MAX:
        problems.add(field, f"at most {TITLE_MAX} characters")
    elif _CONTROL.search(text):
        problems.add(field, "must be a single line without control characters")
    return text


def clean_time(value: str | None, default: str, problems: Problems, field: str = "time") -> str:
    """24-hour HH:MM."""
    text = default if value is None or not value.strip() else value.strip()
    if not _TIME.fullmatch(text):
        problems.add(field, "use HH:MM (24-hour)")
    return text


def clean_duration(value: int | None, default: int, problems: Problems) -> int:
    """30–480 minutes."""
    minutes = default if value is None else value
    if not 30 <= minutes <= 480:
        problems.add("duration", "must be between 30 and 480 minutes")
    return minutes


def clean_template(value: str | None, default: str, problems: Problems) -> str:
    """1–40 of [A-Za-z0-9_-]."""
    text = default if value is None or not value.strip() else value.strip()
    if not _TEMPLATE.fullmatch(text):
        problems.add("templateId", "1–40 letters, digits, '-' or '_'")
    return text


def clean_snowflake(value: str | None, field: str, problems: Problems) -> str:
    """'' or a 17–20 digit Discord ID."""
    text = (value or "").strip()
    if text and not realms.is_snowflake(text):
        problems.add(field, "must be a Discord ID of 17–20 digits")
    return text


def clean_date(value: str | None, today: date, problems: Problems) -> date | None:
    """YYYY-MM-DD, today or later in the guild time zone."""
    text = (value or "").strip()
    if not text:
        problems.add("date", "a date is required (YYYY-MM-DD)")
        return None
    try:
        parsed = date.fromisoformat(text) if _DATE.fullmatch(text) else None
    except ValueError:
        parsed = None
    if parsed is None:
        problems.add("date", "use YYYY-MM-DD")
        return None
    if parsed < today:
        problems.add("date", "must be today or later")
        return None
    return parsed


def raid_options(
    settings: Settings,
    *,
    title: str | None = None,
    time_text: str | None = None,
    duration: int | None = None,
    template: str | None = None,
    problems: Problems | None = None,
) -> RaidOptions:
    """Effective raid options: given values over the configured defaults (validated)."""
    own = problems or Problems()
    options = RaidOptions(
        title=clean_title(title, settings.raid_default_title, own),
        time=clean_time(time_text, settings.raid_default_time, own),
        duration=clean_duration(duration, settings.raid_default_duration, own),
        template=clean_template(template, settings.raid_default_template, own),
    )
    if problems is None:
        own.raise_if_any()
    return options


# ----------------------------------------------------------------------------- queries
async def load_roster(session: AsyncSession) -> tuple[list[Person], int]:
    """Raid-roster people with their representative character (two queries)."""
    on_roster = (GuildMember.on_raid_roster.is_(True), GuildMember.discord_username.is_not(None))
    rows = (
        await session.execute(
            select(
                GuildMember.id,
                GuildMember.discord_username,
                GuildMember.discord_id,
                MemberAvailability.day_of_week,
                MemberAvailability.available,
                MemberAvailability.notes,
                MemberAvailability.auto_signup,
                MemberAvailability.wants_reminders,
            )
            .join(MemberAvailability, MemberAvailability.member_id == GuildMember.id)
            .where(*on_roster)
            .order_by(GuildMember.id, MemberAvailability.day_of_week)
        )
    ).all()
    weeks: dict[int, dict[str, Any]] = {}
    for member_id, username, discord_id, day, available, notes, auto, reminders in rows:
        week = weeks.setdefault(
            member_id,
            {
                "discord": username,
                "discord_id": discord_id,
                "days": set(),
                "auto": bool(auto),
                "reminders": bool(reminders),
                "notes": notes or "",
            },
        )
        if available:
            week["days"].add(day)
    entries = [
        AvailabilityEntry(
            member_id=member_id,
            discord=week["discord"],
            discord_id=week["discord_id"],
            days=frozenset(week["days"]),
            auto_signup=week["auto"],
            wants_reminders=week["reminders"],
            notes=week["notes"],
        )
        for member_id, week in weeks.items()
    ]
    character_rows = (
        await session.execute(
            select(
                Character.member_id,
                Character.name,
                Character.character_class,
                Character.spec,
                Character.role,
                Character.main_alt,
            )
            .join(GuildMember, GuildMember.id == Character.member_id)
            .where(
                *on_roster,
                Character.removed_at.is_(None),
                Character.character_class.is_not(None),
            )
        )
    ).all()
    characters = [
        RosterCharacter(
            member_id=member_id,
            name=name,
            class_name=class_name or "",
            spec=spec or "",
            role=legacy_role(class_name, spec, role),
            is_main=main_alt == "main",
        )
        for member_id, name, class_name, spec, role, main_alt in character_rows
        if member_id is not None
    ]
    return build_people(entries, characters)


async def schedule(
    session: AsyncSession, settings: Settings, options: RaidOptions
) -> dict[str, Any]:
    """`GET /raid-schedule` for the current guild-time-zone date."""
    people, without = await load_roster(session)
    today = guild_today(clock.now(), settings.guild_timezone)
    return build_schedule(
        people,
        today=today,
        options=options,
        timezone=settings.guild_timezone,
        without_characters=without,
    )


# -------------------------------------------------------------------------- Raid-Helper
def _require_configured(
    settings: Settings, helper: RaidHelper, channel: str, channel_item: str
) -> None:
    """503 listing server-side gaps (key, server ID); 422 when only the channel is missing."""
    server_missing: list[str] = []
    if not helper.configured:
        server_missing.append(NOT_CONFIGURED_ITEM)
    if not settings.discord_guild_id.strip():
        server_missing.append("Server ID (server)")
    user_missing = [] if channel else [channel_item]
    if server_missing:
        raise Unavailable(
            "Raid-Helper is not configured: " + ", ".join(server_missing + user_missing)
        )
    if user_missing:
        raise Invalid("Raid-Helper is not configured: " + ", ".join(user_missing))


async def _create(
    helper: RaidHelper, *, server_id: str, channel_id: str, payload: dict[str, Any]
) -> str | None:
    """Create the event; 502 with status and the first 200 characters when Raid-Helper refuses."""
    reply = await helper.create_event(server_id=server_id, channel_id=channel_id, payload=payload)
    if not reply.ok:
        if reply.status is None:
            raise BadGateway(
                f"Raid-Helper could not be reached: {helper.redact(reply.short_text())}"
            )
        raise BadGateway(
            f"Raid-Helper returned {reply.status}: {helper.redact(reply.short_text())}"
        )
    return event_id_from(reply.body)


@dataclass(frozen=True, slots=True)
class RaidEventRequest:
    """`POST /raid-events` fields as sent (None / '' = use the default)."""

    date: str | None
    title: str | None = None
    time: str | None = None
    duration: int | None = None
    template_id: str | None = None
    channel_id: str | None = None
    voice_channel_id: str | None = None
    leader_id: str | None = None
    add_signups: bool = True


async def create_raid_event(
    session: AsyncSession,
    *,
    settings: Settings,
    helper: RaidHelper,
    officer: GuildMember,
    request: RaidEventRequest,
) -> dict[str, Any]:
    """Create the raid event for a roster day in Raid-Helper, then add the signups."""
    problems = Problems()
    today = guild_today(clock.now(), settings.guild_timezone)
    when = clean_date(request.date, today, problems)
    options = raid_options(
        settings,
        title=request.title,
        time_text=request.time,
        duration=request.duration,
        template=request.template_id,
        problems=problems,
    )
    channel = clean_snowflake(request.channel_id, "channelId", problems)
    voice = clean_snowflake(request.voice_channel_id, "voiceChannelId", problems)
    leader = clean_snowflake(request.leader_id, "leaderId", problems)
    problems.raise_if_any()
    assert when is not None
    channel = channel or settings.discord_channel_raid_signup.strip()
    voice = voice or settings.discord_channel_voice.strip()
    leader = leader or officer.discord_id or settings.raid_leader_discord_id.strip()
    _require_configured(settings, helper, channel, "Signup Channel ID")

    people, _ = await load_roster(session)
    available, unavailable = split_day(people, day_key(when))
    advanced: dict[str, Any] = {
        "duration": options.duration,
        "create_discordevent": True,
        "attendance": "true",
        "use_nicknames": True,
    }
    if voice:
        advanced["voice_channel"] = voice
    payload = {
        "leaderId": leader,
        "templateId": options.template,
        "date": when.isoformat(),
        "time": options.time,
        "title": options.title,
        "description": f"Roster auto-generated. {len(available)} available.",
        "channelId": channel,
        "advancedSettings": advanced,
    }
    server_id = settings.discord_guild_id.strip()
    event_id = await _create(helper, server_id=server_id, channel_id=channel, payload=payload)
    result: dict[str, Any] = {
        "eventId": event_id,
        "available": len(available),
        "signups": {"attempted": 0, "succeeded": 0, "failed": []},
        "skippedNoDiscordId": [],
    }
    if event_id is None:
        result["warning"] = "Raid-Helper did not return an event ID, so no signups were added."
        log.warning("raid event created without an event ID (officer %s)", officer.id)
        return result
    if request.add_signups:
        payloads, skipped = signup_payloads(available, unavailable)
        result["skippedNoDiscordId"] = skipped
        result["signups"] = await _add_signups(helper, event_id, payloads)
    log.info(
        "raid event %s created for %s by member %s (%s signups)",
        event_id,
        when.isoformat(),
        officer.id,
        result["signups"]["succeeded"],
    )
    return result


async def _add_signups(
    helper: RaidHelper, event_id: str, payloads: list[tuple[str, dict[str, str]]]
) -> dict[str, Any]:
    """One signup call per person, sequential and spaced; failures are reported, not raised."""
    failed: list[dict[str, Any]] = []
    succeeded = 0
    for index, (discord, body) in enumerate(payloads):
        if index and helper.signup_spacing_seconds:
            await asyncio.sleep(helper.signup_spacing_seconds)
        reply = await helper.add_signup(event_id=event_id, payload=body)
        if reply.ok:
            succeeded += 1
        else:
            failed.append(
                {
                    "discord": discord,
                    "status": reply.status,
                    "error": helper.redact(reply.short_text()),
                }
            )
    return {"attempted": len(payloads), "succeeded": succeeded, "failed": failed}


@dataclass(frozen=True, slots=True)
class GuildEventRequest:
    """`POST /guild-events` fields as sent."""

    type: str | None
    title: str | None
    date: str | None
    description: str | None = None
    time: str | None = None
    timezone: str | None = None
    duration: int | None = None
    template_id: str | None = None
    leader_id: str | None = None
    channel_id: str | None = None
    voice_channel_id: str | None = None


def to_guild_time(day: date, clock_time: str, zone_label: str, guild_tz: str) -> datetime:
    """The event start converted from the chosen zone (EST/CST/MST/PST) to the guild zone."""
    hours, minutes = (int(part) for part in clock_time.split(":"))
    source = datetime.combine(
        day, time(hours, minutes), tzinfo=ZoneInfo(EVENT_TIMEZONES[zone_label])
    )
    return source.astimezone(guild_zone(guild_tz))


async def create_guild_event(
    *,
    settings: Settings,
    helper: RaidHelper,
    officer: GuildMember,
    request: GuildEventRequest,
) -> dict[str, Any]:
    """Create an ad hoc guild event (60 §6.7) in Raid-Helper: no attendance, no signups."""
    problems = Problems()
    event_type = (request.type or "").strip()
    if event_type not in EVENT_TYPES:
        problems.add("type", "one of " + ", ".join(EVENT_TYPES))
    template = EVENT_TYPES.get(event_type, EVENT_TYPES["other"])
    title = clean_title(request.title, "", problems)
    today = guild_today(clock.now(), settings.guild_timezone)
    when = clean_date(request.date, today, problems)
    description = template["description"] if request.description is None else request.description
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        problems.add("description", f"at most {DESCRIPTION_MAX} characters")
    elif _CONTROL_EXCEPT_NEWLINE.search(description.replace("\r\n", "\n")):
        problems.add("description", "must not contain control characters")
    description = description.replace("\r\n", "\n")
    start = clean_time(request.time, "21:00", problems)
    zone_label = (request.timezone or "EST").strip().upper()
    if zone_label not in EVENT_TIMEZONES:
        problems.add("timezone", "one of EST, CST, MST, PST")
    duration = 120 if request.duration is None else request.duration
    if duration not in GUILD_EVENT_DURATIONS:
        problems.add("duration", "one of 60, 90, 120, 180, 240 minutes")
    template_id = clean_template(request.template_id, DEFAULT_EVENT_TEMPLATE, problems)
    leader = clean_snowflake(request.leader_id, "leaderId", problems)
    channel = clean_snowflake(request.channel_id, "channelId", problems)
    voice = clean_snowflake(request.voice_channel_id, "voiceChannelId", problems)
    problems.raise_if_any()
    assert when is not None
    channel = (
        channel
        or settings.discord_channel_event_signup.strip()
        or settings.discord_channel_raid_signup.strip()
    )
    voice = voice or settings.discord_channel_voice.strip()
    leader = leader or officer.discord_id or settings.raid_leader_discord_id.strip()
    if not channel and helper.configured and settings.discord_guild_id.strip():
        raise Invalid("No event channel configured")
    _require_configured(settings, helper, channel, "Event Signup Channel ID")

    start_at = to_guild_time(when, start, zone_label, settings.guild_timezone)
    advanced: dict[str, Any] = {
        "duration": duration,
        "create_discordevent": True,
        "use_nicknames": True,
    }
    if voice:
        advanced["voice_channel"] = voice
    payload = {
        "leaderId": leader,
        "templateId": template_id,
        "date": start_at.date().isoformat(),
        "time": start_at.strftime("%H:%M"),
        "title": title,
        "description": description,
        "channelId": channel,
        "advancedSettings": advanced,
    }
    server_id = settings.discord_guild_id.strip()
    event_id = await _create(helper, server_id=server_id, channel_id=channel, payload=payload)
    log.info("guild event %s (%s) created by member %s", event_id, event_type, officer.id)
    result: dict[str, Any] = {
        "eventId": event_id,
        "date": payload["date"],
        "time": payload["time"],
        "channelId": channel,
    }
    if event_id is None:
        result["warning"] = "Raid-Helper did not return an event ID."
    return result


# ------------------------------------------------------------------ roster maintenance
async def _member_by_name(session: AsyncSession, discord: str) -> GuildMember:
    """The member with that Discord username (case-insensitive); 404 otherwise."""
    name = discord.strip().lstrip("@").strip()
    member = None
    if name:
        result = await session.execute(
            select(GuildMember)
            .options(selectinload(GuildMember.rank))
            .where(func.lower(GuildMember.discord_username) == name.lower())
        )
        member = result.scalar_one_or_none()
    if member is None:
        raise NotFound(f"Member '{name}' not found")
    return member


async def set_main(
    session: AsyncSession, *, actor: GuildMember, discord: str, character: str
) -> dict[str, str]:
    """That character becomes the member's main; their other characters become alts."""
    member = await _member_by_name(session, discord)
    member_service.check_can_edit(actor, member, changes_rank=False)
    name = character.strip()
    chosen = (
        await session.execute(
            select(Character)
            .where(
                Character.member_id == member.id,
                func.lower(Character.name) == name.lower(),
                Character.removed_at.is_(None),
            )
            .order_by(Character.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if chosen is None:
        raise NotFound(f"Character '{name}' not found for '{member.discord_username}'")
    now = clock.now()
    await session.execute(
        update(Character)
        .where(
            Character.member_id == member.id,
            Character.id != chosen.id,
            Character.main_alt == "main",
        )
        .values(main_alt="alt", updated_at=now)
    )
    chosen.main_alt = "main"
    chosen.updated_at = now
    await session.flush()
    log.info("member %s made %s the main of member %s", actor.id, chosen.id, member.id)
    return {"discord": member.discord_username or name, "main": chosen.name}


async def remove_from_raid_roster(
    session: AsyncSession, *, actor: GuildMember, discord: str
) -> None:
    """`on_raid_roster = false` and the availability rows deleted; characters untouched."""
    member = await _member_by_name(session, discord)
    member_service.check_can_edit(actor, member, changes_rank=False)
    await session.execute(
        delete(MemberAvailability).where(MemberAvailability.member_id == member.id)
    )
    member.on_raid_roster = False
    member.updated_at = clock.now()
    await session.flush()
    log.info("member %s removed member %s from the raid roster", actor.id, member.id)


async def save_discord_ids(
    session: AsyncSession, *, actor: GuildMember, mapping: dict[str, Any]
) -> dict[str, int]:
    """`PUT /discord-ids`: all or nothing — 422 unknown names/bad IDs, 403 rank, 409 taken IDs."""
    wanted: dict[str, str | None] = {}
    shown: dict[str, str] = {}
    bad_values: list[str] = []
    bad_names: list[str] = []
    for raw_name, raw_value in mapping.items():
        name = raw_name.strip().lstrip("@").strip()
        key = name.lower()
        if not name or key in wanted:
            bad_names.append(raw_name if name else "(empty name)")
            continue
        shown[key] = name
        if raw_value is None:
            wanted[key] = None
        elif isinstance(raw_value, str) and not raw_value.strip():
            wanted[key] = None
        elif isinstance(raw_value, str) and realms.is_snowflake(raw_value.strip()):
            wanted[key] = raw_value.strip()
        else:
            wanted[key] = None
            bad_values.append(name)
    found = (
        (
            await session.execute(
                select(GuildMember)
                .options(selectinload(GuildMember.rank))
                .where(func.lower(GuildMember.discord_username).in_(list(wanted)))
            )
        )
        .scalars()
        .all()
        if wanted
        else []
    )
    by_key = {(m.discord_username or "").lower(): m for m in found}
    unknown = [shown[key] for key in wanted if key not in by_key]
    messages: list[str] = []
    if bad_names:
        messages.append("duplicate or empty names: " + ", ".join(bad_names))
    if unknown:
        messages.append("unknown Discord names: " + ", ".join(unknown))
    if bad_values:
        messages.append("invalid IDs (need 17–20 digits): " + ", ".join(bad_values))
    if messages:
        details = [{"field": f"mapping.{n}", "message": "unknown Discord name"} for n in unknown]
        details += [
            {"field": f"mapping.{n}", "message": "not a 17–20 digit ID"} for n in bad_values
        ]
        details += [{"field": "mapping", "message": f"duplicate name {n}"} for n in bad_names]
        raise Invalid("Nothing saved — " + "; ".join(messages) + ".", details=details)

    changes = {key: value for key, value in wanted.items() if by_key[key].discord_id != value}
    unchanged = len(wanted) - len(changes)
    refused = [
        by_key[key].discord_username or key
        for key in changes
        if not member_service.can_edit(actor, by_key[key])
    ]
    if refused:
        raise Forbidden(
            "Nothing saved — you cannot change the Discord ID of members at or above your rank: "
            + ", ".join(refused)
        )
    await _check_id_conflicts(session, changes, by_key)

    set_count = sum(1 for value in changes.values() if value is not None)
    cleared = len(changes) - set_count
    # Clear first, then set, so two members can swap IDs in one request.
    for key in changes:
        await member_service.set_discord_id(session, by_key[key], None, actor=actor)
    for key, value in changes.items():
        if value is not None:
            await member_service.set_discord_id(session, by_key[key], value, actor=actor)
    log.info("member %s saved Discord IDs: %s set, %s cleared", actor.id, set_count, cleared)
    return {"set": set_count, "cleared": cleared, "unchanged": unchanged}


async def _check_id_conflicts(
    session: AsyncSession, changes: dict[str, str | None], by_key: dict[str, GuildMember]
) -> None:
    """409 naming both members when a new ID is held by someone who keeps it, or asked twice."""
    claimed: dict[str, str] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if value in claimed:
            other = by_key[claimed[value]].discord_username
            raise Conflict(
                f"Discord ID {value} was entered for both {other} and "
                f"{by_key[key].discord_username}; nothing saved."
            )
        claimed[value] = key
    if not claimed:
        return
    holders = (
        await session.execute(
            select(GuildMember.id, GuildMember.discord_username, GuildMember.discord_id).where(
                GuildMember.discord_id.in_(list(claimed))
            )
        )
    ).all()
    changing_ids = {by_key[key].id for key in changes}
    for holder_id, holder_name, held in holders:
        if held is None:
            continue
        wanted_by = by_key[claimed[held]]
        if holder_id == wanted_by.id or holder_id in changing_ids:
            continue  # the holder gives this ID up in the same request
        raise Conflict(
            f"Discord ID {held} already belongs to {holder_name or holder_id}; it cannot also be "
            f"set for {wanted_by.discord_username}. Nothing saved."
        )


# -------------------------------------------------------------------------- page config
def raid_defaults(settings: Settings) -> dict[str, Any]:
    """The configured defaults of a new raid (`raidDefaults` of the client config)."""
    return {
        "title": settings.raid_default_title,
        "time": settings.raid_default_time,
        "duration": settings.raid_default_duration,
        "template": settings.raid_default_template,
    }


def discord_channels(settings: Settings) -> dict[str, str]:
    """The configured Discord channel ids by purpose (`channels` of the client config)."""
    return {
        "signup": settings.discord_channel_raid_signup,
        "eventSignup": settings.discord_channel_event_signup,
        "voice": settings.discord_channel_voice,
        "announcement": settings.discord_channel_announcement,
        "pug": settings.discord_channel_pug,
        "notification": settings.discord_channel_notification,
    }


def page_config(settings: Settings, *, helper: RaidHelper, leader_id: str | None) -> dict[str, Any]:
    """What the raid admin page embeds: config defaults, channels, readiness; never the key."""
    return {
        "raidDefaults": raid_defaults(settings),
        "timezone": settings.guild_timezone,
        "today": guild_today(clock.now(), settings.guild_timezone).isoformat(),
        "compositionTargets": COMPOSITION_TARGETS,
        "channels": discord_channels(settings),
        "serverId": settings.discord_guild_id,
        "leaderId": leader_id or settings.raid_leader_discord_id,
        "configLeaderId": settings.raid_leader_discord_id,
        "apiKeyConfigured": bool(helper.configured),
        "raidHelperConfigured": bool(helper.configured and settings.discord_guild_id.strip()),
        "eventTypes": {
            key: {**value, "template": DEFAULT_EVENT_TEMPLATE} for key, value in EVENT_TYPES.items()
        },
        "eventTypeOrder": list(EVENT_TYPES),  # tojson sorts keys; the tiles keep this order
        "eventTimezones": list(EVENT_TIMEZONES),
        "eventDurations": list(GUILD_EVENT_DURATIONS),
    }
