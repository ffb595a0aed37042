"""Guild-tool pages (60 §1, §4, §5, §8): the roster sign-up form `/roster`, the public roster view
`/roster-view`, the generated `/patt-config.json`, and the 301s from every old URL form
(`/roster.html`, `/roster-view.html`, `/raid-admin.html`, `/mitos-corner.html`, `/index.html`
and the clean paths with a trailing slash), for GET and HEAD, keeping the query string.

The pages are shells: the form posts to `roster-submit` and the view reads `roster-data` from
vanilla JS in static/legacy. The class/spec table and the client config are embedded as JSON
data blocks (never executed, so the CSP holds).

Choices where the spec is silent:
- `/patt-config.json` recognises an officer by the page login cookie (like the pages) or a
  bearer token; a stale cookie simply gives the public keys.
- The roster view embeds the public config and "today" in the guild time zone so the page
  needs one request (`roster-data`) and ranks the best days against the server's clock.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from patt.config import Settings
from patt.core.render import render
from patt.deps import PagePrincipal, bearer_token, resolve_principal
from patt.raid import rules as raid_rules
from patt.raid import service as raid_planner
from patt.raid.rules import COMPOSITION_TARGETS
from patt.roster.availability import NOTES_MAX
from sv_common import clock
from sv_common.auth.sessions import Principal
from sv_common.errors import DomainError
from sv_common.identity import classes

router = APIRouter(include_in_schema=False)

VIEWS = ("availability", "roster", "composition")
CLEAN_PATHS = ("/roster", "/roster-view", "/raid-admin", "/mitos-corner")


# --------------------------------------------------------------------- client config
def guild_today(settings: Settings) -> date:
    """Today's date in the guild time zone (the injectable clock)."""
    return raid_rules.guild_today(clock.now(), settings.guild_timezone)


def client_config(settings: Settings, *, officer: bool) -> dict[str, Any]:
    """`/patt-config.json` (60 §8): public keys; channels, IDs and readiness for officers."""
    config: dict[str, Any] = {
        "raidDefaults": raid_planner.raid_defaults(settings),
        "timezone": settings.guild_timezone,
        "raidScheduleText": settings.raid_schedule_text,
        "compositionTargets": COMPOSITION_TARGETS,
    }
    if officer:
        config.update(
            {
                "channels": raid_planner.discord_channels(settings),
                "serverId": settings.discord_guild_id,
                "leaderId": settings.raid_leader_discord_id,
                "raidHelperConfigured": bool(
                    settings.raid_helper_api_key.strip() and settings.discord_guild_id.strip()
                ),
            }
        )
    return config


async def _config_viewer(request: Request, member: Principal | None) -> Principal | None:
    if member is not None:
        return member
    token = bearer_token(request)
    if not token:
        return None
    async with request.app.state.engine.connect() as connection:
        try:
            return (await resolve_principal(request, connection, token)).principal
        except DomainError:
            return None


@router.get("/patt-config.json")
async def patt_config(request: Request, member: PagePrincipal) -> JSONResponse:
    """Client config generated from settings on each request (no script URL, no secrets)."""
    settings: Settings = request.app.state.settings
    viewer = await _config_viewer(request, member)
    officer = viewer is not None and viewer.rank.level >= settings.admin_rank_level
    return JSONResponse(
        client_config(settings, officer=officer), headers={"Cache-Control": "no-store"}
    )


# ---------------------------------------------------------------------------- pages
@router.api_route("/roster", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def roster_form(request: Request, member: PagePrincipal) -> HTMLResponse:
    """The public sign-up form; a logged-in member's username is pre-filled."""
    settings: Settings = request.app.state.settings
    return await render(
        request,
        "tools/roster.html",
        {
            "class_table": classes.table_as_json(),
            "schedule_text": settings.raid_schedule_text,
            "prefill_discord": (member.discord_username or "") if member is not None else "",
            "notes_max": NOTES_MAX,
            "active_nav": "roster",
        },
        member=member,
    )


@router.api_route("/roster-view", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def roster_view(request: Request, member: PagePrincipal) -> HTMLResponse:
    """The public roster dashboard; `?view=` picks the first view (else Availability)."""
    settings: Settings = request.app.state.settings
    view = request.query_params.get("view", "")
    page_config = client_config(settings, officer=False)
    page_config["today"] = guild_today(settings).isoformat()
    return await render(
        request,
        "tools/roster_view.html",
        {
            "initial_view": view if view in VIEWS else "availability",
            "class_table": classes.table_as_json(),
            "page_config": page_config,
            "active_nav": "roster",
        },
        member=member,
    )


# ------------------------------------------------------------------ old URL forms
def _moved(request: Request, clean_path: str) -> RedirectResponse:
    query = request.url.query
    return RedirectResponse(f"{clean_path}?{query}" if query else clean_path, status_code=301)


def _add_redirect(old_path: str, clean_path: str) -> None:
    async def redirect(request: Request) -> Response:
        return _moved(request, clean_path)

    redirect.__name__ = (
        f"redirect_{old_path.strip('/').replace('.', '_').replace('-', '_') or 'slash'}"
    )
    router.add_api_route(old_path, redirect, methods=["GET", "HEAD"], include_in_schema=False)


for _clean in CLEAN_PATHS:
    _add_redirect(f"{_clean}.html", _clean)
    _add_redirect(f"{_clean}/", _clean)
# The landing page's old form too (GET and HEAD, query kept); registered before app.py's own.
_add_redirect("/index.html", "/")
