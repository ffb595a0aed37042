"""Admin roster API (30 §4): ranks, members, characters — statuses, rank guard (20 §4,
decision 5), Discord ID linking (decision 6), character claim and main/alt rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from tests.conftest import Factory, count_rows

from sv_common import clock
from sv_common.db.models import (
    AuditIssue,
    Campaign,
    Character,
    DiscordMember,
    GuildMember,
    GuildRank,
    IdentityLink,
    LinkRejection,
)
from sv_common.errors import Conflict
from sv_common.identity import ranks as rank_service

API = "/api/v1/admin"


async def scalar(app: Any, sql: str, **params: Any) -> Any:
    async with app.state.sessionmaker() as session:
        return (await session.execute(text(sql), params)).scalar()


async def add_orphan_character(app: Any, name: str, realm_slug: str = "senjin") -> int:
    """An unlinked character as guild sync leaves it (no member, no link)."""
    async with app.state.sessionmaker() as session, session.begin():
        character = Character(
            name=name,
            realm_slug=realm_slug,
            realm_name="Sen'jin",
            character_class="Mage",
            main_alt="alt",
            origin="blizzard_sync",
        )
        session.add(character)
        await session.flush()
        return character.id


async def add_discord_account(
    app: Any, discord_id: str, username: str, *, member_id: int | None = None
) -> int:
    """A `discord_members` row as Discord sync leaves it."""
    async with app.state.sessionmaker() as session, session.begin():
        account = DiscordMember(discord_id=discord_id, username=username, member_id=member_id)
        session.add(account)
        await session.flush()
        if member_id is not None:
            session.add(
                IdentityLink(
                    member_id=member_id,
                    discord_member_id=account.id,
                    source="discord_sync",
                    confirmed=True,
                )
            )
        return account.id


def assert_error(response: httpx.Response, status: int, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False
    assert isinstance(body["error"], str) and body["error"]
    if message is not None:
        assert body["error"] == message


# ------------------------------------------------------------------------------- access
async def test_admin_api_needs_login_and_officer_rank(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(level=3)
    anonymous = await client.get(f"{API}/members")
    assert_error(anonymous, 401, "Not authenticated.")
    low = await client.get(f"{API}/members", headers=member.headers)
    assert_error(low, 403, "Requires rank level 4 or higher.")
    bad = await client.get(f"{API}/ranks", headers={"Authorization": "Bearer nope"})
    assert_error(bad, 401, "Invalid token.")


async def test_cookie_authenticated_write_needs_csrf(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    client.cookies.set("patt_token", officer.token or "")
    client.cookies.set("patt_csrf", "csrf-value")
    refused = await client.post(f"{API}/members", json={"discord_username": "newbie"})
    assert_error(refused, 403)
    assert await count_rows(db, "common.guild_members", "discord_username = 'newbie'") == 0
    accepted = await client.post(
        f"{API}/members",
        json={"discord_username": "newbie"},
        headers={"X-CSRF-Token": "csrf-value"},
    )
    assert accepted.status_code == 201


# -------------------------------------------------------------------------------- ranks
async def test_list_ranks_ordered_by_level(client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    response = await client.get(f"{API}/ranks", headers=officer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert [r["level"] for r in data] == [1, 2, 3, 4, 5]
    assert data[3] == {
        "id": data[3]["id"],
        "name": "Officer",
        "level": 4,
        "description": "Guild leadership team",
        "discord_role_id": None,
    }


async def test_top_rank_creates_rank(client: httpx.AsyncClient, factory: Factory, db: Any) -> None:
    leader = await factory.leader()
    gl_id = await factory.rank_id(5)
    moved = await client.patch(f"{API}/ranks/{gl_id}", json={"level": 10}, headers=leader.headers)
    assert moved.status_code == 200 and moved.json()["data"]["level"] == 10
    created = await client.post(
        f"{API}/ranks",
        json={
            "name": "  Raider ",
            "level": 6,
            "description": "Core raid team",
            "discord_role_id": " 200000000000000007 ",
            "extra": "ignored",
        },
        headers=leader.headers,
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data == {
        "id": data["id"],
        "name": "Raider",
        "level": 6,
        "description": "Core raid team",
        "discord_role_id": "200000000000000007",
    }
    assert await count_rows(db, "common.guild_ranks") == 6


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "Initiate", "level": 9}, 409),  # same name
        ({"name": "INITIATE", "level": 9}, 409),  # same name, other case
        ({"name": "Fresh", "level": 2}, 409),  # same level
        ({"name": "Ninth", "level": 9, "discord_role_id": "200000000000000001"}, 409),  # role id
        ({"level": 9}, 422),
        ({"name": "   ", "level": 9}, 422),
        ({"name": "x" * 51, "level": 9}, 422),
        ({"name": "Ninth"}, 422),
        ({"name": "Ninth", "level": "9"}, 422),
        ({"name": "Ninth", "level": 9.5}, 422),
        ({"name": "Ninth", "level": True}, 422),
        ({"name": "Ninth", "level": 0}, 422),
        ({"name": "Ninth", "level": 2**31}, 422),
        ({"name": "Ninth", "level": 9, "discord_role_id": "1234"}, 422),
        ({"name": "Ninth", "level": 9, "discord_role_id": "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧"}, 422),
        ({"name": "Ninth", "level": 9, "discord_role_id": 12345678901234567}, 422),
        ({"name": "Ni\u0000nth", "level": 9}, 422),
        ({"name": 5, "level": 9}, 422),
        ([{"name": "Ninth", "level": 9}], 422),
    ],
)
async def test_create_rank_rejects_bad_input(
    client: httpx.AsyncClient, factory: Factory, db: Any, body: Any, status: int
) -> None:
    leader = await factory.leader()
    async with db.begin():
        # room above Officer for level 9 without losing the top rank; one mapped role
        await db.execute(text("UPDATE common.guild_ranks SET level = 10 WHERE level = 5"))
        await db.execute(
            text(
                "UPDATE common.guild_ranks SET discord_role_id = '200000000000000001' "
                "WHERE level = 1"
            )
        )
    before = await count_rows(db, "common.guild_ranks")
    response = await client.post(f"{API}/ranks", json=body, headers=leader.headers)
    assert_error(response, status)
    assert await count_rows(db, "common.guild_ranks") == before


async def test_rank_write_malformed_and_non_json_bodies(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    leader = await factory.leader()
    malformed = await client.post(
        f"{API}/ranks",
        content=b'{"name": "x", "level":',
        headers={**leader.headers, "Content-Type": "application/json"},
    )
    assert_error(malformed, 400)
    form = await client.post(f"{API}/ranks", data={"name": "x"}, headers=leader.headers)
    assert_error(form, 415)
    huge = await client.post(
        f"{API}/ranks", json={"name": "x", "description": "y" * 70000}, headers=leader.headers
    )
    assert_error(huge, 413)
    assert await count_rows(db, "common.guild_ranks") == 5


async def test_rank_writes_are_top_rank_only(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    rank_id = await factory.rank_id(1)
    created = await client.post(
        f"{API}/ranks", json={"name": "Raider", "level": 9}, headers=officer.headers
    )
    assert_error(created, 403, "Requires rank level 5 or higher.")
    renamed = await client.patch(
        f"{API}/ranks/{rank_id}", json={"name": "Recruit"}, headers=officer.headers
    )
    assert_error(renamed, 403, "Requires rank level 5 or higher.")
    deleted = await client.delete(f"{API}/ranks/{rank_id}", headers=officer.headers)
    assert_error(deleted, 403)
    names = (await db.execute(select(GuildRank.name).order_by(GuildRank.level))).scalars().all()
    assert names == ["Initiate", "Member", "Veteran", "Officer", "Guild Leader"]


async def test_update_rank_fields_and_nulls(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    leader = await factory.leader()
    rank_id = await factory.rank_id(3)
    response = await client.patch(
        f"{API}/ranks/{rank_id}",
        json={"name": "Raider", "discord_role_id": "200000000000000003"},
        headers=leader.headers,
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["name"] == "Raider" and data["level"] == 3
    assert data["description"].startswith("Key performer")  # omitted = unchanged
    assert data["discord_role_id"] == "200000000000000003"
    cleared = await client.patch(
        f"{API}/ranks/{rank_id}",
        json={"description": None, "discord_role_id": None},
        headers=leader.headers,
    )
    assert cleared.status_code == 200
    assert cleared.json()["data"]["description"] is None
    assert cleared.json()["data"]["discord_role_id"] is None
    for body in ({"name": None}, {"level": None}, {"level": "4"}, {"name": ""}):
        refused = await client.patch(f"{API}/ranks/{rank_id}", json=body, headers=leader.headers)
        assert_error(refused, 422)
    duplicate = await client.patch(
        f"{API}/ranks/{rank_id}", json={"name": "officer"}, headers=leader.headers
    )
    assert_error(duplicate, 409, "A rank with that name or level already exists.")
    missing = await client.patch(f"{API}/ranks/9999", json={"name": "X"}, headers=leader.headers)
    assert_error(missing, 404, "Rank 9999 not found")
    bad_id = await client.patch(f"{API}/ranks/abc", json={"name": "X"}, headers=leader.headers)
    assert_error(bad_id, 422)
    row = (await db.execute(select(GuildRank).where(GuildRank.id == rank_id))).scalar_one()
    assert (row.name, row.level, row.description) == ("Raider", 3, None)


async def test_relevel_moves_campaigns(
    client: httpx.AsyncClient, factory: Factory, app: Any, db: Any
) -> None:
    leader = await factory.leader()
    async with app.state.sessionmaker() as session, session.begin():
        session.add(
            Campaign(
                title="Art",
                min_rank_to_vote=2,
                min_rank_to_view=1,
                start_at=clock.now(),
                duration_hours=24,
            )
        )
    member_rank = await factory.rank_id(2)
    response = await client.patch(
        f"{API}/ranks/{member_rank}", json={"level": 7}, headers=leader.headers
    )
    # level 7 is above the Guild Leader: refused so the leader keeps the top rank
    assert_error(response, 409)
    assert await scalar(app, "SELECT min_rank_to_vote FROM patt.campaigns") == 2
    gl_rank = await factory.rank_id(5)
    await client.patch(f"{API}/ranks/{gl_rank}", json={"level": 20}, headers=leader.headers)
    response = await client.patch(
        f"{API}/ranks/{member_rank}", json={"level": 7}, headers=leader.headers
    )
    assert response.status_code == 200
    assert await scalar(app, "SELECT min_rank_to_vote FROM patt.campaigns") == 7


async def test_leader_cannot_relevel_own_rank_below_another(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    leader = await factory.leader()
    gl_rank = await factory.rank_id(5)
    response = await client.patch(
        f"{API}/ranks/{gl_rank}", json={"level": 4}, headers=leader.headers
    )
    assert_error(response, 409)  # level 4 is taken anyway
    response = await client.post(
        f"{API}/ranks", json={"name": "Emperor", "level": 6}, headers=leader.headers
    )
    assert_error(response, 409)
    assert await count_rows(db, "common.guild_ranks", "level = 6") == 0


async def test_delete_rank(client: httpx.AsyncClient, factory: Factory, app: Any, db: Any) -> None:
    leader = await factory.leader()
    unused = await factory.rank_id(3)
    deleted = await client.delete(f"{API}/ranks/{unused}", headers=leader.headers)
    assert deleted.status_code == 200
    assert deleted.json() == {"ok": True, "data": {"deleted": True}}
    assert await count_rows(db, "common.guild_ranks") == 4
    await factory.member(level=1)
    in_use = await client.delete(f"{API}/ranks/{await factory.rank_id(1)}", headers=leader.headers)
    assert_error(in_use, 409, "Rank is in use by members or campaigns.")
    async with app.state.sessionmaker() as session, session.begin():
        session.add(
            Campaign(title="Art", min_rank_to_vote=2, start_at=clock.now(), duration_hours=24)
        )
    by_campaign = await client.delete(
        f"{API}/ranks/{await factory.rank_id(2)}", headers=leader.headers
    )
    assert_error(by_campaign, 409, "Rank is in use by members or campaigns.")
    missing = await client.delete(f"{API}/ranks/9999", headers=leader.headers)
    assert_error(missing, 404)
    assert await count_rows(db, "common.guild_ranks") == 4


async def test_last_rank_cannot_be_deleted(app: Any) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        ranks = await rank_service.list_ranks(session)
        for rank in ranks[:-1]:
            await rank_service.delete_rank(session, rank.id)
        with pytest.raises(Conflict):
            await rank_service.delete_rank(session, ranks[-1].id)


# ------------------------------------------------------------------------------ members
async def test_list_members_ordered_by_display_name(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer(display_name="mango")
    await factory.member(username="zed", display_name="Zed", registered=False)
    await factory.member(username="amy", display_name="amy", registered=False)
    response = await client.get(f"{API}/members", headers=officer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert [m["display_name"] for m in data] == ["amy", "mango", "Zed"]
    zed = data[2]
    assert zed["discord_username"] == "zed" and zed["registered"] is False
    assert zed["rank"] == {"id": zed["rank_id"], "name": "Member", "level": 2}
    assert zed["rank_source"] == "manual" and zed["registered_at"] is None
    assert "notes" in zed
    assert data[1]["registered"] is True and data[1]["registered_at"].endswith("+00:00")


async def test_create_member_defaults(client: httpx.AsyncClient, factory: Factory, db: Any) -> None:
    officer = await factory.officer()
    response = await client.post(
        f"{API}/members",
        json={"discord_username": "  moonbeard ", "discord_id": "123456789012345678"},
        headers=officer.headers,
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["discord_username"] == "moonbeard"
    assert data["display_name"] == "moonbeard"
    assert data["discord_id"] == "123456789012345678"
    assert data["rank"]["name"] == "Initiate" and data["rank_id"] == await factory.rank_id(1)
    assert data["registered"] is False
    named = await client.post(
        f"{API}/members",
        json={"display_name": "Quietone", "rank_id": await factory.rank_id(3)},
        headers=officer.headers,
    )
    assert named.status_code == 201
    assert named.json()["data"]["discord_username"] is None
    assert named.json()["data"]["rank"]["name"] == "Veteran"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"discord_id": "123456789012345678"}, 422),
        ({"discord_username": ""}, 422),
        ({"discord_username": "x" * 101}, 422),
        ({"display_name": "y" * 101}, 422),
        ({"discord_username": "a", "discord_id": "1234567890123456"}, 422),
        ({"discord_username": "a", "discord_id": "123456789012345678901"}, 422),
        ({"discord_username": "a", "discord_id": "12345678901234567x"}, 422),
        ({"discord_username": "a", "rank_id": "1"}, 422),
        ({"discord_username": "a", "rank_id": 9999}, 422),
        ({"discord_username": "a", "rank_id": -1}, 422),
        ({"discord_username": ["a"]}, 422),
        ({"discord_username": "EXISTING"}, 409),
        ({"discord_username": "other", "discord_id": "100000000000000009"}, 409),
    ],
)
async def test_create_member_rejects_bad_input(
    client: httpx.AsyncClient, factory: Factory, db: Any, body: dict[str, Any], status: int
) -> None:
    officer = await factory.officer()
    await factory.member(username="existing", registered=False, discord_id="100000000000000009")
    before = await count_rows(db, "common.guild_members")
    response = await client.post(f"{API}/members", json=body, headers=officer.headers)
    assert_error(response, status)
    assert await count_rows(db, "common.guild_members") == before


async def test_create_member_rank_guard(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    leader = await factory.leader()
    for level in (4, 5):
        refused = await client.post(
            f"{API}/members",
            json={"discord_username": f"promo{level}", "rank_id": await factory.rank_id(level)},
            headers=officer.headers,
        )
        assert_error(refused, 403, "You can only assign ranks below your own.")
    assert await count_rows(db, "common.guild_members", "discord_username LIKE 'promo%'") == 0
    allowed = await client.post(
        f"{API}/members",
        json={"discord_username": "vet", "rank_id": await factory.rank_id(3)},
        headers=officer.headers,
    )
    assert allowed.status_code == 201
    co_leader = await client.post(
        f"{API}/members",
        json={"discord_username": "coleader", "rank_id": await factory.rank_id(5)},
        headers=leader.headers,
    )
    assert co_leader.status_code == 201
    assert co_leader.json()["data"]["rank"]["level"] == 5


async def test_no_ranks_configured_is_409(app: Any) -> None:
    from sv_common.identity import members as member_service

    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("DELETE FROM common.guild_ranks"))
        with pytest.raises(Conflict, match="No ranks configured"):
            await member_service.create_member(session, actor=None, discord_username="x")


async def test_create_member_links_unlinked_discord_account(
    client: httpx.AsyncClient, factory: Factory, app: Any, db: Any
) -> None:
    officer = await factory.officer(display_name="Officer Bob")
    account_id = await add_discord_account(app, "100000000000000002", "branix")
    response = await client.post(
        f"{API}/members",
        json={"discord_username": "branix", "discord_id": "100000000000000002"},
        headers=officer.headers,
    )
    assert response.status_code == 201
    member_id = response.json()["data"]["id"]
    link = (
        await db.execute(select(IdentityLink).where(IdentityLink.discord_member_id == account_id))
    ).scalar_one()
    assert (link.member_id, link.source, link.confidence, link.confirmed) == (
        member_id,
        "manual",
        "high",
        True,
    )
    assert link.confirmed_by == "Officer Bob" and link.created_by == officer.id
    assert (
        await scalar(
            app, "SELECT member_id FROM guild_identity.discord_members WHERE id = :i", i=account_id
        )
        == member_id
    )


async def test_discord_id_of_account_linked_elsewhere_is_409(
    client: httpx.AsyncClient, factory: Factory, app: Any, db: Any
) -> None:
    officer = await factory.officer()
    owner = await factory.member(username="owner", registered=False)
    await add_discord_account(app, "100000000000000003", "quietguest", member_id=owner.id)
    target = await factory.member(username="target", registered=False)
    response = await client.patch(
        f"{API}/members/{target.id}",
        json={"discord_id": "100000000000000003", "display_name": "Renamed"},
        headers=officer.headers,
    )
    assert_error(response, 409, "That Discord account is linked to another member.")
    row = (await db.execute(select(GuildMember).where(GuildMember.id == target.id))).scalar_one()
    assert row.discord_id is None and row.display_name == "Target"


async def test_clearing_discord_id_removes_link(
    client: httpx.AsyncClient, factory: Factory, app: Any, db: Any
) -> None:
    officer = await factory.officer()
    target = await factory.member(username="target", registered=False)
    account_id = await add_discord_account(app, "100000000000000004", "target")
    set_id = await client.patch(
        f"{API}/members/{target.id}",
        json={"discord_id": "100000000000000004"},
        headers=officer.headers,
    )
    assert set_id.status_code == 200
    assert await count_rows(db, "guild_identity.identity_links", f"member_id = {target.id}") == 1
    cleared = await client.patch(
        f"{API}/members/{target.id}", json={"discord_id": None}, headers=officer.headers
    )
    assert cleared.status_code == 200 and cleared.json()["data"]["discord_id"] is None
    assert await count_rows(db, "guild_identity.identity_links", f"member_id = {target.id}") == 0
    assert (
        await scalar(
            app, "SELECT member_id FROM guild_identity.discord_members WHERE id = :i", i=account_id
        )
        is None
    )
    rejection = (
        await db.execute(select(LinkRejection).where(LinkRejection.discord_member_id == account_id))
    ).scalar_one()
    assert rejection.member_id == target.id


async def test_get_member_with_characters(client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    target = await factory.member(username="moon", display_name="Moon", registered=False)
    await client.post(
        f"{API}/members/{target.id}/characters",
        json={"name": "Moonbeard", "realm": "Sen'jin", "wow_class": "Druid", "spec": "Balance"},
        headers=officer.headers,
    )
    response = await client.get(f"{API}/members/{target.id}", headers=officer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["display_name"] == "Moon"
    assert [c["name"] for c in data["characters"]] == ["Moonbeard"]
    assert data["characters"][0]["member_id"] == target.id
    assert_error(await client.get(f"{API}/members/9999", headers=officer.headers), 404)
    assert_error(await client.get(f"{API}/members/abc", headers=officer.headers), 422)
    assert_error(await client.get(f"{API}/members/0", headers=officer.headers), 422)
    assert_error(await client.get(f"{API}/members/99999999999", headers=officer.headers), 422)


async def test_update_member_fields(client: httpx.AsyncClient, factory: Factory, db: Any) -> None:
    officer = await factory.officer()
    target = await factory.member(username="moon", registered=False, level=1)
    response = await client.patch(
        f"{API}/members/{target.id}",
        json={
            "display_name": " Moonie ",
            "discord_username": "moonie",
            "rank_id": await factory.rank_id(3),
            "notes": "Needs raid boots",
        },
        headers=officer.headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["display_name"] == "Moonie" and data["discord_username"] == "moonie"
    assert data["rank"]["name"] == "Veteran" and data["rank_source"] == "manual"
    assert data["notes"] == "Needs raid boots"
    source = await client.patch(
        f"{API}/members/{target.id}",
        json={"rank_source": "discord_sync", "notes": None, "discord_username": None},
        headers=officer.headers,
    )
    assert source.status_code == 200
    data = source.json()["data"]
    assert data["rank_source"] == "discord_sync" and data["notes"] is None
    assert data["discord_username"] is None
    assert data["display_name"] == "Moonie"  # omitted = unchanged


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"display_name": None}, 422),
        ({"display_name": "  "}, 422),
        ({"rank_id": None}, 422),
        ({"rank_id": 9999}, 422),
        ({"rank_source": "blizzard"}, 422),
        ({"rank_source": None}, 422),
        ({"discord_id": "12"}, 422),
        ({"notes": "n" * 5001}, 422),
        ({"discord_username": "TAKEN"}, 409),
        ({"discord_id": "100000000000000077"}, 409),
    ],
)
async def test_update_member_rejects_bad_input(
    client: httpx.AsyncClient, factory: Factory, db: Any, body: dict[str, Any], status: int
) -> None:
    officer = await factory.officer()
    await factory.member(username="taken", registered=False, discord_id="100000000000000077")
    target = await factory.member(username="moon", display_name="Moon", registered=False)
    response = await client.patch(f"{API}/members/{target.id}", json=body, headers=officer.headers)
    assert_error(response, status)
    row = (await db.execute(select(GuildMember).where(GuildMember.id == target.id))).scalar_one()
    assert (row.display_name, row.discord_username, row.discord_id, row.notes) == (
        "Moon",
        "moon",
        None,
        None,
    )
    assert row.rank_id == await factory.rank_id(2) and row.rank_source == "manual"


async def test_registered_login_name_cannot_be_cleared(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    target = await factory.member(username="moon", registered=True)
    response = await client.patch(
        f"{API}/members/{target.id}", json={"discord_username": None}, headers=officer.headers
    )
    assert_error(response, 409)
    assert await count_rows(db, "common.guild_members", "discord_username = 'moon'") == 1


async def test_update_unknown_member_is_404(client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    response = await client.patch(
        f"{API}/members/9999", json={"display_name": "X"}, headers=officer.headers
    )
    assert_error(response, 404, "member not found")


async def test_rank_guard_on_member_updates(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer(username="off", display_name="Off")
    other_officer = await factory.officer(username="other", display_name="Other")
    leader = await factory.leader(username="boss", display_name="Boss")
    member = await factory.member(username="grunt", display_name="Grunt", registered=False)

    async def patch(actor: Any, target: int, body: dict[str, Any]) -> httpx.Response:
        return await client.patch(f"{API}/members/{target}", json=body, headers=actor.headers)

    # cannot promote to Officer or above
    for level in (4, 5):
        refused = await patch(officer, member.id, {"rank_id": await factory.rank_id(level)})
        assert_error(refused, 403, "You can only assign ranks below your own.")
    # cannot change own rank (up or down), but may edit own non-rank fields
    refused = await patch(officer, officer.id, {"rank_id": await factory.rank_id(2)})
    assert_error(refused, 403, "You cannot change your own rank.")
    own = await patch(officer, officer.id, {"display_name": "Officer Off"})
    assert own.status_code == 200
    # cannot edit another officer or the leader, even non-rank fields
    for target in (other_officer.id, leader.id):
        refused = await patch(officer, target, {"display_name": "Hacked"})
        assert_error(refused, 403, "You cannot edit a member whose rank is at or above your own.")
    # allowed: promote below own rank
    promoted = await patch(officer, member.id, {"rank_id": await factory.rank_id(3)})
    assert promoted.status_code == 200 and promoted.json()["data"]["rank"]["level"] == 3
    # only the top rank assigns the top rank
    crowned = await patch(leader, member.id, {"rank_id": await factory.rank_id(5)})
    assert crowned.status_code == 200 and crowned.json()["data"]["rank"]["level"] == 5
    names = dict(
        (await db.execute(select(GuildMember.id, GuildMember.display_name))).tuples().all()
    )
    assert names[other_officer.id] == "Other" and names[leader.id] == "Boss"
    assert names[officer.id] == "Officer Off"


# --------------------------------------------------------------------------- characters
async def test_add_character_shape_armory_and_link(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer(display_name="Officer Bob")
    target = await factory.member(username="zat", registered=False)
    response = await client.post(
        f"{API}/members/{target.id}/characters",
        json={"name": " Zatañña ", "realm": "Sen'jin", "wow_class": "demon hunter"},
        headers=officer.headers,
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["name"] == "Zatañña"
    assert data["realm"] == "Sen'jin" and data["realm_slug"] == "senjin"
    assert data["class"] == "Demon Hunter" and data["spec"] is None and data["role"] is None
    assert data["main_alt"] == "main" and data["member_id"] == target.id
    assert data["armory_url"] == (
        "https://worldofwarcraft.blizzard.com/en-us/character/us/senjin/zata%C3%B1%C3%B1a"
    )
    assert data["origin"] == "manual"
    link = (
        await db.execute(select(IdentityLink).where(IdentityLink.character_id == data["id"]))
    ).scalar_one()
    assert (link.member_id, link.source, link.confidence, link.confirmed, link.confirmed_by) == (
        target.id,
        "manual",
        "high",
        True,
        "Officer Bob",
    )


async def test_add_character_roles_and_realms(client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    target = await factory.member(registered=False)
    url = f"{API}/members/{target.id}/characters"
    derived = await client.post(
        url,
        json={"name": "Moonbeard", "realm": "Sen'jin", "wow_class": "Druid", "spec": "balance"},
        headers=officer.headers,
    )
    assert derived.json()["data"]["role"] == "ranged_dps"
    assert derived.json()["data"]["spec"] == "Balance"
    legacy = await client.post(
        url,
        json={
            "name": "Stabby",
            "realm": "Zatañña Peak",
            "wow_class": "Rogue",
            "role": "Melee",
            "main_alt": "alt",
        },
        headers=officer.headers,
    )
    data = legacy.json()["data"]
    assert data["role"] == "melee_dps" and data["main_alt"] == "alt"
    assert data["realm"] == "Zatañña Peak" and data["realm_slug"] == "zatanna-peak"
    assert data["armory_url"].endswith("/character/us/zatanna-peak/stabby")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"realm": "Sen'jin", "wow_class": "Mage"}, 422, None),
        ({"name": "X", "realm": "Sen'jin", "wow_class": "Mage"}, 422, None),
        ({"name": "Abc1", "realm": "Sen'jin", "wow_class": "Mage"}, 422, None),
        ({"name": "N" * 51, "realm": "Sen'jin", "wow_class": "Mage"}, 422, None),
        ({"name": "Abc", "wow_class": "Mage"}, 422, None),
        ({"name": "Abc", "realm": "''", "wow_class": "Mage"}, 422, None),
        ({"name": "Abc", "realm": "Sen'jin"}, 422, None),
        ({"name": "Abc", "realm": "Sen'jin", "wow_class": "Bard"}, 422, None),
        ({"name": "Abc", "realm": "Sen'jin", "wow_class": "Mage", "spec": "Holy"}, 422, None),
        (
            {"name": "Abc", "realm": "Sen'jin", "wow_class": "Mage", "role": "dps"},
            422,
            "Invalid role 'dps'",
        ),
        (
            {"name": "Abc", "realm": "Sen'jin", "wow_class": "Mage", "main_alt": "both"},
            422,
            "Invalid main_alt 'both'. Must be 'main' or 'alt'",
        ),
        ({"name": "Taken", "realm": "Sen'jin", "wow_class": "Mage"}, 409, None),
        ({"name": "TAKEN", "realm": "sen'jin", "wow_class": "Mage"}, 409, None),
    ],
)
async def test_add_character_rejects_bad_input(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Any,
    body: dict[str, Any],
    status: int,
    message: str | None,
) -> None:
    officer = await factory.officer()
    owner = await factory.member(registered=False)
    target = await factory.member(registered=False)
    first = await client.post(
        f"{API}/members/{owner.id}/characters",
        json={"name": "Taken", "realm": "Sen'jin", "wow_class": "Mage"},
        headers=officer.headers,
    )
    assert first.status_code == 201
    response = await client.post(
        f"{API}/members/{target.id}/characters", json=body, headers=officer.headers
    )
    assert_error(response, status, message)
    assert await count_rows(db, "common.characters") == 1
    assert await count_rows(db, "guild_identity.identity_links") == 1


async def test_add_character_unknown_member_is_404(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    response = await client.post(
        f"{API}/members/9999/characters",
        json={"name": "Abc", "realm": "Sen'jin", "wow_class": "Mage"},
        headers=officer.headers,
    )
    assert_error(response, 404, "member not found")


async def test_add_character_claims_unlinked(
    client: httpx.AsyncClient, factory: Factory, app: Any, db: Any
) -> None:
    officer = await factory.officer(display_name="Officer Bob")
    target = await factory.member(registered=False)
    orphan_id = await add_orphan_character(app, "Lostsoul")
    async with app.state.sessionmaker() as session, session.begin():
        session.add(
            AuditIssue(
                issue_type="orphan_wow",
                severity="info",
                character_id=orphan_id,
                summary="Lostsoul is not linked",
                issue_hash="a" * 64,
            )
        )
    response = await client.post(
        f"{API}/members/{target.id}/characters",
        json={"name": "lostsoul", "realm": "Sen'jin", "wow_class": "Priest", "spec": "Shadow"},
        headers=officer.headers,
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["id"] == orphan_id
    assert data["member_id"] == target.id and data["class"] == "Priest"
    assert data["role"] == "ranged_dps" and data["origin"] == "blizzard_sync"
    assert await count_rows(db, "common.characters") == 1
    link = (
        await db.execute(select(IdentityLink).where(IdentityLink.character_id == orphan_id))
    ).scalar_one()
    assert link.source == "manual" and link.confirmed and link.confirmed_by == "Officer Bob"
    issue = (await db.execute(select(AuditIssue))).scalar_one()
    assert issue.resolved_at is not None and issue.resolved_by == "Officer Bob"
    assert issue.resolution_note == "linked manually"


async def test_main_demotes_other_mains(client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    target = await factory.member(registered=False)
    url = f"{API}/members/{target.id}/characters"
    first = await client.post(
        url,
        json={"name": "Firstmain", "realm": "Sen'jin", "wow_class": "Mage"},
        headers=officer.headers,
    )
    second = await client.post(
        url,
        json={"name": "Secondmain", "realm": "Sen'jin", "wow_class": "Mage"},
        headers=officer.headers,
    )
    assert first.status_code == second.status_code == 201
    listing = await client.get(url, headers=officer.headers)
    assert listing.status_code == 200
    assert [(c["name"], c["main_alt"]) for c in listing.json()["data"]] == [
        ("Secondmain", "main"),
        ("Firstmain", "alt"),
    ]
    back = await client.patch(
        f"{API}/characters/{first.json()['data']['id']}",
        json={"main_alt": "main"},
        headers=officer.headers,
    )
    assert back.status_code == 200
    listing = await client.get(url, headers=officer.headers)
    assert [(c["name"], c["main_alt"]) for c in listing.json()["data"]] == [
        ("Firstmain", "main"),
        ("Secondmain", "alt"),
    ]
    assert_error(await client.get(f"{API}/members/9999/characters", headers=officer.headers), 404)


async def test_character_writes_follow_rank_guard(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    other_officer = await factory.officer()
    leader = await factory.leader()
    added = await client.post(
        f"{API}/members/{leader.id}/characters",
        json={"name": "Bossman", "realm": "Sen'jin", "wow_class": "Warrior"},
        headers=leader.headers,
    )
    assert added.status_code == 201
    char_id = added.json()["data"]["id"]
    refused = await client.post(
        f"{API}/members/{other_officer.id}/characters",
        json={"name": "Nope", "realm": "Sen'jin", "wow_class": "Mage"},
        headers=officer.headers,
    )
    assert_error(refused, 403)
    edit = await client.patch(
        f"{API}/characters/{char_id}", json={"name": "Renamed"}, headers=officer.headers
    )
    assert_error(edit, 403)
    steal = await client.patch(
        f"{API}/characters/{char_id}", json={"member_id": officer.id}, headers=officer.headers
    )
    assert_error(steal, 403)
    delete = await client.delete(f"{API}/characters/{char_id}", headers=officer.headers)
    assert_error(delete, 403)
    own = await client.post(
        f"{API}/members/{officer.id}/characters",
        json={"name": "Mychar", "realm": "Sen'jin", "wow_class": "Mage"},
        headers=officer.headers,
    )
    assert own.status_code == 201
    row = (await db.execute(select(Character).where(Character.id == char_id))).scalar_one()
    assert (row.name, row.member_id) == ("Bossman", leader.id)


async def test_update_character_fields(client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    target = await factory.member(registered=False)
    created = await client.post(
        f"{API}/members/{target.id}/characters",
        json={"name": "Moonbeard", "realm": "Sen'jin", "wow_class": "Druid", "spec": "Balance"},
        headers=officer.headers,
    )
    char_id = created.json()["data"]["id"]
    response = await client.patch(
        f"{API}/characters/{char_id}",
        json={"name": "Sunbeard", "realm": "Area 52", "spec": "Guardian"},
        headers=officer.headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["name"], data["realm"], data["realm_slug"]) == ("Sunbeard", "Area 52", "area-52")
    assert data["spec"] == "Guardian" and data["role"] == "tank" and data["class"] == "Druid"
    assert data["armory_url"].endswith("/character/us/area-52/sunbeard")
    cleared = await client.patch(
        f"{API}/characters/{char_id}",
        json={"spec": None, "role": "healer"},
        headers=officer.headers,
    )
    assert cleared.json()["data"]["spec"] is None and cleared.json()["data"]["role"] == "healer"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": None}, 422),
        ({"name": "A"}, 422),
        ({"realm": None}, 422),
        ({"wow_class": None}, 422),
        ({"wow_class": "Bard"}, 422),
        ({"main_alt": None}, 422),
        ({"main_alt": "neither"}, 422),
        ({"role": "dps"}, 422),
        ({"member_id": 9999}, 422),
        ({"member_id": "1"}, 422),
        ({"name": "Other"}, 409),
    ],
)
async def test_update_character_rejects_bad_input(
    client: httpx.AsyncClient, factory: Factory, db: Any, body: dict[str, Any], status: int
) -> None:
    officer = await factory.officer()
    target = await factory.member(registered=False)
    url = f"{API}/members/{target.id}/characters"
    created = await client.post(
        url,
        json={"name": "Moonbeard", "realm": "Sen'jin", "wow_class": "Druid", "main_alt": "alt"},
        headers=officer.headers,
    )
    await client.post(
        url,
        json={"name": "Other", "realm": "Sen'jin", "wow_class": "Druid", "main_alt": "alt"},
        headers=officer.headers,
    )
    char_id = created.json()["data"]["id"]
    response = await client.patch(f"{API}/characters/{char_id}", json=body, headers=officer.headers)
    assert_error(response, status)
    row = (await db.execute(select(Character).where(Character.id == char_id))).scalar_one()
    assert (row.name, row.character_class, row.main_alt, row.member_id) == (
        "Moonbeard",
        "Druid",
        "alt",
        target.id,
    )
    missing = await client.patch(
        f"{API}/characters/9999", json={"name": "Abc"}, headers=officer.headers
    )
    assert_error(missing, 404)


async def test_move_and_unlink_character(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    first = await factory.member(registered=False)
    second = await factory.member(registered=False)
    created = await client.post(
        f"{API}/members/{first.id}/characters",
        json={"name": "Wanderer", "realm": "Sen'jin", "wow_class": "Hunter"},
        headers=officer.headers,
    )
    await client.post(
        f"{API}/members/{second.id}/characters",
        json={"name": "Homebody", "realm": "Sen'jin", "wow_class": "Hunter"},
        headers=officer.headers,
    )
    char_id = created.json()["data"]["id"]
    moved = await client.patch(
        f"{API}/characters/{char_id}", json={"member_id": second.id}, headers=officer.headers
    )
    assert moved.status_code == 200
    # the second member already had a main: the moved main becomes an alt
    assert moved.json()["data"]["member_id"] == second.id
    assert moved.json()["data"]["main_alt"] == "alt"
    link = (
        await db.execute(select(IdentityLink).where(IdentityLink.character_id == char_id))
    ).scalar_one()
    assert link.member_id == second.id and link.source == "manual"
    rejections = (
        await db.execute(select(LinkRejection).where(LinkRejection.character_id == char_id))
    ).scalars()
    assert [r.member_id for r in rejections] == [first.id]
    unlinked = await client.patch(
        f"{API}/characters/{char_id}", json={"member_id": None}, headers=officer.headers
    )
    assert unlinked.status_code == 200 and unlinked.json()["data"]["member_id"] is None
    assert await count_rows(db, "guild_identity.identity_links", f"character_id = {char_id}") == 0


async def test_delete_character(client: httpx.AsyncClient, factory: Factory, db: Any) -> None:
    officer = await factory.officer()
    target = await factory.member(registered=False)
    created = await client.post(
        f"{API}/members/{target.id}/characters",
        json={"name": "Goner", "realm": "Sen'jin", "wow_class": "Monk"},
        headers=officer.headers,
    )
    char_id = created.json()["data"]["id"]
    response = await client.delete(f"{API}/characters/{char_id}", headers=officer.headers)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "data": {"deleted": True}}
    assert await count_rows(db, "common.characters") == 0
    assert await count_rows(db, "guild_identity.identity_links") == 0
    again = await client.delete(f"{API}/characters/{char_id}", headers=officer.headers)
    assert_error(again, 404)
