"""Officers' guild-sync page `/admin/sync` (decision 2; 80 §7, §9; 85 §11.1–11.3): one card per
source (Blizzard, Discord, addon upload), open issues per type, "Sync now" buttons and the
recent sync history.

The page reads the same status and history as `GET /api/guild-sync/status` and `/log`; the
buttons start the same jobs as the API triggers. A started sync runs in the background (its
outcome lands in the history), so the button answers at once with "started", "already
running" or "not configured" as a flash — never an error page. Officer+ only; every POST
checks the CSRF token first.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from patt.core.forms import gated_form, in_transaction
from patt.core.render import redirect_with_flash, render, require_page_rank, sentence
from patt.deps import PageMember
from patt.discord import flows as discord_flows
from patt.discord import runtime as discord_runtime
from patt.guild_sync import service
from patt.guild_sync.pipeline import NOT_RUNNING_AGAIN
from patt.guild_sync.runtime import GuildSync
from patt.health.api import discord_state
from sv_common.db.enums import IssueType, SyncSource
from sv_common.errors import Conflict, Unavailable

router = APIRouter(include_in_schema=False)

PAGE_URL = "/admin/sync"
HISTORY_ROWS = 20
SOURCE_TITLES = {
    SyncSource.BLIZZARD_API.value: "Blizzard roster",
    SyncSource.DISCORD_BOT.value: "Discord members",
    SyncSource.ADDON_UPLOAD.value: "Addon upload",
    SyncSource.SHEET_IMPORT.value: "Sheet import",
}
# What each card says when its source is off, and what switches it on.
NOT_CONFIGURED_HINTS = {
    SyncSource.BLIZZARD_API.value: "Set BLIZZARD_CLIENT_ID and BLIZZARD_CLIENT_SECRET.",
    SyncSource.DISCORD_BOT.value: "Set DISCORD_BOT_TOKEN and DISCORD_GUILD_ID.",
    SyncSource.ADDON_UPLOAD.value: "Set PATT_API_KEY (the companion app sends it).",
}
ISSUE_TITLES = {
    IssueType.ORPHAN_WOW.value: "Unlinked characters",
    IssueType.ORPHAN_DISCORD.value: "Discord accounts without a character",
    IssueType.ROLE_MISMATCH.value: "Rank mismatches",
    IssueType.NO_GUILD_ROLE.value: "No guild role on Discord",
    IssueType.STALE_CHARACTER.value: "Inactive characters",
    IssueType.RANK_CHANGE.value: "In-game rank changes",
    IssueType.AUTO_LINK_SUGGESTION.value: "Link suggestions",
}
STATUS_KINDS = {"success": "success", "partial": "warning", "error": "danger", "running": "info"}


def _guild_sync(request: Request) -> GuildSync:
    return request.app.state.guild_sync  # type: ignore[no-any-return]


def describe_pipeline(outcome: dict[str, Any]) -> str:
    """One sentence about a matching run: links made, issues opened and settled."""
    matching = outcome.get("matching", {})
    integrity = outcome.get("integrity", {})
    linked = sum(
        int(matching.get(key, 0) or 0)
        for key in ("accounts_linked", "exact", "guild_note", "officer_note", "token", "fuzzy")
    )
    return (
        f"Matching done: {linked} new links, {matching.get('suggestions', 0)} suggestions, "
        f"{integrity.get('total_new', 0)} new issues, {integrity.get('resolved', 0)} resolved."
    )


# --------------------------------------------------------------------------------- page
@router.get("/admin/sync")
async def sync_page(request: Request, member: PageMember) -> Response:
    """Status of every source, open issues per type, sync buttons and the recent history."""
    actor = require_page_rank(request, member)
    guild_sync = _guild_sync(request)
    discord = request.app.state.discord

    async def load(session: AsyncSession) -> dict[str, Any]:
        status = await service.sync_status(
            session,
            settings=request.app.state.settings,
            blizzard_configured=guild_sync.blizzard_configured,
            next_blizzard_run=request.app.state.scheduler.next_blizzard_run(),
            discord_state=discord_state(request),
            discord_configured=discord_runtime.is_configured(discord),
        )
        history = await service.sync_log_rows(session, source=None, limit=HISTORY_ROWS, offset=0)
        return {"status": status, "history": history}

    data = await in_transaction(request, load)
    status = data["status"]
    cards = [
        {
            "key": key,
            "title": SOURCE_TITLES.get(key, key),
            "source": source,
            "hint": NOT_CONFIGURED_HINTS.get(key, ""),
        }
        for key, source in status.sources.items()
    ]
    context = {
        "cards": cards,
        "history": data["history"],
        "open_issues": [
            (kind, ISSUE_TITLES.get(kind, kind), count)
            for kind, count in status.open_issues.items()
        ],
        "open_total": sum(status.open_issues.values()),
        "audit_channel_configured": status.audit_channel_configured,
        "pipeline_running": guild_sync.pipeline.running,
        "source_titles": SOURCE_TITLES,
        "status_kinds": STATUS_KINDS,
        "active_nav": "admin",
    }
    return await render(request, "admin/sync.html", context, member=actor)


# ------------------------------------------------------------------------------ buttons
@router.post("/admin/sync/blizzard")
async def sync_blizzard(request: Request, member: PageMember) -> RedirectResponse:
    """Start a Blizzard roster sync in the background (as `POST …/blizzard/trigger`)."""
    actor, _ = await gated_form(request, member)
    guild_sync = _guild_sync(request)
    triggered_by = f"manual:{actor.id}"
    try:
        held, log_id = await guild_sync.begin_blizzard_sync(triggered_by=triggered_by)
    except Unavailable as exc:
        return redirect_with_flash(request, PAGE_URL, "error", sentence(exc.message))
    except Conflict as exc:
        return redirect_with_flash(request, PAGE_URL, "info", sentence(exc.message))
    guild_sync.spawn(
        guild_sync.blizzard_sync(triggered_by=triggered_by, held=held, log_id=log_id),
        name="blizzard-sync",
    )
    return redirect_with_flash(
        request,
        PAGE_URL,
        "success",
        "Blizzard sync started. Reload this page to see its result in the history.",
    )


@router.post("/admin/sync/discord")
async def sync_discord(request: Request, member: PageMember) -> RedirectResponse:
    """Start a Discord member + role sync in the background (as `POST …/discord/trigger`)."""
    actor, _ = await gated_form(request, member)
    discord = request.app.state.discord
    if not discord_runtime.usable(discord):
        return redirect_with_flash(request, PAGE_URL, "error", discord_flows.NOT_CONNECTED)
    runtime: discord_runtime.DiscordRuntime = request.app.state.discord_runtime
    try:
        await runtime.start_sync(triggered_by=f"manual:{actor.id}")
    except Conflict as exc:
        return redirect_with_flash(request, PAGE_URL, "info", sentence(exc.message))
    return redirect_with_flash(
        request,
        PAGE_URL,
        "success",
        "Discord sync started. Reload this page to see its result in the history.",
    )


@router.post("/admin/sync/match")
async def run_matching_now(request: Request, member: PageMember) -> RedirectResponse:
    """Run matching → integrity check → report now (as `POST …/match/trigger`)."""
    await gated_form(request, member)
    outcome = await _guild_sync(request).run_pipeline_now(wait_seconds=0)
    if outcome is None:
        return redirect_with_flash(request, PAGE_URL, "info", NOT_RUNNING_AGAIN)
    return redirect_with_flash(request, PAGE_URL, "success", describe_pipeline(outcome))
