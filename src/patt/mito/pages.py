"""The Mito's Corner page (`/mitos-corner`, 60 §7): quotes and titles rendered into a
server-side shell; the JS in static/legacy calls the JSON API for changes.

Anonymous → 302 to /login?next=…; below Officer → the 403 page; the page is noindex.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from patt.core.render import render, require_page_rank
from patt.deps import DB, PageMember
from patt.mito import service as mito
from patt.mito.schemas import MitoLists

router = APIRouter(include_in_schema=False)


@router.get("/mitos-corner", response_class=HTMLResponse)
async def mitos_corner_page(request: Request, member: PageMember, db: DB) -> HTMLResponse:
    """Mito's Corner with the current quotes and titles rendered (escaped) into the page."""
    require_page_rank(request, member)
    quotes, titles = await mito.list_all(db)
    lists = MitoLists(quotes=quotes, titles=titles).model_dump()  # type: ignore[arg-type]
    response = await render(
        request,
        "tools/mitos_corner.html",
        {
            "quotes": lists["quotes"],
            "titles": lists["titles"],
            "fallback_title": mito.FALLBACK_TITLE,
            "quote_max": mito.QUOTE_MAX,
            "title_max": mito.TITLE_MAX,
            "active_nav": "admin",
        },
        member=member,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
