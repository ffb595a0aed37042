"""The campaign lookup of the campaign pages (vote and admin): a missing campaign is the 404 page."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from patt.campaigns import service as campaign_service
from patt.core.render import PageError
from sv_common.db.models import Campaign
from sv_common.errors import NotFound


async def campaign_or_404(db: AsyncSession, campaign_id: int) -> Campaign:
    """The campaign with its entries, or the 404 page ("Campaign not found.")."""
    try:
        return await campaign_service.get_campaign(db, campaign_id)
    except NotFound as exc:
        raise PageError(404, "Campaign not found.") from exc
