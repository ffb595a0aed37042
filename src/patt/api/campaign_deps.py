"""Campaign route dependencies shared by the member and admin campaign APIs.

Both reconcile a campaign's status with the clock before the route runs (40 §5), in their own
short transaction and before authentication, so a campaign past its end is already closed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from patt.api.campaign_schemas import INT32_MAX
from patt.services import campaign_service


async def reconciled_campaign_id(
    request: Request, campaign_id: Annotated[int, Path(ge=1, le=INT32_MAX)]
) -> int:
    """The path id, after applying any due automatic transition (40 §5)."""
    await campaign_service.reconcile(request.app.state.sessionmaker, campaign_id)
    return campaign_id


async def reconcile_all(request: Request) -> None:
    """Apply due automatic transitions before listing campaigns."""
    await campaign_service.reconcile_due(request.app.state.sessionmaker)


CampaignId = Annotated[int, Depends(reconciled_campaign_id)]
