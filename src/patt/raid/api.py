"""Raid admin JSON endpoints (60 §9.6, §9.7), Officer+: schedule, Raid-Helper events, Discord
IDs and raid-roster maintenance. Thin routes; the rules live in `patt.raid.service`.

Bodies are read with `patt.core.schemas.read_body()`: malformed JSON or a body that is not a JSON
object → 400, invalid fields → 422 with `details` (60 §9.1).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from patt.core.envelope import ok
from patt.core.schemas import Body, read_body
from patt.deps import DB, Officer
from patt.raid import service as raid_planner
from patt.raid.raid_helper import RaidHelper, make_raid_helper
from sv_common.errors import Invalid

router = APIRouter(prefix="/api/v1/guild", tags=["raid-admin"])


def raid_helper(request: Request) -> RaidHelper:
    """The app's Raid-Helper client (tests replace it with the fake)."""
    return request.app.state.raid_helper  # type: ignore[no-any-return]


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


class DiscordIdsBody(Body):
    """`PUT /discord-ids`: name → ID ('' or null clears)."""

    mapping: dict[str, Any]


class SetMainBody(Body):
    """`POST /raid-roster/main`."""

    discord: str
    character: str


@router.get("/raid-schedule")
async def raid_schedule(
    request: Request,
    member: Officer,
    db: DB,
    title: str | None = None,
    time: str | None = None,
    duration: str | None = None,
    template: str | None = None,
) -> JSONResponse:
    """Next week's days ranked, with the people and the exact Raid-Helper commands."""
    settings = request.app.state.settings
    problems = raid_planner.Problems()
    minutes: int | None = None
    if duration is not None and duration.strip():
        if duration.strip().isdigit() and len(duration.strip()) <= 4:
            minutes = int(duration.strip())
        else:
            problems.add("duration", "must be a whole number of minutes (30–480)")
    options = raid_planner.raid_options(
        settings,
        title=title,
        time_text=time,
        duration=minutes,
        template=template,
        problems=problems,
    )
    problems.raise_if_any()
    return ok(await raid_planner.schedule(db, settings, options))


@router.post("/raid-events")
async def raid_events(request: Request, member: Officer, db: DB) -> JSONResponse:
    """Create the raid event for a roster day in Raid-Helper and add the signups."""
    body = await read_body(request, RaidEventBody)
    result = await raid_planner.create_raid_event(
        db,
        settings=request.app.state.settings,
        helper=raid_helper(request),
        officer=member,
        request=raid_planner.RaidEventRequest(
            date=body.date,
            title=body.title,
            time=body.time,
            duration=body.duration,
            template_id=body.templateId,
            channel_id=body.channelId,
            voice_channel_id=body.voiceChannelId,
            leader_id=body.leaderId,
            add_signups=body.addSignups,
        ),
    )
    return ok(result)


@router.post("/guild-events")
async def guild_events(request: Request, member: Officer) -> JSONResponse:
    """Create an ad hoc guild event (time converted to the guild time zone)."""
    body = await read_body(request, GuildEventBody)
    result = await raid_planner.create_guild_event(
        settings=request.app.state.settings,
        helper=raid_helper(request),
        officer=member,
        request=raid_planner.GuildEventRequest(
            type=body.type,
            title=body.title,
            description=body.description,
            date=body.date,
            time=body.time,
            timezone=body.timezone,
            duration=body.duration,
            template_id=body.templateId,
            leader_id=body.leaderId,
            channel_id=body.channelId,
            voice_channel_id=body.voiceChannelId,
        ),
    )
    return ok(result)


@router.put("/discord-ids")
async def discord_ids(request: Request, member: Officer, db: DB) -> JSONResponse:
    """Save the Discord ID mapping, all or nothing."""
    body = await read_body(request, DiscordIdsBody)
    return ok(await raid_planner.save_discord_ids(db, actor=member, mapping=body.mapping))


@router.post("/raid-roster/main")
async def raid_roster_main(request: Request, member: Officer, db: DB) -> JSONResponse:
    """Make a character the member's main."""
    body = await read_body(request, SetMainBody)
    if not body.discord or not body.character:
        raise Invalid("Both 'discord' and 'character' are required.")
    return ok(
        await raid_planner.set_main(
            db, actor=member, discord=body.discord, character=body.character
        )
    )


@router.delete("/raid-roster/{discord}")
async def raid_roster_remove(discord: str, member: Officer, db: DB) -> JSONResponse:
    """Take a member off the raid roster (their availability is deleted)."""
    await raid_planner.remove_from_raid_roster(db, actor=member, discord=discord)
    return ok({"deleted": True})


def install(app: FastAPI) -> None:
    """The Raid-Helper client on `app.state.raid_helper` and the raid admin routes."""
    settings = app.state.settings
    app.state.raid_helper = make_raid_helper(
        settings.raid_helper_api_key, settings.raid_helper_base_url
    )
    app.include_router(router)
