"""Several app processes behave as one: throttles, the setup token and caches live in (or are
checked against) PostgreSQL. Two apps built on one database stand for two workers or hosts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Factory, reset_database

from patt.app import create_app
from patt.config import Settings
from sv_common import clock
from sv_common.auth import setup_token
from sv_common.identity import accounts
from sv_common.identity import members as member_service

LOGIN = "/api/v1/auth/login"
WRONG = {"discord_username": "publicname", "password": "not-the-password-1"}


@pytest.fixture
async def other_app(app: Any, database_url: str, settings: Settings) -> AsyncIterator[Any]:
    """A second app (another worker or host) on the same database as `app`."""
    second = create_app(settings, database_url=database_url)
    yield second
    await second.state.engine.dispose()
    await second.state.state_engine.dispose()


@pytest.fixture
async def other_client(other_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=other_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


# ----------------------------------------------------------------------- the window itself
async def test_window_limits_and_reports_retry_after(app: Any):
    clock.set_now(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))
    window = app.state.throttle_store.window("test_window", 3, 60)
    for _ in range(3):
        assert await window.retry_after("ip") == 0
        await window.hit("ip")
    assert await window.retry_after("ip") == 60
    assert await window.retry_after("other") == 0
    clock.advance(timedelta(seconds=45))
    assert await window.retry_after("ip") == 15
    clock.advance(timedelta(seconds=15))
    assert await window.retry_after("ip") == 0


async def test_window_slides_one_hit_at_a_time(app: Any):
    clock.set_now(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))
    window = app.state.throttle_store.window("test_slide", 2, 100)
    await window.hit("k")
    clock.advance(timedelta(seconds=50))
    await window.hit("k")
    assert await window.retry_after("k") == 50
    clock.advance(timedelta(seconds=50))
    assert await window.retry_after("k") == 0
    await window.hit("k")
    assert await window.retry_after("k") == 50


async def test_clear_forgets_one_key_only(app: Any):
    window = app.state.throttle_store.window("test_clear", 1, 900)
    await window.hit("user")
    await window.hit("other")
    assert await window.retry_after("user") > 0
    await window.clear("user")
    assert await window.retry_after("user") == 0
    assert await window.retry_after("other") > 0


async def test_concurrent_takes_let_exactly_the_limit_through(app: Any, other_app: Any):
    first = app.state.throttle_store.window("test_take", 3, 600)
    second = other_app.state.throttle_store.window("test_take", 3, 600)
    results = await asyncio.gather(*(w.take("shared") for w in [first, second] * 6))
    assert sorted(r == 0 for r in results).count(True) == 3
    assert all(r > 0 for r in results if r != 0)
    # refused takes stored nothing: the row still holds three hits
    async with app.state.sessionmaker() as session:
        hits = await session.scalar(
            text("SELECT cardinality(hits) FROM common.throttle_hits WHERE bucket = 'test_take'")
        )
    assert hits == 3


async def test_keys_are_stored_hashed_and_old_rows_are_pruned(app: Any):
    clock.set_now(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))
    store = app.state.throttle_store
    window = store.window("test_prune", 5, 60)
    await window.hit("alice\x00203.0.113.5")
    async with app.state.sessionmaker() as session:
        stored = (await session.execute(text("SELECT key_hash FROM common.throttle_hits"))).all()
    assert len(stored) == 1 and "alice" not in stored[0][0] and len(stored[0][0]) == 64
    clock.advance(timedelta(seconds=59))
    assert await store.prune() == 0
    clock.advance(timedelta(seconds=2))
    assert await store.prune() == 1
    assert await store.count() == 0


async def test_a_flood_of_random_usernames_is_stopped_and_refusals_store_nothing(
    app: Any, client: httpx.AsyncClient
):
    for i in range(60):
        await client.post(
            LOGIN,
            json={"discord_username": f"sprayed{i}", "password": "whatever-password"},
            headers={"X-Forwarded-For": "192.0.2.77"},
        )
    # the client is held after 20 failures, and the 40 refused attempts added no rows
    assert await app.state.throttles["login_user"].count() == 20
    assert await app.state.throttles["login_ip"].count() == 1


# ------------------------------------------------------------------- across two app processes
async def test_failed_logins_split_across_two_apps_lock_the_client(
    factory: Factory, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    victim = await factory.member(username="publicname")
    headers = {"X-Forwarded-For": "203.0.113.40"}
    for i in range(5):  # 3 failures on one worker, 2 on the other
        http = client if i % 2 == 0 else other_client
        assert (await http.post(LOGIN, json=WRONG, headers=headers)).status_code == 401
    right = {"discord_username": "publicname", "password": victim.password}
    for http in (client, other_client):
        refused = await http.post(LOGIN, json=right, headers=headers)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
    # the per-client limit (20 in all) also counts on both
    for i in range(15):
        http = client if i % 2 == 0 else other_client
        body = {"discord_username": f"someone{i}", "password": "wrong-password-1"}
        assert (await http.post(LOGIN, json=body, headers=headers)).status_code == 401
    last = await other_client.post(
        LOGIN, json={"discord_username": "yet-another", "password": "x" * 10}, headers=headers
    )
    assert last.status_code == 429


async def test_a_successful_login_on_one_app_clears_the_counter_for_both(
    factory: Factory, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    victim = await factory.member(username="publicname")
    headers = {"X-Forwarded-For": "203.0.113.41"}
    for _ in range(4):
        await client.post(LOGIN, json=WRONG, headers=headers)
    right = {"discord_username": "publicname", "password": victim.password}
    assert (await other_client.post(LOGIN, json=right, headers=headers)).status_code == 200
    for _ in range(4):  # four more failures are allowed again
        assert (await client.post(LOGIN, json=WRONG, headers=headers)).status_code == 401


async def test_setup_link_armed_by_one_process_works_on_another_and_dies_everywhere(
    app: Any, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    async with app.state.sessionmaker() as session, session.begin():
        token = await setup_token.create(session)
    assert (await other_client.get(f"/setup?token={token}")).status_code == 200
    assert (await client.get(f"/setup?token={token}")).status_code == 200
    await other_client.get("/login")
    csrf = other_client.cookies["patt_csrf"]
    created = await other_client.post(
        "/setup",
        data={
            "csrf_token": csrf,
            "token": token,
            "discord_username": "guildmaster",
            "display_name": "",
            "password": "guild-leader-password",
            "password2": "guild-leader-password",
        },
    )
    assert created.status_code == 302
    assert (await client.get(f"/setup?token={token}")).status_code == 404
    async with app.state.sessionmaker() as session:
        assert not await setup_token.is_armed(session)


async def test_a_guild_leader_made_elsewhere_discards_the_stored_link(
    app: Any, client: httpx.AsyncClient
):
    async with app.state.sessionmaker() as session, session.begin():
        token = await setup_token.create(session)
    async with app.state.sessionmaker() as session, session.begin():  # e.g. `patt create-admin`
        await accounts.create_guild_leader(
            session, discord_username="cli-leader", password="guild-leader-password"
        )
    async with app.state.sessionmaker() as session:
        assert not await setup_token.is_armed(session)
        assert not await setup_token.matches(session, token)
    assert (await client.get(f"/setup?token={token}")).status_code == 404


async def test_a_new_start_in_setup_mode_replaces_the_old_link(app: Any):
    async with app.state.sessionmaker() as session, session.begin():
        old = await setup_token.create(session)
    async with app.state.sessionmaker() as session, session.begin():
        new = await setup_token.create(session)
    async with app.state.sessionmaker() as session:
        assert await setup_token.matches(session, new)
        assert not await setup_token.matches(session, old)
        assert not await setup_token.matches(session, "")
        assert not await setup_token.matches(session, "x" * 500)


async def test_public_roster_cached_in_one_app_is_rebuilt_after_another_app_writes(
    client: httpx.AsyncClient, other_app: Any
):
    before = (await client.get("/api/v1/guild/roster")).json()
    assert (await client.get("/api/v1/guild/roster")).json() == before  # served from the cache
    async with other_app.state.sessionmaker() as session, session.begin():
        await member_service.create_member(session, actor=None, display_name="Newcomer")
    after = (await client.get("/api/v1/guild/roster")).json()
    names = [m["display_name"] for m in after["data"]["members"]]
    assert "Newcomer" in names and after != before


async def test_raid_roster_cached_in_one_app_is_rebuilt_after_a_sign_up_on_another(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    before = (await client.get("/api/v1/guild/roster-data")).json()
    assert "stabbyrae" not in str(before)
    other_client.cookies.set("patt_csrf", "csrf-token-for-tests-0123456789")
    submitted = await other_client.post(
        "/api/v1/guild/roster-submit",
        json={
            "discordName": "stabbyrae",
            "characterName": "Shivvy",
            "class": "Rogue",
            "spec": "Outlaw",
            "role": "Melee",
            "mainAlt": "Main",
            "availability": {"thursday": True},
            "autoSignup": True,
            "wantsReminders": False,
            "notes": "",
        },
        headers={"X-CSRF-Token": "csrf-token-for-tests-0123456789"},
    )
    assert submitted.status_code == 200, submitted.text
    after = (await client.get("/api/v1/guild/roster-data")).json()
    assert "stabbyrae" in str(after)


async def test_reset_between_tests_empties_the_shared_tables(app: Any):
    await app.state.throttles["login_ip"].hit("198.51.100.1")
    async with app.state.sessionmaker() as session, session.begin():
        await setup_token.create(session)
    await reset_database(app)
    assert await app.state.throttle_store.count() == 0
    async with app.state.sessionmaker() as session:
        assert not await setup_token.is_armed(session)
