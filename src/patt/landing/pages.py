"""Landing page `/` (50 §4.1): hero, Active Votes, Recent Results, Mito's quote, About the Guild.

Everything listed comes from one SQL statement per view; when it reports a due automatic
transition, campaign_checker.reconcile_due runs first and the data is read again, as every campaign
list does. Choices where the spec is silent: a live campaign past its end that could not be closed
yet is left out of Active Votes; cards are ordered by the soonest end; an
anonymous visitor with no visible live campaign sees no Active Votes section (the empty state is
for logged-in members, as specified); Recent Results is hidden when there are none.

The page an anonymous visitor sees (no login cookie, no flash message pending) depends only on
what that statement returned — the live and closed campaigns listed, the quote and Mito's title —
and on the app's settings. It holds no CSRF token and no clock reading (countdowns are counted in
the browser from the end time), so it is kept as finished HTML per distinct statement result
(`AnonymousPages`): the next visitor who gets the same result is served those bytes without
rendering. The statement still runs on every request, so a new campaign, a close or a new quote
shows at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from patt.campaigns import checker as campaign_checker
from patt.core.caches import ProcessCaches
from patt.core.render import FLASH_COOKIE, csrf_token_for, finish_page_response, render
from patt.deps import page_lookup
from sv_common import clock

router = APIRouter(tags=["pages"], include_in_schema=False)

DESCRIPTION_LIMIT = 100
FALLBACK_TITLE = "Healer Extraordinaire"
RECENT_RESULTS = 3
# Rendered anonymous pages kept per process (one per distinct statement result: about one per
# quote × title while campaigns stay put); beyond it the cache starts over.
ANONYMOUS_PAGES = 256


@dataclass
class CampaignCard:
    """What a landing card shows about one campaign."""

    id: int
    title: str
    description: str
    entry_count: int
    end_ts: int


def short_description(text: str | None, limit: int = DESCRIPTION_LIMIT) -> str:
    """The description cut at `limit` characters with "…" when longer."""
    value = (text or "").strip()
    return value if len(value) <= limit else value[:limit].rstrip() + "…"


# Everything the landing page lists, as the columns of one statement (one round trip per page
# view): `due` counts campaigns whose automatic transition is due, so reconciliation runs only
# then. `{level}` is the viewer's rank level: a parameter for visitors, or the rank column of the
# token lookup when the columns ride along with it (`page_principal`).
LANDING_COLUMNS = """
  (SELECT count(*) FROM patt.campaigns d
    WHERE (d.status = 'draft' AND d.start_at <= :now
           AND d.start_at + d.duration_hours * interval '1 hour' > :now)
       OR (d.status = 'live' AND d.start_at + d.duration_hours * interval '1 hour' <= :now)) AS due,
  (SELECT coalesce(json_agg(json_build_object(
            'id', v.id, 'title', v.title, 'description', v.description,
            'entry_count', (SELECT count(*) FROM patt.campaign_entries e WHERE e.campaign_id = v.id),
            'end_ts', floor(extract(epoch FROM v.end_at))::bigint)
          ORDER BY v.end_at, v.id), '[]'::json)::text
     FROM (SELECT lc.id, lc.title, lc.description,
                  lc.start_at + lc.duration_hours * interval '1 hour' AS end_at
           FROM patt.campaigns lc
           WHERE lc.status = 'live'
             AND (lc.min_rank_to_view IS NULL OR lc.min_rank_to_view <= {level})) v
     WHERE v.end_at > :now) AS active,
  (SELECT coalesce(json_agg(json_build_object(
            'id', rc.id, 'title', rc.title, 'description', rc.description,
            'closed_at', rc.closed_at)), '[]'::json)::text
     FROM (SELECT cc.id, cc.title, cc.description, cc.closed_at
           FROM patt.campaigns cc
           WHERE cc.status = 'closed'
             AND (cc.min_rank_to_view IS NULL OR cc.min_rank_to_view <= {level})
           ORDER BY cc.closed_at DESC NULLS LAST, cc.id DESC LIMIT :recent) rc) AS recent,
  (SELECT quote FROM patt.mito_quotes ORDER BY random() LIMIT 1) AS quote,
  (SELECT title FROM patt.mito_titles ORDER BY random() LIMIT 1) AS title"""
LANDING_SQL = text("SELECT" + LANDING_COLUMNS.format(level=":level"))
SIGNED_IN_COLUMNS = LANDING_COLUMNS.format(level="r.level")


def landing_params() -> dict[str, Any]:
    """The parameters of the landing columns (the time and how many results to list)."""
    return {"now": clock.now(), "recent": RECENT_RESULTS}


def landing_from_row(row: Any) -> dict[str, Any]:
    """Active votes, recent results and the quote of the day from the landing columns."""
    active = [
        CampaignCard(
            id=item["id"],
            title=item["title"],
            description=short_description(item["description"]),
            entry_count=int(item["entry_count"]),
            end_ts=int(item["end_ts"]),
        )
        for item in json.loads(row["active"])
    ]
    results = [
        {
            "id": item["id"],
            "title": item["title"],
            "description": short_description(item["description"]),
            "closed_at": datetime.fromisoformat(item["closed_at"]) if item["closed_at"] else None,
        }
        for item in json.loads(row["recent"])
    ]
    quote = (
        {"text": row["quote"], "title": row["title"] or FALLBACK_TITLE} if row["quote"] else None
    )
    return {"due": int(row["due"]), "active": active, "results": results, "quote": quote}


async def landing_row(connection: AsyncConnection, level: int) -> Any:
    """The landing columns for a viewer at `level` (a row mapping)."""
    row = (await connection.execute(LANDING_SQL, {"level": level, **landing_params()})).one()
    return row._mapping


class AnonymousPages:
    """Finished anonymous landing pages by the statement result they were rendered from."""

    def __init__(self) -> None:
        self._pages: dict[tuple[Any, ...], bytes] = {}

    @staticmethod
    def key(row: Any) -> tuple[Any, ...]:
        """What the anonymous page shows, as read (JSON text of the cards, quote, title)."""
        return (row["active"], row["recent"], row["quote"], row["title"])

    def get(self, row: Any) -> bytes | None:
        """The page rendered from an equal result, if any."""
        return self._pages.get(self.key(row))

    def put(self, row: Any, body: bytes) -> None:
        """Keep `body` as the page of this result."""
        if len(self._pages) >= ANONYMOUS_PAGES:
            self._pages.clear()
        self._pages[self.key(row)] = body


def _anonymous_pages(request: Request) -> AnonymousPages:
    caches: ProcessCaches = request.app.state.caches
    return caches.slot("landing_anonymous_pages", AnonymousPages)


@router.get("/")
async def landing(request: Request) -> Response:
    """The public front page; what it lists depends on the viewer's current rank level.

    One statement per view: for a signed-in viewer the page's columns ride along with the login
    cookie's lookup. The navigation's Vote link is the first Active Votes card, which is the
    same campaign the shared lookup would find, so no other statement is needed. An anonymous
    visit without a pending flash message is served from `AnonymousPages` when it can be."""
    engine = request.app.state.engine
    async with engine.connect() as connection:
        lookup = await page_lookup(
            request, connection, extra_columns=SIGNED_IN_COLUMNS, params=landing_params()
        )
        viewer = lookup.principal if lookup is not None else None
        level = viewer.rank.level if viewer is not None else 0
        row = lookup.extras if lookup is not None else await landing_row(connection, level)
    if row["due"]:
        # due automatic transitions first (40 §2): an expired vote shows as a result, not as live
        await campaign_checker.reconcile_due(request.app.state.sessionmaker)
        async with engine.connect() as connection:
            row = await landing_row(connection, level)
    # signed in, or a flash message to show once: rendered as it is, never kept
    keep = viewer is None and FLASH_COOKIE not in request.cookies
    pages = _anonymous_pages(request) if keep else None
    body = pages.get(row) if pages is not None else None
    if body is not None:
        csrf_token_for(request)  # a new visitor gets the CSRF cookie, as every page hands out
        return finish_page_response(request, HTMLResponse(body))
    data = landing_from_row(row)
    if viewer is not None:
        active: list[CampaignCard] = data["active"]
        request.state.nav_vote_url = f"/vote/{active[0].id}" if active else None
    context = {
        "active_nav": "home",
        "landing_image_url": request.app.state.settings.landing_image_url,
        "tagline": "A World of Warcraft guild — Real life first, zero toxicity",
        "active": data["active"],
        "results": data["results"],
        "quote": data["quote"],
    }
    response = await render(request, "public/landing.html", context, member=viewer)
    if pages is not None:
        pages.put(row, bytes(response.body))
    return response
