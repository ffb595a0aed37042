"""Send-invite flow (70 §7, 20 §5, decision 21) through the admin API with the fake Discord."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Factory, count_rows

from sv_common import clock
from sv_common.db.models import DiscordMember, GuildMember, IdentityLink, InviteCode
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.interface import DiscordMemberInfo
from sv_common.discord.null import NullDiscordService

CODE = re.compile(r"^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{8}$")
BRANIX = "100000000000000002"
CLOSED = "100000000000000005"
STRANGER = "100000000000000006"


def invite_url(member_id: int) -> str:
    return f"/api/v1/admin/members/{member_id}/send-invite"


@pytest.fixture
def fake(app: Any) -> FakeDiscordService:
    service = FakeDiscordService(
        members=[
            DiscordMemberInfo(id=BRANIX, username="branix", global_name="Brañix"),
            DiscordMemberInfo(id=CLOSED, username="shy"),
        ],
        dms_closed={CLOSED},
    )
    app.state.discord = service
    return service


async def link_account(
    app: Any, discord_id: str, username: str, member_id: int, *, present: bool = True
) -> None:
    """A Discord account linked to a member, as Discord sync leaves it."""
    async with app.state.sessionmaker() as session, session.begin():
        account = DiscordMember(
            discord_id=discord_id, username=username, member_id=member_id, is_present=present
        )
        session.add(account)
        await session.flush()
        session.add(
            IdentityLink(
                member_id=member_id,
                discord_member_id=account.id,
                source="discord_sync",
                confirmed=True,
                confirmed_by="auto",
            )
        )


def assert_error(response: httpx.Response, status: int, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.json()["ok"] is False
    if message is not None:
        assert response.json()["error"] == message


async def test_send_invite_success(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    target = await factory.member(
        username="branix", display_name="Brañix", registered=False, discord_id=BRANIX
    )
    frozen = clock.now().replace(microsecond=0)
    clock.set_now(frozen)
    officer = await factory.officer()
    # the registration link never comes from the request's Host header
    response = await client.post(
        invite_url(target.id), headers={**officer.headers, "Host": "evil.example"}
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    code = data["code"]
    assert CODE.match(code)
    assert data == {
        "member_id": target.id,
        "discord_id": BRANIX,
        "code": code,
        "expires_at": (frozen + timedelta(hours=72)).isoformat(),
        "register_url": f"http://guild.test/register?code={code}",
        "dm_sent": True,
        "dm_status": "sent",
        "dm_message": "Delivered.",
    }
    assert len(fake.sent_dms) == 1
    to, content, embed = fake.sent_dms[0]
    assert to == BRANIX and embed is None
    assert f"**{code}**" in content
    assert f"http://guild.test/register?code={code}" in content
    assert f"<t:{int((frozen + timedelta(hours=72)).timestamp())}:R>" in content
    assert "72 hours" in content and "any officer" in content and "Bra" in content
    assert len(content) < 2000
    row = (await db.execute(select(InviteCode).where(InviteCode.code == code))).scalar_one()
    assert row.member_id == target.id and row.created_by == officer.id
    assert row.used_at is None and row.revoked_at is None


async def test_dm_contains_relative_expiry_timestamp(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService
) -> None:
    officer = await factory.officer()
    target = await factory.member(username="branix", registered=False, discord_id=BRANIX)
    response = await client.post(invite_url(target.id), headers=officer.headers)
    expires = datetime.fromisoformat(response.json()["data"]["expires_at"])
    assert f"<t:{int(expires.timestamp())}:R>" in fake.sent_dms[0][1]


async def test_second_invite_within_a_minute_is_429_then_revokes_older_code(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    target = await factory.member(username="branix", registered=False, discord_id=BRANIX)
    first = await client.post(invite_url(target.id), headers=officer.headers)
    assert first.status_code == 200
    again = await client.post(invite_url(target.id), headers=officer.headers)
    assert_error(again, 429, "an invite was just sent; wait a minute")
    assert 1 <= int(again.headers["Retry-After"]) <= 60
    assert await count_rows(db, "common.invite_codes") == 1
    assert len(fake.sent_dms) == 1
    clock.advance(timedelta(seconds=61))
    second = await client.post(invite_url(target.id), headers=officer.headers)
    assert second.status_code == 200
    rows = {
        row.code: row
        for row in (await db.execute(select(InviteCode).order_by(InviteCode.id))).scalars()
    }
    assert rows[first.json()["data"]["code"]].revoked_at is not None
    assert rows[second.json()["data"]["code"]].revoked_at is None
    assert len(fake.sent_dms) == 2


@pytest.mark.parametrize(
    ("discord_id", "status", "message"),
    [
        (CLOSED, "dms_closed", "The user blocks DMs from server members (or blocked the bot)."),
        (STRANGER, "unknown_user", "The snowflake does not exist; fix the member's Discord ID."),
    ],
)
async def test_dm_failures_still_return_the_code(
    client: httpx.AsyncClient,
    factory: Factory,
    fake: FakeDiscordService,
    db: Any,
    discord_id: str,
    status: str,
    message: str,
) -> None:
    officer = await factory.officer()
    target = await factory.member(username="someone", registered=False, discord_id=discord_id)
    response = await client.post(invite_url(target.id), headers=officer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["dm_sent"], data["dm_status"], data["dm_message"]) == (False, status, message)
    assert CODE.match(data["code"]) and fake.sent_dms == []
    assert await count_rows(db, "common.invite_codes", f"code = '{data['code']}'") == 1


@pytest.mark.parametrize("backend", ["unavailable", "null", "missing"])
async def test_discord_unavailable_still_returns_the_code(
    client: httpx.AsyncClient, factory: Factory, app: Any, db: Any, backend: str
) -> None:
    if backend == "unavailable":
        app.state.discord = FakeDiscordService(
            members=[DiscordMemberInfo(id=BRANIX, username="branix")], available=False
        )
    elif backend == "null":
        app.state.discord = NullDiscordService()
    elif hasattr(app.state, "discord"):
        del app.state.discord
    officer = await factory.officer()
    target = await factory.member(username="branix", registered=False, discord_id=BRANIX)
    response = await client.post(invite_url(target.id), headers=officer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["dm_sent"] is False and data["dm_status"] == "bot_unavailable"
    assert data["dm_message"] == "Discord is disabled or not connected."
    assert await count_rows(db, "common.invite_codes") == 1


async def test_invite_errors(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    registered = await factory.member(username="done", registered=True, discord_id=BRANIX)
    no_discord = await factory.member(username="nodiscord", registered=False)
    no_username = await factory.member(display_name="Nameless", registered=False, discord_id=CLOSED)
    async with db.begin():
        member = await db.get(GuildMember, no_username.id)
        member.discord_username = None
    assert_error(
        await client.post(invite_url(9999), headers=officer.headers), 404, "member not found"
    )
    assert_error(
        await client.post(invite_url(registered.id), headers=officer.headers),
        409,
        "member is already registered",
    )
    assert_error(
        await client.post(invite_url(no_discord.id), headers=officer.headers),
        422,
        "no Discord account is known for this member",
    )
    assert_error(
        await client.post(invite_url(no_username.id), headers=officer.headers),
        422,
        "member has no Discord username",
    )
    assert_error(await client.post(invite_url(0), headers=officer.headers), 422)
    assert_error(
        await client.post("/api/v1/admin/members/x/send-invite", headers=officer.headers), 422
    )
    assert await count_rows(db, "common.invite_codes") == 0
    assert fake.sent_dms == []


async def test_invite_needs_officer_and_csrf(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    member = await factory.member(level=3)
    officer = await factory.officer()
    target = await factory.member(username="branix", registered=False, discord_id=BRANIX)
    assert_error(await client.post(invite_url(target.id)), 401)
    assert_error(
        await client.post(invite_url(target.id), headers=member.headers),
        403,
        "Requires rank level 4 or higher.",
    )
    client.cookies.set("patt_token", officer.token or "")
    client.cookies.set("patt_csrf", "tok")
    assert_error(await client.post(invite_url(target.id)), 403)
    assert await count_rows(db, "common.invite_codes") == 0
    ok = await client.post(invite_url(target.id), headers={"X-CSRF-Token": "tok"})
    assert ok.status_code == 200


async def test_officer_cannot_invite_member_at_or_above_own_rank(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, db: Any
) -> None:
    officer = await factory.officer()
    leader = await factory.leader()
    peer = await factory.member(level=4, username="branix", registered=False, discord_id=BRANIX)
    refused = await client.post(invite_url(peer.id), headers=officer.headers)
    assert_error(refused, 403)
    assert await count_rows(db, "common.invite_codes") == 0
    allowed = await client.post(invite_url(peer.id), headers=leader.headers)
    assert allowed.status_code == 200


async def test_username_and_snowflake_come_from_linked_account(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, app: Any, db: Any
) -> None:
    officer = await factory.officer()
    target = await factory.member(display_name="Brañix", registered=False)
    async with db.begin():
        member = await db.get(GuildMember, target.id)
        member.discord_username = None
    await link_account(app, BRANIX, "branix", target.id)
    response = await client.post(invite_url(target.id), headers=officer.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["discord_id"] == BRANIX
    assert response.json()["data"]["dm_status"] == "sent"
    db.expire_all()
    row = (await db.execute(select(GuildMember).where(GuildMember.id == target.id))).scalar_one()
    assert row.discord_username == "branix"
    assert row.discord_id is None  # the snowflake is read from the account, not copied


async def test_departed_linked_account_is_not_a_known_snowflake(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, app: Any
) -> None:
    officer = await factory.officer()
    target = await factory.member(username="gone", registered=False)
    await link_account(app, BRANIX, "gone", target.id, present=False)
    response = await client.post(invite_url(target.id), headers=officer.headers)
    assert_error(response, 422, "no Discord account is known for this member")


async def test_taken_username_is_409_and_changes_nothing(
    client: httpx.AsyncClient, factory: Factory, fake: FakeDiscordService, app: Any, db: Any
) -> None:
    officer = await factory.officer()
    await factory.member(username="BRANIX", registered=False)
    target = await factory.member(display_name="Other Branix", registered=False)
    async with db.begin():
        member = await db.get(GuildMember, target.id)
        member.discord_username = None
    await link_account(app, BRANIX, "branix", target.id)
    response = await client.post(invite_url(target.id), headers=officer.headers)
    assert_error(response, 409)
    assert "branix" in response.json()["error"]
    db.expire_all()
    row = (await db.execute(select(GuildMember).where(GuildMember.id == target.id))).scalar_one()
    assert row.discord_username is None
    assert await count_rows(db, "common.invite_codes") == 0
    assert fake.sent_dms == []


async def test_code_is_never_logged(
    client: httpx.AsyncClient,
    factory: Factory,
    fake: FakeDiscordService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    officer = await factory.officer()
    target = await factory.member(username="branix", registered=False, discord_id=BRANIX)
    with caplog.at_level(logging.DEBUG):
        response = await client.post(invite_url(target.id), headers=officer.headers)
    code = response.json()["data"]["code"]
    assert code not in caplog.text
    assert f"member {target.id}" in caplog.text and "sent" in caplog.text
