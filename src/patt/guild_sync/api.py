"""Guild-sync API — `/api/guild-sync/*`: triggers, status, history and the addon upload.

Officer+ everywhere (401 anonymous, 403 lower ranks, CSRF for cookie callers), except the
addon upload (only `X-API-Key`) and its status (`X-API-Key` or an officer).

- `POST /blizzard/trigger` `{"force_removals"?}` and `POST /discord/trigger` take the job lock
  and insert the log row before answering **202** `{"status": "started", "sync_log_id"}`; the
  sync runs in the background (its outcome goes to the sync log). 409 when one is running, 503
  when the service is not configured / not connected.
- `POST /match/trigger` runs the pipeline now: 200 `{"matching", "integrity", "reported"}`,
  409 when a pipeline is running.
- `POST /report/trigger` `{"full"?: true}` posts open issues: 200 `{"reported"}`; 503 without
  an audit channel or Discord; 502 when Discord refused the first message.
- `POST /addon-upload`: 503 without `PATT_API_KEY`, 429 after 10 wrong keys from one client in
  15 min, 401 wrong key (constant-time comparison), 413 over 5 MB, 400 malformed JSON, 422 bad
  upload, 503 `busy, retry later` when the roster is being written for 30 s; 200 with counts.
  The pipeline is requested after the write commits.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from patt.core.envelope import Envelope, ok
from patt.core.netutil import client_ip
from patt.core.schemas import read_json_object
from patt.deps import DB, Officer, get_current_member, require_rank
from patt.discord import flows as discord_flows
from patt.discord import runtime as discord_runtime
from patt.guild_sync import pipeline, service
from patt.guild_sync.pipeline import NOT_RUNNING_AGAIN
from patt.guild_sync.runtime import GuildSync
from patt.guild_sync.schemas import (
    BlizzardTrigger,
    PipelineResult,
    Reported,
    ReportTrigger,
    Started,
    SyncLogRow,
    SyncStatus,
    UploadAccepted,
    UploadStatus,
)
from patt.health.api import discord_state
from sv_common.db.enums import SyncSource
from sv_common.errors import (
    BadGateway,
    Conflict,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from sv_common.guild_sync import addon_ingest
from sv_common.guild_sync.reporter import deliver_issue_report

router = APIRouter(prefix="/api/guild-sync", tags=["guild-sync"])

UPLOAD_NOT_CONFIGURED = "addon upload is not configured"
INVALID_KEY = "invalid API key"


def _guild_sync(request: Request) -> GuildSync:
    return request.app.state.guild_sync  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ triggers
@router.post("/blizzard/trigger", status_code=202, response_model=Envelope[Started])
async def trigger_blizzard(
    request: Request, member: Officer, body: BlizzardTrigger | None = None
) -> Response:
    """Start a Blizzard roster sync in the background."""
    body = body or BlizzardTrigger()
    guild_sync = _guild_sync(request)
    held, log_id = await guild_sync.begin_blizzard_sync(triggered_by=f"manual:{member.id}")
    guild_sync.spawn(
        guild_sync.blizzard_sync(
            triggered_by=f"manual:{member.id}",
            force_removals=body.force_removals,
            held=held,
            log_id=log_id,
        ),
        name="blizzard-sync",
    )
    return ok(Started(sync_log_id=log_id), 202)


@router.post("/discord/trigger", status_code=202, response_model=Envelope[Started])
async def trigger_discord(request: Request, member: Officer) -> Response:
    """Start a Discord member + role sync in the background (then the pipeline)."""
    service_ = request.app.state.discord
    if not discord_runtime.usable(service_):
        raise Unavailable(discord_flows.NOT_CONNECTED)
    runtime: discord_runtime.DiscordRuntime = request.app.state.discord_runtime
    log_id = await runtime.start_sync(triggered_by=f"manual:{member.id}")
    return ok(Started(sync_log_id=log_id), 202)


@router.post("/match/trigger", response_model=Envelope[PipelineResult])
async def trigger_match(request: Request, member: Officer) -> Response:
    """Run matching, the integrity check and the report now."""
    outcome = await _guild_sync(request).run_pipeline_now(wait_seconds=0)
    if outcome is None:
        raise Conflict(NOT_RUNNING_AGAIN)
    return ok(outcome)


@router.post("/report/trigger", response_model=Envelope[Reported])
async def trigger_report(
    request: Request, member: Officer, db: DB, body: ReportTrigger | None = None
) -> Response:
    """Post open issues (all with `full`, else only un-notified) to the audit channel."""
    body = body or ReportTrigger()
    settings = request.app.state.settings
    channel = await pipeline.audit_channel_id(db, settings)
    if not channel:
        raise Unavailable(discord_flows.NO_CHANNEL)
    discord = request.app.state.discord
    if not discord.available:
        raise Unavailable(discord_flows.NOT_CONNECTED)
    result = await deliver_issue_report(
        db, discord, channel, full=body.full, guild_name=settings.patt_guild_name
    )
    if result.error and result.reported == 0:
        raise BadGateway(f"Discord refused the audit report: {result.error}")
    data: dict[str, Any] = {"reported": result.reported}
    if result.error:
        data["error"] = result.error
    return ok(data)


# ------------------------------------------------------------------------------- status
@router.get("/status", response_model=Envelope[SyncStatus])
async def status(request: Request, member: Officer, db: DB) -> Response:
    """State of every source, the audit channel and open issues per type."""
    guild_sync = _guild_sync(request)
    discord = request.app.state.discord
    return ok(
        await service.sync_status(
            db,
            settings=request.app.state.settings,
            blizzard_configured=guild_sync.blizzard_configured,
            next_blizzard_run=request.app.state.scheduler.next_blizzard_run(),
            discord_state=discord_state(request),
            discord_configured=discord_runtime.is_configured(discord),
        )
    )


@router.get("/log", response_model=Envelope[list[SyncLogRow]])
async def history(
    member: Officer,
    db: DB,
    source: Annotated[SyncSource | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Sync history, newest first."""
    return ok(await service.sync_log_rows(db, source=source, limit=limit, offset=offset))


# --------------------------------------------------------------------------- addon upload
def _key_matches(request: Request) -> bool:
    """`X-API-Key` equals PATT_API_KEY (compared in constant time)."""
    supplied = request.headers.get("x-api-key", "")
    configured = request.app.state.settings.patt_api_key
    return hmac.compare_digest(supplied.encode(), configured.encode())


async def require_upload_key(request: Request) -> None:
    """503 not configured, 429 after too many wrong keys from this client, 401 wrong key."""
    if not request.app.state.settings.patt_api_key:
        raise Unavailable(UPLOAD_NOT_CONFIGURED)
    throttle = request.app.state.throttles["api_key_ip"]
    ip = client_ip(request)
    wait = await throttle.retry_after(ip)
    if wait:
        raise TooManyRequests("Too many invalid API keys; try again later.", retry_after=wait)
    if not _key_matches(request):
        await throttle.hit(ip)
        raise Unauthorized(INVALID_KEY)


@router.post(
    "/addon-upload",
    response_model=Envelope[UploadAccepted],
    dependencies=[Depends(require_upload_key)],
)
async def addon_upload(request: Request) -> Response:
    """Write the notes of an addon export (one transaction), then request the pipeline."""
    settings = request.app.state.settings
    guild_sync = _guild_sync(request)
    payload = read_json_object(await request.body())
    result = await addon_ingest.run_addon_upload(
        guild_sync.sessionmaker,
        guild_sync.engine,
        payload,
        guild_name=settings.patt_guild_name,
        home_realm_slug=settings.patt_guild_realm_slug,
        home_realm_name=settings.patt_guild_realm_name,
        creates_characters=settings.addon_creates_characters,
        region=settings.blizzard_region,
    )
    guild_sync.pipeline.request("addon upload")
    return ok(result.as_response())


async def upload_status_access(request: Request, db: DB) -> None:
    """The upload key, or an officer's session or bearer token."""
    if request.headers.get("x-api-key") is not None:
        await require_upload_key(request)
        return
    member = await get_current_member(request, db)
    await require_rank()(request, member)


@router.get(
    "/addon-upload/status",
    response_model=Envelope[UploadStatus],
    dependencies=[Depends(upload_status_access)],
)
async def addon_upload_status(db: DB) -> Response:
    """The last upload: when, which export, its status and size."""
    return ok(await addon_ingest.last_upload_status(db))
