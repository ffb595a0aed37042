"""Public and member campaign endpoints — `/api/v1/campaigns` (30 §7–8, visibility of 40 §7).

Every route that names one campaign reconciles its status with the clock first (a dependency
that runs before authentication, in its own short transaction), so a campaign past its end is
already closed here. `GET /{id}/my-vote` does not apply the view rule: it only returns the
caller's own ballot.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request

from patt.campaigns import service as campaign_service
from patt.campaigns import voting as vote_service
from patt.campaigns.deps import CampaignId, reconcile_all
from patt.campaigns.schemas import parse_vote_body
from patt.deps import DB, CurrentMember, OptionalMember
from sv_common.db.models import Campaign, GuildMember
from sv_common.errors import Forbidden, NotFound, Unauthorized

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])

NOT_FOUND = "Campaign not found"


def _is_officer(request: Request, member: GuildMember | None) -> bool:
    return member is not None and member.rank.level >= request.app.state.settings.admin_rank_level


def check_view(campaign: Campaign, viewer: GuildMember | None) -> None:
    """401 for anonymous and 403 for logged-in viewers who cannot view the campaign."""
    if campaign_service.can_view(campaign, campaign_service.viewer_level(viewer)):
        return
    if viewer is None:
        raise Unauthorized("Login required to view this campaign")
    raise Forbidden("Insufficient rank to view this campaign")


@router.get("", dependencies=[Depends(reconcile_all)])
async def list_campaigns(
    request: Request,
    db: DB,
    viewer: OptionalMember,
    status: Annotated[Literal["draft", "live", "closed", "archived"] | None, Query()] = None,
) -> dict[str, Any]:
    """Campaigns the viewer can view; archived only when asked for by status."""
    campaigns = await campaign_service.list_campaigns(
        db,
        viewer_level=campaign_service.viewer_level(viewer),
        status=status,
        include_archived=False,
    )
    officer = _is_officer(request, viewer)
    return {
        "ok": True,
        "data": [campaign_service.public_campaign_dict(c, officer=officer) for c in campaigns],
    }


@router.get("/{campaign_id}")
async def get_campaign(
    campaign_id: CampaignId, request: Request, db: DB, viewer: OptionalMember
) -> dict[str, Any]:
    """One campaign (drafts without entries for non-officers)."""
    campaign = await campaign_service.get_campaign(db, campaign_id, message=NOT_FOUND)
    check_view(campaign, viewer)
    return {
        "ok": True,
        "data": campaign_service.public_campaign_dict(
            campaign, officer=_is_officer(request, viewer)
        ),
    }


@router.get("/{campaign_id}/results")
async def get_results(campaign_id: CampaignId, db: DB, viewer: OptionalMember) -> dict[str, Any]:
    """Final results after close; live standings only to members who voted."""
    campaign = await campaign_service.get_campaign(
        db, campaign_id, message=NOT_FOUND, with_entries=False
    )
    check_view(campaign, viewer)
    if campaign.status not in ("closed", "archived"):
        if viewer is None or campaign.status == "draft":
            raise Forbidden("Results not yet available")
        if not await vote_service.has_voted(db, campaign_id=campaign.id, member_id=viewer.id):
            raise Forbidden("Vote to see live standings")
    return {"ok": True, "data": await vote_service.get_results(db, campaign)}


@router.get("/{campaign_id}/results/live")
async def get_live_results(
    campaign_id: CampaignId, db: DB, member: CurrentMember
) -> dict[str, Any]:
    """Same data as /results, for logged-in members who voted (a draft has no results)."""
    campaign = await campaign_service.get_campaign(
        db, campaign_id, message=NOT_FOUND, with_entries=False
    )
    check_view(campaign, member)
    if campaign.status == "draft":
        raise Forbidden("Results not yet available")
    if not await vote_service.has_voted(db, campaign_id=campaign.id, member_id=member.id):
        raise Forbidden("Vote to see live standings")
    return {"ok": True, "data": await vote_service.get_results(db, campaign)}


@router.post("/{campaign_id}/vote", status_code=201)
async def vote(
    campaign_id: CampaignId,
    request: Request,
    db: DB,
    member: CurrentMember,
    background: BackgroundTasks,
) -> dict[str, Any]:
    """Cast a ballot (40 §3–4); the early-close check runs after the commit."""
    picks = parse_vote_body(await request.body())
    result = await vote_service.cast_vote(db, campaign_id=campaign_id, member=member, picks=picks)
    if result.early_close_enabled:
        background.add_task(
            campaign_service.check_early_close, request.app.state.sessionmaker, campaign_id
        )
    return {"ok": True, "data": result.data}


@router.get("/{campaign_id}/my-vote")
async def my_vote(campaign_id: CampaignId, db: DB, member: CurrentMember) -> dict[str, Any]:
    """The caller's own ballot."""
    await campaign_service.get_campaign(db, campaign_id, message=NOT_FOUND, with_entries=False)
    ballot = await vote_service.get_my_vote(db, campaign_id=campaign_id, member_id=member.id)
    if ballot is None:
        raise NotFound("You have not voted in this campaign")
    return {"ok": True, "data": ballot}
