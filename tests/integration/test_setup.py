"""First-admin setup page (20 §7, 50 §4.5): setup mode, token checks, success, replay, throttle."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Factory, count_rows

from sv_common.auth import setup_token

TOKEN = "setup-token-for-tests-0123456789abcdefghij"
PASSWORD = "guild-leader-password"
INVALID_LINK = "This setup link is invalid or has expired. Restart the server to get a new one."


@pytest.fixture
async def armed(app: Any) -> str:
    """The database holds the hash of TOKEN, as `patt serve` would arrange."""
    async with app.state.sessionmaker() as session, session.begin():
        await setup_token.arm(session, setup_token.token_hash(TOKEN))
    return TOKEN


async def token_stored(app: Any) -> bool:
    async with app.state.sessionmaker() as session:
        return await setup_token.is_armed(session)


async def csrf(client: httpx.AsyncClient) -> str:
    await client.get("/login")
    return client.cookies["patt_csrf"]


def form(csrf_token: str, **overrides: str) -> dict[str, str]:
    values = {
        "csrf_token": csrf_token,
        "token": TOKEN,
        "discord_username": "guildmaster",
        "display_name": "The Boss",
        "password": PASSWORD,
        "password2": PASSWORD,
    }
    values.update(overrides)
    return values


async def users(app: Any) -> int:
    async with app.state.sessionmaker() as session:
        return await count_rows(session, "common.users")


async def members(app: Any) -> int:
    async with app.state.sessionmaker() as session:
        return await count_rows(session, "common.guild_members")


async def test_setup_is_404_outside_setup_mode(
    app: Any, client: httpx.AsyncClient, factory: Factory, armed: str
):
    await factory.officer(username="already-an-officer")
    page = await client.get(f"/setup?token={armed}")
    assert page.status_code == 404
    token = await csrf(client)
    posted = await client.post("/setup", data=form(token))
    assert posted.status_code == 404
    assert await users(app) == 1


async def test_low_rank_members_do_not_end_setup_mode(
    client: httpx.AsyncClient, factory: Factory, armed: str
):
    await factory.member(level=3, username="veteran")
    page = await client.get(f"/setup?token={armed}")
    assert page.status_code == 200


async def test_inactive_leader_does_not_end_setup_mode(
    app: Any, client: httpx.AsyncClient, factory: Factory, armed: str
):
    leader = await factory.leader(username="gone")
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE common.users SET is_active = false WHERE id = :id"), {"id": leader.user_id}
        )
    assert (await client.get(f"/setup?token={armed}")).status_code == 200


@pytest.mark.parametrize("query", ["", "?token=", "?token=wrong-token", f"?token={TOKEN}x"])
async def test_bad_or_missing_token_is_the_403_page(
    client: httpx.AsyncClient, armed: str, query: str
):
    response = await client.get(f"/setup{query}")
    assert response.status_code == 403
    assert INVALID_LINK in response.text
    assert "guildmaster" not in response.text


async def test_without_a_stored_token_every_token_is_refused(app: Any, client: httpx.AsyncClient):
    response = await client.get(f"/setup?token={TOKEN}")
    assert response.status_code == 403


async def test_setup_form_renders_with_the_token(client: httpx.AsyncClient, armed: str):
    response = await client.get(f"/setup?token={armed}")
    assert response.status_code == 200
    assert "Create the Guild Leader account" in response.text
    assert f'name="token" value="{armed}"' in response.text
    for field in ("discord_username", "display_name", "password", "password2", "csrf_token"):
        assert f'name="{field}"' in response.text


async def test_setup_success_creates_leader_logs_in_and_discards_token(
    app: Any, client: httpx.AsyncClient, armed: str
):
    token = await csrf(client)
    response = await client.post("/setup", data=form(token))
    assert response.status_code == 302
    assert response.headers["location"] == "/admin/roster"
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("patt_token="))
    assert "httponly" in session_cookie.lower() and "max-age=2592000" in session_cookie.lower()
    assert not await token_stored(app)
    async with app.state.sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT m.discord_username, m.display_name, m.rank_source, r.level, "
                    "u.is_active, m.registered_at IS NOT NULL AS registered "
                    "FROM common.guild_members m JOIN common.guild_ranks r ON r.id = m.rank_id "
                    "JOIN common.users u ON u.id = m.user_id"
                )
            )
        ).one()
    assert row.discord_username == "guildmaster"
    assert row.display_name == "The Boss"
    assert row.rank_source == "manual"
    assert row.level == 5 and row.is_active and row.registered
    # logged in as the Guild Leader, with the welcome flash
    home = await client.get("/")
    assert "The Boss" in home.text and "Guild Leader" in home.text
    assert "Welcome! Your Guild Leader account is ready." in home.text
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["data"]["rank"]["level"] == 5

    # replay: setup mode has ended
    assert (await client.get(f"/setup?token={armed}")).status_code == 404
    replay = await client.post("/setup", data=form(token, discord_username="second"))
    assert replay.status_code == 404
    assert await users(app) == 1


async def test_setup_reuses_an_existing_unregistered_member(
    app: Any, client: httpx.AsyncClient, factory: Factory, armed: str
):
    existing = await factory.member(level=1, username="GuildMaster", registered=False)
    token = await csrf(client)
    response = await client.post("/setup", data=form(token, display_name=""))
    assert response.status_code == 302
    assert await members(app) == 1
    async with app.state.sessionmaker() as session:
        level = (
            await session.execute(
                text(
                    "SELECT r.level FROM common.guild_members m "
                    "JOIN common.guild_ranks r ON r.id = m.rank_id WHERE m.id = :id"
                ),
                {"id": existing.id},
            )
        ).scalar_one()
    assert level == 5


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password2": "something-else"}, "Passwords do not match."),
        ({"password": "short", "password2": "short"}, "Password must be at least 8 characters."),
        ({"password": "x" * 73, "password2": "x" * 73}, "Password is too long."),
        ({"discord_username": "   "}, "Discord username must be 1–100 characters."),
        ({"discord_username": "u" * 101}, "Discord username must be 1–100 characters."),
        ({"display_name": "d" * 101}, "Display name must be at most 100 characters."),
    ],
)
async def test_setup_validation_errors_re_render_and_create_nothing(
    app: Any, client: httpx.AsyncClient, armed: str, overrides: dict[str, str], message: str
):
    token = await csrf(client)
    response = await client.post("/setup", data=form(token, **overrides))
    assert response.status_code == 400
    assert message in response.text
    assert f'name="token" value="{armed}"' in response.text
    assert PASSWORD not in response.text
    if "discord_username" not in overrides:
        assert 'value="guildmaster"' in response.text
    assert await users(app) == 0 and await members(app) == 0
    assert await token_stored(app)


async def test_setup_post_without_csrf_is_403_and_creates_nothing(
    app: Any, client: httpx.AsyncClient, armed: str
):
    await csrf(client)
    values = form("")
    del values["csrf_token"]
    response = await client.post("/setup", data=values)
    assert response.status_code == 403
    assert "Your form expired. Reload the page and try again." in response.text
    assert await users(app) == 0
    assert await token_stored(app)


async def test_setup_post_with_bad_token_is_403(app: Any, client: httpx.AsyncClient, armed: str):
    token = await csrf(client)
    response = await client.post("/setup", data=form(token, token="guessed"))
    assert response.status_code == 403
    assert INVALID_LINK in response.text
    assert await users(app) == 0


async def test_failed_setup_attempts_are_throttled(app: Any, client: httpx.AsyncClient, armed: str):
    headers = {"X-Forwarded-For": "203.0.113.50"}
    for i in range(5):
        assert (await client.get(f"/setup?token=guess{i}", headers=headers)).status_code == 403
    throttled = await client.get(f"/setup?token={armed}", headers=headers)
    assert throttled.status_code == 429
    assert "Too many attempts. Try again in 15 minutes." in throttled.text
    assert 0 < int(throttled.headers["Retry-After"]) <= 900
    token = await csrf(client)
    post = await client.post("/setup", data=form(token), headers=headers)
    assert post.status_code == 429
    assert await users(app) == 0
    # another address still gets through
    assert (
        await client.get(f"/setup?token={armed}", headers={"X-Forwarded-For": "203.0.113.51"})
    ).status_code == 200


async def test_two_simultaneous_setups_create_one_leader(
    app: Any, client: httpx.AsyncClient, armed: str
):
    token = await csrf(client)
    first, second = await asyncio.gather(
        client.post("/setup", data=form(token, discord_username="alpha")),
        client.post("/setup", data=form(token, discord_username="beta")),
    )
    assert sorted([first.status_code, second.status_code]) == [302, 404]
    assert await users(app) == 1 and await members(app) == 1
