"""Discord triggers of the guild-sync API (85 §11.1, decision 12): member sync and audit report.

Both are Officer+ (401 anonymous, 403 lower ranks, CSRF for cookie callers).
`POST /api/guild-sync/discord/trigger` runs the sync and its dependent steps before answering
(a Discord member list takes seconds, and the officer gets the counts at once): **202** with
`{"status", "sync_log_id", "stats", "pipeline"}`; 409 when a sync is already running; 503
`Discord is not connected.` when Discord is off or down (the run is logged as `error`).
`POST /api/guild-sync/report/trigger` with optional `{"full": bool}` (default true) answers
200 `{"reported": N}`; 503 without an audit channel or Discord; 502 when Discord refused the
first message (nothing is marked notified); a later failure answers 200 with `error` set and
only the delivered issues marked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictBool

from patt.deps import DB, Officer
from patt.discord import flows as discord_flows
from patt.discord import runtime as discord_runtime
from sv_common.errors import BadGateway, Unavailable
from sv_common.guild_sync.reporter import deliver_issue_report

router = APIRouter(prefix="/api/guild-sync", tags=["guild-sync"])


class ReportTrigger(BaseModel):
    """Body of the report trigger."""

    model_config = ConfigDict(extra="ignore")

    full: StrictBool = True


def _service(request: Request) -> Any:
    return request.app.state.discord


@router.post("/discord/trigger", status_code=202)
async def trigger_discord_sync(request: Request, member: Officer) -> JSONResponse:
    """Full Discord member + role sync, then matching, integrity and the report of new issues."""
    service = _service(request)
    if not discord_runtime.usable(service):
        raise Unavailable(discord_flows.NOT_CONNECTED)
    runtime: discord_runtime.DiscordRuntime = request.app.state.discord_runtime
    result = await runtime.sync_now(triggered_by=f"manual:{member.id}")
    assert result is not None  # manual runs raise instead of returning None
    sync = result["sync"]
    data = {
        "status": sync["status"],
        "sync_log_id": sync["sync_log_id"],
        "stats": sync,
        "pipeline": result.get("pipeline", {}),
    }
    return JSONResponse({"ok": True, "data": data}, status_code=202)


@router.post("/report/trigger")
async def trigger_report(
    request: Request, member: Officer, db: DB, body: ReportTrigger | None = None
) -> dict[str, Any]:
    """Post open issues (all with `full`, else only un-notified) to the audit channel."""
    settings = request.app.state.settings
    full = body.full if body is not None else True
    channel = await discord_flows.audit_channel_id(db, settings)
    if not channel:
        raise Unavailable(discord_flows.NO_CHANNEL)
    service = _service(request)
    if not service.available:
        raise Unavailable(discord_flows.NOT_CONNECTED)
    result = await deliver_issue_report(
        db, service, channel, full=full, guild_name=settings.patt_guild_name
    )
    if result.error and result.reported == 0:
        raise BadGateway(f"Discord refused the audit report: {result.error}")
    data: dict[str, Any] = {"reported": result.reported}
    if result.error:
        data["error"] = result.error
    return {"ok": True, "data": data}
