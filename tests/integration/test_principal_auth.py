"""The fast read paths keep every authentication rule: a token or login cookie is refused once
expired, signed out or deactivated, and rank changes apply on the very next request — on the API
(`/api/v1/auth/me`, `roster-data`) and on pages (`/`, `/roster-view`). Passwords are checked
off the event loop."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text
from tests.conftest import Factory, MemberHandle

from patt.deps import OfficerPrincipal
from sv_common import clock
from sv_common.auth import passwords

ME = "/api/v1/auth/me"
ROSTER_DATA = "/api/v1/guild/roster-data"


async def execute(app: Any, sql: str, **params: Any) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text(sql), params)


def page(client: httpx.AsyncClient, path: str, member: MemberHandle) -> Any:
    return client.get(path, headers={"Cookie": f"patt_token={member.token}"})


def signed_in_as(response: httpx.Response, member: MemberHandle) -> bool:
    return f'<span class="nav-user__name">{member.display_name}</span>' in response.text


def session_cookie_dropped(response: httpx.Response) -> bool:
    return any(
        value.startswith("patt_token=") and ("Max-Age=0" in value or "expires=" in value.lower())
        for value in response.headers.get_list("set-cookie")
    )


async def assert_refused_everywhere(
    client: httpx.AsyncClient, member: MemberHandle, message: str
) -> None:
    """401 with `message` on the API; pages show an anonymous visitor and drop the cookie."""
    me = await client.get(ME, headers=member.headers)
    assert me.status_code == 401
    assert me.json() == {"ok": False, "error": message}
    roster = await client.get(ROSTER_DATA, headers=member.headers)
    assert roster.status_code == 401
    assert roster.json()["success"] is False
    # the campaign reads look the caller up in their own statement: refused the same way
    for path in ("/api/v1/campaigns", "/api/v1/campaigns/1/results"):
        refused = await client.get(path, headers=member.headers)
        assert refused.status_code == 401, path
        assert refused.json() == {"ok": False, "error": message}
    for path in ("/", "/roster-view"):
        response = await page(client, path, member)
        assert response.status_code == 200
        assert not signed_in_as(response, member)
        assert session_cookie_dropped(response)


async def test_a_valid_token_works_everywhere(client: httpx.AsyncClient, factory: Factory) -> None:
    member = await factory.member(level=2, display_name="Rae")
    me = await client.get(ME, headers=member.headers)
    assert me.status_code == 200
    assert me.json()["data"]["display_name"] == "Rae"
    assert (await client.get(ROSTER_DATA, headers=member.headers)).status_code == 200
    listed = await client.get("/api/v1/campaigns", headers=member.headers)
    assert listed.status_code == 200 and listed.json() == {"ok": True, "data": []}
    missing = await client.get("/api/v1/campaigns/1/results", headers=member.headers)
    assert missing.status_code == 404
    for path in ("/", "/roster-view"):
        response = await page(client, path, member)
        assert signed_in_as(response, member)
        assert not session_cookie_dropped(response)


async def test_expired_token_is_refused(client: httpx.AsyncClient, factory: Factory) -> None:
    member = await factory.member()
    clock.set_now(clock.now() + timedelta(minutes=61))  # factory tokens live 60 minutes
    await assert_refused_everywhere(client, member, "Token has expired.")


async def test_signed_out_token_is_refused(client: httpx.AsyncClient, factory: Factory) -> None:
    member = await factory.member()
    assert (await client.post("/api/v1/auth/logout", headers=member.headers)).status_code == 200
    await assert_refused_everywhere(client, member, "Session ended; log in again.")


async def test_deactivated_account_is_refused(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    await execute(
        app, "UPDATE common.users SET is_active = false WHERE id = :id", id=member.user_id
    )
    await assert_refused_everywhere(client, member, "Invalid token.")


async def test_member_moved_to_another_rank_must_sign_in_again(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(level=2)
    assert (await client.get(ME, headers=member.headers)).status_code == 200
    await execute(
        app,
        "UPDATE common.guild_members SET rank_id = :rank WHERE id = :id",
        rank=await factory.rank_id(4),
        id=member.id,
    )
    await assert_refused_everywhere(client, member, "Session ended; log in again.")


async def test_rank_renamed_or_relevelled_shows_on_the_next_request(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(level=2)
    roster = (await client.get(ROSTER_DATA, headers=member.headers)).json()
    assert roster["discordIds"] == {} and roster["validationIssues"] == []

    await execute(
        app, "UPDATE common.guild_ranks SET name = 'Raid Lead', level = 7 WHERE level = 2"
    )
    me = (await client.get(ME, headers=member.headers)).json()["data"]
    assert me["rank"]["name"] == "Raid Lead" and me["rank"]["level"] == 7
    landing = await page(client, "/", member)
    assert '<span class="nav-user__rank">Raid Lead</span>' in landing.text
    assert 'href="/admin' in landing.text  # the officer navigation, same token
    # officer-only roster data for the same token, no new sign-in needed
    await execute(
        app,
        "UPDATE common.guild_members SET on_raid_roster = true, discord_username = 'bad name'"
        " WHERE id = :id",
        id=member.id,
    )
    roster = (await client.get(ROSTER_DATA, headers=member.headers)).json()
    assert roster["validationIssues"] == [
        {"name": "bad name", "status": "Invalid Format", "hasId": False}
    ]

    await execute(app, "UPDATE common.guild_ranks SET level = 2 WHERE level = 7")
    roster = (await client.get(ROSTER_DATA, headers=member.headers)).json()
    assert roster["validationIssues"] == []
    assert 'href="/admin' not in (await page(client, "/", member)).text


async def test_officer_principal_gate_follows_the_current_rank_level(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    async def officers_only(principal: OfficerPrincipal) -> dict[str, int]:
        return {"level": principal.rank.level}

    app.add_api_route("/api/v1/test-officer-principal", officers_only)
    member = await factory.member(level=3)
    refused = await client.get("/api/v1/test-officer-principal", headers=member.headers)
    assert refused.status_code == 403
    assert refused.json() == {"ok": False, "error": "Requires rank level 4 or higher."}
    assert (await client.get("/api/v1/test-officer-principal")).status_code == 401
    await execute(app, "UPDATE common.guild_ranks SET level = 9 WHERE level = 3")
    allowed = await client.get("/api/v1/test-officer-principal", headers=member.headers)
    assert allowed.json() == {"level": 9}


async def test_vote_link_follows_the_viewers_current_rank(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        campaign_id = await session.scalar(
            text(
                "INSERT INTO patt.campaigns (title, min_rank_to_vote, min_rank_to_view, start_at,"
                " duration_hours, status) VALUES ('Officer poll', 4, 4, :start, 24, 'live')"
                " RETURNING id"
            ),
            {"start": clock.now() - timedelta(hours=1)},
        )
    member = await factory.member(level=3)
    landing = await page(client, "/", member)
    assert "Officer poll" not in landing.text
    for path in ("/", "/roster-view", "/roster"):
        assert f'href="/vote/{campaign_id}"' not in (await page(client, path, member)).text
    await execute(app, "UPDATE common.guild_ranks SET level = 9 WHERE level = 3")
    landing = await page(client, "/", member)
    assert "Officer poll" in landing.text
    for path in ("/", "/roster-view", "/roster"):
        assert f'href="/vote/{campaign_id}"' in (await page(client, path, member)).text


async def test_passwords_are_checked_off_the_event_loop(
    app: Any, client: httpx.AsyncClient, factory: Factory, monkeypatch: Any
) -> None:
    member = await factory.member(username="threaded")
    loop_thread = threading.get_ident()
    checked_on: list[int] = []
    real_check = passwords.bcrypt.checkpw

    def recording_check(plain: bytes, hashed: bytes) -> bool:
        checked_on.append(threading.get_ident())
        return real_check(plain, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", recording_check)
    for password in (member.password, "wrong-password-1"):
        await client.post(
            "/api/v1/auth/login", json={"discord_username": "threaded", "password": password}
        )
    await client.post(
        "/api/v1/auth/login", json={"discord_username": "nobody", "password": "whatever-1"}
    )
    assert len(checked_on) == 3  # right, wrong, and the unknown account's dummy check
    assert loop_thread not in checked_on
