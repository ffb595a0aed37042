"""Public and member campaign endpoints — `/api/v1/campaigns` (visibility by rank).

Every route that names one campaign reconciles its status with the clock first (a dependency
that runs before authentication, in its own short transaction), so a campaign past its end is
already closed here. `GET /{id}/my-vote` does not apply the view rule: it only returns the
caller's own ballot. Results rows are returned as the counting produced them (their shape is
`ResultRow`), without re-validation on this hot path.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import PlainTextResponse, Response

from patt.campaigns import audit, checker, receipts, results, rules, service, serving, voting
from patt.campaigns.deps import CampaignId
from patt.campaigns.schemas import (
    AnonymousBallot,
    BallotCast,
    CampaignRead,
    MyVote,
    PickRead,
    PublishedBallotList,
    ResultRow,
    ResultsEnvelope,
    parse_vote_body,
)
from patt.core.envelope import Envelope, ok
from patt.deps import DB, CurrentMember, OptionalMember
from sv_common.db.enums import CampaignStatus
from sv_common.db.models import Campaign, GuildMember
from sv_common.errors import Conflict, Forbidden, NotFound, Unauthorized

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])

NOT_FOUND = "Campaign not found"


def _is_officer(request: Request, member: rules.Viewer | None) -> bool:
    return member is not None and member.rank.level >= request.app.state.settings.admin_rank_level


def check_view(campaign: Campaign, viewer: GuildMember | None) -> None:
    """401 for anonymous and 403 for logged-in viewers who cannot view the campaign."""
    if rules.can_view(campaign, rules.viewer_level(viewer)):
        return
    if viewer is None:
        raise Unauthorized("Login required to view this campaign")
    raise Forbidden("Insufficient rank to view this campaign")


@router.get("", response_model=Envelope[list[CampaignRead]])
async def list_campaigns(
    request: Request, status: Annotated[CampaignStatus | None, Query()] = None
) -> Response:
    """Campaigns the viewer can view; archived only when asked for by status (due automatic
    transitions are applied first; the list is served from a validated cache, `serving`, which
    also reads who is asking: bad credentials answer 401 as everywhere)."""
    return await serving.campaign_list_response(
        request, status=status.value if status is not None else None
    )


@router.get("/{campaign_id}", response_model=Envelope[CampaignRead])
async def get_campaign(
    campaign_id: CampaignId, request: Request, db: DB, viewer: OptionalMember
) -> Response:
    """One campaign (drafts without entries for non-officers)."""
    campaign = await service.get_campaign(db, campaign_id, message=NOT_FOUND)
    check_view(campaign, viewer)
    return ok(CampaignRead.public(campaign, officer=_is_officer(request, viewer)))


@router.get("/{campaign_id}/results", response_model=ResultsEnvelope)
async def get_results(request: Request, campaign_id: CampaignId) -> Response:
    """Final results after close, with the close-time `audit` snapshot beside `data`; live
    standings only to members who voted (`audit` null). Served from a validated cache
    (`serving`, which also reads who is asking); the view rules are checked on every request."""
    return await serving.results_response(request, campaign_id)


@router.get("/{campaign_id}/results/live", response_model=Envelope[list[ResultRow]])
async def get_live_results(campaign_id: CampaignId, db: DB, member: CurrentMember) -> Response:
    """Same data as /results, for logged-in members who voted (a draft has no results)."""
    campaign = await service.get_campaign(db, campaign_id, message=NOT_FOUND, with_entries=False)
    check_view(campaign, member)
    if campaign.status == "draft":
        raise Forbidden("Results not yet available")
    if not await voting.has_voted(db, campaign_id=campaign.id, member_id=member.id):
        raise Forbidden("Vote to see live standings")
    return ok(await results.get_results(db, campaign))


@router.post("/{campaign_id}/vote", status_code=201, response_model=Envelope[BallotCast])
async def vote(
    campaign_id: CampaignId,
    request: Request,
    db: DB,
    member: CurrentMember,
    background: BackgroundTasks,
) -> Response:
    """Cast a ballot (40 §3–4); the early-close check runs after the commit."""
    picks = parse_vote_body(await request.body())
    result = await voting.cast_vote(db, campaign_id=campaign_id, member=member, picks=picks)
    if result.early_close_enabled:
        background.add_task(checker.check_early_close, request.app.state.sessionmaker, campaign_id)
    return ok(result.data, 201)


@router.get("/{campaign_id}/my-vote", response_model=Envelope[MyVote])
async def my_vote(campaign_id: CampaignId, db: DB, member: CurrentMember) -> Response:
    """The caller's own ballot."""
    await service.get_campaign(db, campaign_id, message=NOT_FOUND, with_entries=False)
    ballot = await voting.get_my_vote(db, campaign_id=campaign_id, member_id=member.id)
    if ballot is None:
        raise NotFound("You have not voted in this campaign")
    return ok(ballot)


@router.put("/{campaign_id}/vote", response_model=Envelope[BallotCast])
async def change_vote(
    campaign_id: CampaignId, request: Request, db: DB, member: CurrentMember
) -> Response:
    """Replace the caller's ballot (campaigns that allow vote changes, until close); the answer
    carries the new receipt."""
    picks = parse_vote_body(await request.body())
    result = await voting.change_vote(db, campaign_id=campaign_id, member=member, picks=picks)
    return ok(result.data)


@router.get(
    "/{campaign_id}/ballots",
    response_model=Envelope[PublishedBallotList],
    responses={200: {"content": {"text/plain": {}}}},
)
async def published_ballots(
    campaign_id: CampaignId,
    db: DB,
    viewer: OptionalMember,
    format: Annotated[Literal["json", "text"], Query()] = "json",
) -> Response:
    """The anonymised ballot list of a closed campaign, ordered by receipt, for anyone who can
    view the campaign: voters find their receipt in it. `?format=text` is the canonical ballot
    list itself, whose SHA-256 is the audit's `ballot_digest`."""
    campaign = await service.get_campaign(db, campaign_id, message=NOT_FOUND, with_entries=False)
    check_view(campaign, viewer)
    if campaign.status not in ("closed", "archived"):
        raise Conflict("The ballot list is published when the campaign closes")
    ballots = await audit.load_receipted_ballots(db, campaign.id)
    canonical = receipts.canonical_ballot_list(ballots)
    if format == "text":
        return PlainTextResponse(canonical, headers={"Cache-Control": "no-store"})
    return ok(
        PublishedBallotList(
            campaign_id=campaign.id,
            ballot_count=len(ballots),
            canonical_format=receipts.CANONICAL_FORMAT,
            digest=receipts.digest_of_text(canonical),
            audit_digest=campaign.ballot_digest,
            ballots=[
                AnonymousBallot(
                    receipt=receipt,
                    picks=[PickRead(entry_id=e, rank=r) for e, r in sorted(picks, key=_by_rank)],
                )
                for receipt, picks in ballots
            ],
        )
    )


def _by_rank(pick: tuple[int, int]) -> tuple[int, int]:
    return pick[1], pick[0]
