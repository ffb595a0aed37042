"""Who may vote in a campaign, and whether enough of them did (40 §6.4, §9.5).

By default eligibility follows each member's *current* rank. A campaign with
`eligibility_snapshot` fixes the list when it goes live (`patt.campaign_eligible_voters`), so a
promotion, demotion or new registration during voting changes neither who may vote nor the
turnout and early close. `quorum_percent` is the minimum turnout for a declared result.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from patt.campaigns.rules import Viewer
from sv_common.db.models import Campaign, CampaignEligibleVoter
from sv_common.identity.members import eligible_voters_query

NOT_IN_SNAPSHOT = "You were not eligible to vote when this campaign opened"
RANK_TOO_LOW = "Your rank does not meet the minimum rank to vote in this campaign"


def eligible_ids(campaign: Campaign) -> Select[Any]:
    """Ids of the campaign's eligible voters: the activation snapshot when the campaign keeps
    one, else registered active members whose current rank reaches `min_rank_to_vote`."""
    if campaign.eligibility_snapshot:
        return select(CampaignEligibleVoter.member_id.label("id")).where(
            CampaignEligibleVoter.campaign_id == campaign.id
        )
    return eligible_voters_query(campaign.min_rank_to_vote)


async def take_snapshot(session: AsyncSession, campaign: Campaign) -> None:
    """Record the eligible voters at activation (in the activating transaction); nothing for
    campaigns without `eligibility_snapshot`."""
    if not campaign.eligibility_snapshot:
        return
    current = eligible_voters_query(campaign.min_rank_to_vote).subquery()
    await session.execute(
        insert(CampaignEligibleVoter).from_select(
            ["campaign_id", "member_id"], select(literal(campaign.id), current.c.id)
        )
    )


async def in_snapshot(session: AsyncSession, *, campaign_id: int, member_id: int) -> bool:
    """Whether the member is on the campaign's activation snapshot."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    CampaignEligibleVoter.campaign_id == campaign_id,
                    CampaignEligibleVoter.member_id == member_id,
                )
            )
        )
    )


async def refusal(session: AsyncSession, campaign: Campaign, member: Viewer) -> str | None:
    """Why this member may not vote in the campaign (rule 5 of 40 §3), or None."""
    if campaign.eligibility_snapshot:
        if await in_snapshot(session, campaign_id=campaign.id, member_id=member.id):
            return None
        return NOT_IN_SNAPSHOT
    if member.rank.level < campaign.min_rank_to_vote:
        return RANK_TOO_LOW
    return None


def quorum_met(quorum_percent: int | None, *, eligible: int, ballots: int) -> bool:
    """Turnout reached the quorum: with no quorum always; otherwise ballots of eligible voters
    (at most all of them) are at least `quorum_percent` of the eligible voters, and there is at
    least one eligible voter. Integer arithmetic, so 50 % of 7 needs 4 ballots."""
    if quorum_percent is None:
        return True
    if eligible <= 0:
        return False
    return min(ballots, eligible) * 100 >= quorum_percent * eligible
