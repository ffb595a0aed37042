"""Public guild API (30 §5): rank list and roster with main characters, in one SQL query."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event, text, update
from tests.conftest import Factory

from sv_common import clock
from sv_common.db.models import Character
from sv_common.identity import characters


async def add_character(app: Any, member_id: int, name: str, **fields: Any) -> int:
    async with app.state.sessionmaker() as session, session.begin():
        character = await characters.add_character(
            session,
            actor=None,
            member_id=member_id,
            name=name,
            realm=fields.pop("realm", "Sen'jin"),
            wow_class=fields.pop("wow_class", "Druid"),
            **fields,
        )
        return character.id


class StatementCounter:
    """Counts SQL statements the app's engine runs while active."""

    def __init__(self, app: Any) -> None:
        self.engine = app.state.engine.sync_engine
        self.count = 0

    def _hit(self, *args: Any) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._hit)


async def test_public_ranks(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/guild/ranks")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(r["name"], r["level"]) for r in data] == [
        ("Initiate", 1),
        ("Member", 2),
        ("Veteran", 3),
        ("Officer", 4),
        ("Guild Leader", 5),
    ]
    assert set(data[0]) == {"id", "name", "level", "description"}  # no discord_role_id
    assert data[0]["description"] == "New member, proving reliability and social fit"


async def test_empty_roster(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/guild/roster")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "data": {"members": []}}


async def test_roster_shape_and_order(
    client: httpx.AsyncClient, factory: Factory, app: Any
) -> None:
    moon = await factory.member(username="moon", display_name="Moon", registered=False)
    quiet = await factory.member(
        username="quiet", display_name="quietone", level=1, registered=False
    )
    alt_only = await factory.member(username="alty", display_name="Alty", registered=False)
    await add_character(app, moon.id, "Moonbeard", spec="Balance")
    await add_character(app, moon.id, "Moonalt", wow_class="Mage", main_alt="alt")
    await add_character(app, alt_only.id, "Onlyalt", main_alt="alt")
    gone = await add_character(app, quiet.id, "Leftguild", wow_class="Priest")
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(Character).where(Character.id == gone).values(removed_at=clock.now())
        )
    response = await client.get("/api/v1/guild/roster")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "data": {
            "members": [
                {"display_name": "Alty", "rank": "Member", "main_character": None},
                {
                    "display_name": "Moon",
                    "rank": "Member",
                    "main_character": {
                        "name": "Moonbeard",
                        "realm": "Sen'jin",
                        "class": "Druid",
                        "spec": "Balance",
                        "role": "ranged_dps",
                        "armory_url": (
                            "https://worldofwarcraft.blizzard.com/en-us/character/us/senjin/"
                            "moonbeard"
                        ),
                    },
                },
                {"display_name": "quietone", "rank": "Initiate", "main_character": None},
            ]
        },
    }


async def test_roster_is_one_query_whatever_the_size(
    client: httpx.AsyncClient, factory: Factory, app: Any
) -> None:
    for index in range(3):
        member = await factory.member(registered=False)
        await add_character(app, member.id, f"Small{chr(97 + index)}")
    with StatementCounter(app) as small:
        first = await client.get("/api/v1/guild/roster")
    for index in range(25):
        member = await factory.member(registered=False)
        await add_character(app, member.id, f"Big{chr(97 + index)}{chr(97 + index)}")
    with StatementCounter(app) as big:
        second = await client.get("/api/v1/guild/roster")
    assert len(first.json()["data"]["members"]) == 3
    assert len(second.json()["data"]["members"]) == 28
    assert all(m["main_character"] for m in second.json()["data"]["members"])
    # the table fingerprint, then the document built in one statement
    assert small.count == big.count == 2
    with StatementCounter(app) as unchanged:
        third = await client.get("/api/v1/guild/roster")
    assert third.json() == second.json()
    assert unchanged.count == 1  # nothing changed: the cached document, after the fingerprint


async def test_roster_cache_sees_every_kind_of_change(
    client: httpx.AsyncClient, factory: Factory, app: Any
) -> None:
    member = await factory.member(registered=False, display_name="Before")
    await add_character(app, member.id, "Cachey")
    assert [
        m["display_name"]
        for m in (await client.get("/api/v1/guild/roster")).json()["data"]["members"]
    ] == ["Before"]
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE common.guild_ranks SET name = 'Raider' WHERE level = 2"))
    members = (await client.get("/api/v1/guild/roster")).json()["data"]["members"]
    assert members[0]["rank"] == "Raider"
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE common.characters SET main_alt = 'alt'"))
    members = (await client.get("/api/v1/guild/roster")).json()["data"]["members"]
    assert members[0]["main_character"] is None
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("DELETE FROM common.characters"))
        await session.execute(text("DELETE FROM common.guild_members"))
    assert (await client.get("/api/v1/guild/roster")).json() == {
        "ok": True,
        "data": {"members": []},
    }


async def test_roster_is_public_and_read_only(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/guild/roster", json={})
    assert response.status_code == 405
    assert response.json()["ok"] is False
