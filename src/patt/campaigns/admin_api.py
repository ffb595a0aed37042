"""Campaign administration — `/api/v1/admin` (Officer+) and the ballot export.

Besides create/edit/entries/transitions: `GET /campaigns/{id}` (one campaign with `votes_cast`)
and `GET /campaigns/{id}/ballots` (closed/archived only: anonymised ballots in random order, no
member ids or times; JSON, or CSV with `?format=csv`). Routes that name a campaign (or, for
`PATCH /campaign-entries/{eid}`, an entry) reconcile the campaign's status with the clock first.
`GET /campaigns/{id}/discord` lists the campaign's Discord announcements and reminder DMs
(`reach.discord_report`).
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from patt.campaigns import reach, results, service
from patt.campaigns.deps import CampaignId, ReconciledEntryId, reconcile_all
from patt.campaigns.schemas import (
    AnonymousBallot,
    BallotEntry,
    BallotExport,
    CampaignAdminRead,
    CampaignCreate,
    CampaignDiscordRead,
    CampaignRead,
    CampaignUpdate,
    EntryCreate,
    EntryCreated,
    EntryRead,
    EntryUpdate,
    PickRead,
    VoteStats,
)
from patt.core.envelope import Deleted, Envelope, ok
from patt.core.fields import IdPath
from patt.deps import DB, Officer
from sv_common.db.models import Campaign
from sv_common.errors import Conflict

router = APIRouter(prefix="/api/v1/admin", tags=["campaign admin"])


async def _with_votes(db: DB, campaign: Campaign) -> CampaignAdminRead:
    counts = await service.ballot_counts(db, [campaign.id])
    return CampaignAdminRead.of(campaign, votes_cast=counts[campaign.id])


@router.get(
    "/campaigns",
    dependencies=[Depends(reconcile_all)],
    response_model=Envelope[list[CampaignAdminRead]],
)
async def list_campaigns(db: DB, officer: Officer) -> Response:
    """Every campaign (drafts and archived too) with its ballot count."""
    campaigns = await service.list_campaigns(db)
    counts = await service.ballot_counts(db, [c.id for c in campaigns])
    return ok([CampaignAdminRead.of(c, votes_cast=counts[c.id]) for c in campaigns])


@router.post("/campaigns", status_code=201, response_model=Envelope[CampaignRead])
async def create_campaign(body: CampaignCreate, db: DB, officer: Officer) -> Response:
    """New draft campaign."""
    campaign = await service.create_campaign(db, actor=officer, fields=body.model_dump())
    return ok(CampaignRead.of(campaign), 201)


@router.get("/campaigns/{campaign_id}", response_model=Envelope[CampaignAdminRead])
async def get_campaign(campaign_id: CampaignId, db: DB, officer: Officer) -> Response:
    """One campaign with entries and `votes_cast`."""
    campaign = await service.get_campaign(db, campaign_id)
    return ok(await _with_votes(db, campaign))


@router.patch("/campaigns/{campaign_id}", response_model=Envelope[CampaignRead])
async def update_campaign(
    campaign_id: CampaignId, body: CampaignUpdate, db: DB, officer: Officer
) -> Response:
    """Edit a draft campaign."""
    campaign = await service.update_campaign(db, campaign_id=campaign_id, changes=body.changes())
    return ok(CampaignRead.of(campaign))


@router.post(
    "/campaigns/{campaign_id}/entries", status_code=201, response_model=Envelope[EntryCreated]
)
async def add_entry(
    campaign_id: CampaignId, body: EntryCreate, db: DB, officer: Officer
) -> Response:
    """Add an entry to a draft campaign."""
    entry = await service.add_entry(db, campaign_id=campaign_id, fields=body.model_dump())
    return ok(EntryCreated.model_validate(entry), 201)


@router.delete("/campaigns/{campaign_id}/entries/{entry_id}", response_model=Envelope[Deleted])
async def delete_entry(
    campaign_id: CampaignId, entry_id: IdPath, db: DB, officer: Officer
) -> Response:
    """Remove an entry of a draft campaign."""
    await service.delete_entry(db, campaign_id=campaign_id, entry_id=entry_id)
    return ok(Deleted())


@router.patch("/campaign-entries/{entry_id}", response_model=Envelope[EntryRead])
async def update_entry(
    entry_id: ReconciledEntryId, body: EntryUpdate, db: DB, officer: Officer
) -> Response:
    """Edit an entry of a draft campaign."""
    entry = await service.update_entry(db, entry_id=entry_id, changes=body.changes())
    return ok(EntryRead.model_validate(entry))


@router.post("/campaigns/{campaign_id}/activate", response_model=Envelope[CampaignRead])
async def activate(campaign_id: CampaignId, db: DB, officer: Officer) -> Response:
    """draft → live now."""
    return ok(CampaignRead.of(await service.activate(db, campaign_id=campaign_id)))


@router.post("/campaigns/{campaign_id}/close", response_model=Envelope[CampaignRead])
async def close(campaign_id: CampaignId, db: DB, officer: Officer) -> Response:
    """live → closed with final results."""
    return ok(CampaignRead.of(await service.close(db, campaign_id=campaign_id)))


@router.post("/campaigns/{campaign_id}/archive", response_model=Envelope[CampaignRead])
async def archive(campaign_id: CampaignId, db: DB, officer: Officer) -> Response:
    """closed → archived."""
    return ok(CampaignRead.of(await service.archive(db, campaign_id=campaign_id)))


@router.get("/campaigns/{campaign_id}/stats", response_model=Envelope[VoteStats])
async def stats(campaign_id: CampaignId, db: DB, officer: Officer) -> Response:
    """Participation counts (no standings)."""
    campaign = await service.get_campaign(db, campaign_id)
    return ok(VoteStats.model_validate(await results.get_vote_stats(db, campaign)))


@router.get("/campaigns/{campaign_id}/discord", response_model=Envelope[CampaignDiscordRead])
async def discord_activity(
    campaign_id: CampaignId, request: Request, db: DB, officer: Officer
) -> Response:
    """Announcements posted in Discord, reminder DM counts and the members they missed."""
    campaign = await service.get_campaign(db, campaign_id, with_entries=False)
    report = await reach.discord_report(
        db, campaign, settings=request.app.state.settings, service=request.app.state.discord
    )
    return ok(CampaignDiscordRead.model_validate(report))


@router.get(
    "/campaigns/{campaign_id}/ballots",
    response_model=Envelope[BallotExport],
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_ballots(
    campaign_id: CampaignId,
    db: DB,
    officer: Officer,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """Anonymised ballots of a closed or archived campaign, in random order."""
    campaign = await service.get_campaign(db, campaign_id)
    if campaign.status not in ("closed", "archived"):
        raise Conflict("Ballots can only be exported after the campaign has closed")
    ballots = await results.anonymised_ballots(db, campaign.id)
    if format == "csv":
        return _ballots_csv(campaign, ballots)
    return ok(
        BallotExport(
            campaign_id=campaign.id,
            title=campaign.title,
            status=campaign.status,
            counting_method=campaign.counting_method,
            picks_per_voter=campaign.picks_per_voter,
            entries=[BallotEntry.model_validate(e) for e in campaign.entries],
            ballot_count=len(ballots),
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


def _ballots_csv(campaign: Campaign, ballots: list[tuple[str, list[tuple[int, int]]]]) -> Response:
    """One row per ballot: its number, then the entry id at each rank (the receipts are in the
    JSON export and the published ballot list; this header is a contract of its own)."""
    picks = campaign.picks_per_voter
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["ballot", *[f"rank_{r}" for r in range(1, picks + 1)]])
    for number, (_, chosen) in enumerate(ballots, start=1):
        ordered = [entry_id for entry_id, _ in sorted(chosen, key=_by_rank)]
        writer.writerow([number, *ordered, *[""] * (picks - len(ordered))])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="campaign-{campaign.id}-ballots.csv"'
        },
    )
