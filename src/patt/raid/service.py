"""Raid planner reads and roster maintenance against the database: the raid roster with each
person's representative character, the schedule, Discord IDs, make-main, removal, page config.

The roster is read with a constant number of queries (two). The rank guard of decision 5 applies
to every member write here (Discord IDs, make main, remove from the raid roster): officers
cannot change members at or above their own rank.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from patt.raid.raid_helper import RaidHelper
from patt.raid.rules import (
    COMPOSITION_TARGETS,
    DEFAULT_EVENT_TEMPLATE,
    EVENT_TIMEZONES,
    EVENT_TYPES,
    GUILD_EVENT_DURATIONS,
    AvailabilityEntry,
    Person,
    RaidOptions,
    RosterCharacter,
    build_people,
    build_schedule,
    guild_today,
    legacy_role,
)
from sv_common import clock
from sv_common.db.models import Character, GuildMember, MemberAvailability
from sv_common.errors import Conflict, Forbidden, Invalid, NotFound
from sv_common.identity import members as member_service
from sv_common.identity import realms

if TYPE_CHECKING:
    from patt.config import Settings

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- roster
def _on_raid_roster() -> tuple[ColumnElement[bool], ...]:
    """Members who count for the planner: on the raid roster and with a Discord name."""
    return (GuildMember.on_raid_roster.is_(True), GuildMember.discord_username.is_not(None))


async def _availability_entries(session: AsyncSession) -> list[AvailabilityEntry]:
    """Each raid-roster member's week, folded from their seven availability rows (one query)."""
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
            .where(*_on_raid_roster())
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
    return [
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


async def _roster_characters(session: AsyncSession) -> list[RosterCharacter]:
    """The raid-roster members' current characters with a class (one query)."""
    rows = (
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
                *_on_raid_roster(),
                Character.removed_at.is_(None),
                Character.character_class.is_not(None),
            )
        )
    ).all()
    return [
        RosterCharacter(
            member_id=member_id,
            name=name,
            class_name=class_name or "",
            spec=spec or "",
            role=legacy_role(class_name, spec, role),
            is_main=main_alt == "main",
        )
        for member_id, name, class_name, spec, role, main_alt in rows
        if member_id is not None
    ]


async def load_roster(session: AsyncSession) -> tuple[list[Person], int]:
    """Raid-roster people with their representative character (two queries)."""
    entries = await _availability_entries(session)
    characters = await _roster_characters(session)
    return build_people(entries, characters)


async def schedule(
    session: AsyncSession, *, settings: Settings, options: RaidOptions
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


# ------------------------------------------------------------------ roster maintenance
async def _member_by_name(session: AsyncSession, discord: str) -> GuildMember:
    """The member with that Discord username (case-insensitive); 404 otherwise."""
    name = discord.strip().lstrip("@").strip()
    member = None
    if name:
        result = await session.execute(
            select(GuildMember)
            .options(selectinload(GuildMember.rank))
            .where(func.lower(GuildMember.discord_username) == func.lower(name))
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
                func.lower(Character.name) == func.lower(name),
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


@dataclass
class _MappingInput:
    """A `PUT /discord-ids` mapping read: wanted IDs by lower-case name and what was wrong."""

    wanted: dict[str, str | None] = field(default_factory=dict)  # None clears the ID
    shown: dict[str, str] = field(default_factory=dict)  # lower-case name → name as typed
    bad_values: list[str] = field(default_factory=list)
    bad_names: list[str] = field(default_factory=list)


def _read_mapping(mapping: dict[str, Any]) -> _MappingInput:
    """Names trimmed (a leading @ dropped); '' or null clears; anything but 17–20 digits is bad."""
    read = _MappingInput()
    for raw_name, raw_value in mapping.items():
        name = raw_name.strip().lstrip("@").strip()
        key = name.lower()
        if not name or key in read.wanted:
            read.bad_names.append(raw_name if name else "(empty name)")
            continue
        read.shown[key] = name
        if raw_value is None:
            read.wanted[key] = None
        elif isinstance(raw_value, str) and not raw_value.strip():
            read.wanted[key] = None
        elif isinstance(raw_value, str) and realms.is_snowflake(raw_value.strip()):
            read.wanted[key] = raw_value.strip()
        else:
            read.wanted[key] = None
            read.bad_values.append(name)
    return read


def _refuse_bad_mapping(read: _MappingInput, unknown: list[str]) -> None:
    """422 naming every bad name, unknown name and bad ID at once, so one fix round is enough."""
    messages: list[str] = []
    if read.bad_names:
        messages.append("duplicate or empty names: " + ", ".join(read.bad_names))
    if unknown:
        messages.append("unknown Discord names: " + ", ".join(unknown))
    if read.bad_values:
        messages.append("invalid IDs (need 17–20 digits): " + ", ".join(read.bad_values))
    if messages:
        details = [{"field": f"mapping.{n}", "message": "unknown Discord name"} for n in unknown]
        details += [
            {"field": f"mapping.{n}", "message": "not a 17–20 digit ID"} for n in read.bad_values
        ]
        details += [{"field": "mapping", "message": f"duplicate name {n}"} for n in read.bad_names]
        raise Invalid("Nothing saved — " + "; ".join(messages) + ".", details=details)


async def save_discord_ids(
    session: AsyncSession, *, actor: GuildMember, mapping: dict[str, Any]
) -> dict[str, int]:
    """`PUT /discord-ids`: all or nothing — 422 unknown names/bad IDs, 403 rank, 409 taken IDs."""
    read = _read_mapping(mapping)
    wanted = read.wanted
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
    _refuse_bad_mapping(read, [read.shown[key] for key in wanted if key not in by_key])

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
