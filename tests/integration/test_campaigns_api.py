"""Campaign API end to end (30 §6–8, 40): lifecycle, every 409/422 rule, vote rules in order,
visibility, checker and reconciliation with a moved clock, early close, concurrency, ballot
export, recount, counting methods and the 0002 migration."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text
from tests.conftest import (
    Factory,
    MemberHandle,
    _psycopg_dsn,
    _server_admin_url,
    _with_database,
    count_rows,
)

from patt.campaigns import checker as campaign_checker
from patt.campaigns import events as campaign_events
from patt.campaigns import results as campaign_results
from sv_common import clock
from sv_common.auth.jwt import create_access_token
from sv_common.db import migrate
from sv_common.db.engine import to_sync_url

T0 = datetime(2030, 3, 1, 18, 0, tzinfo=UTC)
ADMIN = "/api/v1/admin/campaigns"
PUBLIC = "/api/v1/campaigns"


# ------------------------------------------------------------------------------ helpers
def headers_for(app: Any, handle: MemberHandle) -> dict[str, str]:
    """A bearer token that stays valid however far a test moves the clock."""
    token = create_access_token(
        app.state.jwt_secret,
        user_id=handle.user_id or 0,
        member_id=handle.id,
        rank_level=handle.rank_level,
        expires_minutes=10_000_000,
    )
    return {"Authorization": f"Bearer {token}"}


async def officer(app: Any, factory: Factory) -> dict[str, str]:
    return headers_for(app, await factory.officer())


async def member(
    app: Any, factory: Factory, level: int = 2, **kw: Any
) -> tuple[MemberHandle, dict[str, str]]:
    handle = await factory.member(level=level, **kw)
    return handle, headers_for(app, handle) if handle.user_id else {}


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Guild Art Vote",
        "description": "Pick the new banner",
        "min_rank_to_vote": 2,
        "start_at": (T0 + timedelta(days=1)).isoformat(),
        "duration_hours": 168,
    }
    body.update(overrides)
    return body


async def make_campaign(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    entries: int = 4,
    activate: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    response = await client.post(ADMIN, json=campaign_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    campaign = response.json()["data"]
    for index, name in enumerate(
        ["Dragon", "Phoenix", "Gryphon", "Wyvern", "Kraken", "Hydra"][:entries]
    ):
        added = await client.post(
            f"{ADMIN}/{campaign['id']}/entries",
            json={"name": name, "image_url": f"https://art.example/{index}.png"},
            headers=headers,
        )
        assert added.status_code == 201, added.text
    if activate:
        response = await client.post(f"{ADMIN}/{campaign['id']}/activate", headers=headers)
        assert response.status_code == 200, response.text
    response = await client.get(f"{ADMIN}/{campaign['id']}", headers=headers)
    return response.json()["data"]


def picks(entry_ids: list[int]) -> dict[str, Any]:
    return {"picks": [{"entry_id": e, "rank": r} for r, e in enumerate(entry_ids, start=1)]}


def ids(campaign: dict[str, Any]) -> list[int]:
    return [e["id"] for e in campaign["entries"]]


@pytest.fixture(autouse=True)
def frozen_clock(app: Any) -> Iterator[None]:
    """Every test starts at T0 (after the app fixture has reset the clock)."""
    clock.set_now(T0)
    yield


# ------------------------------------------------------------------------------ create
async def test_create_uses_documented_defaults(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    handle = await factory.officer()
    response = await client.post(
        ADMIN,
        json={
            "title": "  Art  ",
            "min_rank_to_vote": 2,
            "start_at": "2030-03-05T12:00:00",
            "duration_hours": 24,
        },
        headers=headers_for(app, handle),
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["status"] == "draft"
    assert data["title"] == "Art"
    assert data["type"] == "ranked_choice"
    assert data["counting_method"] == "weighted"
    assert data["picks_per_voter"] == 3
    assert data["early_close_if_all_voted"] is True
    assert data["min_rank_to_view"] is None
    assert data["created_by"] == handle.id
    assert data["start_at"] == "2030-03-05T12:00:00+00:00"  # naive taken as UTC
    assert data["end_at"] == "2030-03-06T12:00:00+00:00"
    assert data["entries"] == []


BAD_CREATE = [
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"picks_per_voter": 0}, "picks_per_voter"),
    ({"picks_per_voter": 11}, "picks_per_voter"),
    ({"picks_per_voter": "3"}, "picks_per_voter"),
    ({"picks_per_voter": True}, "picks_per_voter"),
    ({"min_rank_to_vote": 9}, "min_rank_to_vote"),
    ({"min_rank_to_view": 3, "min_rank_to_vote": 2}, "min_rank_to_view"),
    ({"min_rank_to_view": 7}, "min_rank_to_view"),
    ({"start_at": "next tuesday"}, "start_at"),
    ({"start_at": "1850-01-01T00:00:00Z"}, "start_at"),
    ({"duration_hours": 0}, "duration_hours"),
    ({"duration_hours": 8761}, "duration_hours"),
    ({"discord_channel_id": "12345"}, "discord_channel_id"),
    ({"early_close_if_all_voted": "yes"}, "early_close_if_all_voted"),
    ({"type": "approval", "counting_method": "irv"}, "counting_method"),
    ({"counting_method": "approval"}, "counting_method"),
    ({"type": "plurality"}, "type"),
    ({"counting_method": "borda"}, "counting_method"),
    ({"description": "d" * 5001}, "description"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CREATE)
async def test_create_rejects_bad_fields(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    db: Any,
    change: dict[str, Any],
    field: str,
) -> None:
    headers = await officer(app, factory)
    response = await client.post(ADMIN, json=campaign_body(**change), headers=headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["ok"] is False and field in body["error"]
    assert await count_rows(db, "patt.campaigns") == 0


@pytest.mark.parametrize("missing", ["title", "min_rank_to_vote", "start_at", "duration_hours"])
async def test_create_requires_fields(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, missing: str
) -> None:
    body = campaign_body()
    body.pop(missing)
    response = await client.post(ADMIN, json=body, headers=await officer(app, factory))
    assert response.status_code == 422
    assert missing in response.json()["error"]
    assert await count_rows(db, "patt.campaigns") == 0


async def test_create_rejects_malformed_and_non_json_bodies(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    bad_json = await client.post(
        ADMIN, content=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["ok"] is False
    as_list = await client.post(ADMIN, json=[campaign_body()], headers=headers)
    assert as_list.status_code == 422
    form = await client.post(ADMIN, data={"title": "x"}, headers=headers)
    assert form.status_code == 415
    huge = await client.post(ADMIN, json=campaign_body(description="x" * 70_000), headers=headers)
    assert huge.status_code == 413
    assert await count_rows(db, "patt.campaigns") == 0


async def test_campaign_admin_requires_officer(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    anonymous = await client.post(ADMIN, json=campaign_body())
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "Not authenticated."
    _, low = await member(app, factory, level=3)
    denied = await client.post(ADMIN, json=campaign_body(), headers=low)
    assert (
        denied.status_code == 403 and denied.json()["error"] == "Requires rank level 4 or higher."
    )
    assert (await client.get(ADMIN, headers=low)).status_code == 403
    assert await count_rows(db, "patt.campaigns") == 0


async def test_cookie_write_without_csrf_is_rejected(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    handle = await factory.officer()
    client.cookies.set("patt_token", headers_for(app, handle)["Authorization"].split()[1])
    response = await client.post(ADMIN, json=campaign_body())
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    client.cookies.set("patt_csrf", "abc")
    allowed = await client.post(ADMIN, json=campaign_body(), headers={"X-CSRF-Token": "abc"})
    assert allowed.status_code == 201
    assert await count_rows(db, "patt.campaigns") == 1


# ------------------------------------------------------------------------------ edit
async def test_patch_draft_changes_only_sent_fields(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=0, min_rank_to_view=1)
    response = await client.patch(
        f"{ADMIN}/{campaign['id']}",
        json={
            "title": "New title",
            "min_rank_to_view": None,
            "counting_method": "irv",
            "description": "",
        },
        headers=headers,
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["title"] == "New title"
    assert data["min_rank_to_view"] is None
    assert data["counting_method"] == "irv"
    assert data["description"] is None
    assert data["duration_hours"] == 168


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"picks_per_voter": None},
        {"type": "approval"},
        {"min_rank_to_view": 5},
        {"start_at": None},
        {"picks_per_voter": 20},
    ],
)
async def test_patch_rejects_bad_values_and_changes_nothing(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, body: dict[str, Any]
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=0)
    response = await client.patch(f"{ADMIN}/{campaign['id']}", json=body, headers=headers)
    assert response.status_code == 422
    after = (await client.get(f"{ADMIN}/{campaign['id']}", headers=headers)).json()["data"]
    assert after == campaign


async def test_live_campaign_settings_and_entries_are_locked(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True)
    cid = campaign["id"]
    edit = await client.patch(f"{ADMIN}/{cid}", json={"title": "Changed"}, headers=headers)
    assert edit.status_code == 409
    assert edit.json()["error"] == "Campaign can only be edited while in draft status"
    add = await client.post(f"{ADMIN}/{cid}/entries", json={"name": "Late"}, headers=headers)
    assert add.status_code == 409
    assert add.json()["error"] == "Entries can only be added while campaign is in draft status"
    entry_id = ids(campaign)[0]
    assert (
        await client.delete(f"{ADMIN}/{cid}/entries/{entry_id}", headers=headers)
    ).status_code == 409
    patch_entry = await client.patch(
        f"/api/v1/admin/campaign-entries/{entry_id}", json={"name": "X"}, headers=headers
    )
    assert patch_entry.status_code == 409
    after = (await client.get(f"{ADMIN}/{cid}", headers=headers)).json()["data"]
    assert after["title"] == "Guild Art Vote" and ids(after) == ids(campaign)
    assert after["entries"][0]["name"] == "Dragon"


async def test_unknown_campaign_is_404_and_bad_ids_are_422(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    missing = await client.patch(f"{ADMIN}/999", json={"title": "x"}, headers=headers)
    assert missing.status_code == 404 and missing.json()["error"] == "Campaign 999 not found"
    assert (await client.post(f"{ADMIN}/999/activate", headers=headers)).status_code == 404
    assert (await client.get(f"{ADMIN}/abc", headers=headers)).status_code == 422
    assert (await client.get(f"{ADMIN}/99999999999", headers=headers)).status_code == 422
    public = await client.get(f"{PUBLIC}/999")
    assert public.status_code == 404 and public.json()["error"] == "Campaign not found"


# ------------------------------------------------------------------------------ entries
async def test_entries_add_edit_delete_in_draft(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    author, _ = await member(app, factory)
    campaign = await make_campaign(client, headers, entries=2)
    cid = campaign["id"]
    added = await client.post(
        f"{ADMIN}/{cid}/entries",
        json={
            "name": "Kraken",
            "image_url": "/static/img/kraken.png",
            "associated_member_id": author.id,
        },
        headers=headers,
    )
    assert added.status_code == 201
    entry = added.json()["data"]
    assert entry == {
        "id": entry["id"],
        "campaign_id": cid,
        "name": "Kraken",
        "description": None,
        "image_url": "/static/img/kraken.png",
        "sort_order": 2,
        "associated_member_id": author.id,
    }
    edited = await client.patch(
        f"/api/v1/admin/campaign-entries/{entry['id']}",
        json={"name": "Big Kraken", "sort_order": 0},
        headers=headers,
    )
    assert edited.status_code == 200
    assert (
        edited.json()["data"]["name"] == "Big Kraken" and edited.json()["data"]["sort_order"] == 0
    )
    deleted = await client.delete(f"{ADMIN}/{cid}/entries/{entry['id']}", headers=headers)
    assert deleted.json() == {"ok": True, "data": {"deleted": True}}
    assert await count_rows(db, "patt.campaign_entries") == 2


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 201},
        {"name": "Art", "image_url": "javascript:alert(1)"},
        {"name": "Art", "image_url": "ftp://files.example/a.png"},
        {"name": "Art", "image_url": "data:image/png;base64,AAAA"},
        {"name": "Art", "image_url": "//evil.example/a.png"},
        {"name": "Art", "image_url": "https://a.example/" + "x" * 2040},
        {"name": "Art", "associated_member_id": 4242},
        {"name": "Art", "sort_order": -1},
        {"name": "Art", "sort_order": "1"},
        {"description": "no name"},
    ],
)
async def test_add_entry_rejects_bad_input(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, body: dict[str, Any]
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=0)
    response = await client.post(f"{ADMIN}/{campaign['id']}/entries", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["ok"] is False
    assert await count_rows(db, "patt.campaign_entries") == 0


async def test_entry_of_another_campaign_is_404(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    first = await make_campaign(client, headers, entries=1)
    second = await make_campaign(client, headers, entries=1)
    response = await client.delete(
        f"{ADMIN}/{second['id']}/entries/{ids(first)[0]}", headers=headers
    )
    assert response.status_code == 404
    assert response.json()["error"] == f"Entry {ids(first)[0]} not found in campaign {second['id']}"
    missing = await client.patch(
        "/api/v1/admin/campaign-entries/999", json={"name": "x"}, headers=headers
    )
    assert missing.status_code == 404
    assert await count_rows(db, "patt.campaign_entries") == 2


# ------------------------------------------------------------------------------ lifecycle
async def test_full_lifecycle(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=2)
    cid = campaign["id"]
    too_few = await client.post(f"{ADMIN}/{cid}/activate", headers=headers)
    assert (
        too_few.status_code == 422
        and too_few.json()["error"] == "Add at least 3 entries before activating"
    )
    assert (
        await client.post(f"{ADMIN}/{cid}/entries", json={"name": "Gryphon"}, headers=headers)
    ).status_code == 201
    draft_close = await client.post(f"{ADMIN}/{cid}/close", headers=headers)
    assert (
        draft_close.status_code == 409
        and draft_close.json()["error"] == "Campaign is draft, cannot close"
    )
    draft_archive = await client.post(f"{ADMIN}/{cid}/archive", headers=headers)
    assert draft_archive.status_code == 409
    assert draft_archive.json()["error"] == "Only closed campaigns can be archived"

    clock.set_now(T0 + timedelta(minutes=5))
    live = await client.post(f"{ADMIN}/{cid}/activate", headers=headers)
    assert live.status_code == 200
    data = live.json()["data"]
    assert data["status"] == "live"
    assert data["start_at"] == (T0 + timedelta(minutes=5)).isoformat()  # manual: starts now
    assert data["end_at"] == (T0 + timedelta(minutes=5, hours=168)).isoformat()
    again = await client.post(f"{ADMIN}/{cid}/activate", headers=headers)
    assert (
        again.status_code == 409
        and again.json()["error"] == "Campaign is already live, cannot activate"
    )
    assert (await client.post(f"{ADMIN}/{cid}/archive", headers=headers)).status_code == 409

    voter, voter_headers = await member(app, factory)
    assert (
        await client.post(f"{PUBLIC}/{cid}/vote", json=picks(ids(data)), headers=voter_headers)
    ).status_code == 201
    closed = await client.post(f"{ADMIN}/{cid}/close", headers=headers)
    assert closed.status_code == 200
    assert closed.json()["data"]["status"] == "closed"
    assert closed.json()["data"]["close_reason"] == "manual"
    assert await count_rows(db, "patt.campaign_results", "campaign_id = :c", c=cid) == 3
    second_close = await client.post(f"{ADMIN}/{cid}/close", headers=headers)
    assert (
        second_close.status_code == 409
        and second_close.json()["error"] == "Campaign is closed, cannot close"
    )
    reopen = await client.post(f"{ADMIN}/{cid}/activate", headers=headers)
    assert (
        reopen.status_code == 409
        and reopen.json()["error"] == "Campaign is already closed, cannot activate"
    )

    archived = await client.post(f"{ADMIN}/{cid}/archive", headers=headers)
    assert archived.status_code == 200 and archived.json()["data"]["status"] == "archived"
    listed = (await client.get(PUBLIC)).json()["data"]
    assert listed == []
    by_status = (await client.get(PUBLIC, params={"status": "archived"})).json()["data"]
    assert [c["id"] for c in by_status] == [cid]
    results = await client.get(f"{PUBLIC}/{cid}/results")
    assert results.status_code == 200 and results.json()["data"][0]["entry"]["name"] == "Dragon"
    admin_list = (await client.get(ADMIN, headers=headers)).json()["data"]
    assert admin_list[0]["votes_cast"] == 1 and admin_list[0]["status"] == "archived"


async def test_admin_list_order_live_draft_closed_archived(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    closed = await make_campaign(client, headers, activate=True, title="Closed")
    await client.post(f"{ADMIN}/{closed['id']}/close", headers=headers)
    archived = await make_campaign(client, headers, activate=True, title="Archived")
    await client.post(f"{ADMIN}/{archived['id']}/close", headers=headers)
    await client.post(f"{ADMIN}/{archived['id']}/archive", headers=headers)
    await make_campaign(
        client, headers, title="Draft later", start_at=(T0 + timedelta(days=9)).isoformat()
    )
    await make_campaign(
        client, headers, title="Draft soon", start_at=(T0 + timedelta(days=2)).isoformat()
    )
    await make_campaign(client, headers, activate=True, title="Live")
    titles = [c["title"] for c in (await client.get(ADMIN, headers=headers)).json()["data"]]
    assert titles == ["Live", "Draft later", "Draft soon", "Closed", "Archived"]
    public = [c["title"] for c in (await client.get(PUBLIC)).json()["data"]]
    assert public == ["Live", "Draft later", "Draft soon", "Closed"]
    assert (await client.get(PUBLIC, params={"status": "open"})).status_code == 422


# ------------------------------------------------------------------------------ voting rules
async def test_vote_success_shape_and_my_vote(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True)
    voter, voter_headers = await member(app, factory)
    entry_ids = ids(campaign)
    body = {
        "picks": [
            {"entry_id": entry_ids[2], "rank": 3},
            {"entry_id": entry_ids[0], "rank": 1},
            {"entry_id": entry_ids[1], "rank": 2},
        ]
    }
    response = await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=body, headers=voter_headers
    )
    assert response.status_code == 201
    receipt = response.json()["data"]["receipt"]  # the ballot receipt (40 §9.1)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", receipt)
    assert response.json() == {
        "ok": True,
        "data": {
            "campaign_id": campaign["id"],
            "member_id": voter.id,
            "receipt": receipt,
            "votes": [
                {"entry_id": entry_ids[0], "rank": 1},
                {"entry_id": entry_ids[1], "rank": 2},
                {"entry_id": entry_ids[2], "rank": 3},
            ],
        },
    }
    mine = (await client.get(f"{PUBLIC}/{campaign['id']}/my-vote", headers=voter_headers)).json()[
        "data"
    ]
    assert mine["votes"][0] == {"entry_id": entry_ids[0], "rank": 1}
    assert mine["cast_at"] == T0.isoformat()
    assert mine["receipt"] == receipt
    _, other = await member(app, factory)
    none = await client.get(f"{PUBLIC}/{campaign['id']}/my-vote", headers=other)
    assert none.status_code == 404 and none.json()["error"] == "You have not voted in this campaign"
    assert (await client.get(f"{PUBLIC}/{campaign['id']}/my-vote")).status_code == 401


MALFORMED_PICKS = [
    {},
    {"picks": "1,2,3"},
    {"picks": [1, 2, 3]},
    {"picks": [{"entry_id": "1", "rank": 1}]},
    {"picks": [{"entry_id": 1, "rank": True}]},
    {"picks": [{"entry_id": 1.5, "rank": 1}]},
    {"picks": [{"entry_id": 10**12, "rank": 1}]},
    {"picks": None},
    [],
]


@pytest.mark.parametrize("body", MALFORMED_PICKS)
async def test_malformed_picks_are_422_before_anything_else(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, body: Any
) -> None:
    _, voter_headers = await member(app, factory)
    # rule 2 comes before rule 3: even a missing campaign answers 422 for a malformed body
    response = await client.post(f"{PUBLIC}/999/vote", json=body, headers=voter_headers)
    assert response.status_code == 422
    assert response.json()["error"] == "picks must be a list of {entry_id, rank} objects"
    assert await count_rows(db, "patt.ballots") == 0


async def test_vote_rules_in_order(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    draft = await make_campaign(client, headers, entries=4)
    live = await make_campaign(client, headers, activate=True, min_rank_to_vote=3)
    other = await make_campaign(client, headers, activate=True)
    e = ids(live)
    _, low = await member(app, factory, level=2)
    _, voter = await member(app, factory, level=3)
    url = f"{PUBLIC}/{live['id']}/vote"

    def expect(response: httpx.Response, status: int, message: str) -> None:
        assert response.status_code == status, response.text
        assert response.json() == {"ok": False, "error": message}

    expect(await client.post(url, json=picks(e[:3])), 401, "Not authenticated.")
    expect(
        await client.post(url, json=picks(e[:3]), headers={"Authorization": "Bearer nope"}),
        401,
        "Invalid token.",
    )
    bad_json = await client.post(
        url, content=b"{", headers={**voter, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    expect(
        await client.post(f"{PUBLIC}/999/vote", json=picks(e[:3]), headers=voter),
        404,
        "Campaign not found",
    )
    expect(
        await client.post(
            f"{PUBLIC}/{draft['id']}/vote", json=picks(ids(draft)[:3]), headers=voter
        ),
        409,
        "Campaign is draft, voting not allowed",
    )
    expect(
        await client.post(url, json=picks(e[:3]), headers=low),
        403,
        "Your rank does not meet the minimum rank to vote in this campaign",
    )
    expect(await client.post(url, json=picks(e[:2]), headers=voter), 422, "Expected 3 picks, got 2")
    expect(await client.post(url, json=picks(e[:4]), headers=voter), 422, "Expected 3 picks, got 4")
    expect(
        await client.post(url, json=picks([e[0], e[0], e[1]]), headers=voter),
        422,
        "Duplicate entries in picks",
    )
    dup_rank = {
        "picks": [
            {"entry_id": e[0], "rank": 1},
            {"entry_id": e[1], "rank": 1},
            {"entry_id": e[2], "rank": 2},
        ]
    }
    expect(await client.post(url, json=dup_rank, headers=voter), 422, "Duplicate ranks in picks")
    gap = {
        "picks": [
            {"entry_id": e[0], "rank": 1},
            {"entry_id": e[1], "rank": 2},
            {"entry_id": e[2], "rank": 4},
        ]
    }
    expect(await client.post(url, json=gap, headers=voter), 422, "Ranks must be 1 to 3")
    zero = {
        "picks": [
            {"entry_id": e[0], "rank": 0},
            {"entry_id": e[1], "rank": 1},
            {"entry_id": e[2], "rank": 2},
        ]
    }
    expect(await client.post(url, json=zero, headers=voter), 422, "Ranks must be 1 to 3")
    foreign = ids(other)[0]
    expect(
        await client.post(url, json=picks([e[0], foreign, e[1]]), headers=voter),
        422,
        f"Entry {foreign} does not belong to campaign {live['id']}",
    )
    expect(
        await client.post(url, json=picks([e[0], 424242, e[1]]), headers=voter),
        422,
        f"Entry 424242 does not belong to campaign {live['id']}",
    )
    assert await count_rows(db, "patt.ballots") == 0
    assert await count_rows(db, "patt.votes") == 0

    assert (await client.post(url, json=picks(e[:3]), headers=voter)).status_code == 201
    # already voted beats a wrong pick count (rule 6 before rule 7)
    expect(
        await client.post(url, json=picks(e[:1]), headers=voter),
        409,
        "You have already voted in this campaign",
    )
    await client.post(f"{ADMIN}/{live['id']}/close", headers=headers)
    _, late = await member(app, factory, level=3)
    expect(
        await client.post(url, json=picks(e[:3]), headers=late),
        409,
        "Campaign is closed, voting not allowed",
    )
    assert await count_rows(db, "patt.ballots") == 1
    assert await count_rows(db, "patt.votes") == 3


async def test_unregistered_or_inactive_members_cannot_vote(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True)
    voter, voter_headers = await member(app, factory)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE common.users SET is_active = false WHERE id = :u"), {"u": voter.user_id}
        )
    response = await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[:3]), headers=voter_headers
    )
    assert response.status_code == 401
    assert await count_rows(db, "patt.ballots") == 0


async def test_twenty_simultaneous_ballots_give_exactly_one(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True, early_close_if_all_voted=False)
    voter, voter_headers = await member(app, factory)
    entry_ids = ids(campaign)
    bodies = [
        picks([entry_ids[i % 4], entry_ids[(i + 1) % 4], entry_ids[(i + 2) % 4]]) for i in range(20)
    ]
    responses = await asyncio.gather(
        *[
            client.post(f"{PUBLIC}/{campaign['id']}/vote", json=body, headers=voter_headers)
            for body in bodies
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"] == "You have already voted in this campaign"
    winner = next(r for r in responses if r.status_code == 201).json()["data"]["votes"]
    assert await count_rows(db, "patt.ballots") == 1
    assert await count_rows(db, "patt.votes", "member_id = :m", m=voter.id) == 3
    stored = (await db.execute(text("SELECT entry_id, rank FROM patt.votes ORDER BY rank"))).all()
    assert [{"entry_id": e, "rank": r} for e, r in stored] == winner


async def test_vote_racing_a_close_is_counted_or_rejected(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True, early_close_if_all_voted=False)
    _, voter_headers = await member(app, factory)
    vote, close = await asyncio.gather(
        client.post(
            f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[:3]), headers=voter_headers
        ),
        client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers),
    )
    assert close.status_code == 200
    results = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()["data"]
    total = sum(row["weighted_score"] for row in results)
    if vote.status_code == 201:
        assert total == 6  # counted in the final results
    else:
        assert vote.status_code == 409 and total == 0
        assert await count_rows(db, "patt.ballots") == 0


# ------------------------------------------------------------------------------ visibility
async def test_visibility_matrix_for_detail_and_results(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    gated = await make_campaign(
        client,
        headers,
        activate=True,
        min_rank_to_view=2,
        min_rank_to_vote=3,
        early_close_if_all_voted=False,
    )
    cid = gated["id"]
    _, initiate = await member(app, factory, level=1)
    _, viewer = await member(app, factory, level=2)
    _, voter = await member(app, factory, level=3)
    _, voted = await member(app, factory, level=3)
    await client.post(f"{PUBLIC}/{cid}/vote", json=picks(ids(gated)[:3]), headers=voted)

    anonymous = await client.get(f"{PUBLIC}/{cid}")
    assert (
        anonymous.status_code == 401
        and anonymous.json()["error"] == "Login required to view this campaign"
    )
    low = await client.get(f"{PUBLIC}/{cid}", headers=initiate)
    assert (
        low.status_code == 403 and low.json()["error"] == "Insufficient rank to view this campaign"
    )
    for who in (viewer, voter, voted):
        detail = await client.get(f"{PUBLIC}/{cid}", headers=who)
        assert detail.status_code == 200 and len(detail.json()["data"]["entries"]) == 4

    assert (await client.get(f"{PUBLIC}/{cid}/results")).status_code == 401
    assert (await client.get(f"{PUBLIC}/{cid}/results", headers=initiate)).status_code == 403
    for who in (viewer, voter):
        denied = await client.get(f"{PUBLIC}/{cid}/results", headers=who)
        assert denied.status_code == 403 and denied.json()["error"] == "Vote to see live standings"
        live = await client.get(f"{PUBLIC}/{cid}/results/live", headers=who)
        assert live.status_code == 403 and live.json()["error"] == "Vote to see live standings"
    standings = await client.get(f"{PUBLIC}/{cid}/results", headers=voted)
    assert standings.status_code == 200
    assert [row["weighted_score"] for row in standings.json()["data"]] == [3, 2, 1, 0]
    assert (await client.get(f"{PUBLIC}/{cid}/results/live", headers=voted)).json()[
        "data"
    ] == standings.json()["data"]
    # officers are not special: no standings without a ballot
    assert (await client.get(f"{PUBLIC}/{cid}/results", headers=headers)).status_code == 403
    assert (await client.get(f"{PUBLIC}/{cid}/results/live")).status_code == 401

    await client.post(f"{ADMIN}/{cid}/close", headers=headers)
    for who in (viewer, voter, voted):
        final = await client.get(f"{PUBLIC}/{cid}/results", headers=who)
        assert final.status_code == 200 and final.json()["data"][0]["final_rank"] == 1
    assert (await client.get(f"{PUBLIC}/{cid}/results")).status_code == 401
    assert (await client.get(f"{PUBLIC}/{cid}/results", headers=initiate)).status_code == 403


async def test_public_campaign_for_anonymous_viewers(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    draft = await make_campaign(client, headers)
    live = await make_campaign(client, headers, activate=True)
    detail = (await client.get(f"{PUBLIC}/{draft['id']}")).json()["data"]
    assert detail["status"] == "draft" and detail["entries"] == []  # entries hidden before voting
    assert (
        len(
            (await client.get(f"{PUBLIC}/{draft['id']}", headers=headers)).json()["data"]["entries"]
        )
        == 4
    )
    _, plain = await member(app, factory)
    assert (await client.get(f"{PUBLIC}/{draft['id']}", headers=plain)).json()["data"][
        "entries"
    ] == []
    draft_results = await client.get(f"{PUBLIC}/{draft['id']}/results", headers=plain)
    assert (
        draft_results.status_code == 403
        and draft_results.json()["error"] == "Results not yet available"
    )
    assert len((await client.get(f"{PUBLIC}/{live['id']}")).json()["data"]["entries"]) == 4
    results = await client.get(f"{PUBLIC}/{live['id']}/results")
    assert results.status_code == 403 and results.json()["error"] == "Results not yet available"
    listed = {c["id"]: c for c in (await client.get(PUBLIC)).json()["data"]}
    assert listed[draft["id"]]["entries"] == [] and len(listed[live["id"]]["entries"]) == 4


async def test_list_hides_campaigns_the_viewer_cannot_view(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    public = await make_campaign(client, headers, activate=True, title="Public")
    await make_campaign(
        client, headers, activate=True, title="Veterans", min_rank_to_view=3, min_rank_to_vote=3
    )
    _, low = await member(app, factory, level=2)
    _, vet = await member(app, factory, level=3)
    assert [c["title"] for c in (await client.get(PUBLIC)).json()["data"]] == ["Public"]
    assert [c["title"] for c in (await client.get(PUBLIC, headers=low)).json()["data"]] == [
        "Public"
    ]
    assert len((await client.get(PUBLIC, headers=vet)).json()["data"]) == 2
    assert public["status"] == "live"


# ------------------------------------------------------------------------------ clock
async def test_checker_activates_at_start_and_expires_at_end(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    start = T0 + timedelta(hours=2)
    campaign = await make_campaign(client, headers, start_at=start.isoformat(), duration_hours=24)
    cid = campaign["id"]
    assert await campaign_checker.run_checker_pass(app.state.sessionmaker) == {
        "activated": [],
        "closed": [],
        "early_closed": [],
        "skipped": False,
    }
    clock.set_now(start)
    result = await campaign_checker.run_checker_pass(app.state.sessionmaker)
    assert result["activated"] == [cid]
    data = (await client.get(f"{ADMIN}/{cid}", headers=headers)).json()["data"]
    assert data["status"] == "live" and data["start_at"] == start.isoformat()  # announced end stays
    clock.set_now(start + timedelta(hours=24))
    result = await campaign_checker.run_checker_pass(app.state.sessionmaker)
    assert result["closed"] == [cid]
    data = (await client.get(f"{ADMIN}/{cid}", headers=headers)).json()["data"]
    assert data["status"] == "closed" and data["close_reason"] == "expired"
    assert data["closed_at"] == (start + timedelta(hours=24)).isoformat()
    assert await count_rows(db, "patt.campaign_results", "campaign_id = :c", c=cid) == 4


async def test_blocked_draft_stays_draft(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    few = await make_campaign(
        client, headers, entries=2, start_at=(T0 + timedelta(hours=1)).isoformat()
    )
    gone = await make_campaign(
        client, headers, start_at=(T0 - timedelta(days=30)).isoformat(), duration_hours=24
    )
    clock.set_now(T0 + timedelta(hours=2))
    result = await campaign_checker.run_checker_pass(app.state.sessionmaker)
    assert result["activated"] == []
    for campaign in (few, gone):
        assert (await client.get(f"{ADMIN}/{campaign['id']}", headers=headers)).json()["data"][
            "status"
        ] == "draft"
    # adding the missing entry lets the next request open it (reconciliation)
    await client.post(f"{ADMIN}/{few['id']}/entries", json={"name": "Third"}, headers=headers)
    assert (await client.get(f"{PUBLIC}/{few['id']}")).json()["data"]["status"] == "live"


async def test_request_after_end_sees_closed_and_final_results(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, activate=True, duration_hours=1, early_close_if_all_voted=False
    )
    _, voter = await member(app, factory)
    await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[:3]), headers=voter
    )
    clock.set_now(T0 + timedelta(hours=1, seconds=1))
    detail = (await client.get(f"{PUBLIC}/{campaign['id']}")).json()["data"]
    assert detail["status"] == "closed" and detail["close_reason"] == "expired"
    results = await client.get(f"{PUBLIC}/{campaign['id']}/results")
    assert results.status_code == 200 and results.json()["data"][0]["weighted_score"] == 3
    assert await count_rows(db, "patt.campaign_results") == 4


async def test_late_vote_is_rejected_and_the_close_sticks(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True, duration_hours=1)
    _, voter = await member(app, factory)
    clock.set_now(T0 + timedelta(hours=1, seconds=20))
    response = await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[:3]), headers=voter
    )
    assert (
        response.status_code == 409
        and response.json()["error"] == "Campaign is closed, voting not allowed"
    )
    status = await db.scalar(
        text("SELECT status FROM patt.campaigns WHERE id = :c"), {"c": campaign["id"]}
    )
    assert status == "closed"
    assert await count_rows(db, "patt.ballots") == 0


async def test_early_close_when_last_eligible_voter_votes(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True, min_rank_to_vote=4)
    await factory.member(level=4, registered=False)  # unregistered members do not block it
    _, second = await member(app, factory, level=5)
    entry_ids = ids(campaign)
    first = await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=picks(entry_ids[:3]), headers=headers
    )
    assert first.status_code == 201
    assert (await client.get(f"{ADMIN}/{campaign['id']}/stats", headers=headers)).json()[
        "data"
    ] == {
        "total_eligible": 2,
        "total_voted": 1,
        "percent_voted": 50.0,
        "all_voted": False,
    }
    assert (await client.get(f"{PUBLIC}/{campaign['id']}")).json()["data"]["status"] == "live"
    await client.post(f"{PUBLIC}/{campaign['id']}/vote", json=picks(entry_ids[1:4]), headers=second)
    data = (await client.get(f"{PUBLIC}/{campaign['id']}")).json()["data"]
    assert data["status"] == "closed" and data["close_reason"] == "early_close"
    stats = (await client.get(f"{ADMIN}/{campaign['id']}/stats", headers=headers)).json()["data"]
    assert stats == {
        "total_eligible": 2,
        "total_voted": 2,
        "percent_voted": 100.0,
        "all_voted": True,
    }


async def test_demoted_voter_does_not_fake_completion(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True, min_rank_to_vote=3)
    voter, voter_headers = await member(app, factory, level=3)
    await member(app, factory, level=3)
    await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[:3]), headers=voter_headers
    )
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE common.guild_members SET rank_id = (SELECT id FROM common.guild_ranks WHERE level = 1) WHERE id = :m"
            ),
            {"m": voter.id},
        )
    stats = (await client.get(f"{ADMIN}/{campaign['id']}/stats", headers=headers)).json()["data"]
    # officer (4) + the other veteran are eligible; one ballot exists but not from an eligible voter
    assert (
        stats["total_eligible"] == 2 and stats["total_voted"] == 1 and stats["all_voted"] is False
    )
    assert await campaign_checker.check_early_close(app.state.sessionmaker, campaign["id"]) is False


async def test_no_early_close_with_zero_eligible_or_when_disabled(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    nobody = await make_campaign(client, headers, activate=True, min_rank_to_vote=5)
    disabled = await make_campaign(client, headers, activate=True, early_close_if_all_voted=False)
    stats = (await client.get(f"{ADMIN}/{nobody['id']}/stats", headers=headers)).json()["data"]
    assert stats == {
        "total_eligible": 0,
        "total_voted": 0,
        "percent_voted": 0.0,
        "all_voted": False,
    }
    _, voter = await member(app, factory)
    await client.post(
        f"{PUBLIC}/{disabled['id']}/vote", json=picks(ids(disabled)[:3]), headers=voter
    )
    await client.post(
        f"{PUBLIC}/{disabled['id']}/vote", json=picks(ids(disabled)[:3]), headers=headers
    )
    result = await campaign_checker.run_checker_pass(app.state.sessionmaker)
    assert result["early_closed"] == []
    for campaign in (nobody, disabled):
        assert (await client.get(f"{PUBLIC}/{campaign['id']}")).json()["data"]["status"] == "live"


async def test_checker_early_closes_and_parallel_passes_act_once(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, activate=True, min_rank_to_vote=4, early_close_if_all_voted=False
    )
    expiring = await make_campaign(client, headers, activate=True, duration_hours=1)
    await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[:3]), headers=headers
    )
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE patt.campaigns SET early_close_if_all_voted = true WHERE id = :c"),
            {"c": campaign["id"]},
        )
    clock.set_now(T0 + timedelta(hours=2))
    first, second = await asyncio.gather(
        campaign_checker.run_checker_pass(app.state.sessionmaker),
        campaign_checker.run_checker_pass(app.state.sessionmaker),
    )
    closed = first["closed"] + second["closed"]
    early = first["early_closed"] + second["early_closed"]
    assert closed == [expiring["id"]] and early == [campaign["id"]]
    assert await count_rows(db, "patt.campaign_results", "campaign_id = :c", c=campaign["id"]) == 4
    assert await count_rows(db, "patt.campaign_results", "campaign_id = :c", c=expiring["id"]) == 4


async def test_checker_hooks_start_and_stop_the_loop(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers)
    clock.reset()
    async with app.state.sessionmaker() as session, session.begin():  # due now, not reconciled
        await session.execute(
            text("UPDATE patt.campaigns SET start_at = now() - interval '1 minute' WHERE id = :c"),
            {"c": campaign["id"]},
        )
    app.state.settings = app.state.settings.model_copy(
        update={"campaign_checker_enabled": True, "campaign_check_interval_seconds": 1}
    )
    assert campaign_checker.start_checker in app.state.startup_hooks
    assert campaign_checker.stop_checker in app.state.shutdown_hooks
    await campaign_checker.start_checker(app)
    try:
        status = None
        for _ in range(50):
            async with app.state.sessionmaker() as session:
                status = await session.scalar(
                    text("SELECT status FROM patt.campaigns WHERE id = :c"), {"c": campaign["id"]}
                )
            if status == "live":
                break
            await asyncio.sleep(0.1)
        assert status == "live"
    finally:
        await campaign_checker.stop_checker(app)
    assert app.state.campaign_checker is None


async def test_checker_is_off_when_disabled(app: Any) -> None:
    await campaign_checker.start_checker(app)  # test settings: CAMPAIGN_CHECKER_ENABLED=false
    assert getattr(app.state, "campaign_checker", None) is None


async def test_events_are_delivered_after_commit(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    received: list[dict[str, Any]] = []
    campaign_events.add_event_listener(received.append)
    try:
        headers = await officer(app, factory)
        campaign = await make_campaign(client, headers, activate=True)
        await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
        await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)  # 409: no event
    finally:
        campaign_events.remove_event_listener(received.append)
    assert [(e["event"], e["campaign_id"]) for e in received] == [
        ("campaign_activated", campaign["id"]),
        ("campaign_closed", campaign["id"]),
    ]
    assert received[1]["reason"] == "manual"


async def test_nav_vote_lookup_picks_the_visible_campaign_ending_soonest(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    gated = await make_campaign(
        client, headers, activate=True, duration_hours=10, min_rank_to_view=2, min_rank_to_vote=2
    )
    later = await make_campaign(client, headers, activate=True, duration_hours=50)
    await make_campaign(client, headers, duration_hours=1)  # drafts never count

    class Viewer:
        def __init__(self, level: int) -> None:
            self.rank = type("Rank", (), {"level": level})()

    lookup = campaign_checker.nav_vote_url
    assert await lookup(app.state.sessionmaker, Viewer(1)) == f"/vote/{later['id']}"  # type: ignore[arg-type]
    assert await lookup(app.state.sessionmaker, Viewer(2)) == f"/vote/{gated['id']}"  # type: ignore[arg-type]
    clock.set_now(T0 + timedelta(hours=11))  # the gated one has ended (not yet reconciled)
    assert await lookup(app.state.sessionmaker, Viewer(2)) == f"/vote/{later['id']}"  # type: ignore[arg-type]
    assert app.state.nav_vote_lookup is not None


# ------------------------------------------------------------------------------ export & recount
async def test_ballot_export_is_anonymised_and_officer_only(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True, early_close_if_all_voted=False)
    url = f"{ADMIN}/{campaign['id']}/ballots"
    early = await client.get(url, headers=headers)
    assert early.status_code == 409
    voters = [await member(app, factory) for _ in range(3)]
    for index, (_, voter_headers) in enumerate(voters):
        order = ids(campaign)[index:] + ids(campaign)[:index]
        await client.post(
            f"{PUBLIC}/{campaign['id']}/vote", json=picks(order[:3]), headers=voter_headers
        )
    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
    _, plain = await member(app, factory)
    assert (await client.get(url, headers=plain)).status_code == 403
    assert (await client.get(url)).status_code == 401
    data = (await client.get(url, headers=headers)).json()["data"]
    assert data["ballot_count"] == 3 and data["counting_method"] == "weighted"
    # picks and the ballot's receipt (40 §9.1), nothing that names the voter or the time
    assert all(set(ballot) == {"picks", "receipt"} for ballot in data["ballots"])
    text_body = str(data)
    for handle, _ in voters:
        assert "member_id" not in text_body and f"'{handle.discord_username}'" not in text_body
    csv_response = await client.get(url, params={"format": "csv"}, headers=headers)
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    lines = csv_response.text.strip().splitlines()
    assert lines[0] == "ballot,rank_1,rank_2,rank_3" and len(lines) == 4
    assert (await client.get(url, params={"format": "xml"}, headers=headers)).status_code == 422


async def test_recount_matches_and_detects_tampering(
    app: Any, client: httpx.AsyncClient, factory: Factory, tmp_path: Any
) -> None:
    from patt.campaigns.results import recount as recount_campaign

    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True, early_close_if_all_voted=False)
    for index in range(4):
        _, voter = await member(app, factory)
        order = ids(campaign)[index:] + ids(campaign)[:index]
        await client.post(f"{PUBLIC}/{campaign['id']}/vote", json=picks(order[:3]), headers=voter)
    live = await client.post(f"{ADMIN}/{campaign['id']}/activate", headers=headers)
    assert live.status_code == 409
    async with app.state.sessionmaker() as session:
        with pytest.raises(Exception, match="closed"):
            await recount_campaign(session, campaign["id"])
    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
    async with app.state.sessionmaker() as session:
        report = await recount_campaign(session, campaign["id"])
    assert report["matches"] is True and report["ballots"] == 4 and report["differences"] == []
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE patt.campaign_results SET weighted_score = weighted_score + 5 WHERE campaign_id = :c AND final_rank = 1"
            ),
            {"c": campaign["id"]},
        )
    async with app.state.sessionmaker() as session:
        report = await recount_campaign(session, campaign["id"])
    assert report["matches"] is False and report["differences"]

    from patt import cli

    settings = app.state.settings.model_copy(update={"database_url": app.state.database_url})
    parser = cli.build_parser()
    args = parser.parse_args(["campaign", "recount", str(campaign["id"])])
    code = await asyncio.to_thread(args.handler, args, settings)
    assert code == 3
    missing = parser.parse_args(["campaign", "recount", "999"])
    with pytest.raises(Exception, match="not found"):
        await asyncio.to_thread(missing.handler, missing, settings)


# ------------------------------------------------------------------------------ counting methods
async def test_irv_campaign_stores_rounds_and_recounts(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    from patt.campaigns.results import recount as recount_campaign

    headers = await officer(app, factory)
    campaign = await make_campaign(
        client,
        headers,
        activate=True,
        counting_method="irv",
        picks_per_voter=2,
        early_close_if_all_voted=False,
        entries=3,
    )
    dragon, phoenix, gryphon = ids(campaign)
    plan = [[dragon, gryphon]] * 4 + [[phoenix, dragon]] * 3 + [[gryphon, phoenix]] * 2
    for ballot in plan:
        _, voter = await member(app, factory)
        assert (
            await client.post(f"{PUBLIC}/{campaign['id']}/vote", json=picks(ballot), headers=voter)
        ).status_code == 201
    await client.post(f"{ADMIN}/{campaign['id']}/close", headers=headers)
    rows = (await client.get(f"{PUBLIC}/{campaign['id']}/results")).json()["data"]
    assert [r["entry"]["id"] for r in rows] == [phoenix, dragon, gryphon]
    assert rows[0]["weighted_score"] == 5 and rows[0]["first_place_count"] == 3
    details = rows[0]["method_details"]
    assert details["method"] == "irv" and details["votes_by_round"] == [3, 5]
    assert details["summary"]["rounds"][0]["eliminated"] == gryphon
    async with app.state.sessionmaker() as session:
        assert (await recount_campaign(session, campaign["id"]))["matches"] is True


async def test_schulze_live_standings(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, activate=True, counting_method="schulze", early_close_if_all_voted=False
    )
    _, voter = await member(app, factory)
    await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[1:4]), headers=voter
    )
    rows = (await client.get(f"{PUBLIC}/{campaign['id']}/results", headers=voter)).json()["data"]
    assert rows[0]["entry"]["id"] == ids(campaign)[1] and rows[0]["weighted_score"] == 3
    assert rows[0]["method_details"]["method"] == "schulze"


async def test_weighted_results_for_2000_ballots_compute_quickly(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=0, early_close_if_all_voted=False)
    cid = campaign["id"]
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO patt.campaign_entries (campaign_id, name, sort_order) "
                "SELECT :c, 'Entry ' || g, g FROM generate_series(1, 30) g"
            ),
            {"c": cid},
        )
        await session.execute(
            text("UPDATE patt.campaigns SET status = 'live', activated_at = now() WHERE id = :c"),
            {"c": cid},
        )
        await session.execute(
            text(
                "INSERT INTO common.guild_members (display_name, rank_id) "
                "SELECT 'Bulk ' || g, (SELECT id FROM common.guild_ranks WHERE level = 2) FROM generate_series(1, 2000) g"
            )
        )
        await session.execute(
            text(
                "INSERT INTO patt.ballots (campaign_id, member_id) "
                "SELECT :c, id FROM common.guild_members WHERE display_name LIKE 'Bulk %'"
            ),
            {"c": cid},
        )
        await session.execute(
            text(
                "INSERT INTO patt.votes (ballot_id, campaign_id, member_id, entry_id, rank) "
                "SELECT b.id, b.campaign_id, b.member_id, e.id, r.rank "
                "FROM patt.ballots b CROSS JOIN generate_series(1, 3) AS r(rank) "
                "JOIN patt.campaign_entries e ON e.campaign_id = b.campaign_id "
                "AND e.sort_order = 1 + (b.id * 7 + r.rank) % 30 "
                "WHERE b.campaign_id = :c"
            ),
            {"c": cid},
        )
        await session.execute(text("ANALYZE patt.votes"))
    async with app.state.sessionmaker() as session:
        from sv_common.db.models import Campaign

        model = await session.get(Campaign, cid)
        await campaign_results.compute_live_results(session, model)  # warm up
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            rows = await campaign_results.compute_live_results(session, model)
            timings.append(time.perf_counter() - started)
    assert len(rows) == 30
    assert sum(r["first_place_count"] for r in rows) == 2000
    assert min(timings) < 0.05, timings
    async with app.state.sessionmaker() as session, session.begin():
        model = await session.get(Campaign, cid)
        started = time.perf_counter()
        await campaign_results.store_final_results(session, model)
        assert time.perf_counter() - started < 0.1


# ------------------------------------------------------------------------------ review fixes
NUL = "\u0000"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": f"Art{NUL}Vote"}, "title"),
        ({"description": f"Pick{NUL}"}, "description"),
    ],
)
async def test_nul_in_campaign_text_is_422_naming_the_field(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    db: Any,
    change: dict[str, Any],
    field: str,
) -> None:
    headers = await officer(app, factory)
    created = await client.post(ADMIN, json=campaign_body(**change), headers=headers)
    assert created.status_code == 422, created.text
    assert (
        created.json()["error"] == f"Invalid value for '{field}': must not contain NUL characters"
    )
    assert await count_rows(db, "patt.campaigns") == 0
    campaign = await make_campaign(client, headers, entries=0)
    patched = await client.patch(f"{ADMIN}/{campaign['id']}", json=change, headers=headers)
    assert patched.status_code == 422 and f"'{field}'" in patched.json()["error"]
    after = (await client.get(f"{ADMIN}/{campaign['id']}", headers=headers)).json()["data"]
    assert after == campaign


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": f"Dra{NUL}gon"}, "name"),
        ({"description": f"fiery{NUL}"}, "description"),
        ({"image_url": f"https://art.example/{NUL}.png"}, "image_url"),
    ],
)
async def test_nul_in_entry_text_is_422_naming_the_field(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    db: Any,
    change: dict[str, Any],
    field: str,
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=1)
    added = await client.post(
        f"{ADMIN}/{campaign['id']}/entries", json={"name": "Art", **change}, headers=headers
    )
    assert added.status_code == 422, added.text
    assert added.json()["error"] == f"Invalid value for '{field}': must not contain NUL characters"
    patched = await client.patch(
        f"/api/v1/admin/campaign-entries/{ids(campaign)[0]}", json=change, headers=headers
    )
    assert patched.status_code == 422 and f"'{field}'" in patched.json()["error"]
    after = (await client.get(f"{ADMIN}/{campaign['id']}", headers=headers)).json()["data"]
    assert after == campaign


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_extreme_start_with_an_offset_is_422(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, start: str
) -> None:
    headers = await officer(app, factory)
    created = await client.post(ADMIN, json=campaign_body(start_at=start), headers=headers)
    assert created.status_code == 422, created.text
    assert (
        created.json()["error"]
        == "Invalid value for 'start_at': must be between the years 2000 and 9000"
    )
    assert await count_rows(db, "patt.campaigns") == 0
    campaign = await make_campaign(client, headers, entries=0)
    patched = await client.patch(
        f"{ADMIN}/{campaign['id']}", json={"start_at": start}, headers=headers
    )
    assert patched.status_code == 422, patched.text
    assert "between the years 2000 and 9000" in patched.json()["error"]
    after = (await client.get(f"{ADMIN}/{campaign['id']}", headers=headers)).json()["data"]
    assert after == campaign


async def test_deeply_nested_vote_body_is_400(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, activate=True)
    body = b'{"picks":' + b"[" * 1200 + b"]" * 1200 + b"}"
    response = await client.post(
        f"{PUBLIC}/{campaign['id']}/vote",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json() == {"ok": False, "error": "Malformed JSON body."}
    assert await count_rows(db, "patt.ballots") == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://art.example/a.png",
        "HTTP://art.example/a.png",
        "/static/../secrets.png",
        "/static/img/../../app.py",
        "/static/%2e%2e/app.py",
        "/static/img/%2E%2E/x.png",
        "/static/img\\..\\x.png",
        "/static//evil.example/a.png",
        "/static/img//a.png",
        "/static/",
    ],
)
async def test_image_url_must_be_https_or_a_clean_static_path(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, url: str
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=1)
    added = await client.post(
        f"{ADMIN}/{campaign['id']}/entries", json={"name": "Art", "image_url": url}, headers=headers
    )
    assert added.status_code == 422, added.text
    assert added.json()["error"] == (
        "Invalid value for 'image_url': must be an https:// URL or a path under /static/ "
        "(no '..', '%2e', backslashes or '//')"
    )
    patched = await client.patch(
        f"/api/v1/admin/campaign-entries/{ids(campaign)[0]}",
        json={"image_url": url},
        headers=headers,
    )
    assert patched.status_code == 422
    assert await count_rows(db, "patt.campaign_entries") == 1


async def test_image_url_accepts_https_and_static_paths(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=0)
    for url in (
        "https://art.example/a.png?x=1",
        "HTTPS://Art.Example/B.PNG",
        "/static/img/a.b.png",
    ):
        added = await client.post(
            f"{ADMIN}/{campaign['id']}/entries",
            json={"name": "Art", "image_url": url},
            headers=headers,
        )
        assert added.status_code == 201, added.text
        assert added.json()["data"]["image_url"] == url


async def test_status_pass_uses_the_injected_now_for_early_close(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, activate=True, min_rank_to_vote=4, early_close_if_all_voted=False
    )
    await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[:3]), headers=headers
    )
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE patt.campaigns SET early_close_if_all_voted = true WHERE id = :c"),
            {"c": campaign["id"]},
        )
    later = T0 + timedelta(hours=5)  # the clock itself stays at T0
    result = await campaign_checker.run_status_pass(app.state.sessionmaker, later)
    assert result["early_closed"] == [campaign["id"]]
    data = (await client.get(f"{PUBLIC}/{campaign['id']}")).json()["data"]
    assert data["close_reason"] == "early_close"
    assert data["closed_at"] == later.isoformat()

    # and a `now` past the end does not early-close (the expiry step owns that campaign)
    other = await make_campaign(
        client, headers, activate=True, min_rank_to_vote=4, early_close_if_all_voted=False
    )
    await client.post(f"{PUBLIC}/{other['id']}/vote", json=picks(ids(other)[:3]), headers=headers)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE patt.campaigns SET early_close_if_all_voted = true WHERE id = :c"),
            {"c": other["id"]},
        )
    past_end = T0 + timedelta(hours=200)
    closed = await campaign_checker.check_early_close(
        app.state.sessionmaker, other["id"], now=past_end
    )
    assert closed is False


async def test_patch_entry_reconciles_its_campaign_first(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=3)
    clock.set_now(T0 + timedelta(days=1, minutes=1))  # start_at has passed
    response = await client.patch(
        f"/api/v1/admin/campaign-entries/{ids(campaign)[0]}", json={"name": "X"}, headers=headers
    )
    assert response.status_code == 409, response.text
    assert (
        response.json()["error"] == "Entries can only be changed while campaign is in draft status"
    )
    data = (await client.get(f"{ADMIN}/{campaign['id']}", headers=headers)).json()["data"]
    assert data["status"] == "live" and data["entries"][0]["name"] == "Dragon"


async def test_live_results_of_a_draft_answer_like_results(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(client, headers, entries=3)
    _, voter = await member(app, factory)
    for who in (headers, voter):
        results = await client.get(f"{PUBLIC}/{campaign['id']}/results", headers=who)
        live = await client.get(f"{PUBLIC}/{campaign['id']}/results/live", headers=who)
        assert results.status_code == live.status_code == 403
        assert live.json()["error"] == results.json()["error"] == "Results not yet available"


async def test_vote_service_check_early_close_entry_point(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await officer(app, factory)
    campaign = await make_campaign(
        client, headers, activate=True, min_rank_to_vote=4, early_close_if_all_voted=False
    )
    factory_ = app.state.sessionmaker
    assert await campaign_checker.check_early_close(factory_, campaign["id"]) is False  # disabled
    await client.post(
        f"{PUBLIC}/{campaign['id']}/vote", json=picks(ids(campaign)[:3]), headers=headers
    )
    async with factory_() as session, session.begin():
        await session.execute(
            text("UPDATE patt.campaigns SET early_close_if_all_voted = true WHERE id = :c"),
            {"c": campaign["id"]},
        )
    assert await campaign_checker.check_early_close(factory_, campaign["id"]) is True
    data = (await client.get(f"{PUBLIC}/{campaign['id']}")).json()["data"]
    assert data["status"] == "closed" and data["close_reason"] == "early_close"
    assert (
        await campaign_checker.check_early_close(factory_, campaign["id"]) is False
    )  # already closed


# ------------------------------------------------------------------------------ migration
def test_migration_0002_downgrades_and_upgrades() -> None:
    admin = os.environ.get("TEST_DATABASE_URL") or _server_admin_url()
    name = f"patt_mig2_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin, name)

    def columns(table: str) -> set[str]:
        engine = create_engine(to_sync_url(url))
        try:
            return {c["name"] for c in inspect(engine).get_columns(table, schema="patt")}
        finally:
            engine.dispose()

    try:
        migrate.upgrade(url)
        assert "counting_method" in columns("campaigns")
        assert "method_details" in columns("campaign_results")
        migrate.downgrade(url, "0001_base_schema")
        assert "counting_method" not in columns("campaigns")
        assert "method_details" not in columns("campaign_results")
        migrate.upgrade(url)
        assert migrate.current_revision(url) == migrate.head_revision()
    finally:
        with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
