"""The raid admin dashboard page (`/raid-admin`, 60 §6): a server-rendered shell; the JS in
static/legacy calls the JSON API.

Anonymous → 302 to /login?next=…; below Officer → the 403 page; the page is noindex.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from patt.core.render import render, require_page_rank
from patt.deps import PageMember
from patt.raid import service

router = APIRouter(include_in_schema=False)


@router.get("/raid-admin", response_class=HTMLResponse)
async def raid_admin_page(request: Request, member: PageMember) -> HTMLResponse:
    """The raid admin dashboard; its settings and data are embedded as JSON (never the key)."""
    officer = require_page_rank(request, member)
    config = service.page_config(
        request.app.state.settings,
        helper=request.app.state.raid_helper,
        leader_id=officer.discord_id,
    )
    response = await render(
        request,
        "tools/raid_admin.html",
        {"page_data": config, "active_nav": "admin"},
        member=member,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
