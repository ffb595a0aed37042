"""Casting ballots: one transaction per ballot, exactly once per member and campaign.

The campaign row is locked `FOR SHARE` (a close or edit locks it `FOR UPDATE`, so a vote is
either counted before a close or sees `closed`), the vote rules run in order, and the ballot
insert relies on `uq_ballot_campaign_member` (`ON CONFLICT DO NOTHING`): the loser of two
simultaneous submissions gets 409 and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from patt.campaigns.rules import end_at
from sv_common import clock
from sv_common.clock import iso
from sv_common.db.models import Ballot, Campaign, CampaignEntry, GuildMember, Vote
from sv_common.errors import Conflict, Forbidden, Invalid, NotFound

# Code of the refusal of a ballot with too few or too many picks (pages reword it).
WRONG_PICK_COUNT = "wrong_pick_count"
ALREADY_VOTED = "You have already voted in this campaign"

CAST_SQL = """
WITH ballot AS (
    INSERT INTO patt.ballots (campaign_id, member_id, cast_at)
    VALUES (:campaign_id, :member_id, :now)
    ON CONFLICT ON CONSTRAINT uq_ballot_campaign_member DO NOTHING
    RETURNING id
), picks AS (
    INSERT INTO patt.votes (ballot_id, campaign_id, member_id, entry_id, rank, voted_at)
    SELECT ballot.id, :campaign_id, :member_id, p.entry_id, p.rank, :now
    FROM ballot, unnest(CAST(:entries AS integer[]), CAST(:ranks AS integer[])) AS p(entry_id, rank)
)
SELECT id FROM ballot
"""


@dataclass
class CastVote:
    """A recorded ballot: the API's `data` and whether an early-close check is worth running."""

    data: dict[str, Any]
    early_close_enabled: bool


async def cast_vote(
    session: AsyncSession, *, campaign_id: int, member: GuildMember, picks: list[Any]
) -> CastVote:
    """Record one ballot (rules 3–11 of 40 §3 in order; rules 1–2 are checked by the caller).

    `picks` are objects with `entry_id` and `rank`. Raises the rule's domain error and writes
    nothing on any failure. Run `campaign_checker.check_early_close` after the commit when
    `early_close_enabled`.
    """
    # one round trip: the campaign row (locked FOR SHARE), whether this member already voted,
    # and the campaign's entry ids
    found = (
        await session.execute(
            select(
                Campaign,
                exists()
                .where(Ballot.campaign_id == Campaign.id, Ballot.member_id == member.id)
                .label("voted"),
                select(func.array_agg(CampaignEntry.id))
                .where(CampaignEntry.campaign_id == Campaign.id)
                .scalar_subquery()
                .label("entry_list"),
            )
            .where(Campaign.id == campaign_id)
            .with_for_update(read=True, of=Campaign)
        )
    ).one_or_none()
    if found is None:
        raise NotFound("Campaign not found")
    campaign, voted, entry_list = found
    now = clock.now()
    status = campaign.status
    if status == "live" and now >= end_at(campaign):
        status = "closed"  # past its end: the checker or reconciliation closes it
    if status != "live":
        raise Conflict(f"Campaign is {status}, voting not allowed")
    if member.rank.level < campaign.min_rank_to_vote:
        raise Forbidden("Your rank does not meet the minimum rank to vote in this campaign")
    if voted:
        raise Conflict(ALREADY_VOTED)

    n = campaign.picks_per_voter
    if len(picks) != n:
        raise Invalid(f"Expected {n} picks, got {len(picks)}", code=WRONG_PICK_COUNT)
    entry_ids = [int(p.entry_id) for p in picks]
    ranks = [int(p.rank) for p in picks]
    if len(set(entry_ids)) != len(entry_ids):
        raise Invalid("Duplicate entries in picks")
    if len(set(ranks)) != len(ranks):
        raise Invalid("Duplicate ranks in picks")
    if sorted(ranks) != list(range(1, n + 1)):
        raise Invalid(f"Ranks must be 1 to {n}")
    own_entries = set(entry_list or ())
    for entry_id in entry_ids:
        if entry_id not in own_entries:
            raise Invalid(f"Entry {entry_id} does not belong to campaign {campaign.id}")

    ordered = sorted(zip(ranks, entry_ids, strict=True))
    # ballot and picks in one statement; ON CONFLICT leaves the loser of a race with no ballot
    # and therefore no vote rows
    try:
        ballot_id = await session.scalar(
            text(CAST_SQL),
            {
                "campaign_id": campaign.id,
                "member_id": member.id,
                "now": now,
                "entries": [entry_id for _, entry_id in ordered],
                "ranks": [rank for rank, _ in ordered],
            },
        )
    except IntegrityError as exc:  # anything that slips past the checks above
        raise Conflict(ALREADY_VOTED) from exc
    if ballot_id is None:
        raise Conflict(ALREADY_VOTED)
    return CastVote(
        data={
            "campaign_id": campaign.id,
            "member_id": member.id,
            "votes": [{"entry_id": entry_id, "rank": rank} for rank, entry_id in ordered],
        },
        early_close_enabled=campaign.early_close_if_all_voted,
    )


async def has_voted(session: AsyncSession, *, campaign_id: int, member_id: int) -> bool:
    """True when the member has a ballot in the campaign."""
    return bool(
        await session.scalar(
            select(exists().where(Ballot.campaign_id == campaign_id, Ballot.member_id == member_id))
        )
    )


async def get_my_vote(
    session: AsyncSession, *, campaign_id: int, member_id: int
) -> dict[str, Any] | None:
    """The member's ballot `{campaign_id, cast_at, votes}` (votes by rank), or None."""
    ballot = (
        await session.execute(
            select(Ballot).where(Ballot.campaign_id == campaign_id, Ballot.member_id == member_id)
        )
    ).scalar_one_or_none()
    if ballot is None:
        return None
    rows = (
        await session.execute(
            select(Vote.entry_id, Vote.rank).where(Vote.ballot_id == ballot.id).order_by(Vote.rank)
        )
    ).all()
    return {
        "campaign_id": campaign_id,
        "cast_at": iso(ballot.cast_at),
        "votes": [{"entry_id": entry_id, "rank": rank} for entry_id, rank in rows],
    }
