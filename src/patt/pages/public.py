"""Landing page `/` (50 §4.1): hero, Active Votes, Recent Results, Mito's quote, About the Guild.

Due automatic transitions are applied first (campaign_service.reconcile_due), as every campaign
list does. Choices where the spec is silent: a live campaign past its end that could not be closed
yet is left out of Active Votes; cards are ordered by the soonest end; an
anonymous visitor with no visible live campaign sees no Active Votes section (the empty state is
for logged-in members, as specified); Recent Results is hidden when there are none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from patt.deps import DB, PageMember
from patt.pages.render import render
from patt.services import campaign_service
from sv_common import clock
from sv_common.db.models import Campaign, CampaignEntry, MitoQuote, MitoTitle

router = APIRouter(tags=["pages"], include_in_schema=False)

DESCRIPTION_LIMIT = 100
FALLBACK_TITLE = "Healer Extraordinaire"
RECENT_RESULTS = 3


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


def _visible_to(level: int) -> ColumnElement[bool]:
    return or_(Campaign.min_rank_to_view.is_(None), Campaign.min_rank_to_view <= level)


def _end_at() -> Any:
    return Campaign.start_at + Campaign.duration_hours * literal_column("interval '1 hour'")


def _end_ts(start_at: datetime, duration_hours: int) -> int:
    return int((start_at + timedelta(hours=duration_hours)).timestamp())


async def active_campaigns(db: AsyncSession, level: int) -> list[CampaignCard]:
    """Live campaigns this viewer can view, with entry counts, soonest end first (one query)."""
    entry_count = (
        select(func.count(CampaignEntry.id))
        .where(CampaignEntry.campaign_id == Campaign.id)
        .correlate(Campaign)
        .scalar_subquery()
    )
    rows = await db.execute(
        select(
            Campaign.id,
            Campaign.title,
            Campaign.description,
            Campaign.start_at,
            Campaign.duration_hours,
            entry_count.label("entry_count"),
        )
        .where(Campaign.status == "live", _visible_to(level), _end_at() > clock.now())
        .order_by(_end_at(), Campaign.id)
    )
    return [
        CampaignCard(
            id=row.id,
            title=row.title,
            description=short_description(row.description),
            entry_count=int(row.entry_count or 0),
            end_ts=_end_ts(row.start_at, row.duration_hours),
        )
        for row in rows
    ]


async def recent_results(db: AsyncSession, level: int) -> list[dict[str, Any]]:
    """Up to three most recently closed (not archived) campaigns this viewer can view."""
    rows = await db.execute(
        select(Campaign.id, Campaign.title, Campaign.description, Campaign.closed_at)
        .where(Campaign.status == "closed", _visible_to(level))
        .order_by(Campaign.closed_at.desc().nulls_last(), Campaign.id.desc())
        .limit(RECENT_RESULTS)
    )
    return [
        {
            "id": row.id,
            "title": row.title,
            "description": short_description(row.description),
            "closed_at": row.closed_at,
        }
        for row in rows
    ]


async def quote_of_the_day(db: AsyncSession) -> dict[str, str] | None:
    """A random Mito quote signed with a random title (fallback title); None without quotes."""
    quote = await db.scalar(select(MitoQuote.quote).order_by(func.random()).limit(1))
    if not quote:
        return None
    title = await db.scalar(select(MitoTitle.title).order_by(func.random()).limit(1))
    return {"text": quote, "title": title or FALLBACK_TITLE}


@router.get("/")
async def landing(request: Request, db: DB, member: PageMember) -> Response:
    """The public front page; what it lists depends on the viewer's current rank level."""
    # due automatic transitions first (40 §2): an expired vote shows as a result, not as live
    await campaign_service.reconcile_due(request.app.state.sessionmaker)
    level = member.rank.level if member is not None else 0
    context = {
        "active_nav": "home",
        "landing_image_url": request.app.state.settings.landing_image_url,
        "tagline": "A World of Warcraft guild — Real life first, zero toxicity",
        "active": await active_campaigns(db, level),
        "results": await recent_results(db, level),
        "quote": await quote_of_the_day(db),
    }
    return await render(request, "public/landing.html", context, member=member)
