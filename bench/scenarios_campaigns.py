"""Campaigns at scale (40 §6): 2,000 registered voters; one live and one closed campaign of 30
entries × 2,000 ballots. Rows: the campaign list, results computed by the vote service, the
results endpoint (live standings as a voter, cached final results anonymously), the vote page
(closed anonymously, live as a voter) and ballots cast over HTTP by distinct members."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from bench.database import BENCH_PASSWORD, SeededMember, copy_rows, seed_voters
from bench.runner import Bench, NotBuilt, scenario, timed
from bench.scenarios_core import measure_get
from bench.wrk import lua_string
from sv_common import clock
from sv_common.db.models import Ballot, Campaign, CampaignEntry

ENTRIES = 30
VOTERS = 2000
PICKS = 3


def _vote_service() -> Any:
    try:
        from patt.campaigns import results
    except ImportError as exc:
        raise NotBuilt("patt.campaigns.results") from exc
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
    """One ballot of PICKS picks per voter, favouring the first entries: ballots in one
    INSERT … SELECT, picks loaded with COPY."""
    rng = random.Random(campaign_id)
    weights = [1.0 / (n + 1) for n in range(len(entry_ids))]
    async with bench.session() as session:
        rows = await session.execute(
            text(
                "INSERT INTO patt.ballots (campaign_id, member_id) "
                "SELECT :campaign_id, unnest(CAST(:member_ids AS integer[])) "
                "RETURNING id, member_id"
            ),
            {"campaign_id": campaign_id, "member_ids": [v.id for v in voters]},
        )
        records: list[tuple[Any, ...]] = []
        for ballot_id, member_id in sorted(rows.all(), key=lambda row: int(row[1])):
            picks: list[int] = []
            while len(picks) < PICKS:
                entry = rng.choices(entry_ids, weights=weights)[0]
                if entry not in picks:
                    picks.append(entry)
            records += [
                (ballot_id, campaign_id, member_id, entry, rank)
                for rank, entry in enumerate(picks, start=1)
            ]
        await copy_rows(
            session,
            "patt.votes",
            ["ballot_id", "campaign_id", "member_id", "entry_id", "rank"],
            records,
        )
        await session.execute(text("ANALYZE patt.ballots, patt.votes"))


async def voters(bench: Bench) -> list[SeededMember]:
    """The 2,000 registered voters (seeded once per run)."""
    if "voters" not in bench.state:
        async with bench.session() as session:
            bench.state["voters"] = await seed_voters(
                session, prefix="voter", count=VOTERS, id_offset=100_000
            )
    seeded: list[SeededMember] = bench.state["voters"]
    return seeded


CAMPAIGN_ROWS = (
    "campaign-list",
    "results-compute",
    "results-live",
    "results-closed",
    "vote-page-closed",
    "vote-page-live",
    "cast",
)


@scenario("campaigns", order=20, rows=CAMPAIGN_ROWS)
async def campaigns(bench: Bench) -> None:
    """Campaign list, results (30 entries × 2,000 ballots), vote pages, casting ballots."""
    vote_service = _vote_service()
    everyone = await voters(bench)
    if any(bench.wants(row) for row in CAMPAIGN_ROWS if row != "cast"):
        await read_rows(bench, vote_service, everyone)
    if bench.wants("cast"):
        await cast_ballots(bench, everyone)


async def read_rows(bench: Bench, vote_service: Any, everyone: list[SeededMember]) -> None:
    """Seed the live and the closed campaign with a ballot from every voter, then measure the
    chosen read rows."""
    size = f"{ENTRIES} entries × {len(everyone):,} ballots"
    live_id, live_entries = await create_campaign(bench, "Bench live standings")
    await fill_ballots(bench, live_id, live_entries, everyone)
    closed_id, closed_entries = await create_campaign(bench, "Bench final results")
    await fill_ballots(bench, closed_id, closed_entries, everyone)
    store = getattr(vote_service, "calculate_final_results", None)
    if bench.wants("results-compute"):
        await results_computation(bench, vote_service, live_id, closed_id, size)
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

    # one real sign-in of a voter who has a ballot in both campaigns
    token = await bench.login(everyone[0].username, BENCH_PASSWORD)
    bearer = {"Authorization": f"Bearer {token}"}
    cookie = {"Cookie": f"patt_token={token}"}
    if bench.wants("campaign-list"):
        await measure_get(bench, "GET /api/v1/campaigns (2 campaigns)", "/api/v1/campaigns", 0.5)
    if bench.wants("results-live"):
        await measure_get(
            bench,
            f"GET /api/v1/campaigns/{{id}}/results live, as a voter ({size})",
            f"/api/v1/campaigns/{live_id}/results",
            0.4,
            headers=bearer,
        )
    if bench.wants("results-closed"):
        await measure_get(
            bench,
            f"GET /api/v1/campaigns/{{id}}/results closed, anonymous ({size})",
            f"/api/v1/campaigns/{closed_id}/results",
            0.6,
        )
    if bench.wants("vote-page-closed"):
        await measure_get(
            bench, f"GET /vote/{{id}} closed, anonymous ({size})", f"/vote/{closed_id}", 0.4
        )
    if bench.wants("vote-page-live"):
        await measure_get(
            bench,
            f"GET /vote/{{id}} live, as a voter, cookie ({size})",
            f"/vote/{live_id}",
            None,
            headers=cookie,
        )


async def results_computation(
    bench: Bench, vote_service: Any, live_id: int, closed_id: int, size: str
) -> None:
    """The uncached count straight through the vote service (the endpoint reuses the last
    count while the ballot set is unchanged), and storing final results."""
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


def cast_script(path: str, tokens: list[str], entry_ids: list[int], threads: int) -> str:
    """Lua for wrk: every request is the first ballot of a different member. wrk thread k
    takes voters k+1, k+1+threads, …; a thread that has used up its voters stops."""
    token_list = ",\n".join(lua_string(token) for token in tokens)
    entries = ", ".join(str(entry) for entry in entry_ids)
    return f"""
local tokens = {{
{token_list}
}}
local entries = {{{entries}}}
local started = 0
function setup(thread)
  thread:set("first", started + 1)
  started = started + 1
end
local index = nil
function request()
  if index == nil then index = first end
  local i = index
  index = index + {threads}
  if i > #tokens then
    wrk.thread:stop()
    return wrk.format("GET", "/api/health")
  end
  local picks = {{}}
  for rank, offset in ipairs({{0, 7, 13}}) do
    local entry = entries[((i + offset) % #entries) + 1]
    picks[rank] = '{{"entry_id":' .. entry .. ',"rank":' .. rank .. '}}'
  end
  local body = '{{"picks":[' .. table.concat(picks, ",") .. ']}}'
  local headers = {{
    ["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "application/json",
  }}
  return wrk.format("POST", {lua_string(path)}, headers, body)
end
"""


async def cast_ballots(bench: Bench, everyone: list[SeededMember]) -> None:
    """POST /vote on a fresh live campaign, each request a different voter's first ballot.
    Successes and the rate come from the ballots stored (count, first to last `cast_at`),
    so they are real casts even when wrk's threads run out of voters before the end."""
    label = f"POST /api/v1/campaigns/{{id}}/vote ({len(everyone):,} distinct voters, {PICKS} picks)"
    cast_id, cast_entries = await create_campaign(bench, "Bench ballots")
    path = f"/api/v1/campaigns/{cast_id}/vote"
    exists, _ = await bench.probe("POST", path, json={}, headers={"Authorization": "Bearer x"})
    if not exists:
        bench.skipped(label, "SKIPPED (not built)")
        return
    # tokens minted with the server's secret: 2,000 bcrypt logins would take minutes
    tokens = [bench.token(v.id, v.user_id or 0, v.level) for v in everyone]
    # wrk runs min(threads, connections) threads; the script splits the voters between them
    threads = min(bench.threads, bench.connections)
    script = cast_script(path, tokens, cast_entries, threads)
    line = await bench.load(label, path, script=script, warm_up=False)
    async with bench.session() as session:
        count, first, last = (
            await session.execute(
                select(func.count(), func.min(Ballot.cast_at), func.max(Ballot.cast_at)).where(
                    Ballot.campaign_id == cast_id
                )
            )
        ).one()
    result = line.result
    assert result is not None
    result.successes_override = int(count)
    line.note = f"{count} ballots stored"
    if count > 1 and first is not None and last is not None:
        # the casting time: first to last ballot, plus one average gap for the last one
        casting = (last - first).total_seconds() * count / (count - 1)
        if 0 < casting < 0.9 * result.seconds:
            line.note += f"; the voters ran out after {casting:.1f} s"
        result.seconds = min(result.seconds, casting) if casting else result.seconds
