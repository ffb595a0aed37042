"""Counting ballots: final results stored at close, live standings, vote statistics, the
anonymised ballot export and the recount.

- The weighted method is one SQL aggregate (scores, rank counts, tiebreak and competition rank
  via a window function); IRV, Schulze and approval (the one method of approval campaigns)
  load the ballots with one query and use the pure functions of `patt.campaigns.counting`.
- Final results are stored when a campaign closes (delete + insert in the closing transaction).
  Live standings are computed from the votes; the last computation per campaign is kept in
  process memory keyed by the exact ballot set (ballot count and newest ballot id — ballots are
  insert-only and entries are locked while live), so a request after a new ballot always
  recomputes and a repeated request costs one small query instead of the full count.
- Eligible voters are counted by *current* rank (`eligible_voters_query`); `all_voted` is a set
  test, so a demoted voter's ballot cannot fake completion.
- `compute_scores` and `rank_results` are the documented entry points of the weighted count
  (the pure functions of `counting`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, func, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from patt.campaigns import audit, counting, eligibility
from patt.core.caches import caches_of
from sv_common import clock
from sv_common.db.models import Ballot, Campaign, CampaignEntry, CampaignResult, GuildMember, Vote
from sv_common.errors import Conflict, NotFound
from sv_common.identity.members import eligible_voters_query

# One aggregate for the weighted method (40 §6.1–6.2): tallies per (entry, rank), pivoted into
# rank_counts 1..N, points N−r+1, then rank() over (score desc, rank_counts desc) — PostgreSQL
# compares integer arrays position by position, which is exactly the tiebreak.
WEIGHTED_SQL = """
WITH tallies AS (
    SELECT v.entry_id, v.rank, count(*)::int AS n
    FROM patt.votes v
    WHERE v.campaign_id = :campaign_id AND v.rank BETWEEN 1 AND :picks
    GROUP BY v.entry_id, v.rank
), scored AS (
    SELECT e.id AS entry_id,
           array_agg(coalesce(t.n, 0) ORDER BY g.pos) AS rank_counts,
           coalesce(sum(t.n * (:picks - g.pos + 1)), 0)::int AS weighted_score
    FROM patt.campaign_entries e
    CROSS JOIN generate_series(1, :picks) AS g(pos)
    LEFT JOIN tallies t ON t.entry_id = e.id AND t.rank = g.pos
    WHERE e.campaign_id = :campaign_id
    GROUP BY e.id
), ranked AS (
    SELECT entry_id, rank_counts, weighted_score,
           (rank() OVER (ORDER BY weighted_score DESC, rank_counts DESC))::int AS final_rank
    FROM scored
)
"""

WEIGHTED_LIVE_SQL = (
    WEIGHTED_SQL
    + """
SELECT r.entry_id, r.rank_counts, r.weighted_score, r.final_rank,
       e.name, e.image_url, e.description, m.display_name AS associated_member
FROM ranked r
JOIN patt.campaign_entries e ON e.id = r.entry_id
LEFT JOIN common.guild_members m ON m.id = e.associated_member_id
ORDER BY r.final_rank, e.sort_order, e.id
"""
)

WEIGHTED_STORE_SQL = (
    WEIGHTED_SQL
    + """
INSERT INTO patt.campaign_results
    (campaign_id, entry_id, first_place_count, second_place_count, third_place_count,
     rank_counts, weighted_score, final_rank, calculated_at, method_details)
SELECT CAST(:campaign_id AS integer), entry_id, coalesce(rank_counts[1], 0), coalesce(rank_counts[2], 0),
       coalesce(rank_counts[3], 0), rank_counts, weighted_score, final_rank, CAST(:now AS timestamptz), NULL
FROM ranked
"""
)

CACHED_SQL = """
SELECT r.entry_id, r.rank_counts, r.weighted_score, r.final_rank, r.method_details,
       r.first_place_count, r.second_place_count, r.third_place_count,
       e.name, e.image_url, e.description, m.display_name AS associated_member
FROM patt.campaign_results r
JOIN patt.campaign_entries e ON e.id = r.entry_id
LEFT JOIN common.guild_members m ON m.id = e.associated_member_id
WHERE r.campaign_id = :campaign_id
ORDER BY r.final_rank, e.sort_order, e.id
"""


def compute_scores(
    votes: Iterable[Mapping[str, int]],
    picks_per_voter: int = 3,
    entry_ids: Iterable[int] | None = None,
) -> dict[int, dict[str, Any]]:
    """40 §6.1 `compute_scores(votes, picks_per_voter=3)`: per entry `first`, `second`,
    `third`, `rank_counts` and `weighted_score` from `{entry_id, rank}` picks (ranks outside
    1..N count nothing; empty input → `{}`). Delegates to `counting.compute_scores`."""
    return counting.compute_scores(votes, picks_per_voter, entry_ids)


def rank_results(
    scores: Mapping[int, Mapping[str, Any]], order: Mapping[int, int] | None = None
) -> list[tuple[int, Mapping[str, Any], int]]:
    """40 §6.1 `rank_results(scores) -> [(entry_id, scores, final_rank)]`, ordered and tied as
    in 40 §6.2 (`order`: entry id → display position). Delegates to `counting.rank_results`."""
    return counting.rank_results(scores, order)


# ---------------------------------------------------------------------------------- results
def _result_row(row: Any, details: Any = None) -> dict[str, Any]:
    counts = list(row.rank_counts or [])
    return {
        "entry": {
            "id": row.entry_id,
            "name": row.name,
            "image_url": row.image_url,
            "description": row.description,
            "associated_member": row.associated_member,
        },
        "first_place_count": counts[0] if len(counts) > 0 else 0,
        "second_place_count": counts[1] if len(counts) > 1 else 0,
        "third_place_count": counts[2] if len(counts) > 2 else 0,
        "rank_counts": counts,
        "weighted_score": row.weighted_score,
        "final_rank": row.final_rank,
        "method_details": details,
    }


async def load_ballots(session: AsyncSession, campaign_id: int) -> list[list[int]]:
    """Every ballot of the campaign as entry ids in rank order (one query, ballot id order)."""
    rows = await session.execute(
        select(func.array_agg(aggregate_order_by(Vote.entry_id, Vote.rank)))
        .where(Vote.campaign_id == campaign_id)
        .group_by(Vote.ballot_id)
        .order_by(Vote.ballot_id)
    )
    return [list(ballot) for (ballot,) in rows.all()]


async def entry_order(session: AsyncSession, campaign_id: int) -> list[int]:
    """Entry ids in display order (sort_order, id)."""
    return list(
        (
            await session.scalars(
                select(CampaignEntry.id)
                .where(CampaignEntry.campaign_id == campaign_id)
                .order_by(CampaignEntry.sort_order, CampaignEntry.id)
            )
        ).all()
    )


async def count_with_method(session: AsyncSession, campaign: Campaign) -> list[counting.RankedRow]:
    """IRV/Schulze/approval (or weighted, for recounts) computed in Python from the stored
    ballots."""
    ballots = await load_ballots(session, campaign.id)
    entries = await entry_order(session, campaign.id)
    return counting.count(
        campaign.counting_method, ballots, entries, campaign.picks_per_voter, seed=campaign.id
    )


async def _entry_info(session: AsyncSession, campaign_id: int) -> dict[int, Any]:
    rows = await session.execute(
        select(
            CampaignEntry.id.label("entry_id"),
            CampaignEntry.name,
            CampaignEntry.image_url,
            CampaignEntry.description,
            GuildMember.display_name.label("associated_member"),
        )
        .outerjoin(GuildMember, GuildMember.id == CampaignEntry.associated_member_id)
        .where(CampaignEntry.campaign_id == campaign_id)
    )
    return {row.entry_id: row for row in rows.all()}


class _Row:
    """A method result joined with its entry, shaped like the SQL rows."""

    def __init__(self, ranked: counting.RankedRow, info: Any) -> None:
        self.entry_id = ranked.entry_id
        self.rank_counts = ranked.rank_counts
        self.weighted_score = ranked.score
        self.final_rank = ranked.final_rank
        self.name = info.name
        self.image_url = info.image_url
        self.description = info.description
        self.associated_member = info.associated_member


LiveCache = dict[int, tuple[tuple[Any, ...], list[dict[str, Any]]]]
_LIVE_CACHE_SIZE = 64


async def _ballot_set_key(session: AsyncSession, campaign: Campaign) -> tuple[Any, ...]:
    row = (
        await session.execute(
            select(func.count(Ballot.id), func.max(Ballot.id)).where(
                Ballot.campaign_id == campaign.id
            )
        )
    ).one()
    # created_at tells a recreated campaign with a reused id apart (tests restart identities)
    return (
        campaign.created_at,
        campaign.counting_method,
        campaign.picks_per_voter,
        int(row[0]),
        row[1],
    )


async def compute_live_results(session: AsyncSession, campaign: Campaign) -> list[dict[str, Any]]:
    """Standings from the votes right now, ordered by final_rank then entry order (reused while
    the campaign's ballot set is unchanged)."""
    key = await _ballot_set_key(session, campaign)
    live_cache: LiveCache = caches_of(session).slot("campaign_live_results", dict)
    cached = live_cache.get(campaign.id)
    if cached is not None and cached[0] == key:
        return cached[1]
    rows = await count_live_results(session, campaign)
    if len(live_cache) >= _LIVE_CACHE_SIZE:
        live_cache.clear()
    live_cache[campaign.id] = (key, rows)
    return rows


async def count_live_results(session: AsyncSession, campaign: Campaign) -> list[dict[str, Any]]:
    """Live standings computed from the votes now (no cache; what the benchmark times)."""
    if campaign.counting_method == "weighted":
        rows = await session.execute(
            text(WEIGHTED_LIVE_SQL),
            {"campaign_id": campaign.id, "picks": campaign.picks_per_voter},
        )
        return [_result_row(row) for row in rows.all()]
    ranked = await count_with_method(session, campaign)
    info = await _entry_info(session, campaign.id)
    return [_result_row(_Row(r, info[r.entry_id]), r.details) for r in ranked]


async def store_final_results(
    session: AsyncSession, campaign: Campaign, *, now: datetime | None = None
) -> None:
    """Replace the campaign's cached results (delete + insert, in the caller's transaction)."""
    when = now or clock.now()
    await session.execute(delete(CampaignResult).where(CampaignResult.campaign_id == campaign.id))
    if campaign.counting_method == "weighted":
        await session.execute(
            text(WEIGHTED_STORE_SQL),
            {"campaign_id": campaign.id, "picks": campaign.picks_per_voter, "now": when},
        )
        return
    ranked = await count_with_method(session, campaign)
    if ranked:
        await session.execute(
            pg_insert(CampaignResult),
            [
                {
                    "campaign_id": campaign.id,
                    "entry_id": r.entry_id,
                    "first_place_count": r.first,
                    "second_place_count": r.second,
                    "third_place_count": r.third,
                    "rank_counts": r.rank_counts,
                    "weighted_score": r.score,
                    "final_rank": r.final_rank,
                    "calculated_at": when,
                    "method_details": r.details,
                }
                for r in ranked
            ],
        )


async def cached_results(session: AsyncSession, campaign_id: int) -> list[dict[str, Any]]:
    """The stored final results, ordered by final_rank then entry order."""
    rows = await session.execute(text(CACHED_SQL), {"campaign_id": campaign_id})
    return [_result_row(row, row.method_details) for row in rows.all()]


async def get_results(session: AsyncSession, campaign: Campaign) -> list[dict[str, Any]]:
    """Final results for closed/archived campaigns (computed and stored once if missing),
    live standings otherwise. Visibility is the caller's concern."""
    if campaign.status in ("closed", "archived"):
        rows = await cached_results(session, campaign.id)
        if rows:
            return rows
        if not await session.scalar(
            select(exists().where(CampaignEntry.campaign_id == campaign.id))
        ):
            return []
        await store_final_results(session, campaign)
        return await cached_results(session, campaign.id)
    return await compute_live_results(session, campaign)


# ------------------------------------------------------------------------------- statistics
def eligible_voters(min_rank_level: int) -> Select[Any]:
    """Ids of eligible voters at this level (registered, active, current rank ≥ level)."""
    return eligible_voters_query(min_rank_level)


async def get_eligible_voters(session: AsyncSession, min_rank_level: int) -> list[int]:
    """Member ids of the eligible voters (40 §6.4)."""
    return list((await session.scalars(eligible_voters(min_rank_level))).all())


async def get_vote_stats(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """`total_eligible`, `total_voted`, `percent_voted`, `all_voted` (one query); eligible
    voters are the activation snapshot when the campaign keeps one (`eligibility`)."""
    eligible = eligibility.eligible_ids(campaign).subquery()
    total_eligible = select(func.count()).select_from(eligible).scalar_subquery()
    total_voted = (
        select(func.count(Ballot.id)).where(Ballot.campaign_id == campaign.id).scalar_subquery()
    )
    missing = (
        select(func.count())
        .select_from(eligible)
        .where(
            ~exists().where(Ballot.campaign_id == campaign.id, Ballot.member_id == eligible.c.id)
        )
        .scalar_subquery()
    )
    row = (await session.execute(select(total_eligible, total_voted, missing))).one()
    eligible_count, voted, not_voted = int(row[0]), int(row[1]), int(row[2])
    percent = round(100 * min(voted, eligible_count) / eligible_count, 1) if eligible_count else 0.0
    return {
        "total_eligible": eligible_count,
        "total_voted": voted,
        "percent_voted": percent,
        "all_voted": eligible_count > 0 and not_voted == 0,
    }


# ---------------------------------------------------------------------------------- export
async def anonymised_ballots(
    session: AsyncSession, campaign_id: int
) -> list[tuple[str, list[tuple[int, int]]]]:
    """Ballots as `(receipt, [(entry_id, rank), …])` without member ids or times, in random
    order (for recounts, 40 §9.2)."""
    import secrets

    ballots = await audit.load_receipted_ballots(session, campaign_id)
    secrets.SystemRandom().shuffle(ballots)
    return ballots


async def calculate_final_results(session: AsyncSession, campaign_id: int) -> None:
    """Store the final results of one campaign by id (used by the demo loader)."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} not found")
    await store_final_results(session, campaign)


async def recount(session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """Recompute a closed campaign's results from its ballots with the pure counting functions
    (independent of the SQL used at close) and compare them with the stored results.

    Also recomputes the SHA-256 digest of the canonical ballot list and the ballot count and
    compares them with the audit snapshot taken at close (`audit.verify`), so a vote row changed
    after close is a mismatch even when it would not change the ranking.

    Returns `{campaign_id, title, method, ballots, matches, differences, notes, digest,
    stored_digest, rows}`.
    """
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} not found")
    if campaign.status not in ("closed", "archived"):
        raise Conflict(f"Campaign is {campaign.status}; only closed campaigns can be recounted")
    ballots = await load_ballots(session, campaign.id)
    entries = await entry_order(session, campaign.id)
    recounted = {
        r.entry_id: r
        for r in counting.count(
            campaign.counting_method, ballots, entries, campaign.picks_per_voter, seed=campaign.id
        )
    }
    stored = {
        row.entry_id: row
        for row in (
            await session.execute(
                select(CampaignResult).where(CampaignResult.campaign_id == campaign.id)
            )
        ).scalars()
    }
    names = dict(
        (
            await session.execute(
                select(CampaignEntry.id, CampaignEntry.name).where(
                    CampaignEntry.campaign_id == campaign.id
                )
            )
        ).all()
    )
    differences: list[str] = []
    rows = []
    for entry_id in entries:
        fresh = recounted[entry_id]
        kept = stored.get(entry_id)
        name = names.get(entry_id, str(entry_id))
        if kept is None:
            differences.append(f"{name}: no stored result")
        else:
            for label, old, new in (
                ("final rank", kept.final_rank, fresh.final_rank),
                ("score", kept.weighted_score, fresh.score),
                ("rank counts", list(kept.rank_counts), fresh.rank_counts),
                ("method details", kept.method_details, fresh.details),
            ):
                if old != new:
                    differences.append(f"{name}: stored {label} {old!r}, recount {new!r}")
        rows.append(
            {
                "entry_id": entry_id,
                "name": name,
                "final_rank": fresh.final_rank,
                "score": fresh.score,
                "rank_counts": fresh.rank_counts,
                "stored_final_rank": kept.final_rank if kept else None,
                "stored_score": kept.weighted_score if kept else None,
            }
        )
    for entry_id in stored.keys() - set(entries):
        differences.append(f"entry {entry_id}: stored result for an unknown entry")
    checked = await audit.verify(session, campaign)
    differences.extend(checked["differences"])
    return {
        "campaign_id": campaign.id,
        "title": campaign.title,
        "method": campaign.counting_method,
        "ballots": len(ballots),
        "matches": not differences,
        "differences": differences,
        "notes": checked["notes"],
        "digest": checked["digest"],
        "stored_digest": checked["stored_digest"],
        "outcome": campaign.outcome,
        "rows": sorted(rows, key=lambda r: (r["final_rank"], entries.index(r["entry_id"]))),
    }
