"""Campaigns at scale (40 §6): results for 30 entries × 2,000 ballots computed by the vote
service, the results endpoint (live standings and cached final results), and 2,000 distinct
members casting ballots over HTTP."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from bench.database import SeededMember, seed_members
from bench.runner import Bench, NotBuilt, scenario, timed
from sv_common import clock
from sv_common.db.models import Ballot, Campaign, CampaignEntry, Vote

ENTRIES = 30
BALLOTS = 2000
PICKS = 3


def _vote_service() -> Any:
    from patt.campaigns import results

    return results


async def create_campaign(
    bench: Bench, title: str, *, status: str = "live"
) -> tuple[int, list[int]]:
    """A public ranked-choice campaign with ENTRIES entries (no early close); (id, entry ids)."""
    now = clock.now()
    async with bench.session() as session:
        campaign = Campaign(
            title=title,
            description="benchmark",
            picks_per_voter=PICKS,
            min_rank_to_vote=1,
            min_rank_to_view=None,
            start_at=now - timedelta(hours=1),
            duration_hours=168,
            status=status,
            early_close_if_all_voted=False,
            activated_at=now - timedelta(hours=1),
        )
        session.add(campaign)
        await session.flush()
        entry_ids = list(
            (
                await session.scalars(
                    insert(CampaignEntry).returning(CampaignEntry.id, sort_by_parameter_order=True),
                    [
                        {
                            "campaign_id": campaign.id,
                            "name": f"Entry {n + 1}",
                            "image_url": f"/static/img/demo/entry-{n + 1}.svg",
                            "sort_order": n,
                        }
                        for n in range(ENTRIES)
                    ],
                )
            ).all()
        )
        return int(campaign.id), [int(e) for e in entry_ids]


async def fill_ballots(
    bench: Bench, campaign_id: int, entry_ids: list[int], voters: list[SeededMember]
) -> None:
    """One ballot of PICKS picks per voter, favouring the first entries (set-based inserts)."""
    rng = random.Random(campaign_id)
    weights = [1.0 / (n + 1) for n in range(len(entry_ids))]
    async with bench.session() as session:
        ballot_ids = list(
            (
                await session.scalars(
                    insert(Ballot).returning(Ballot.id, sort_by_parameter_order=True),
                    [{"campaign_id": campaign_id, "member_id": v.id} for v in voters],
                )
            ).all()
        )
        votes = []
        for ballot_id, voter in zip(ballot_ids, voters, strict=True):
            picks: list[int] = []
            while len(picks) < PICKS:
                entry = rng.choices(entry_ids, weights=weights)[0]
                if entry not in picks:
                    picks.append(entry)
            votes += [
                {
                    "ballot_id": ballot_id,
                    "campaign_id": campaign_id,
                    "member_id": voter.id,
                    "entry_id": entry,
                    "rank": rank,
                }
                for rank, entry in enumerate(picks, start=1)
            ]
        await session.execute(insert(Vote), votes)


@scenario("campaigns", order=20)
async def campaigns(bench: Bench) -> None:
    """Results of 30 entries × 2,000 ballots; results endpoint; casting 2,000 ballots."""
    try:
        vote_service = _vote_service()
    except NotBuilt:
        for label in (
            "results computation (vote service)",
            "GET /api/v1/campaigns/{id}/results",
            "POST /api/v1/campaigns/{id}/vote",
        ):
            bench.skipped(label, "SKIPPED (not built)")
        return
    ballots = 400 if bench.quick else BALLOTS
    async with bench.session() as session:
        voters = await seed_members(
            session,
            prefix="voter",
            count=ballots,
            characters_each=0,
            registered_every=0,
            availability=False,
            on_raid_roster=False,
            levels=(2,),
            id_offset=100_000,
        )
    size = f"{ENTRIES} entries × {ballots:,} ballots"

    # --- computation, straight through the vote service
    live_id, live_entries = await create_campaign(bench, "Bench live standings")
    await fill_ballots(bench, live_id, live_entries, voters)
    closed_id, closed_entries = await create_campaign(bench, "Bench final results")
    await fill_ballots(bench, closed_id, closed_entries, voters)

    # the computation itself: the uncached count where the service has one (the endpoint reuses
    # the last count while the ballot set is unchanged)
    compute = vote_service.count_live_results

    async def live_standings() -> Any:
        async with bench.session() as session:
            campaign = await session.get(Campaign, live_id)
            return await compute(session, campaign)

    repeat = 5 if bench.quick else 15
    await live_standings()  # warm the connection and the plan cache
    ms, rows = await timed(live_standings, repeat)
    assert len(rows) == ENTRIES, rows
    bench.timing(f"results computation, live standings ({size})", ms, goal_ms=50)

    store = getattr(vote_service, "calculate_final_results", None)
    if store is not None:

        async def final_results() -> None:
            async with bench.session() as session:
                await store(session, closed_id)

        ms, _ = await timed(final_results, repeat)
        bench.timing(f"results computation, final results stored ({size})", ms, goal_ms=50)
    async with bench.session() as session:
        campaign = await session.get(Campaign, closed_id)
        assert campaign is not None
        campaign.status, campaign.closed_at, campaign.close_reason = (
            "closed",
            clock.now(),
            "expired",
        )
        if store is not None:
            await store(session, closed_id)

    # --- the results endpoint
    voter = voters[0]
    assert voter.user_id is not None
    headers = {"Authorization": f"Bearer {bench.token(voter.id, voter.user_id, voter.level)}"}
    path = f"/api/v1/campaigns/{live_id}/results"
    if await bench.exists("GET", path, headers=headers):
        await bench.throughput(
            f"GET /api/v1/campaigns/{{id}}/results live, as a voter ({size})",
            lambda client, _: client.get(path, headers=headers),
            goal_ratio=0.3,
        )
        closed_path = f"/api/v1/campaigns/{closed_id}/results"
        await bench.throughput(
            f"GET /api/v1/campaigns/{{id}}/results closed, anonymous ({size})",
            lambda client, _: client.get(closed_path),
            goal_ratio=0.3,
        )
    else:
        bench.skipped("GET /api/v1/campaigns/{id}/results", "SKIPPED (not built)")

    # --- casting: every request is a different member's first ballot
    cast_id, cast_entries = await create_campaign(bench, "Bench ballots")
    tokens = [
        {"Authorization": f"Bearer {bench.token(v.id, v.user_id or 0, v.level)}"} for v in voters
    ]
    rng = random.Random(7)
    bodies = [
        {
            "picks": [
                {"entry_id": e, "rank": r} for r, e in enumerate(rng.sample(cast_entries, PICKS), 1)
            ]
        }
        for _ in voters
    ]
    vote_path = f"/api/v1/campaigns/{cast_id}/vote"
    if not await bench.exists("POST", vote_path, json={}, headers=tokens[-1]):
        bench.skipped("POST /api/v1/campaigns/{id}/vote", "SKIPPED (not built)")
        return
    await bench.throughput(
        f"POST /api/v1/campaigns/{{id}}/vote ({ballots:,} distinct members, {PICKS} picks)",
        lambda client, i: client.post(vote_path, json=bodies[i], headers=tokens[i]),
        goal_ratio=0.3,
        expect=(201,),
        max_requests=len(voters),  # the probe above was refused (422) and cast nothing
        warmup=False,
    )
