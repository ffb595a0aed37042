"""Campaigns a guild can trust (40 §9.1, §9.2, §9.5): ballot receipts and the published ballot
list, the audit snapshot beside final results, `patt campaign recount` with the ballot digest
(and tampering caught), eligibility snapshots, quorum and vote changes."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Factory, MemberHandle, count_rows
from tests.integration.test_campaigns_api import (
    ADMIN,
    PUBLIC,
    T0,
    campaign_body,
    ids,
    make_campaign,
    member,
    officer,
    picks,
)

from patt import cli
from patt.campaigns import checker as campaign_checker
from sv_common import clock
from sv_common.auth.jwt import create_access_token

RECEIPT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


@pytest.fixture(autouse=True)
def frozen_clock(app: Any) -> Iterator[None]:
    clock.set_now(T0)
    yield


async def vote(
    client: httpx.AsyncClient, campaign: dict[str, Any], headers: dict[str, str], order: list[int]
) -> httpx.Response:
    return await client.post(f"{PUBLIC}/{campaign['id']}/vote", json=picks(order), headers=headers)


async def closed_campaign_with_votes(
    app: Any, client: httpx.AsyncClient, factory: Factory, voters: int = 4, **options: Any
) -> tuple[dict[str, Any], dict[str, str], list[tuple[dict[str, str], str, list[int]]]]:
    """A closed weighted campaign; per voter `(headers, receipt, entry ids in rank order)`."""
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, activate=True, early_close_if_all_voted=False, **options
    )
    cast = []
    for index in range(voters):
        _, voter = await member(app, factory)
        order = (ids(campaign)[index:] + ids(campaign)[:index])[: campaign["picks_per_voter"]]
        response = await vote(client, campaign, voter, order)
        assert response.status_code == 201, response.text
        cast.append((voter, response.json()["data"]["receipt"], order))
    assert (
        await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
    ).status_code == 200
    return campaign, headers, cast


def recount_cli(app: Any, monkeypatch: pytest.MonkeyPatch, campaign_id: int) -> tuple[int, str]:
    """Run `patt campaign recount <id>` and return its exit code and output."""
    settings = app.state.settings.model_copy(update={"database_url": app.state.database_url})
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["campaign", "recount", str(campaign_id)])
    return code, out.getvalue()


async def set_rank(app: Any, factory: Factory, handle: MemberHandle, level: int) -> dict[str, str]:
    """Move a member to another rank by SQL (as role sync would) and return fresh headers (a
    rank change signs the member out everywhere)."""
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE common.guild_members SET rank_id = :r WHERE id = :m"),
            {"r": await factory.rank_id(level), "m": handle.id},
        )
        version = await session.scalar(
            text("SELECT token_version FROM common.users WHERE id = :u"), {"u": handle.user_id}
        )
    token = create_access_token(
        app.state.jwt_secret,
        user_id=handle.user_id or 0,
        member_id=handle.id,
        rank_level=level,
        expires_minutes=10_000_000,
        token_version=int(version or 0),
    )
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------------------ receipts
async def test_receipt_is_shown_after_voting_and_on_my_vote(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True)
    _, voter = await member(app, factory)
    response = await vote(client, campaign, voter, ids(campaign)[:3])
    receipt = response.json()["data"]["receipt"]
    assert RECEIPT.match(receipt)
    mine = (await client.get(f"{PUBLIC}/{campaign['id']}/my-vote", headers=voter)).json()["data"]
    assert mine["receipt"] == receipt
    stored = await db.scalar(text("SELECT receipt FROM patt.ballots"))
    assert stored == receipt
    # receipts are random: other voters get other codes
    others = set()
    for _ in range(3):
        _, other = await member(app, factory)
        others.add(
            (await vote(client, campaign, other, ids(campaign)[1:4])).json()["data"]["receipt"]
        )
    assert len(others | {receipt}) == 4


async def test_voter_finds_their_receipt_in_the_published_ballot_list(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True, early_close_if_all_voted=False)
    url = f"{PUBLIC}/{campaign['id']}/ballots"
    _, voter = await member(app, factory)
    my_order = [ids(campaign)[2], ids(campaign)[0], ids(campaign)[3]]
    receipt = (await vote(client, campaign, voter, my_order)).json()["data"]["receipt"]
    for index in range(2):
        _, other = await member(app, factory)
        await vote(client, campaign, other, ids(campaign)[index : index + 3])
    early = await client.get(url, headers=voter)
    assert early.status_code == 409
    assert early.json()["error"] == "The ballot list is published when the campaign closes"
    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)

    listing = (await client.get(url)).json()["data"]  # public campaign: anyone may check
    assert listing["ballot_count"] == 3
    receipts = [b["receipt"] for b in listing["ballots"]]
    assert receipts == sorted(receipts)
    mine = next(b for b in listing["ballots"] if b["receipt"] == receipt)
    assert [p["entry_id"] for p in mine["picks"]] == my_order
    assert [p["rank"] for p in mine["picks"]] == [1, 2, 3]
    assert all(set(b) == {"receipt", "picks"} for b in listing["ballots"])
    assert "member_id" not in str(listing)

    # the canonical text hashes to the digest recorded at close
    canonical = await client.get(url, params={"format": "text"})
    assert canonical.headers["content-type"].startswith("text/plain")
    line = f"{receipt} {my_order[0]}:1,{my_order[1]}:2,{my_order[2]}:3"
    assert line in canonical.text.splitlines()
    results = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()
    digest = hashlib.sha256(canonical.content).hexdigest()
    assert results["audit"]["ballot_digest"] == digest == listing["digest"]
    assert listing["audit_digest"] == digest
    assert (await client.get(url, params={"format": "xml"})).status_code == 422


async def test_ballot_list_follows_the_view_rule(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True, min_rank_to_view=2)
    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
    url = f"{PUBLIC}/{campaign['id']}/ballots"
    assert (await client.get(url)).status_code == 401
    _, low = await member(app, factory, level=1)
    assert (await client.get(url, headers=low)).status_code == 403
    _, guildie = await member(app, factory, level=2)
    empty = (await client.get(url, headers=guildie)).json()["data"]
    assert empty["ballots"] == [] and empty["digest"] == hashlib.sha256(b"").hexdigest()
    assert (await client.get(f"{PUBLIC}/99999/ballots")).status_code == 404
    assert (await client.get(f"{PUBLIC}/abc/ballots")).status_code == 422


# ------------------------------------------------------------------------------ audit
async def test_audit_snapshot_is_returned_beside_final_results(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, entries=6, activate=True, picks_per_voter=5, early_close_if_all_voted=False
    )
    voters = [await member(app, factory) for _ in range(3)]
    await member(app, factory, registered=False)  # not eligible: no account
    await member(app, factory, level=1)  # not eligible: rank too low
    for index, (_, voter) in enumerate(voters[:2]):
        await vote(client, campaign, voter, (ids(campaign)[index:] + ids(campaign)[:index])[:5])
    live = (await client.get(f"{PUBLIC}/{campaign['id']}/results", headers=voters[0][1])).json()
    assert live["audit"] is None and len(live["data"]) == 6
    clock.set_now(T0 + clock_minutes(30))
    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)

    body = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()
    assert body["ok"] is True and len(body["data"]) == 6
    audit = body["audit"]
    # eligible: the officer and the three level-2 voters
    assert audit["eligible_count_at_close"] == 4
    assert audit["ballot_count"] == 2
    assert audit["counting_method"] == "weighted"
    assert audit["point_table"] == [5, 4, 3, 2, 1]
    assert audit["calculated_at"] == (T0 + clock_minutes(30)).isoformat()
    assert audit["outcome"] == "declared" and audit["result_declared"] is True
    assert audit["quorum_percent"] is None and audit["eligibility"] == "current_rank"
    assert audit["digest_algorithm"] == "sha256" and re.fullmatch(
        r"[0-9a-f]{64}", audit["ballot_digest"]
    )
    assert audit["ballot_list_url"] == f"/api/v1/campaigns/{campaign['id']}/ballots"
    # full per-position counts for every entry, including the ones nobody picked first
    for row in body["data"]:
        assert len(row["rank_counts"]) == 5
    assert sum(sum(row["rank_counts"]) for row in body["data"]) == 10
    campaign_read = (await client.get(f"{PUBLIC}/{campaign['id']}")).json()["data"]
    assert campaign_read["outcome"] == "declared"


def clock_minutes(minutes: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=minutes)


async def test_audit_of_irv_campaign_has_no_point_table(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    campaign, _, _ = await closed_campaign_with_votes(
        app, client, factory, voters=2, counting_method="irv"
    )
    audit = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()["audit"]
    assert audit["counting_method"] == "irv" and audit["point_table"] is None


# ------------------------------------------------------------------------------ recount
async def test_recount_digest_matches_and_tampering_with_one_vote_fails(
    app: Any, client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign, _, _ = await closed_campaign_with_votes(app, client, factory, voters=4)
    audit = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()["audit"]
    code, out = await asyncio.to_thread(recount_cli, app, monkeypatch, campaign["id"])
    assert code == 0, out
    assert f"Ballot digest at close: {audit['ballot_digest']}" in out
    assert f"Ballot digest now:      {audit['ballot_digest']}" in out
    assert "Recount matches the stored results and the ballot digest." in out

    # an operator changes one stored pick by hand
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE patt.votes SET entry_id = :other "
                "WHERE id = (SELECT min(id) FROM patt.votes WHERE campaign_id = :c AND rank = 3) "
                "AND entry_id <> :other"
            ),
            {"c": campaign["id"], "other": ids(campaign)[3]},
        )
    code, out = await asyncio.to_thread(recount_cli, app, monkeypatch, campaign["id"])
    assert code == 3, out
    assert "MISMATCH" in out and "ballot digest" in out


async def test_tampering_that_keeps_the_totals_is_caught_by_the_digest(
    app: Any, client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign, _, cast = await closed_campaign_with_votes(app, client, factory, voters=2)
    # move the picks of two ballots onto each other's receipt: every entry keeps its totals, but
    # each voter's receipt now shows picks they did not make
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                """
                WITH pair AS (
                    SELECT (SELECT id FROM patt.ballots WHERE receipt = :r1) AS a,
                           (SELECT id FROM patt.ballots WHERE receipt = :r2) AS b
                )
                UPDATE patt.votes v
                SET ballot_id = CASE WHEN v.ballot_id = pair.a THEN pair.b ELSE pair.a END
                FROM pair WHERE v.ballot_id IN (pair.a, pair.b)
                """
            ),
            {"r1": cast[0][1], "r2": cast[1][1]},
        )
    code, out = await asyncio.to_thread(recount_cli, app, monkeypatch, campaign["id"])
    assert code == 3, out
    assert "ballot digest" in out
    assert "stored score" not in out  # the totals still agree: only the digest tells


async def test_recount_of_deleted_ballot_fails_on_count_and_digest(
    app: Any, client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign, _, cast = await closed_campaign_with_votes(app, client, factory, voters=3)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("DELETE FROM patt.ballots WHERE receipt = :r"), {"r": cast[0][1]}
        )
    code, out = await asyncio.to_thread(recount_cli, app, monkeypatch, campaign["id"])
    assert code == 3 and "ballot count: snapshot 3, stored ballots now 2" in out


# ------------------------------------------------------------------------------ quorum
async def test_quorum_not_met_closes_with_no_result(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    # eligible: the officer + 2 voters = 3; 2 ballots are 66.7 %, below a 75 % quorum
    campaign, _, _ = await closed_campaign_with_votes(
        app, client, factory, voters=2, quorum_percent=75
    )
    body = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()
    assert body["audit"]["outcome"] == "no_quorum" and body["audit"]["result_declared"] is False
    assert body["audit"]["quorum_percent"] == 75
    assert body["audit"]["eligible_count_at_close"] == 3 and body["audit"]["ballot_count"] == 2
    assert len(body["data"]) == 4  # the counts stay visible for the record
    read = (await client.get(f"{PUBLIC}/{campaign['id']}")).json()["data"]
    assert read["outcome"] == "no_quorum" and read["quorum_percent"] == 75


async def test_quorum_met_declares_the_result(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    # eligible: officer + 3 voters = 4, 3 ballots = 75 %
    campaign, _, _ = await closed_campaign_with_votes(
        app, client, factory, voters=3, quorum_percent=75
    )
    audit = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()["audit"]
    assert audit["outcome"] == "declared" and audit["eligible_count_at_close"] == 4


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quorum_percent", 0),
        ("quorum_percent", 101),
        ("quorum_percent", "50"),
        ("quorum_percent", True),
        ("quorum_percent", 50.5),
        ("allow_vote_change", "yes"),
        ("allow_vote_change", None),
        ("eligibility_snapshot", 1),
        ("eligibility_snapshot", None),
    ],
)
async def test_new_options_are_validated(
    app: Any, client: httpx.AsyncClient, factory: Factory, field: str, value: Any, db: Any
) -> None:
    headers = await officer(app, factory)
    created = await client.post(ADMIN, json=campaign_body(**{field: value}), headers=headers)
    assert created.status_code == 422, created.text
    assert field in created.text
    assert await count_rows(db, "patt.campaigns") == 0
    campaign = await make_campaign(client, headers)
    patched = await client.patch(f"{ADMIN}/{campaign['id']}", json={field: value}, headers=headers)
    assert patched.status_code == 422, patched.text
    assert field in patched.text
    unchanged = (await client.get(f"{ADMIN}/{campaign['id']}", headers=headers)).json()["data"]
    assert unchanged[field] == campaign[field]


async def test_options_round_trip_and_lock_after_draft(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, quorum_percent=40, allow_vote_change=True, eligibility_snapshot=True
    )
    assert campaign["quorum_percent"] == 40
    assert campaign["allow_vote_change"] is True and campaign["eligibility_snapshot"] is True
    cleared = await client.patch(
        f"{ADMIN}/{campaign['id']}", json={"quorum_percent": None}, headers=headers
    )
    assert cleared.json()["data"]["quorum_percent"] is None
    await client.post(f"{ADMIN}/{campaign['id']}/activate", headers=headers)
    locked = await client.patch(
        f"{ADMIN}/{campaign['id']}", json={"quorum_percent": 10}, headers=headers
    )
    assert locked.status_code == 409


# ------------------------------------------------------------------------------ eligibility
async def test_eligibility_snapshot_fixes_who_may_vote_at_activation(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    stayer, stayer_headers = await member(app, factory, level=2)
    demoted, _ = await member(app, factory, level=2)
    promoted, _ = await member(app, factory, level=1)
    campaign = await make_campaign(client, headers, activate=True, eligibility_snapshot=True)
    stats = (await client.get(f"{ADMIN}/{campaign['id']}/stats", headers=headers)).json()["data"]
    assert stats["total_eligible"] == 3  # officer, stayer, demoted
    assert await count_rows(db, "patt.campaign_eligible_voters") == 3

    demoted_headers = await set_rank(app, factory, demoted, 1)
    promoted_headers = await set_rank(app, factory, promoted, 3)
    late, late_headers = await member(app, factory, level=2)  # registered after activation
    refused = await vote(client, campaign, promoted_headers, ids(campaign)[:3])
    assert refused.status_code == 403
    assert refused.json()["error"] == "You were not eligible to vote when this campaign opened"
    assert (await vote(client, campaign, late_headers, ids(campaign)[:3])).status_code == 403
    assert (await vote(client, campaign, demoted_headers, ids(campaign)[:3])).status_code == 201
    stats = (await client.get(f"{ADMIN}/{campaign['id']}/stats", headers=headers)).json()["data"]
    assert stats == {
        "total_eligible": 3,
        "total_voted": 1,
        "percent_voted": 33.3,
        "all_voted": False,
    }

    # early close fires when the snapshot's voters are done, whatever the current ranks say
    assert (await vote(client, campaign, stayer_headers, ids(campaign)[1:4])).status_code == 201
    assert (await vote(client, campaign, headers, ids(campaign)[:3])).status_code == 201
    await campaign_checker.check_early_close(app.state.sessionmaker, campaign["id"])
    closed = (await client.get(f"{PUBLIC}/{campaign['id']}")).json()["data"]
    assert closed["status"] == "closed" and closed["close_reason"] == "early_close"
    audit = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()["audit"]
    assert audit["eligibility"] == "snapshot" and audit["eligible_count_at_close"] == 3
    assert audit["ballot_count"] == 3
    assert late.id not in (stayer.id, demoted.id)


async def test_without_snapshot_eligibility_follows_the_current_rank(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    promoted, _ = await member(app, factory, level=1)
    campaign = await make_campaign(client, headers, activate=True)
    assert await count_rows(db, "patt.campaign_eligible_voters") == 0
    promoted_headers = await set_rank(app, factory, promoted, 2)
    assert (await vote(client, campaign, promoted_headers, ids(campaign)[:3])).status_code == 201


# ------------------------------------------------------------------------------ vote changes
async def test_vote_change_replaces_the_ballot_with_a_new_receipt(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, activate=True, allow_vote_change=True, early_close_if_all_voted=False
    )
    voter_handle, voter = await member(app, factory)
    url = f"{PUBLIC}/{campaign['id']}/vote"
    first = (await vote(client, campaign, voter, ids(campaign)[:3])).json()["data"]
    standings = await client.get(f"{PUBLIC}/{campaign['id']}/results", headers=voter)
    assert standings.json()["data"][0]["entry"]["id"] == ids(campaign)[0]
    new_order = [ids(campaign)[3], ids(campaign)[2], ids(campaign)[1]]
    changed = await client.put(url, json=picks(new_order), headers=voter)
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert data["receipt"] != first["receipt"] and RECEIPT.match(data["receipt"])
    assert [v["entry_id"] for v in data["votes"]] == new_order
    assert await count_rows(db, "patt.ballots") == 1
    assert await count_rows(db, "patt.votes", "member_id = :m", m=voter_handle.id) == 3
    mine = (await client.get(f"{PUBLIC}/{campaign['id']}/my-vote", headers=voter)).json()["data"]
    assert mine["receipt"] == data["receipt"]
    assert [v["entry_id"] for v in mine["votes"]] == new_order
    # live standings follow the change at once
    standings = await client.get(f"{PUBLIC}/{campaign['id']}/results", headers=voter)
    assert standings.json()["data"][0]["entry"]["id"] == ids(campaign)[3]
    # the second POST is still "already voted"
    assert (await vote(client, campaign, voter, ids(campaign)[:3])).status_code == 409

    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
    listing = (await client.get(f"{PUBLIC}/{campaign['id']}/ballots")).json()["data"]
    assert [b["receipt"] for b in listing["ballots"]] == [data["receipt"]]
    after = await client.put(url, json=picks(ids(campaign)[:3]), headers=voter)
    assert (
        after.status_code == 409
        and after.json()["error"] == "Campaign is closed, voting not allowed"
    )
    code, out = await asyncio.to_thread(recount_cli, app, monkeypatch, campaign["id"])
    assert code == 0, out


async def test_vote_change_refusals(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    fixed = await make_campaign(client, headers, activate=True, early_close_if_all_voted=False)
    _, voter = await member(app, factory)
    await vote(client, fixed, voter, ids(fixed)[:3])
    off = await client.put(
        f"{PUBLIC}/{fixed['id']}/vote", json=picks(ids(fixed)[1:4]), headers=voter
    )
    assert (
        off.status_code == 409
        and off.json()["error"] == "Vote changes are not allowed in this campaign"
    )

    open_ = await make_campaign(
        client, headers, activate=True, allow_vote_change=True, early_close_if_all_voted=False
    )
    url = f"{PUBLIC}/{open_['id']}/vote"
    _, fresh = await member(app, factory)
    none = await client.put(url, json=picks(ids(open_)[:3]), headers=fresh)
    assert none.status_code == 404 and none.json()["error"] == "You have not voted in this campaign"
    assert (await client.put(url, json=picks(ids(open_)[:3]))).status_code == 401
    _, low = await member(app, factory, level=1)
    assert (await client.put(url, json=picks(ids(open_)[:3]), headers=low)).status_code == 403
    await vote(client, open_, fresh, ids(open_)[:3])
    before = (
        await db.execute(
            text("SELECT receipt FROM patt.ballots WHERE campaign_id = :c"), {"c": open_["id"]}
        )
    ).all()
    for bad, message in [
        (picks(ids(open_)[:2]), "Expected 3 picks, got 2"),
        (picks([ids(open_)[0], ids(open_)[0], ids(open_)[1]]), "Duplicate entries in picks"),
        (
            picks([ids(fixed)[0], ids(open_)[0], ids(open_)[1]]),
            f"does not belong to campaign {open_['id']}",
        ),
        ({"picks": "nope"}, "picks must be a list of {entry_id, rank} objects"),
    ]:
        response = await client.put(url, json=bad, headers=fresh)
        assert response.status_code == 422 and message in response.json()["error"]
    assert (
        await client.put(url, content=b"{", headers={**fresh, "Content-Type": "application/json"})
    ).status_code == 400
    after = (
        await db.execute(
            text("SELECT receipt FROM patt.ballots WHERE campaign_id = :c"), {"c": open_["id"]}
        )
    ).all()
    assert before == after  # refused changes leave the ballot alone


async def test_twenty_simultaneous_vote_changes_leave_exactly_one_ballot(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, activate=True, allow_vote_change=True, early_close_if_all_voted=False
    )
    voter_handle, voter = await member(app, factory)
    entry_ids = ids(campaign)
    await vote(client, campaign, voter, entry_ids[:3])
    bodies = [
        picks([entry_ids[i % 4], entry_ids[(i + 1) % 4], entry_ids[(i + 2) % 4]]) for i in range(20)
    ]
    responses = await asyncio.gather(
        *[
            client.put(f"{PUBLIC}/{campaign['id']}/vote", json=body, headers=voter)
            for body in bodies
        ]
    )
    assert sorted(r.status_code for r in responses) == [200] * 20
    assert await count_rows(db, "patt.ballots") == 1
    assert await count_rows(db, "patt.votes", "member_id = :m", m=voter_handle.id) == 3
    receipt = await db.scalar(text("SELECT receipt FROM patt.ballots"))
    winner = next(r.json()["data"] for r in responses if r.json()["data"]["receipt"] == receipt)
    stored = (await db.execute(text("SELECT entry_id, rank FROM patt.votes ORDER BY rank"))).all()
    assert [{"entry_id": e, "rank": r} for e, r in stored] == winner["votes"]
    assert len({r.json()["data"]["receipt"] for r in responses}) == 20


async def test_vote_change_racing_a_close_is_counted_or_refused(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, activate=True, allow_vote_change=True, early_close_if_all_voted=False
    )
    _, voter = await member(app, factory)
    await vote(client, campaign, voter, ids(campaign)[:3])
    change, close = await asyncio.gather(
        client.put(
            f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[1:4]), headers=voter
        ),
        client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers),
    )
    assert close.status_code == 200
    rows = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()["data"]
    first = next(row for row in rows if row["final_rank"] == 1)["entry"]["id"]
    if change.status_code == 200:
        assert first == ids(campaign)[1]
    else:
        assert change.status_code == 409 and first == ids(campaign)[0]
    listing = (await client.get(f"{PUBLIC}/{campaign['id']}/ballots")).json()["data"]
    assert listing["digest"] == listing["audit_digest"]
