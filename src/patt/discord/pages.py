"""Admin Discord page `/admin/discord` (70 §4, decision 1): connection status, the Discord role →
rank mapping, and buttons to sync members now or post the audit report.

Officers read the page and may run a sync or a report; only the top rank changes the mapping.
Each rank's role is picked from the server's role list while Discord is connected, or typed as
a snowflake otherwise; an empty value means "match by name" (the rank name, or GM for the top
rank). Every POST checks CSRF and answers POST → 302 → GET with a flash message; a refused
mapping change keeps nothing (all ranks are saved together or not at all).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patt.core.forms import gated_form, in_transaction, write_and_redirect
from patt.core.render import redirect_with_flash, render, require_page_rank
from patt.deps import PageMember
from patt.discord import flows as discord_flows
from patt.discord import runtime as discord_runtime
from patt.guild_sync import pipeline
from patt.health.api import discord_state
from sv_common.db.models import DiscordConfig, GuildRank
from sv_common.discord.interface import DiscordError, DiscordRole
from sv_common.discord.role_sync import TOP_RANK_ALIASES, normalise_role_name
from sv_common.errors import DomainError, Forbidden, Invalid
from sv_common.guild_sync import reporter
from sv_common.guild_sync.sync_log import last_run
from sv_common.identity import ranks as rank_service
from sv_common.identity.realms import is_snowflake

router = APIRouter(include_in_schema=False)
PAGE_URL = "/admin/discord"
STATE_LABELS = {
    "disabled": ("Disabled", "muted"),
    "connecting": ("Connecting", "warning"),
    "ready": ("Connected", "success"),
    "error": ("Error", "danger"),
    "fake": ("Fake server (local file)", "info"),
}


async def _server_roles(service: Any) -> list[DiscordRole] | None:
    """The server's roles while connected, else None (the page falls back to typed ids)."""
    if not service.available:
        return None
    try:
        return list(await service.list_roles())
    except DiscordError:
        return None


def mapping_rows(ranks: list[GuildRank], roles: list[DiscordRole] | None) -> list[dict[str, Any]]:
    """Per rank: the configured role id and what it currently matches on Discord."""
    by_id = {role.id: role for role in roles or []}
    top_level = max((r.level for r in ranks), default=0)
    rows = []
    for rank in sorted(ranks, key=lambda r: r.level, reverse=True):
        if rank.discord_role_id:
            role = by_id.get(rank.discord_role_id)
            if roles is None:
                matches = "by role ID"
            else:
                matches = role.name if role else "unknown role (not on the server)"
        else:
            names = {normalise_role_name(rank.name)}
            if rank.level == top_level:
                names |= {normalise_role_name(a) for a in TOP_RANK_ALIASES}
            if roles is None:
                shown = [rank.name, *(TOP_RANK_ALIASES if rank.level == top_level else ())]
                matches = "by name: " + " or ".join(shown)
            else:
                found = [r.name for r in roles if normalise_role_name(r.name) in names]
                matches = ("by name: " + ", ".join(found)) if found else "no role with that name"
        rows.append({"rank": rank, "matches": matches})
    return rows


@router.get("/admin/discord")
async def discord_page(request: Request, member: PageMember) -> Response:
    """Status, role mapping and sync buttons (Officer+; the mapping is edited by the top rank)."""
    actor = require_page_rank(request, member)
    settings = request.app.state.settings
    service = request.app.state.discord
    roles = await _server_roles(service)

    async def load(session: AsyncSession) -> dict[str, Any]:
        ranks = await rank_service.list_ranks(session)
        config = await session.get(DiscordConfig, 1)
        return {
            "ranks": ranks,
            "last_sync": await last_run(session, "discord_bot"),
            "last_role_sync_at": config.last_role_sync_at if config else None,
            "audit_channel": await pipeline.audit_channel_id(session, settings),
            "can_manage": actor.rank.level >= await rank_service.top_level(session),
        }

    data = await in_transaction(request, load)
    state = discord_state(request)
    label, kind = STATE_LABELS.get(state, (state, "muted"))
    context = {
        **data,
        "rows": mapping_rows(data["ranks"], roles),
        "roles": roles,
        "state": state,
        "state_label": label,
        "state_kind": kind,
        "configured": discord_runtime.is_configured(service),
        "usable": discord_runtime.usable(service),
        "guild_id": settings.discord_guild_id or None,
        "active_nav": "admin",
    }
    return await render(request, "admin/discord.html", context, member=actor)


def parse_mapping(form: dict[str, str], ranks: list[GuildRank]) -> dict[int, str | None]:
    """`role_<rank id>` fields → {rank id: snowflake or None}; Invalid names the bad rank."""
    mapping: dict[int, str | None] = {}
    for rank in ranks:
        key = f"role_{rank.id}"
        if key not in form:
            continue
        value = form[key].strip()
        if value and not is_snowflake(value):
            raise Invalid(
                f"Discord role for {rank.name}: a role ID is 17–20 digits (Developer Mode → "
                "right-click the role → Copy Role ID)."
            )
        mapping[rank.id] = value or None
    final = {rank.id: mapping.get(rank.id, rank.discord_role_id) for rank in ranks}
    chosen = [v for v in final.values() if v]
    if len(chosen) != len(set(chosen)):
        raise Invalid("Two ranks cannot use the same Discord role.")
    return mapping


@router.post("/admin/discord/roles")
async def save_role_mapping(request: Request, member: PageMember) -> Response:
    """Save every rank's Discord role (top rank only; all or nothing)."""
    actor, form = await gated_form(request, member)

    async def work(session: AsyncSession) -> str:
        if actor.rank.level < await rank_service.top_level(session):
            raise Forbidden("Only the Guild Leader can change the Discord role mapping.")
        ranks = list((await session.scalars(select(GuildRank))).all())
        mapping = parse_mapping(form, ranks)
        if not mapping:
            raise Invalid("Nothing to save.")
        # Clear first so two ranks can swap roles without hitting the unique index.
        await rank_service.set_rank_role_ids(session, {rank_id: None for rank_id in mapping})
        await rank_service.set_rank_role_ids(session, mapping)
        return "Discord role mapping saved. It applies from the next Discord sync."

    return await write_and_redirect(request, PAGE_URL, work)


@router.post("/admin/discord/sync")
async def sync_now(request: Request, member: PageMember) -> RedirectResponse:
    """Run a full Discord member + role sync now (Officer+)."""
    actor, _ = await gated_form(request, member)
    service = request.app.state.discord
    if not discord_runtime.usable(service):
        return redirect_with_flash(request, PAGE_URL, "error", discord_flows.NOT_CONNECTED)
    runtime: discord_runtime.DiscordRuntime = request.app.state.discord_runtime
    try:
        result = await runtime.sync_now(triggered_by=f"manual:{actor.id}")
    except DomainError as exc:
        return redirect_with_flash(request, PAGE_URL, "error", exc.message)
    assert result is not None
    sync = result["sync"]
    roles = sync["role_sync"]
    text = (
        f"Discord sync {sync['status']}: {sync['found']} members, {sync['new']} new, "
        f"{sync['departed']} left; ranks: {roles['updated']} changed, {roles['created']} "
        f"members created."
    )
    if sync["status"] == "partial":
        return redirect_with_flash(request, PAGE_URL, "warning", f"{text} {sync['message']}.")
    return redirect_with_flash(request, PAGE_URL, "success", text)


@router.post("/admin/discord/report")
async def report_now(request: Request, member: PageMember) -> RedirectResponse:
    """Post every open audit issue to the audit channel (Officer+)."""
    await gated_form(request, member)
    settings = request.app.state.settings
    service = request.app.state.discord
    if not service.available:
        return redirect_with_flash(request, PAGE_URL, "error", discord_flows.NOT_CONNECTED)
    result = await pipeline.report_new_issues(
        service=service, sessionmaker=request.app.state.sessionmaker, settings=settings, full=True
    )
    if result.skipped == reporter.NO_CHANNEL:
        return redirect_with_flash(request, PAGE_URL, "error", discord_flows.NO_CHANNEL)
    if result.error:
        return redirect_with_flash(
            request,
            PAGE_URL,
            "error",
            f"Reported {result.reported} of {result.total} issues; Discord refused: {result.error}",
        )
    if result.total == 0:
        return redirect_with_flash(request, PAGE_URL, "info", "No open issues to report.")
    return redirect_with_flash(
        request, PAGE_URL, "success", f"Reported {result.reported} open issues."
    )
