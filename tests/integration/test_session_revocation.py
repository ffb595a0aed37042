"""Sessions can be revoked: logout, a password reset, deactivation, a rank change and an
officer's "sign out everywhere" each make every earlier token of that user stop working."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from tests.conftest import Factory

from sv_common.identity import accounts

ME = "/api/v1/auth/me"


async def sql(app: Any, statement: str, **params: Any) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text(statement), params)


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login", json={"discord_username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


async def test_api_logout_ends_every_token_of_the_account(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(username="twodevices")
    phone = await login(client, "twodevices", member.password)
    laptop = await login(client, "twodevices", member.password)
    assert (await client.get(ME, headers=phone)).status_code == 200
    out = await client.post("/api/v1/auth/logout", headers=phone)
    assert out.status_code == 200 and out.json() == {"ok": True, "data": {"signed_out": True}}
    for headers in (phone, laptop, member.headers):
        refused = await client.get(ME, headers=headers)
        assert refused.status_code == 401 and refused.json()["ok"] is False
    again = await login(client, "twodevices", member.password)  # a new login works
    assert (await client.get(ME, headers=again)).status_code == 200


async def test_logout_needs_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/auth/logout")).status_code == 401


async def test_password_reset_ends_old_tokens(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    leader = await factory.leader(username="forgetful")
    assert (await client.get(ME, headers=leader.headers)).status_code == 200
    async with app.state.sessionmaker() as session, session.begin():
        await accounts.create_guild_leader(
            session, discord_username="forgetful", password="a-brand-new-pass", reset_password=True
        )
    assert (await client.get(ME, headers=leader.headers)).status_code == 401
    fresh = await login(client, "forgetful", "a-brand-new-pass")
    assert (await client.get(ME, headers=fresh)).status_code == 200


async def test_deactivation_ends_tokens_even_after_reactivation(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(username="onbreak")
    await sql(app, "UPDATE common.users SET is_active = false WHERE id = :u", u=member.user_id)
    assert (await client.get(ME, headers=member.headers)).status_code == 401
    await sql(app, "UPDATE common.users SET is_active = true WHERE id = :u", u=member.user_id)
    assert (await client.get(ME, headers=member.headers)).status_code == 401


async def test_a_rank_change_ends_tokens_and_an_unrelated_edit_does_not(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    member = await factory.member(username="promoted")
    renamed = await client.patch(
        f"/api/v1/admin/members/{member.id}",
        json={"display_name": "Still Me"},
        headers=officer.headers,
    )
    assert renamed.status_code == 200
    assert (await client.get(ME, headers=member.headers)).status_code == 200
    promoted = await client.patch(
        f"/api/v1/admin/members/{member.id}",
        json={"rank_id": await factory.rank_id(3)},
        headers=officer.headers,
    )
    assert promoted.status_code == 200
    assert (await client.get(ME, headers=member.headers)).status_code == 401


async def test_officer_signs_a_member_out_everywhere(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    member = await factory.member(username="lostphone")
    response = await client.post(
        f"/api/v1/admin/members/{member.id}/sign-out", headers=officer.headers
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"member_id": member.id, "signed_out": True}
    assert (await client.get(ME, headers=member.headers)).status_code == 401
    assert (await client.get(ME, headers=officer.headers)).status_code == 200


async def test_sign_out_everywhere_is_guarded(client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    peer = await factory.officer(username="peerofficer")
    plain = await factory.member(username="plainmember")
    unregistered = await factory.member(username="noaccount", registered=False)
    url = "/api/v1/admin/members/{}/sign-out"
    assert (await client.post(url.format(plain.id))).status_code == 401
    assert (await client.post(url.format(plain.id), headers=plain.headers)).status_code == 403
    # an officer cannot end the sessions of someone of the same or a higher rank
    refused = await client.post(url.format(peer.id), headers=officer.headers)
    assert refused.status_code == 403
    assert (await client.get(ME, headers=peer.headers)).status_code == 200
    missing = await client.post(url.format(unregistered.id), headers=officer.headers)
    assert missing.status_code == 409
    assert (await client.post(url.format(999999), headers=officer.headers)).status_code == 404


async def test_concurrent_sign_ups_never_leave_two_mains(app: Any) -> None:
    # Two writers each make a different character the member's main at the same time: the
    # database keeps at most one current main, whichever commits first.
    async with app.state.sessionmaker() as session, session.begin():
        rank = await session.scalar(text("SELECT id FROM common.guild_ranks WHERE level = 2"))
        member_id = await session.scalar(
            text(
                "INSERT INTO common.guild_members (display_name, rank_id) "
                "VALUES ('Racer', :r) RETURNING id"
            ),
            {"r": rank},
        )

    async def add_main(name: str) -> bool:
        try:
            async with app.state.sessionmaker() as session, session.begin():
                await session.execute(
                    text(
                        "INSERT INTO common.characters (member_id, name, realm_slug, main_alt) "
                        "VALUES (:m, :n, 'senjin', 'main')"
                    ),
                    {"m": member_id, "n": name},
                )
                await asyncio.sleep(0.05)
            return True
        except Exception:
            return False

    outcomes = await asyncio.gather(*(add_main(f"Racer{i}") for i in range(8)))
    assert sum(outcomes) == 1
    async with app.state.sessionmaker() as session:
        mains = await session.scalar(
            text(
                "SELECT count(*) FROM common.characters WHERE member_id = :m "
                "AND main_alt = 'main' AND removed_at IS NULL"
            ),
            {"m": member_id},
        )
    assert mains == 1
