"""Casting and changing ballots: one transaction per ballot, exactly once per member and
campaign, each ballot with a random receipt code.

The campaign row is locked `FOR SHARE` (a close or edit locks it `FOR UPDATE`, so a vote is
either counted before a close or sees `closed`), the vote rules run in order, and the ballot
insert relies on `uq_ballot_campaign_member` (`ON CONFLICT DO NOTHING`): the loser of two
simultaneous submissions gets 409 and writes nothing. The same `ON CONFLICT` also absorbs a
receipt that is already taken in the campaign (`uq_ballot_campaign_receipt`); then a new
receipt is drawn.

A vote change (campaigns with `allow_vote_change`) takes the same campaign lock, then locks the
voter's ballot row, so one voter's simultaneous changes run one after another.

Approval campaigns (`type = 'approval'`) take between 1 and `picks_per_voter` unordered picks;
any `rank` sent is ignored and the picks are stored with ranks 1..k in the order they were
sent, so ballots, receipts, the canonical ballot list and vote changes work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from patt.campaigns import eligibility, receipts
from patt.campaigns.rules import end_at
from patt.campaigns.schemas import PICKS_MESSAGE
from sv_common import clock
from sv_common.clock import iso
from sv_common.db.enums import CampaignType
from sv_common.db.models import Ballot, Campaign, CampaignEntry, GuildMember, Vote
from sv_common.errors import Conflict, Forbidden, Invalid, NotFound

# Code of the refusal of a ballot with too few or too many picks (pages reword it).
WRONG_PICK_COUNT = "wrong_pick_count"
ALREADY_VOTED = "You have already voted in this campaign"
Pick = tuple[int, int]  # (rank, entry_id)

CAST_SQL = """
WITH ballot AS (
    INSERT INTO patt.ballots (campaign_id, member_id, cast_at, receipt)
    VALUES (:campaign_id, :member_id, :now, :receipt)
    ON CONFLICT DO NOTHING
    RETURNING id
), picks AS (
    INSERT INTO patt.votes (ballot_id, campaign_id, member_id, entry_id, rank, voted_at)
    SELECT ballot.id, :campaign_id, :member_id, p.entry_id, p.rank, :now
    FROM ballot, unnest(CAST(:entries AS integer[]), CAST(:ranks AS integer[])) AS p(entry_id, rank)
)
SELECT id FROM ballot
"""

# A changed ballot keeps its row (so concurrent changes by the same member wait on its lock and
# then see the newest version) but takes a new id, a new receipt and the new time: the live
# standings cache keys on the newest ballot id, and the old receipt must not name the new picks.
REPLACE_BALLOT_SQL = """
UPDATE patt.ballots b
SET id = nextval(pg_get_serial_sequence('patt.ballots', 'id')), receipt = :receipt, cast_at = :now
WHERE b.id = :ballot_id
  AND NOT EXISTS (
      SELECT 1 FROM patt.ballots o WHERE o.campaign_id = :campaign_id AND o.receipt = :receipt
  )
RETURNING b.id
"""

INSERT_PICKS_SQL = """
INSERT INTO patt.votes (ballot_id, campaign_id, member_id, entry_id, rank, voted_at)
SELECT :ballot_id, :campaign_id, :member_id, p.entry_id, p.rank, :now
FROM unnest(CAST(:entries AS integer[]), CAST(:ranks AS integer[])) AS p(entry_id, rank)
"""

# A new receipt is drawn again when it happens to be taken in the campaign (2^40 codes, so in
# practice never); the limit only stops a broken random source from looping forever.
RECEIPT_ATTEMPTS = 5
CHANGES_OFF = "Vote changes are not allowed in this campaign"
NOT_VOTED = "You have not voted in this campaign"
RECEIPT_BUSY = "Could not record the ballot right now, please try again"


@dataclass
class CastVote:
    """A recorded ballot: the API's `data` and whether an early-close check is worth running."""

    data: dict[str, Any]
    early_close_enabled: bool


async def _locked_campaign(
    session: AsyncSession, campaign_id: int, member: GuildMember
) -> tuple[Campaign, bool, list[int]]:
    """One round trip: the campaign row (locked FOR SHARE, so a close waits for this ballot or
    this ballot sees the close), whether the member already voted, and the entry ids. Then
    rules 3–5 of 40 §3."""
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
    status = campaign.status
    if status == "live" and clock.now() >= end_at(campaign):
        status = "closed"  # past its end: the checker or reconciliation closes it
    if status != "live":
        raise Conflict(f"Campaign is {status}, voting not allowed")
    refusal = await eligibility.refusal(session, campaign, member)
    if refusal is not None:
        raise Forbidden(refusal)
    return campaign, bool(voted), list(entry_list or ())


def _checked_picks(campaign: Campaign, picks: list[Any], entry_list: list[int]) -> list[Pick]:
    """Rules 7–11 of 40 §3 in order (the approval rules for approval campaigns); the picks as
    `(rank, entry_id)` ordered by rank."""
    if campaign.type == CampaignType.APPROVAL:
        return _checked_approvals(campaign, picks, entry_list)
    n = campaign.picks_per_voter
    if any(p.rank is None for p in picks):
        # a ranked ballot without ranks is malformed (rank may only be left out for approval)
        raise Invalid(PICKS_MESSAGE)
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
    own_entries = set(entry_list)
    for entry_id in entry_ids:
        if entry_id not in own_entries:
            raise Invalid(f"Entry {entry_id} does not belong to campaign {campaign.id}")
    return sorted(zip(ranks, entry_ids, strict=True))


def _checked_approvals(campaign: Campaign, picks: list[Any], entry_list: list[int]) -> list[Pick]:
    """Approval ballot: 1 ≤ picks ≤ N, no entry twice, every entry in the campaign; ranks sent
    are ignored and replaced by 1..k in submission order."""
    n = campaign.picks_per_voter
    if not 1 <= len(picks) <= n:
        raise Invalid(f"Select between 1 and {n} entries", code=WRONG_PICK_COUNT)
    entry_ids = [int(p.entry_id) for p in picks]
    if len(set(entry_ids)) != len(entry_ids):
        raise Invalid("Duplicate entries in picks")
    own_entries = set(entry_list)
    for entry_id in entry_ids:
        if entry_id not in own_entries:
            raise Invalid(f"Entry {entry_id} does not belong to campaign {campaign.id}")
    return list(enumerate(entry_ids, start=1))


def _answer(campaign: Campaign, member: GuildMember, receipt: str, ordered: list[Pick]) -> CastVote:
    return CastVote(
        data={
            "campaign_id": campaign.id,
            "member_id": member.id,
            "receipt": receipt,
            "votes": [{"entry_id": entry_id, "rank": rank} for rank, entry_id in ordered],
        },
        early_close_enabled=campaign.early_close_if_all_voted,
    )


async def cast_vote(
    session: AsyncSession, *, campaign_id: int, member: GuildMember, picks: list[Any]
) -> CastVote:
    """Record one ballot with a fresh receipt (rules 3–11 of 40 §3 in order; rules 1–2 are
    checked by the caller).

    `picks` are objects with `entry_id` and `rank`. Raises the rule's domain error and writes
    nothing on any failure. Run `campaign_checker.check_early_close` after the commit when
    `early_close_enabled`.
    """
    campaign, voted, entry_list = await _locked_campaign(session, campaign_id, member)
    if voted:
        raise Conflict(ALREADY_VOTED)
    ordered = _checked_picks(campaign, picks, entry_list)
    now = clock.now()
    # ballot and picks in one statement; ON CONFLICT leaves the loser of a race (or a receipt
    # that is already taken) with no ballot and therefore no vote rows
    for _ in range(RECEIPT_ATTEMPTS):
        receipt = receipts.new_receipt()
        try:
            ballot_id = await session.scalar(
                text(CAST_SQL),
                {
                    "campaign_id": campaign.id,
                    "member_id": member.id,
                    "now": now,
                    "receipt": receipt,
                    "entries": [entry_id for _, entry_id in ordered],
                    "ranks": [rank for rank, _ in ordered],
                },
            )
        except IntegrityError as exc:  # anything that slips past the checks above
            raise Conflict(ALREADY_VOTED) from exc
        if ballot_id is not None:
            return _answer(campaign, member, receipt, ordered)
        if await has_voted(session, campaign_id=campaign.id, member_id=member.id):
            raise Conflict(ALREADY_VOTED)
    raise Conflict(RECEIPT_BUSY)


async def change_vote(
    session: AsyncSession, *, campaign_id: int, member: GuildMember, picks: list[Any]
) -> CastVote:
    """Replace the member's ballot with new picks and a new receipt (campaigns with
    `allow_vote_change`, until close).

    Same order as casting: campaign exists, live, eligible; then 409 when changes are off, 404
    when the member has no ballot yet; then the pick rules. The campaign is locked as for a
    vote, and the member's ballot row `FOR UPDATE`, so concurrent changes by one member run one
    after another and exactly one ballot remains (the last change wins).
    """
    campaign, voted, entry_list = await _locked_campaign(session, campaign_id, member)
    if not campaign.allow_vote_change:
        raise Conflict(CHANGES_OFF)
    if not voted:
        raise NotFound(NOT_VOTED)
    ordered = _checked_picks(campaign, picks, entry_list)
    ballot_id = await session.scalar(
        select(Ballot.id)
        .where(Ballot.campaign_id == campaign.id, Ballot.member_id == member.id)
        .with_for_update()
    )
    if ballot_id is None:
        raise NotFound(NOT_VOTED)
    now = clock.now()
    await session.execute(delete(Vote).where(Vote.ballot_id == ballot_id))
    for _ in range(RECEIPT_ATTEMPTS):
        receipt = receipts.new_receipt()
        try:
            new_id = await session.scalar(
                text(REPLACE_BALLOT_SQL),
                {
                    "ballot_id": ballot_id,
                    "campaign_id": campaign.id,
                    "receipt": receipt,
                    "now": now,
                },
            )
        except IntegrityError as exc:  # a receipt taken at the same instant by another voter
            raise Conflict(RECEIPT_BUSY) from exc
        if new_id is not None:
            await session.execute(
                text(INSERT_PICKS_SQL),
                {
                    "ballot_id": new_id,
                    "campaign_id": campaign.id,
                    "member_id": member.id,
                    "now": now,
                    "entries": [entry_id for _, entry_id in ordered],
                    "ranks": [rank for rank, _ in ordered],
                },
            )
            return _answer(campaign, member, receipt, ordered)
    raise Conflict(RECEIPT_BUSY)


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
    """The member's ballot `{campaign_id, cast_at, receipt, votes}` (votes by rank), or None."""
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
        "receipt": ballot.receipt,
        "votes": [{"entry_id": entry_id, "rank": rank} for entry_id, rank in rows],
    }
