"""What the raid admin accepts: request bodies, the cleaned requests and the field rules (title,
time, duration, template, Discord IDs, dates), with every problem reported in one 422.

Quote-like free text (titles, descriptions) may not contain control characters other than
newlines in descriptions; a title with a newline would break the one-line /create command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict

from patt.core.schemas import Body, ReadModel
from patt.raid.rules import (
    DEFAULT_EVENT_TEMPLATE,
    EVENT_TIMEZONES,
    EVENT_TYPES,
    GUILD_EVENT_DURATIONS,
    RaidOptions,
)
from sv_common.errors import Invalid
from sv_common.identity import realms

if TYPE_CHECKING:
    from patt.config import Settings

_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TEMPLATE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
TITLE_MAX = 100
DESCRIPTION_MAX = 2000


# ----------------------------------------------------------------------- field rules
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


def clean_description(value: str | None, default: str, problems: Problems) -> str:
    """At most 2000 characters; newlines allowed (CRLF read as LF), other control characters not."""
    text = (default if value is None else value).strip()
    if len(text) > DESCRIPTION_MAX:
        problems.add("description", f"at most {DESCRIPTION_MAX} characters")
    elif _CONTROL_EXCEPT_NEWLINE.search(text.replace("\r\n", "\n")):
        problems.add("description", "must not contain control characters")
    return text.replace("\r\n", "\n")


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


def schedule_options(
    settings: Settings,
    *,
    title: str | None,
    time_text: str | None,
    duration_text: str | None,
    template: str | None,
) -> RaidOptions:
    """The options of `GET /raid-schedule` from its query text (duration as whole minutes)."""
    problems = Problems()
    minutes: int | None = None
    if duration_text is not None and duration_text.strip():
        # More than four digits can never be a valid duration, and checking the length first
        # keeps int() away from its limit on very long digit strings (a 500 instead of a 422).
        if duration_text.strip().isdigit() and len(duration_text.strip()) <= 4:
            minutes = int(duration_text.strip())
        else:
            problems.add("duration", "must be a whole number of minutes (30–480)")
    options = raid_options(
        settings,
        title=title,
        time_text=time_text,
        duration=minutes,
        template=template,
        problems=problems,
    )
    problems.raise_if_any()
    return options


# ----------------------------------------------------------------------- raid events
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


@dataclass(frozen=True, slots=True)
class CleanRaidEvent:
    """A valid raid event request; empty IDs still mean "use the configured default"."""

    day: date
    options: RaidOptions
    channel_id: str
    voice_channel_id: str
    leader_id: str
    add_signups: bool


def clean_raid_event(
    request: RaidEventRequest, settings: Settings, *, today: date
) -> CleanRaidEvent:
    """Every field of a raid event request checked; one 422 listing all problems."""
    problems = Problems()
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
    return CleanRaidEvent(
        day=when,
        options=options,
        channel_id=channel,
        voice_channel_id=voice,
        leader_id=leader,
        add_signups=request.add_signups,
    )


# ---------------------------------------------------------------------- guild events
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


@dataclass(frozen=True, slots=True)
class CleanGuildEvent:
    """A valid guild event request; empty IDs still mean "use the configured default"."""

    type: str
    title: str
    day: date
    description: str
    time: str
    timezone: str  # EST / CST / MST / PST
    duration: int
    template_id: str
    leader_id: str
    channel_id: str
    voice_channel_id: str


def clean_guild_event(request: GuildEventRequest, *, today: date) -> CleanGuildEvent:
    """Every field of a guild event request checked; one 422 listing all problems."""
    problems = Problems()
    event_type = (request.type or "").strip()
    if event_type not in EVENT_TYPES:
        problems.add("type", "one of " + ", ".join(EVENT_TYPES))
    defaults = EVENT_TYPES.get(event_type, EVENT_TYPES["other"])
    title = clean_title(request.title, "", problems)
    when = clean_date(request.date, today, problems)
    description = clean_description(request.description, defaults["description"], problems)
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
    return CleanGuildEvent(
        type=event_type,
        title=title,
        day=when,
        description=description,
        time=start,
        timezone=zone_label,
        duration=duration,
        template_id=template_id,
        leader_id=leader,
        channel_id=channel,
        voice_channel_id=voice,
    )


# ------------------------------------------------------------------------ JSON bodies
class RaidEventBody(Body):
    """`POST /raid-events`."""

    date: str | None = None
    title: str | None = None
    time: str | None = None
    duration: int | None = None
    templateId: str | None = None
    channelId: str | None = None
    voiceChannelId: str | None = None
    leaderId: str | None = None
    addSignups: bool = True

    def as_request(self) -> RaidEventRequest:
        """The body under the planner's field names."""
        return RaidEventRequest(
            date=self.date,
            title=self.title,
            time=self.time,
            duration=self.duration,
            template_id=self.templateId,
            channel_id=self.channelId,
            voice_channel_id=self.voiceChannelId,
            leader_id=self.leaderId,
            add_signups=self.addSignups,
        )


class GuildEventBody(Body):
    """`POST /guild-events`."""

    type: str | None = None
    title: str | None = None
    description: str | None = None
    date: str | None = None
    time: str | None = None
    timezone: str | None = None
    duration: int | None = None
    templateId: str | None = None
    leaderId: str | None = None
    channelId: str | None = None
    voiceChannelId: str | None = None

    def as_request(self) -> GuildEventRequest:
        """The body under the planner's field names."""
        return GuildEventRequest(
            type=self.type,
            title=self.title,
            description=self.description,
            date=self.date,
            time=self.time,
            timezone=self.timezone,
            duration=self.duration,
            template_id=self.templateId,
            leader_id=self.leaderId,
            channel_id=self.channelId,
            voice_channel_id=self.voiceChannelId,
        )


class DiscordIdsBody(Body):
    """`PUT /discord-ids`: name → ID ('' or null clears)."""

    mapping: dict[str, Any]


class SetMainBody(Body):
    """`POST /raid-roster/main`."""

    discord: str
    character: str


# ------------------------------------------------------------------------ response shapes
class ScheduleDay(ReadModel):
    """One day of next week: who can come, coverage, rank and the Raid-Helper commands."""

    day: str
    name: str
    date: str
    dateDisplay: str
    rank: int | None
    coverage: int
    counts: dict[str, int]
    available: list[dict[str, Any]]
    unavailable: list[dict[str, Any]]
    createCommand: str
    signupCommands: str


class RaidSchedule(ReadModel):
    """`GET /raid-schedule`: seven days, Sunday to Saturday, the best three ranked."""

    today: str
    timezone: str
    days: list[ScheduleDay]
    withoutCharacters: list[Any]


class EventCreated(ReadModel):
    """A Raid-Helper event that was created, with the sign-ups added to it."""

    model_config = ConfigDict(extra="allow")

    eventId: str | None
    warning: str | None = None


class DiscordIdsSaved(ReadModel):
    """How many Discord IDs were set, cleared or left as they were."""

    set: int
    cleared: int
    unchanged: int


class MainSet(ReadModel):
    """The member's new main character."""

    discord: str
    main: str
