"""Campaign route dependencies shared by the member and admin campaign APIs.

Both reconcile a campaign's status (named by id, or by one of its entries' ids) with the clock before the route runs (40 §5), in their own
short transaction and before authentication, so a campaign past its end is already closed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from patt.campaigns import checker as campaign_checker
from patt.core.fields import IdPath


async def reconciled_campaign_id(request: Request, campaign_id: IdPath) -> int:
    """The path id, after applying any due automatic transition (40 §5)."""
    await campaign_checker.reconcile(request.app.state.sessionmaker, campaign_id)
    return campaign_id


async def reconciled_entry_id(request: Request, entry_id: IdPath) -> int:
    """The path entry id, after applying any due transition to the entry's campaign, so an
    entry of a draft whose start has passed answers 409 like the other entry routes."""
    await campaign_checker.reconcile_entry_campaign(request.app.state.sessionmaker, entry_id)
    return entry_id


async def reconcile_all(request: Request) -> None:
    """Apply due automatic transitions before listing campaigns."""
    await campaign_checker.reconcile_due(request.app.state.sessionmaker)


CampaignId = Annotated[int, Depends(reconciled_campaign_id)]
ReconciledEntryId = Annotated[int, Depends(reconciled_entry_id)]
