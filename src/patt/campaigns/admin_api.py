"""Campaign administration — `/api/v1/admin` (Officer+, 30 §6) and the ballot export (40 §9.2).

Additions to 30 §6: `GET /campaigns/{id}` (one campaign with `votes_cast`) and
`GET /campaigns/{id}/ballots` (closed/archived only: anonymised ballots in random order, no
member ids or times; JSON, or CSV with `?format=csv`). Routes that name a campaign (or, for
`PATCH /campaign-entries/{eid}`, an entry) reconcile the campaign's status with the clock first.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from patt.campaigns import service as campaign_service
from patt.campaigns import voting as vote_service
from patt.campaigns.deps import CampaignId, ReconciledEntryId, reconcile_all
from patt.campaigns.schemas import (
    CampaignCreate,
    CampaignUpdate,
    EntryCreate,
    EntryUpdate,
)
from patt.core.fields import IdPath
from patt.deps import DB, Officer
from sv_common.errors import Conflict

router = APIRouter(prefix="/api/v1/admin", tags=["campaign admin"])


EntryId = IdPath


async def _with_votes(db: Any, campaign: Any) -> dict[str, Any]:
    data = campaign_service.campaign_dict(campaign)
    data["votes_cast"] = (await campaign_service.ballot_counts(db, [campaign.id]))[campaign.id]
    return data


@router.get("/campaigns", dependencies=[Depends(reconcile_all)])
async def list_campaigns(db: DB, officer: Officer) -> dict[str, Any]:
    """Every campaign (drafts and archived too) with its ballot count."""
    campaigns = await campaign_service.list_campaigns(db)
    counts = await campaign_service.ballot_counts(db, [c.id for c in campaigns])
    data = []
    for campaign in campaigns:
        item = campaign_service.campaign_dict(campaign)
        item["votes_cast"] = counts[campaign.id]
        data.append(item)
    return {"ok": True, "data": data}


@router.post("/campaigns", status_code=201)
async def create_campaign(body: CampaignCreate, db: DB, officer: Officer) -> dict[str, Any]:
    """New draft campaign."""
    campaign = await campaign_service.create_campaign(db, actor=officer, fields=body.model_dump())
    return {"ok": True, "data": campaign_service.campaign_dict(campaign)}


@router.get("/campaigns/{campaign_id}")
async def get_campaign(campaign_id: CampaignId, db: DB, officer: Officer) -> dict[str, Any]:
    """One campaign with entries and `votes_cast`."""
    campaign = await campaign_service.get_campaign(db, campaign_id)
    return {"ok": True, "data": await _with_votes(db, campaign)}


@router.patch("/campaigns/{campaign_id}")
async def update_campaign(
    campaign_id: CampaignId, body: CampaignUpdate, db: DB, officer: Officer
) -> dict[str, Any]:
    """Edit a draft campaign."""
    campaign = await campaign_service.update_campaign(
        db, campaign_id=campaign_id, changes=body.changes()
    )
    return {"ok": True, "data": campaign_service.campaign_dict(campaign)}


@router.post("/campaigns/{campaign_id}/entries", status_code=201)
async def add_entry(
    campaign_id: CampaignId, body: EntryCreate, db: DB, officer: Officer
) -> dict[str, Any]:
    """Add an entry to a draft campaign."""
    entry = await campaign_service.add_entry(db, campaign_id=campaign_id, fields=body.model_dump())
    return {"ok": True, "data": campaign_service.entry_dict(entry, with_campaign=True)}


@router.delete("/campaigns/{campaign_id}/entries/{entry_id}")
async def delete_entry(
    campaign_id: CampaignId, entry_id: EntryId, db: DB, officer: Officer
) -> dict[str, Any]:
    """Remove an entry of a draft campaign."""
    await campaign_service.delete_entry(db, campaign_id=campaign_id, entry_id=entry_id)
    return {"ok": True, "data": {"deleted": True}}


@router.patch("/campaign-entries/{entry_id}")
async def update_entry(
    entry_id: ReconciledEntryId, body: EntryUpdate, db: DB, officer: Officer
) -> dict[str, Any]:
    """Edit an entry of a draft campaign."""
    entry = await campaign_service.update_entry(db, entry_id=entry_id, changes=body.changes())
    return {"ok": True, "data": campaign_service.entry_dict(entry)}


@router.post("/campaigns/{campaign_id}/activate")
async def activate(campaign_id: CampaignId, db: DB, officer: Officer) -> dict[str, Any]:
    """draft → live now."""
    campaign = await campaign_service.activate(db, campaign_id=campaign_id)
    return {"ok": True, "data": campaign_service.campaign_dict(campaign)}


@router.post("/campaigns/{campaign_id}/close")
async def close(campaign_id: CampaignId, db: DB, officer: Officer) -> dict[str, Any]:
    """live → closed with final results."""
    campaign = await campaign_service.close(db, campaign_id=campaign_id)
    return {"ok": True, "data": campaign_service.campaign_dict(campaign)}


@router.post("/campaigns/{campaign_id}/archive")
async def archive(campaign_id: CampaignId, db: DB, officer: Officer) -> dict[str, Any]:
    """closed → archived."""
    campaign = await campaign_service.archive(db, campaign_id=campaign_id)
    return {"ok": True, "data": campaign_service.campaign_dict(campaign)}


@router.get("/campaigns/{campaign_id}/stats")
async def stats(campaign_id: CampaignId, db: DB, officer: Officer) -> dict[str, Any]:
    """Participation counts (no standings)."""
    campaign = await campaign_service.get_campaign(db, campaign_id)
    return {"ok": True, "data": await vote_service.get_vote_stats(db, campaign)}


@router.get("/campaigns/{campaign_id}/ballots", response_model=None)
async def export_ballots(
    campaign_id: CampaignId,
    db: DB,
    officer: Officer,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> dict[str, Any] | Response:
    """Anonymised ballots of a closed or archived campaign, in random order."""
    campaign = await campaign_service.get_campaign(db, campaign_id)
    if campaign.status not in ("closed", "archived"):
        raise Conflict("Ballots can only be exported after the campaign has closed")
    ballots = await vote_service.anonymised_ballots(db, campaign.id)
    n = campaign.picks_per_voter
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["ballot", *[f"rank_{r}" for r in range(1, n + 1)]])
        for number, ballot in enumerate(ballots, start=1):
            writer.writerow([number, *ballot, *[""] * (n - len(ballot))])
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="campaign-{campaign.id}-ballots.csv"'
            },
        )
    return {
        "ok": True,
        "data": {
            "campaign_id": campaign.id,
            "title": campaign.title,
            "status": campaign.status,
            "counting_method": campaign.counting_method,
            "picks_per_voter": n,
            "entries": [{"id": e.id, "name": e.name} for e in campaign.entries],
            "ballot_count": len(ballots),
            "ballots": [
                {"picks": [{"entry_id": e, "rank": r} for r, e in enumerate(ballot, start=1)]}
                for ballot in ballots
            ],
        },
    }
