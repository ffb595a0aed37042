"""Raid admin JSON endpoints (60 §9.6, §9.7), Officer+: schedule, Raid-Helper events, Discord
IDs and raid-roster maintenance. The two routes that call Raid-Helper hold no database
transaction while they wait for it (a slow third party must not exhaust the connection pool). Thin routes: bodies and field rules in `patt.raid.schemas`,
database work in `patt.raid.service`, Raid-Helper events in `patt.raid.flows`.

Bodies are read with `patt.core.schemas.read_body()`: malformed JSON or a body that is not a JSON
object → 400, invalid fields → 422 with `details` (60 §9.1).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from patt.core.envelope import Deleted, Envelope, ok
from patt.core.schemas import read_body
from patt.deps import DB, Officer, OfficerOutsideTransaction
from patt.raid import flows, schemas, service
from patt.raid.raid_helper import RaidHelper, make_raid_helper
from sv_common.errors import Invalid

router = APIRouter(prefix="/api/v1/guild", tags=["raid-admin"])


def raid_helper(request: Request) -> RaidHelper:
    """The app's Raid-Helper client (tests replace it with the fake)."""
    return request.app.state.raid_helper  # type: ignore[no-any-return]


@router.get("/raid-schedule", response_model=Envelope[schemas.RaidSchedule])
async def raid_schedule(
    request: Request,
    member: Officer,
    db: DB,
    title: str | None = None,
    time: str | None = None,
    duration: str | None = None,
    template: str | None = None,
) -> Response:
    """Next week's days ranked, with the people and the exact Raid-Helper commands."""
    settings = request.app.state.settings
    options = schemas.schedule_options(
        settings, title=title, time_text=time, duration_text=duration, template=template
    )
    return ok(await service.schedule(db, settings=settings, options=options))


@router.post("/raid-events", response_model=Envelope[schemas.EventCreated])
async def raid_events(request: Request, member: OfficerOutsideTransaction) -> Response:
    """Create the raid event for a roster day in Raid-Helper and add the signups."""
    body = await read_body(request, schemas.RaidEventBody)
    result = await flows.create_raid_event(
        request.app.state.sessionmaker,
        settings=request.app.state.settings,
        helper=raid_helper(request),
        officer=member,
        request=body.as_request(),
    )
    return ok(result)


@router.post("/guild-events", response_model=Envelope[schemas.EventCreated])
async def guild_events(request: Request, member: OfficerOutsideTransaction) -> Response:
    """Create an ad hoc guild event (time converted to the guild time zone)."""
    body = await read_body(request, schemas.GuildEventBody)
    result = await flows.create_guild_event(
        settings=request.app.state.settings,
        helper=raid_helper(request),
        officer=member,
        request=body.as_request(),
    )
    return ok(result)


@router.put("/discord-ids", response_model=Envelope[schemas.DiscordIdsSaved])
async def discord_ids(request: Request, member: Officer, db: DB) -> Response:
    """Save the Discord ID mapping, all or nothing."""
    body = await read_body(request, schemas.DiscordIdsBody)
    return ok(await service.save_discord_ids(db, actor=member, mapping=body.mapping))


@router.post("/raid-roster/main", response_model=Envelope[schemas.MainSet])
async def raid_roster_main(request: Request, member: Officer, db: DB) -> Response:
    """Make a character the member's main."""
    body = await read_body(request, schemas.SetMainBody)
    if not body.discord or not body.character:
        raise Invalid("Both 'discord' and 'character' are required.")
    return ok(
        await service.set_main(db, actor=member, discord=body.discord, character=body.character)
    )


@router.delete("/raid-roster/{discord}", response_model=Envelope[Deleted])
async def raid_roster_remove(discord: str, member: Officer, db: DB) -> Response:
    """Take a member off the raid roster (their availability is deleted)."""
    await service.remove_from_raid_roster(db, actor=member, discord=discord)
    return ok(Deleted())


def install(app: FastAPI) -> None:
    """The Raid-Helper client on `app.state.raid_helper` and the raid admin routes."""
    settings = app.state.settings
    app.state.raid_helper = make_raid_helper(
        settings.raid_helper_api_key, settings.raid_helper_base_url
    )
    app.include_router(router)
