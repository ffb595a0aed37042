"""The audit trail of a campaign (40 §9.1–9.2): the receipted ballot list, the snapshot taken
when a campaign closes, and the digest check of `patt campaign recount`.

The snapshot is written in the closing transaction, right after the final results: eligible
voters at close, ballots, counting method, point table, time, the SHA-256 digest of the
canonical ballot list (`receipts.canonical_ballot_list`) and whether the quorum was met. It is
never recomputed afterwards, so a vote row changed later by hand makes the recount fail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from patt.campaigns import eligibility, receipts
from sv_common.clock import iso
from sv_common.db.enums import CampaignOutcome
from sv_common.db.models import Ballot, Campaign, Vote


async def load_receipted_ballots(
    session: AsyncSession, campaign_id: int
) -> list[tuple[str, list[tuple[int, int]]]]:
    """Every ballot of the campaign as `(receipt, [(entry_id, rank), …])`, ordered by receipt
    (one query; a ballot whose picks were all removed by hand comes back with no picks)."""
    rows = await session.execute(
        select(
            Ballot.receipt,
            func.array_remove(func.array_agg(aggregate_order_by(Vote.entry_id, Vote.rank)), None),
            func.array_remove(func.array_agg(aggregate_order_by(Vote.rank, Vote.rank)), None),
        )
        .outerjoin(Vote, Vote.ballot_id == Ballot.id)
        .where(Ballot.campaign_id == campaign_id)
        .group_by(Ballot.id, Ballot.receipt)
        .order_by(Ballot.receipt)
    )
    return [
        (receipt, list(zip(entries or [], ranks or [], strict=True)))
        for receipt, entries, ranks in rows.all()
    ]


async def canonical_text(session: AsyncSession, campaign_id: int) -> str:
    """The canonical ballot list of the campaign as stored now."""
    return receipts.canonical_ballot_list(await load_receipted_ballots(session, campaign_id))


async def eligible_voted(session: AsyncSession, campaign: Campaign) -> tuple[int, int]:
    """`(eligible voters, eligible voters with a ballot)` now, in one query."""
    eligible = eligibility.eligible_ids(campaign).subquery()
    voted = (
        select(func.count())
        .select_from(eligible)
        .join(Ballot, (Ballot.member_id == eligible.c.id) & (Ballot.campaign_id == campaign.id))
        .scalar_subquery()
    )
    row = (await session.execute(select(func.count(), voted).select_from(eligible))).one()
    return int(row[0]), int(row[1])


async def take_close_snapshot(session: AsyncSession, campaign: Campaign, now: datetime) -> str:
    """Store the audit snapshot on the campaign (in the caller's closing transaction) and return
    the outcome: `declared`, or `no_quorum` when turnout stayed below the quorum."""
    ballots = await load_receipted_ballots(session, campaign.id)
    eligible, voted = await eligible_voted(session, campaign)
    outcome = (
        CampaignOutcome.DECLARED
        if eligibility.quorum_met(campaign.quorum_percent, eligible=eligible, ballots=voted)
        else CampaignOutcome.NO_QUORUM
    )
    values = {
        "outcome": outcome.value,
        "eligible_count_at_close": eligible,
        "ballot_count_at_close": len(ballots),
        "audit_method": campaign.counting_method,
        "point_table": receipts.point_table(campaign.counting_method, campaign.picks_per_voter),
        "ballot_digest": receipts.ballot_digest(ballots),
        "audit_calculated_at": now,
    }
    await session.execute(update(Campaign).where(Campaign.id == campaign.id).values(**values))
    for name, value in values.items():
        setattr(campaign, name, value)
    return outcome.value


def audit_of(campaign: Campaign) -> dict[str, Any] | None:
    """The `"audit"` object returned beside final results; None before close (and for
    campaigns closed before audit snapshots existed)."""
    if campaign.ballot_digest is None or campaign.status not in ("closed", "archived"):
        return None
    return {
        "outcome": campaign.outcome,
        "result_declared": campaign.outcome != CampaignOutcome.NO_QUORUM,
        "eligible_count_at_close": campaign.eligible_count_at_close,
        "ballot_count": campaign.ballot_count_at_close,
        "counting_method": campaign.audit_method,
        "point_table": campaign.point_table,
        "quorum_percent": campaign.quorum_percent,
        "eligibility": "snapshot" if campaign.eligibility_snapshot else "current_rank",
        "calculated_at": iso(campaign.audit_calculated_at),
        "digest_algorithm": receipts.DIGEST_ALGORITHM,
        "canonical_format": receipts.CANONICAL_FORMAT,
        "ballot_digest": campaign.ballot_digest,
        "ballot_list_url": f"/api/v1/campaigns/{campaign.id}/ballots",
    }


async def verify(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """Recompute the digest and ballot count from the stored ballots and compare them with the
    snapshot: `{stored_digest, digest, ballots, stored_ballots, differences}` (no snapshot →
    one note, no difference)."""
    ballots = await load_receipted_ballots(session, campaign.id)
    digest = receipts.ballot_digest(ballots)
    report: dict[str, Any] = {
        "stored_digest": campaign.ballot_digest,
        "digest": digest,
        "ballots": len(ballots),
        "stored_ballots": campaign.ballot_count_at_close,
        "differences": [],
        "notes": [],
    }
    if campaign.ballot_digest is None:
        report["notes"].append("no audit snapshot stored (closed before ballot digests existed)")
        return report
    if campaign.ballot_count_at_close != len(ballots):
        report["differences"].append(
            f"ballot count: snapshot {campaign.ballot_count_at_close}, stored ballots now "
            f"{len(ballots)}"
        )
    if digest != campaign.ballot_digest:
        report["differences"].append(
            f"ballot digest: snapshot {campaign.ballot_digest}, ballots now {digest}"
        )
    return report
