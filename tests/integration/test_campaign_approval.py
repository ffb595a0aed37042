"""Approval campaigns (40 §9.4) end to end: creating one (API and admin form), casting 1..N
unordered picks with every refusal, scoring with shared ranks, results and the vote page, the
audit digest and `patt campaign recount` (tampering caught), vote changes, quorum, and the
0007 migration's refusal to downgrade over approval campaigns."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text
from tests.conftest import Factory, _psycopg_dsn, _server_admin_url, _with_database, count_rows
from tests.integration.test_campaign_trust import recount_cli
from tests.integration.test_campaigns_api import (
    ADMIN,
    PUBLIC,
    T0,
    campaign_body,
    ids,
    make_campaign,
    member,
    officer,
)
from tests.integration.test_vote_pages import login, vote_form

from sv_common import clock
from sv_common.db import migrate
from sv_common.db.engine import to_sync_url

SELECT_MESSAGE = "Select between 1 and 3 entries"


@pytest.fixture(autouse=True)
def frozen_clock(app: Any) -> Iterator[None]:
    clock.set_now(T0)
    yield


def approvals(entry_ids: list[int], **extra: Any) -> dict[str, Any]:
    """An approval ballot body: entry ids without ranks (plus any extra keys per pick)."""
    return {"picks": [{"entry_id": e, **extra} for e in entry_ids]}


async def approval_campaign(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """A live approval campaign (3 picks per voter, entries Dragon … Wyvern)."""
    options: dict[str, Any] = {"type": "approval", "activate": True, **overrides}
    return await make_campaign(client, headers, **options)


async def cast(
    client: httpx.AsyncClient, campaign: dict[str, Any], headers: dict[str, str], body: Any
) -> httpx.Response:
    return await client.post(f"{PUBLIC}/{campaign['id']}/vote", json=body, headers=headers)


# ------------------------------------------------------------------------------- create
async def test_create_approval_campaign_locks_the_counting_method(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    created = await client.post(ADMIN, json=campaign_body(type="approval"), headers=headers)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["type"] == "approval" and data["counting_method"] == "approval"
    explicit = await client.post(
        ADMIN, json=campaign_body(type="approval", counting_method="approval"), headers=headers
    )
    assert explicit.status_code == 201

    # a ranked method for an approval campaign, or approval for a ranked one, is refused
    for body in (
        campaign_body(type="approval", counting_method="weighted"),
        campaign_body(type="approval", counting_method="schulze"),
        campaign_body(counting_method="approval"),
    ):
        refused = await client.post(ADMIN, json=body, headers=headers)
        assert refused.status_code == 422, body
        assert "counting_method" in refused.json()["error"]
    assert await count_rows(db, "patt.campaigns") == 2

    url = f"{ADMIN}/{data['id']}"
    patched = await client.patch(url, json={"counting_method": "irv"}, headers=headers)
    assert patched.status_code == 422
    assert "approval campaigns are always counted by approvals" in patched.json()["error"]
    retyped = await client.patch(url, json={"type": "ranked_choice"}, headers=headers)
    assert retyped.status_code == 422 and "cannot be changed" in retyped.json()["error"]
    fine = await client.patch(url, json={"picks_per_voter": 2}, headers=headers)
    assert fine.status_code == 200 and fine.json()["data"]["counting_method"] == "approval"


async def test_database_refuses_a_mixed_type_and_method(app: Any, db: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="ck_campaigns_approval_counting"):
        await db.execute(
            text(
                "INSERT INTO patt.campaigns (title, type, counting_method, min_rank_to_vote, "
                "start_at, duration_hours) VALUES ('x', 'approval', 'weighted', 2, now(), 24)"
            )
        )
    await db.rollback()


# -------------------------------------------------------------------------------- casting
async def test_voter_approves_one_to_n_entries_and_rank_is_ignored(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await approval_campaign(client, headers, early_close_if_all_voted=False)
    e = ids(campaign)

    _, one = await member(app, factory)
    response = await cast(client, campaign, one, approvals([e[2]]))
    assert response.status_code == 201, response.text
    assert response.json()["data"]["votes"] == [{"entry_id": e[2], "rank": 1}]

    # ranks sent are ignored: stored 1..k in the order the picks were sent
    _, three = await member(app, factory)
    body = {
        "picks": [
            {"entry_id": e[3], "rank": 7},
            {"entry_id": e[0], "rank": 7},
            {"entry_id": e[1], "rank": None},
        ]
    }
    response = await cast(client, campaign, three, body)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", data["receipt"])
    expected = [{"entry_id": e[3], "rank": 1}, {"entry_id": e[0], "rank": 2}]
    expected.append({"entry_id": e[1], "rank": 3})
    assert data["votes"] == expected
    mine = (await client.get(f"{PUBLIC}/{campaign['id']}/my-vote", headers=three)).json()
    assert mine["data"]["votes"] == expected and mine["data"]["receipt"] == data["receipt"]
    stored = (
        await db.execute(
            text("SELECT entry_id, rank FROM patt.votes WHERE campaign_id = :c ORDER BY id"),
            {"c": campaign["id"]},
        )
    ).all()
    assert [tuple(row) for row in stored] == [(e[2], 1), (e[3], 1), (e[0], 2), (e[1], 3)]


@pytest.mark.parametrize(
    ("make_body", "message"),
    [
        (lambda e: {"picks": []}, SELECT_MESSAGE),
        (lambda e: approvals(e[:4]), SELECT_MESSAGE),
        (lambda e: approvals([e[0], e[1], e[0]]), "Duplicate entries in picks"),
        (lambda e: approvals([e[0], 999_999]), "Entry 999999 does not belong to campaign"),
    ],
    ids=["no-picks", "too-many", "duplicate", "foreign-entry"],
)
async def test_bad_approval_ballots_are_refused_and_write_nothing(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, make_body: Any, message: str
) -> None:
    headers = await officer(app, factory)
    campaign = await approval_campaign(client, headers)
    _, voter = await member(app, factory)
    response = await cast(client, campaign, voter, make_body(ids(campaign)))
    assert response.status_code == 422
    assert response.json()["ok"] is False and message in response.json()["error"]
    assert await count_rows(db, "patt.ballots") == 0 and await count_rows(db, "patt.votes") == 0


async def test_entry_of_another_campaign_is_foreign(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await approval_campaign(client, headers)
    other = await approval_campaign(client, headers)
    _, voter = await member(app, factory)
    stray = ids(other)[0]
    response = await cast(client, campaign, voter, approvals([ids(campaign)[0], stray]))
    assert response.status_code == 422
    assert response.json()["error"] == f"Entry {stray} does not belong to campaign {campaign['id']}"
    assert await count_rows(db, "patt.ballots") == 0


async def test_casting_rules_before_the_picks_are_unchanged(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await approval_campaign(client, headers, min_rank_to_vote=3)
    draft = await make_campaign(client, headers, type="approval")
    e = ids(campaign)
    _, low = await member(app, factory, level=2)
    _, voter = await member(app, factory, level=3)
    assert (await cast(client, campaign, {}, approvals(e[:1]))).status_code == 401
    malformed = await cast(client, campaign, voter, {"picks": [{"entry_id": "1"}]})
    assert malformed.status_code == 422
    assert malformed.json()["error"] == "picks must be a list of {entry_id, rank} objects"
    missing = await client.post(f"{PUBLIC}/999999/vote", json=approvals(e[:1]), headers=voter)
    assert missing.status_code == 404
    not_live = await cast(client, draft, voter, approvals(ids(draft)[:1]))
    assert not_live.status_code == 409
    assert not_live.json()["error"] == "Campaign is draft, voting not allowed"
    forbidden = await cast(client, campaign, low, approvals(e[:1]))
    assert forbidden.status_code == 403
    assert (await cast(client, campaign, voter, approvals(e[:2]))).status_code == 201
    # already voted beats a bad pick count
    again = await cast(client, campaign, voter, {"picks": []})
    assert again.status_code == 409
    assert again.json()["error"] == "You have already voted in this campaign"
    assert await count_rows(db, "patt.ballots") == 1


async def test_a_ranked_campaign_still_needs_ranks(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    ranked = await make_campaign(client, headers, activate=True)
    _, voter = await member(app, factory)
    response = await cast(client, ranked, voter, approvals(ids(ranked)[:3]))
    assert response.status_code == 422
    assert response.json()["error"] == "picks must be a list of {entry_id, rank} objects"
    assert await count_rows(db, "patt.ballots") == 0


# ---------------------------------------------------------------------------- results
async def test_score_is_approvals_and_ties_share_a_rank(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await approval_campaign(client, headers, early_close_if_all_voted=False)
    dragon, phoenix, gryphon, wyvern = ids(campaign)
    ballots = [[dragon, phoenix], [phoenix, dragon, gryphon], [gryphon]]
    voters = []
    for chosen in ballots:
        _, voter = await member(app, factory)
        voters.append(voter)
        assert (await cast(client, campaign, voter, approvals(chosen))).status_code == 201

    live = (await client.get(f"{PUBLIC}/{campaign['id']}/results", headers=voters[0])).json()
    rows = {row["entry"]["id"]: row for row in live["data"]}
    assert [row["entry"]["id"] for row in live["data"]] == [dragon, phoenix, gryphon, wyvern]
    assert {e: rows[e]["final_rank"] for e in rows} == {
        dragon: 1,
        phoenix: 1,
        gryphon: 1,
        wyvern: 4,
    }
    assert rows[dragon]["weighted_score"] == 2 and rows[dragon]["first_place_count"] == 2
    assert rows[dragon]["rank_counts"] == [2]
    assert rows[dragon]["second_place_count"] == 0 and rows[dragon]["third_place_count"] == 0
    assert rows[wyvern]["weighted_score"] == 0 and rows[wyvern]["first_place_count"] == 0
    assert rows[dragon]["method_details"] == {"method": "approval", "ballots": 3}

    # one more approval for the Phoenix breaks the tie; final results are the same shape
    _, last = await member(app, factory)
    assert (await cast(client, campaign, last, approvals([phoenix]))).status_code == 201
    assert (
        await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
    ).status_code == 200
    final = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()
    ranking = [
        (row["entry"]["id"], row["weighted_score"], row["final_rank"]) for row in final["data"]
    ]
    assert ranking == [(phoenix, 3, 1), (dragon, 2, 2), (gryphon, 2, 2), (wyvern, 0, 4)]
    assert set(final["data"][0]) == set(live["data"][0])
    audit = final["audit"]
    assert audit["counting_method"] == "approval" and audit["point_table"] is None
    assert audit["ballot_count"] == 4 and audit["outcome"] == "declared"


async def test_digest_and_recount_cover_approval_ballots(
    app: Any, client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await officer(app, factory)
    campaign = await approval_campaign(client, headers, early_close_if_all_voted=False)
    e = ids(campaign)
    receipts = {}
    for chosen in ([e[1], e[0]], [e[2]], [e[0], e[2], e[3]]):
        _, voter = await member(app, factory)
        response = await cast(client, campaign, voter, approvals(chosen))
        receipts[response.json()["data"]["receipt"]] = chosen
    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)

    # the canonical list: one line per ballot, picks as entry:rank in submission order
    expected = "".join(
        f"{receipt} " + ",".join(f"{entry}:{rank}" for rank, entry in enumerate(chosen, 1)) + "\n"
        for receipt, chosen in sorted(receipts.items())
    )
    canonical = await client.get(f"{PUBLIC}/{campaign['id']}/ballots", params={"format": "text"})
    assert canonical.text == expected
    audit = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()["audit"]
    assert audit["ballot_digest"] == hashlib.sha256(expected.encode()).hexdigest()

    code, out = await asyncio.to_thread(recount_cli, app, monkeypatch, campaign["id"])
    assert code == 0, out
    assert "Recount matches the stored results and the ballot digest." in out

    # an operator moves one approval to another entry: totals and digest both change
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE patt.votes SET entry_id = :other "
                "WHERE id = (SELECT min(id) FROM patt.votes WHERE campaign_id = :c "
                "AND entry_id <> :other)"
            ),
            {"c": campaign["id"], "other": e[3]},
        )
    code, out = await asyncio.to_thread(recount_cli, app, monkeypatch, campaign["id"])
    assert code == 3, out
    assert "MISMATCH" in out and "ballot digest" in out and "stored score" in out


async def test_vote_change_replaces_an_approval_ballot(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await approval_campaign(
        client, headers, allow_vote_change=True, early_close_if_all_voted=False
    )
    e = ids(campaign)
    _, voter = await member(app, factory)
    first = (await cast(client, campaign, voter, approvals(e[:3]))).json()["data"]
    url = f"{PUBLIC}/{campaign['id']}/vote"
    bad = await client.put(url, json={"picks": []}, headers=voter)
    assert bad.status_code == 422 and bad.json()["error"] == SELECT_MESSAGE
    changed = await client.put(url, json=approvals([e[3]]), headers=voter)
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert data["votes"] == [{"entry_id": e[3], "rank": 1}]
    assert data["receipt"] != first["receipt"]
    assert await count_rows(db, "patt.ballots") == 1 and await count_rows(db, "patt.votes") == 1
    results = (await client.get(f"{PUBLIC}/{campaign['id']}/results", headers=voter)).json()
    assert results["data"][0]["entry"]["id"] == e[3] and results["data"][0]["weighted_score"] == 1


async def test_quorum_applies_to_approval_campaigns(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)  # the officer is eligible too
    campaign = await approval_campaign(
        client, headers, quorum_percent=75, early_close_if_all_voted=False
    )
    for _ in range(2):
        await member(app, factory)
    _, voter = await member(app, factory)
    await cast(client, campaign, voter, approvals(ids(campaign)[:1]))
    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
    body = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()
    assert body["audit"]["outcome"] == "no_quorum" and body["audit"]["result_declared"] is False
    assert body["data"][0]["weighted_score"] == 1  # counts kept for the record


# ------------------------------------------------------------------------------- pages
async def test_vote_page_form_and_results_text(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await approval_campaign(client, headers, early_close_if_all_voted=False)
    e = ids(campaign)
    voter = await factory.member(level=2)
    await factory.member(level=2)
    login(app, client, voter)
    html = (await client.get(f"/vote/{campaign['id']}")).text
    assert 'data-mode="approval"' in html and "Counting: Approval" in html
    assert "Pick up to 3 entries you approve of" in html
    assert "Each pick is one approval" in html

    # nothing ticked → the page's message; nothing written
    empty = await client.post(f"/vote/{campaign['id']}", data=vote_form([]))
    assert empty.status_code == 302
    html = (await client.get(f"/vote/{campaign['id']}")).text
    assert "Please select between 1 and 3 entries." in html
    assert await count_rows(db, "patt.ballots") == 0

    response = await client.post(f"/vote/{campaign['id']}", data=vote_form([e[2], e[0]]))
    assert response.status_code == 302
    html = (await client.get(f"/vote/{campaign['id']}")).text
    assert "Your vote is in!" in html and "Live Standings" in html
    assert "1 approval (100% of ballots)" in html and "0 approvals (0% of ballots)" in html
    assert html.count('class="approval-mark"') == 2

    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
    closed = (await client.get(f"/vote/{campaign['id']}")).text
    assert "Final Results" in closed and "Tie for first" in closed
    assert "1 approval (100% of ballots)" in closed
    ballots = (await client.get(f"/vote/{campaign['id']}/ballots")).text
    assert "Approval 1" in ballots


async def test_admin_form_creates_an_approval_campaign(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer_handle = await factory.officer()
    login(app, client, officer_handle)
    page = (await client.get("/admin/campaigns/new")).text
    assert '<option value="approval">Approval</option>' in page
    assert "/static/js/admin-campaign-type.js" in page
    form = {
        "csrf_token": "page-test-csrf-token",
        "title": "Raid Night",
        "type": "approval",
        "counting_method": "irv",  # ignored: approval campaigns are counted by approvals
        "picks_per_voter": "2",
        "min_rank_to_vote": "2",
        "start_at": "2030-03-05T18:00",
        "duration_hours": "48",
    }
    response = await client.post("/admin/campaigns/new", data=form)
    assert response.status_code == 302, response.text
    row = (
        await db.execute(
            text("SELECT id, type, counting_method, picks_per_voter FROM patt.campaigns")
        )
    ).one()
    assert (row.type, row.counting_method, row.picks_per_voter) == ("approval", "approval", 2)
    edit = (await client.get(response.headers["location"])).text
    assert '<option value="approval" selected>Approval</option>' in edit
    assert re.search(r'<select id="counting_method" name="counting_method" disabled>', edit)
    assert re.search(r'<p class="form-hint" id="approval-note">', edit)
    saved = await client.post(
        response.headers["location"],
        data={**form, "title": "Raid Night 2", "type": "ranked_choice"},
    )
    assert saved.status_code == 302
    kept = (await db.execute(text("SELECT title, type, counting_method FROM patt.campaigns"))).one()
    assert tuple(kept) == ("Raid Night 2", "approval", "approval")


# ---------------------------------------------------------------------------- migration
def test_migration_0007_refuses_to_downgrade_over_approval_campaigns() -> None:
    admin = _server_admin_url()
    name = f"patt_mig7_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin, name)
    engine = create_engine(to_sync_url(url))
    try:
        migrate.upgrade(url, "0006_shared_state")
        with engine.begin() as connection:
            # a hand-written approval row from before 0007 gets the approval method on upgrade
            connection.execute(
                text(
                    "INSERT INTO common.guild_ranks (name, level) VALUES ('Tester', 42) "
                    "ON CONFLICT DO NOTHING"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO patt.campaigns (title, type, min_rank_to_vote, start_at, "
                    "duration_hours) VALUES ('old', 'approval', 42, now(), 24)"
                )
            )
        migrate.upgrade(url)
        with engine.connect() as connection:
            method = connection.execute(
                text("SELECT counting_method FROM patt.campaigns WHERE title = 'old'")
            ).scalar_one()
        assert method == "approval"
        with pytest.raises(RuntimeError, match="approval campaigns exist"):
            migrate.downgrade(url, "0006_shared_state")
        assert migrate.current_revision(url) == "0007_approval_voting"
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM patt.campaigns"))
        migrate.downgrade(url, "0006_shared_state")
        assert migrate.current_revision(url) == "0006_shared_state"
        migrate.upgrade(url)
        assert migrate.current_revision(url) == migrate.head_revision()
    finally:
        engine.dispose()
        with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
