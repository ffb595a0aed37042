"""Fast campaign reads (`patt.campaigns.serving`): SQL statements per request stay constant
however many ballots exist, cached answers follow every write at once (also a write by another
process), and visibility rules are applied on every request even when the cache is warm."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from tests.conftest import Factory, MemberHandle

from patt.app import create_app
from patt.campaigns import results as campaign_results
from patt.campaigns import service as campaign_service
from patt.config import Settings
from sv_common import clock
from sv_common.auth.jwt import create_access_token
from sv_common.db.models import Campaign, GuildMember

T0 = datetime(2030, 3, 1, 18, 0, tzinfo=UTC)
PUBLIC = "/api/v1/campaigns"
CSRF = "serving-test-csrf-token"
BALLOTS_MANY = 300


@pytest.fixture(autouse=True)
def frozen_clock(app: Any) -> Iterator[None]:
    clock.set_now(T0)
    yield


# ------------------------------------------------------------------------------ helpers
async def make_campaign(
    app: Any, officer: MemberHandle, *, status: str = "live", entries: int = 5, **fields: Any
) -> tuple[int, list[int]]:
    """A campaign made through the services: draft, or activated (live)."""
    values: dict[str, Any] = {
        "title": "Guild Art Vote",
        "description": "Pick the new banner",
        "min_rank_to_vote": 2,
        "start_at": T0 + timedelta(days=1),
        "duration_hours": 168,
    }
    values.update(fields)
    async with app.state.sessionmaker() as session, session.begin():
        actor = await session.get(GuildMember, officer.id)
        assert actor is not None
        await session.refresh(actor, ["rank"])
        campaign = await campaign_service.create_campaign(session, actor=actor, fields=values)
        for index, name in enumerate(
            ["Dragon", "Phoenix", "Gryphon", "Wyvern", "Kraken"][:entries]
        ):
            await campaign_service.add_entry(
                session,
                campaign_id=campaign.id,
                fields={"name": name, "image_url": f"https://art.example/{index}.png"},
            )
        if status == "live":
            await campaign_service.activate(session, campaign_id=campaign.id)
        campaign_id = campaign.id
    async with app.state.sessionmaker() as session:
        campaign = await campaign_service.get_campaign(session, campaign_id)
        return campaign_id, [e.id for e in campaign.entries]


async def close(app: Any, campaign_id: int) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await campaign_service.close(session, campaign_id=campaign_id)


def picks(entry_ids: list[int]) -> dict[str, Any]:
    return {"picks": [{"entry_id": e, "rank": r} for r, e in enumerate(entry_ids, start=1)]}


async def cast_ballots(
    client: httpx.AsyncClient, campaign_id: int, entries: list[int], voters: list[MemberHandle]
) -> None:
    """Each voter casts a ballot over the API (picks rotate over the entries)."""
    for n, voter in enumerate(voters):
        order = entries[n % len(entries) :] + entries[: n % len(entries)]
        cast = await client.post(
            f"{PUBLIC}/{campaign_id}/vote", json=picks(order[:3]), headers=voter.headers
        )
        assert cast.status_code == 201, cast.text


async def add_voters(
    client: httpx.AsyncClient, factory: Factory, campaign_id: int, entries: list[int], count: int
) -> list[MemberHandle]:
    """`count` new members who each cast a ballot over the API."""
    voters = [await factory.member(level=2) for _ in range(count)]
    await cast_ballots(client, campaign_id, entries, voters)
    return voters


def page_login(app: Any, client: httpx.AsyncClient, handle: MemberHandle | None) -> None:
    """A browser's cookies: the login cookie (or none) plus a CSRF cookie."""
    client.cookies.clear()
    client.cookies.set("patt_csrf", CSRF)
    if handle is not None:
        token = create_access_token(
            app.state.jwt_secret,
            user_id=handle.user_id or 0,
            member_id=handle.id,
            rank_level=handle.rank_level,
            expires_minutes=10_000_000,
        )
        client.cookies.set("patt_token", token)


class StatementCounter:
    """Counts the SQL statements the app's engine sends (the app's own pool only)."""

    def __init__(self, app: Any) -> None:
        self.statements: list[str] = []
        event.listen(app.state.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.statements.append(args[2])

    async def count(self, request: Any) -> tuple[int, httpx.Response]:
        """Statements sent while `await request` runs, and its response."""
        self.statements.clear()
        response = await request
        return len(self.statements), response


async def fresh_standings(app: Any, campaign_id: int) -> list[dict[str, Any]]:
    """Live standings counted from the votes now, without any cache."""
    async with app.state.sessionmaker() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        rows = await campaign_results.count_live_results(session, campaign)
    return [
        {"entry": r["entry"]["id"], "score": r["weighted_score"], "rank": r["final_rank"]}
        for r in rows
    ]


def standings(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [
        {"entry": r["entry"]["id"], "score": r["weighted_score"], "rank": r["final_rank"]}
        for r in response.json()["data"]
    ]


# ------------------------------------------------------------------- statements per request
async def statement_counts(
    app: Any,
    client: httpx.AsyncClient,
    officer: MemberHandle,
    voters: list[MemberHandle],
) -> dict[str, int]:
    """Statements per warm request of every read path, on a live and a closed campaign with a
    ballot from each of `voters`."""
    live_id, live_entries = await make_campaign(app, officer)
    closed_id, closed_entries = await make_campaign(app, officer)
    await cast_ballots(client, live_id, live_entries, voters)
    await cast_ballots(client, closed_id, closed_entries, voters)
    await close(app, closed_id)
    ballots = len(voters)
    voter = voters[0]
    counter = StatementCounter(app)
    counts: dict[str, int] = {}

    async def measure(name: str, path: str, expected: int = 200, **kw: Any) -> None:
        first = await client.get(path, **kw)  # warms the caches
        assert first.status_code == expected, first.text
        counts[name], again = await counter.count(client.get(path, **kw))
        assert again.status_code == expected and again.content == first.content

    client.cookies.clear()
    await measure("list", PUBLIC)
    await measure("list signed in", PUBLIC, headers=voter.headers)
    await measure("live results", f"{PUBLIC}/{live_id}/results", headers=voter.headers)
    await measure("closed results", f"{PUBLIC}/{closed_id}/results")
    page_login(app, client, None)
    await measure("closed page", f"/vote/{closed_id}")
    page_login(app, client, voter)
    counts["live page"], page = await counter.count(client.get(f"/vote/{live_id}"))
    assert page.status_code == 200 and "Live Standings" in page.text
    assert f"{ballots} of" in page.text
    client.cookies.clear()
    return counts


async def test_statements_per_request_do_not_grow_with_ballots(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    voters = [await factory.member(level=2) for _ in range(BALLOTS_MANY)]
    few = await statement_counts(app, client, officer, voters[:20])
    many = await statement_counts(app, client, officer, voters)
    assert few == many, (few, many)
    # anonymous reads of cached answers: one validating statement each
    assert few["list"] == 1 and few["closed results"] == 1 and few["closed page"] == 1
    # signed in: the campaign's state (or the list's version) rides on the token lookup
    assert few["list signed in"] == 1 and few["live results"] == 1
    assert few["live page"] <= 10


# ---------------------------------------------------------------------------- correctness
async def test_cached_live_results_follow_every_ballot_and_vote_change(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, entries = await make_campaign(app, officer, allow_vote_change=True)
    first, changer = await add_voters(client, factory, campaign_id, entries, 2)
    path = f"{PUBLIC}/{campaign_id}/results"
    warm = await client.get(path, headers=first.headers)
    assert standings(warm) == await fresh_standings(app, campaign_id)
    for n in range(3):  # each new ballot shows in the very next answer
        await add_voters(client, factory, campaign_id, entries[n:] + entries[:n], 1)
        shown = standings(await client.get(path, headers=first.headers))
        assert shown == await fresh_standings(app, campaign_id)
        assert shown != standings(warm)
    before = standings(await client.get(path, headers=first.headers))
    last_three = list(reversed(entries))[:3]
    changed = await client.put(
        f"{PUBLIC}/{campaign_id}/vote", json=picks(last_three), headers=changer.headers
    )
    assert changed.status_code == 200, changed.text
    after = standings(await client.get(path, headers=first.headers))
    assert after == await fresh_standings(app, campaign_id) and after != before
    # the page's live standings follow too
    page_login(app, client, first)
    page = await client.get(f"/vote/{campaign_id}")
    assert "5 of" in page.text  # 2 + 3 ballots; the change replaced one


async def test_close_switches_the_warm_answer_to_final_results_with_audit(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, entries = await make_campaign(app, officer)
    (voter,) = await add_voters(client, factory, campaign_id, entries, 1)
    path = f"{PUBLIC}/{campaign_id}/results"
    live = await client.get(path, headers=voter.headers)
    assert live.status_code == 200 and live.json()["audit"] is None
    assert (await client.get(path)).json()["error"] == "Results not yet available"
    await close(app, campaign_id)
    final = await client.get(path)  # anonymous, public campaign: final results now
    body = final.json()
    assert final.status_code == 200 and body["audit"]["ballot_count"] == 1
    assert body["audit"]["ballot_list_url"] == f"{PUBLIC}/{campaign_id}/ballots"
    assert body["data"][0]["entry"]["id"] == entries[0] and body["data"][0]["final_rank"] == 1
    assert (await client.get(path, headers=voter.headers)).content == final.content


async def test_warm_caches_never_bypass_visibility(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    raider = await factory.member(level=2)
    gated_id, gated_entries = await make_campaign(
        app, officer, min_rank_to_view=3, min_rank_to_vote=3
    )
    veteran = await factory.member(level=3)
    cast = await client.post(
        f"{PUBLIC}/{gated_id}/vote", json=picks(gated_entries[:3]), headers=veteran.headers
    )
    assert cast.status_code == 201
    draft_id, _ = await make_campaign(app, officer, status="draft")
    public_id, public_entries = await make_campaign(app, officer)
    (voter,) = await add_voters(client, factory, public_id, public_entries, 1)

    # live standings: warm for a voter, still refused to everyone else
    live_path = f"{PUBLIC}/{public_id}/results"
    assert (await client.get(live_path, headers=voter.headers)).status_code == 200
    refused = await client.get(live_path, headers=raider.headers)
    assert refused.status_code == 403 and refused.json()["error"] == "Vote to see live standings"
    anonymous = await client.get(live_path)
    assert anonymous.status_code == 403
    assert anonymous.json()["error"] == "Results not yet available"

    # a rank-gated campaign: warm for a level-3 voter, hidden from lower ranks and visitors
    gated_path = f"{PUBLIC}/{gated_id}/results"
    assert (await client.get(gated_path, headers=veteran.headers)).status_code == 200
    low = await client.get(gated_path, headers=raider.headers)
    assert (
        low.status_code == 403 and low.json()["error"] == "Insufficient rank to view this campaign"
    )
    assert (await client.get(gated_path)).status_code == 401
    await close(app, gated_id)
    assert (await client.get(gated_path, headers=veteran.headers)).status_code == 200
    assert (await client.get(gated_path, headers=raider.headers)).status_code == 403
    assert (await client.get(gated_path)).status_code == 401
    page_login(app, client, None)
    page = await client.get(f"/vote/{gated_id}")
    assert page.status_code in (302, 303) and "/login" in page.headers["location"]
    page_login(app, client, raider)
    assert (await client.get(f"/vote/{gated_id}")).status_code == 403
    client.cookies.clear()

    # a draft: results refused even to officers, entries shown only to officers
    draft_path = f"{PUBLIC}/{draft_id}/results"
    assert (await client.get(draft_path, headers=officer.headers)).status_code == 403
    assert (await client.get(draft_path, headers=raider.headers)).status_code == 403

    # the campaign list, warmed by an officer, filtered per viewer on every request
    def listed(response: httpx.Response) -> dict[int, int]:
        assert response.status_code == 200
        return {c["id"]: len(c["entries"]) for c in response.json()["data"]}

    as_officer = listed(await client.get(PUBLIC, headers=officer.headers))
    assert as_officer == {public_id: 5, draft_id: 5, gated_id: 5}
    assert listed(await client.get(PUBLIC, headers=raider.headers)) == {public_id: 5, draft_id: 0}
    assert listed(await client.get(PUBLIC)) == {public_id: 5, draft_id: 0}
    assert listed(await client.get(PUBLIC, headers=veteran.headers)) == {
        public_id: 5,
        draft_id: 0,
        gated_id: 5,
    }
    closed_only = await client.get(f"{PUBLIC}?status=closed", headers=officer.headers)
    assert listed(closed_only) == {gated_id: 5}

    # a demotion is seen at once, even though the cached answers did not change
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE common.guild_members SET rank_id = "
                "(SELECT id FROM common.guild_ranks WHERE level = 2) WHERE id = :m"
            ),
            {"m": veteran.id},
        )
    demoted = await client.get(gated_path, headers=veteran.headers)
    assert demoted.status_code in (401, 403)


async def test_out_of_band_writes_and_other_processes_are_seen_at_once(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    database_url: str,
    settings: Settings,
) -> None:
    officer = await factory.officer()
    live_id, live_entries = await make_campaign(app, officer)
    closed_id, closed_entries = await make_campaign(app, officer)
    (watcher,) = await add_voters(client, factory, live_id, live_entries, 1)
    await add_voters(client, factory, closed_id, closed_entries, 2)
    await close(app, closed_id)
    page_login(app, client, None)
    assert "Dragon" in (await client.get(f"/vote/{closed_id}")).text  # cached now
    closed_path = f"{PUBLIC}/{closed_id}/results"
    assert (await client.get(closed_path)).status_code == 200
    live_path = f"{PUBLIC}/{live_id}/results"
    assert standings(await client.get(live_path, headers=watcher.headers))

    other = create_app(settings, database_url=database_url)  # a second worker process
    try:
        transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as second:
            await add_voters(second, factory, live_id, live_entries, 2)
        shown = standings(await client.get(live_path, headers=watcher.headers))
        assert shown == await fresh_standings(app, live_id)
        assert sum(r["score"] for r in shown) == 3 * 6  # three ballots of 3 + 2 + 1 points
    finally:
        await other.state.engine.dispose()
        await other.state.state_engine.dispose()

    # an operator's SQL: renaming an entry, then hiding the closed campaign from visitors
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE patt.campaign_entries SET name = 'Drake' WHERE id = :e"),
            {"e": closed_entries[0]},
        )
    page = await client.get(f"/vote/{closed_id}")
    assert "Drake" in page.text and "Dragon" not in page.text
    names = {
        r["entry"]["id"]: r["entry"]["name"] for r in (await client.get(closed_path)).json()["data"]
    }
    assert names[closed_entries[0]] == "Drake"
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE patt.campaigns SET min_rank_to_view = 3, min_rank_to_vote = 3 WHERE id = :c"
            ),
            {"c": closed_id},
        )
    assert (await client.get(closed_path)).status_code == 401
    hidden = await client.get(f"/vote/{closed_id}")
    assert hidden.status_code in (302, 303) and "/login" in hidden.headers["location"]
    assert closed_id not in {c["id"] for c in (await client.get(PUBLIC)).json()["data"]}


async def test_list_applies_due_transitions_and_shows_new_campaigns_at_once(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    first_id, _ = await make_campaign(app, officer, status="draft")
    statuses = {c["id"]: c["status"] for c in (await client.get(PUBLIC)).json()["data"]}
    assert statuses == {first_id: "draft"}
    second_id, _ = await make_campaign(app, officer)
    statuses = {c["id"]: c["status"] for c in (await client.get(PUBLIC)).json()["data"]}
    assert statuses == {first_id: "draft", second_id: "live"}
    clock.set_now(T0 + timedelta(days=1, minutes=1))  # the draft's start has passed
    statuses = {c["id"]: c["status"] for c in (await client.get(PUBLIC)).json()["data"]}
    assert statuses == {first_id: "live", second_id: "live"}
    clock.set_now(T0 + timedelta(days=9))  # both past their end
    data = (await client.get(PUBLIC)).json()["data"]
    assert {c["id"]: c["status"] for c in data} == {first_id: "closed", second_id: "closed"}


async def test_closed_page_with_a_flash_or_a_member_is_rendered_for_them(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, entries = await make_campaign(app, officer)
    (voter,) = await add_voters(client, factory, campaign_id, entries, 1)
    await close(app, campaign_id)
    page_login(app, client, None)
    anonymous = await client.get(f"/vote/{campaign_id}")
    assert anonymous.status_code == 200 and "Final Results" in anonymous.text
    assert "1 of " in anonymous.text and voter.display_name not in anonymous.text
    client.cookies.clear()  # a first visit gets its CSRF cookie from the cached page too
    first_visit = await client.get(f"/vote/{campaign_id}")
    assert first_visit.text == anonymous.text and "patt_csrf" in first_visit.cookies
    page_login(app, client, voter)
    signed_in = await client.get(f"/vote/{campaign_id}")
    assert signed_in.status_code == 200 and "Your Picks" in signed_in.text
    assert voter.display_name in signed_in.text
    turnout = re.search(r"1 of (\d+) eligible members voted", signed_in.text)
    assert turnout is not None
    # members who join after close do not change the turnout the page shows (the snapshot's)
    await factory.member(level=2)
    await factory.member(level=3)
    for viewer in (None, voter):
        page_login(app, client, viewer)
        page = await client.get(f"/vote/{campaign_id}")
        assert f"1 of {turnout.group(1)} eligible members voted" in page.text


async def test_page_of_a_campaign_closed_before_audit_snapshots_counts_its_ballots(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, entries = await make_campaign(app, officer)
    await add_voters(client, factory, campaign_id, entries, 3)
    await close(app, campaign_id)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(  # as a campaign closed before snapshots existed
            text("UPDATE patt.campaigns SET ballot_digest = NULL WHERE id = :c"),
            {"c": campaign_id},
        )
    page_login(app, client, None)
    first = await client.get(f"/vote/{campaign_id}")
    assert first.status_code == 200 and "3 ballots counted" in first.text
    assert "eligible members voted" not in first.text and "Final Results" in first.text
    await factory.member(level=2)  # who is eligible now does not matter after close
    counter = StatementCounter(app)
    statements, again = await counter.count(client.get(f"/vote/{campaign_id}"))
    assert statements == 1 and again.text == first.text


# ------------------------------------------------------------------------------- bad input
async def test_garbage_on_the_one_statement_reads_is_refused_and_changes_nothing(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    """The list, results and `/me` read the caller themselves now: bad ids, a bad status
    filter and bad credentials answer a clear 4xx envelope, and nothing is written."""
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(app, officer)
    before = await table_counts(app)
    for raw in ("abc", "1.0", "-1", "0", "99999999999"):
        response = await client.get(f"{PUBLIC}/{raw}/results")
        assert response.status_code == 422, raw
        assert response.json()["ok"] is False
    bad_status = await client.get(PUBLIC, params={"status": "exploded"})
    assert bad_status.status_code == 422 and bad_status.json()["ok"] is False
    for headers in (
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Cookie": "patt_token=%00garbage"},
    ):
        for path in (PUBLIC, f"{PUBLIC}/{campaign_id}/results", "/api/v1/auth/me"):
            refused = await client.get(path, headers=headers)
            assert refused.status_code == 401, (path, headers, refused.text)
            assert refused.json()["ok"] is False and refused.json()["error"]
    assert await table_counts(app) == before


async def table_counts(app: Any) -> dict[str, int]:
    """Rows of the tables a read must never write."""
    async with app.state.engine.connect() as connection:
        return {
            table: int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar())
            for table in ("patt.campaigns", "patt.ballots", "common.guild_members")
        }
