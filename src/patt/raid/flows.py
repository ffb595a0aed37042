"""Raid-Helper work across several steps: create the raid event of a roster day and add its
signups, or create an ad hoc guild event (no attendance, no signups).

Signups are added one call per person, spaced out, and a failed one is reported in the result
instead of failing the request, because the event already exists by then.

Choices where the spec is silent:
- Missing API key or server ID → 503; only the (user-editable) signup channel missing → 422
  (decision 7, which replaces the 409 of 60 §9.6).
- `POST /guild-events` also accepts `channelId` / `voiceChannelId` (the officer's per-browser
  overrides); empty → event signup channel, then raid signup channel, from the configuration.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patt.raid import schemas, service
from patt.raid.raid_helper import NOT_CONFIGURED_ITEM, RaidHelper, event_id_from
from patt.raid.rules import day_key, guild_today, signup_payloads, split_day, to_guild_time
from sv_common import clock
from sv_common.db.models import GuildMember
from sv_common.errors import BadGateway, Invalid, Unavailable

if TYPE_CHECKING:
    from patt.config import Settings

log = logging.getLogger(__name__)


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


def _event_payload(
    *,
    leader: str,
    template_id: str,
    day: date,
    start: str,
    title: str,
    description: str,
    channel: str,
    duration: int,
    voice: str,
    attendance: bool,
) -> dict[str, Any]:
    """The Raid-Helper create-event body; the Discord event and nicknames always on."""
    advanced: dict[str, Any] = {"duration": duration, "create_discordevent": True}
    if attendance:
        advanced["attendance"] = "true"
    advanced["use_nicknames"] = True
    if voice:
        advanced["voice_channel"] = voice
    return {
        "leaderId": leader,
        "templateId": template_id,
        "date": day.isoformat(),
        "time": start,
        "title": title,
        "description": description,
        "channelId": channel,
        "advancedSettings": advanced,
    }


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


async def create_raid_event(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    settings: Settings,
    helper: RaidHelper,
    officer: GuildMember,
    request: schemas.RaidEventRequest,
) -> dict[str, Any]:
    """Create the raid event for a roster day in Raid-Helper, then add the signups."""
    today = guild_today(clock.now(), settings.guild_timezone)
    event = schemas.clean_raid_event(request, settings, today=today)
    channel = event.channel_id or settings.discord_channel_raid_signup.strip()
    voice = event.voice_channel_id or settings.discord_channel_voice.strip()
    leader = event.leader_id or officer.discord_id or settings.raid_leader_discord_id.strip()
    _require_configured(settings, helper, channel, "Signup Channel ID")

    # the roster is read in its own short transaction: no connection is held while Raid-Helper
    # (a third party that may be slow) answers the calls below
    async with sessionmaker() as session, session.begin():
        people, _ = await service.load_roster(session)
    available, unavailable = split_day(people, day_key(event.day))
    payload = _event_payload(
        leader=leader,
        template_id=event.options.template,
        day=event.day,
        start=event.options.time,
        title=event.options.title,
        description=f"Roster auto-generated. {len(available)} available.",
        channel=channel,
        duration=event.options.duration,
        voice=voice,
        attendance=True,
    )
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
    if event.add_signups:
        payloads, skipped = signup_payloads(available, unavailable)
        result["skippedNoDiscordId"] = skipped
        result["signups"] = await _add_signups(helper, event_id, payloads)
    log.info(
        "raid event %s created for %s by member %s (%s signups)",
        event_id,
        event.day.isoformat(),
        officer.id,
        result["signups"]["succeeded"],
    )
    return result


async def create_guild_event(
    *,
    settings: Settings,
    helper: RaidHelper,
    officer: GuildMember,
    request: schemas.GuildEventRequest,
) -> dict[str, Any]:
    """Create an ad hoc guild event (60 §6.7) in Raid-Helper: no attendance, no signups."""
    today = guild_today(clock.now(), settings.guild_timezone)
    event = schemas.clean_guild_event(request, today=today)
    channel = (
        event.channel_id
        or settings.discord_channel_event_signup.strip()
        or settings.discord_channel_raid_signup.strip()
    )
    voice = event.voice_channel_id or settings.discord_channel_voice.strip()
    leader = event.leader_id or officer.discord_id or settings.raid_leader_discord_id.strip()
    if not channel and helper.configured and settings.discord_guild_id.strip():
        raise Invalid("No event channel configured")
    _require_configured(settings, helper, channel, "Event Signup Channel ID")

    start_at = to_guild_time(event.day, event.time, event.timezone, settings.guild_timezone)
    payload = _event_payload(
        leader=leader,
        template_id=event.template_id,
        day=start_at.date(),
        start=start_at.strftime("%H:%M"),
        title=event.title,
        description=event.description,
        channel=channel,
        duration=event.duration,
        voice=voice,
        attendance=False,
    )
    server_id = settings.discord_guild_id.strip()
    event_id = await _create(helper, server_id=server_id, channel_id=channel, payload=payload)
    log.info("guild event %s (%s) created by member %s", event_id, event.type, officer.id)
    result: dict[str, Any] = {
        "eventId": event_id,
        "date": payload["date"],
        "time": payload["time"],
        "channelId": channel,
    }
    if event_id is None:
        result["warning"] = "Raid-Helper did not return an event ID."
    return result
