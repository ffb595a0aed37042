"""The roster view page `/roster-view` (60 §5), `GET /api/v1/guild/roster-data` (60 §9.4) and the
availability endpoints (60 §9.5), on the §10.9 fixture imported through the import service."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, count_rows

from patt.roster import availability
from sv_common import clock
from sv_common.guild_sync import sheet_import

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sheet_export.json"
ROSTER_DATA = "/api/v1/guild/roster-data"
AVAILABILITY = "/api/v1/guild/availability"
CSRF = "csrf-token-for-tests-0123456789"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


async def load_fixture(app: Any) -> None:
    """Import the §10.9 sheet export through the import service."""
    export = sheet_import.load_json_export(FIXTURE.read_bytes(), source=FIXTURE.name)
    plan = sheet_import.plan_import(export)
    async with app.state.sessionmaker() as session, session.begin():
        await sheet_import.apply_plan(
            session, plan, sheet_import.ImportOptions(now=datetime(2025, 3, 1, tzinfo=UTC))
        )


async def execute(app: Any, sql: str, **params: Any) -> None:
    """Run one or more `;`-separated statements in one transaction."""
    async with app.state.sessionmaker() as session, session.begin():
        for statement in sql.split(";"):
            await session.execute(text(statement), params)


# ------------------------------------------------------------------------ roster-data
async def test_empty_database_gives_empty_lists(client: httpx.AsyncClient) -> None:
    response = await client.get(ROSTER_DATA)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "success": True,
        "availability": [],
        "characters": [],
        "discordIds": {},
        "validationIssues": [],
    }


async def test_roster_data_shape_for_the_fixture(app: Any, client: httpx.AsyncClient) -> None:
    await load_fixture(app)
    data = (await client.get(ROSTER_DATA)).json()
    assert data["success"] is True
    assert [entry["discord"] for entry in data["availability"]] == [
        "leafybug",
        "pewpewpat",
        "tankyhank",
    ]
    assert data["availability"][0] == {
        "discord": "leafybug",
        "monday": True,
        "tuesday": False,
        "wednesday": False,
        "thursday": True,
        "friday": True,
        "saturday": False,
        "sunday": False,
        "notes": "Saturdays I coach little league",
        "autoSignup": False,
        "wantsReminders": True,
        "updated": "2025-01-11T19:40:00+00:00",
    }
    for entry in data["availability"]:
        assert list(entry) == ["discord", *DAYS, "notes", "autoSignup", "wantsReminders", "updated"]
        assert all(isinstance(entry[day], bool) for day in DAYS)
    assert data["characters"] == [
        {"discord": "leafybug", "character": "Leafybug", "class": "Druid", "spec": "Restoration", "role": "Healer", "mainAlt": "Main"},
        {"discord": "pewpewpat", "character": "Arrowmancer", "class": "Hunter", "spec": "Survival", "role": "Melee", "mainAlt": "Main"},
        {"discord": "stabbyrae", "character": "Shivvy", "class": "Rogue", "spec": "Outlaw", "role": "Melee", "mainAlt": "Main"},
        {"discord": "tankyhank", "character": "Shieldwall", "class": "Warrior", "spec": "Protection", "role": "Tank", "mainAlt": "Main"},
        {"discord": "tankyhank", "character": "Moonpie", "class": "Druid", "spec": "Balance", "role": "Ranged", "mainAlt": "Alt"},
    ]  # fmt: skip
    # anonymous: no Discord IDs, no validation issues
    assert data["discordIds"] == {} and data["validationIssues"] == []


async def test_officers_see_discord_ids_and_validation_issues(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    await load_fixture(app)
    member = await factory.member(level=3, username="veteran")
    data = (await client.get(ROSTER_DATA, headers=member.headers)).json()
    assert data["discordIds"] == {} and data["validationIssues"] == []

    await execute(
        app,
        "UPDATE common.guild_members SET discord_username = 'Bad Name' WHERE discord_username "
        "= 'stabbyrae'",
    )
    officer = await factory.officer(username="mito")
    client.cookies.set("patt_token", officer.token or "")
    data = (await client.get(ROSTER_DATA)).json()
    assert data["discordIds"] == {
        "leafybug": "100000000000000002",
        "tankyhank": "100000000000000001",
    }
    assert data["validationIssues"] == [
        {"name": "Bad Name", "status": "Invalid Format", "hasId": False},
        {"name": "pewpewpat", "status": "Pending ID", "hasId": False},
    ]


async def test_only_raid_roster_members_and_current_characters_appear(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    await load_fixture(app)
    await factory.member(level=2, username="synced", registered=False)  # never signed up
    await execute(
        app,
        "UPDATE common.characters SET removed_at = now() WHERE name = 'Moonpie';"
        "UPDATE common.guild_members SET on_raid_roster = false WHERE discord_username = "
        "'pewpewpat'",
    )
    await execute(
        app,
        "INSERT INTO common.characters (name, realm_slug, member_id, main_alt, origin) SELECT "
        "'Classless', 'senjin', id, 'alt', 'blizzard_sync' FROM common.guild_members WHERE "
        "discord_username = 'tankyhank'",
    )
    data = (await client.get(ROSTER_DATA)).json()
    assert [e["discord"] for e in data["availability"]] == ["leafybug", "tankyhank"]
    assert [c["character"] for c in data["characters"]] == ["Leafybug", "Shivvy", "Shieldwall"]


async def test_roles_fall_back_to_class_and_spec_then_ranged(
    app: Any, client: httpx.AsyncClient
) -> None:
    await load_fixture(app)
    await execute(
        app,
        "UPDATE common.characters SET role = NULL WHERE name IN ('Shieldwall', 'Moonpie');"
        "UPDATE common.characters SET spec = NULL WHERE name = 'Moonpie'",
    )
    data = (await client.get(ROSTER_DATA)).json()
    roles = {c["character"]: (c["spec"], c["role"]) for c in data["characters"]}
    assert roles["Shieldwall"] == ("Protection", "Tank")
    assert roles["Moonpie"] == ("", "Ranged")


async def add_roster_members(app: Any, prefix: str, count: int) -> None:
    """Raid-roster members with one main each, written straight to the tables."""
    async with app.state.sessionmaker() as session, session.begin():
        for index in range(count):
            await session.execute(
                text(
                    "WITH m AS (INSERT INTO common.guild_members (discord_username, "
                    "display_name, rank_id, on_raid_roster) SELECT :u, :u, id, true FROM "
                    "common.guild_ranks WHERE level = 1 RETURNING id) INSERT INTO "
                    "common.characters (name, realm_slug, class, main_alt, member_id) "
                    "SELECT :c, 'senjin', 'Mage', 'main', id FROM m"
                ),
                {
                    "u": f"{prefix}{index}",
                    "c": f"{prefix.title()}{chr(97 + index % 26)}{chr(97 + index // 26)}",
                },
            )


async def test_roster_data_uses_a_constant_number_of_queries(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    await load_fixture(app)
    officer = await factory.officer(username="mito")
    event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
    try:
        await client.get(ROSTER_DATA, headers=officer.headers)  # warm-up (records last_seen_at)
        await add_roster_members(app, "few", 1)
        statements.clear()
        await client.get(ROSTER_DATA, headers=officer.headers)
        small = len(statements)
        await add_roster_members(app, "many", 40)
        statements.clear()
        data = (await client.get(ROSTER_DATA, headers=officer.headers)).json()
        assert len(data["characters"]) == 5 + 41
        assert len(statements) == small
        # token lookup, fingerprint, roster (one statement), members for the officer keys
        assert small <= 6
        statements.clear()
        await client.get(ROSTER_DATA, headers=officer.headers)
        assert len(statements) < small  # nothing changed: served from the cache
    finally:
        event.remove(app.state.engine.sync_engine, "before_cursor_execute", record)


async def test_every_change_shows_up_on_the_next_read(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    await load_fixture(app)

    async def names() -> list[str]:
        data = (await client.get(ROSTER_DATA)).json()
        return [c["character"] for c in data["characters"]]

    assert "Moonpie" in await names()
    await execute(app, "UPDATE common.characters SET removed_at = now() WHERE name = 'Moonpie'")
    assert "Moonpie" not in await names()
    await execute(app, "DELETE FROM common.characters WHERE name = 'Shivvy'")
    assert "Shivvy" not in await names()
    officer = await factory.officer(username="mito")
    response = await client.post(
        AVAILABILITY,
        json={"discordName": "leafybug", "notes": "new note"},
        headers=officer.headers,
    )
    assert response.status_code == 200
    data = (await client.get(ROSTER_DATA)).json()
    assert data["availability"][0]["notes"] == "new note"
    assert (await client.get(AVAILABILITY)).json()["data"][0]["notes"] == "new note"
    await execute(app, "DELETE FROM common.member_availability WHERE notes = 'new note'")
    assert [e["discord"] for e in (await client.get(AVAILABILITY)).json()["data"]] == [
        "pewpewpat",
        "tankyhank",
    ]


# ----------------------------------------------------------------------- availability
async def test_get_availability_lists_the_same_entries(app: Any, client: httpx.AsyncClient) -> None:
    await load_fixture(app)
    roster = (await client.get(ROSTER_DATA)).json()
    response = await client.get(AVAILABILITY)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"ok": True, "data": roster["availability"]}


async def test_post_availability_needs_a_login(
    app: Any, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await load_fixture(app)
    client.cookies.set("patt_csrf", CSRF)
    response = await client.post(
        AVAILABILITY,
        json={"discordName": "leafybug", "availability": {"monday": False}},
        headers={"X-CSRF-Token": CSRF},
    )
    assert response.status_code == 401
    assert response.json()["ok"] is False
    rows = await db.execute(
        text(
            "SELECT count(*) FROM common.member_availability a JOIN common.guild_members m ON "
            "m.id = a.member_id WHERE m.discord_username = 'leafybug' AND a.available"
        )
    )
    assert rows.scalar() == 3


async def test_a_member_updates_their_own_week(
    client: httpx.AsyncClient, db: AsyncSession, factory: Factory
) -> None:
    member = await factory.member(level=1, username="leafybug")
    client.cookies.set("patt_token", member.token or "")
    client.cookies.set("patt_csrf", CSRF)
    body = {
        "availability": {"monday": True, "friday": True},
        "autoSignup": True,
        "notes": "  Updated schedule ",
    }
    response = await client.post(AVAILABILITY, json=body, headers={"X-CSRF-Token": CSRF})
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True and data["message"] == "Availability updated."
    entry = data["data"]
    assert entry["discord"] == "leafybug"
    assert [day for day in DAYS if entry[day]] == ["monday", "friday"]
    assert entry["autoSignup"] is True and entry["wantsReminders"] is False
    assert entry["notes"] == "Updated schedule"
    assert (await client.get(AVAILABILITY)).json()["data"] == [entry]
    assert await count_rows(db, "common.member_availability") == 7
    assert await count_rows(db, "common.guild_members", "on_raid_roster") == 1

    # absent keys keep what is stored
    response = await client.post(
        AVAILABILITY, json={"wantsReminders": True}, headers={"X-CSRF-Token": CSRF}
    )
    kept = response.json()["data"]
    assert [day for day in DAYS if kept[day]] == ["monday", "friday"]
    assert kept["notes"] == "Updated schedule" and kept["wantsReminders"] is True

    # cookie login without the CSRF header → 403, nothing changes
    response = await client.post(AVAILABILITY, json={"notes": "csrf-less"})
    assert response.status_code == 403
    assert (await client.get(AVAILABILITY)).json()["data"][0]["notes"] == "Updated schedule"


async def test_other_members_need_an_officer(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    await load_fixture(app)
    member = await factory.member(level=3, username="someone")
    before = (await client.get(AVAILABILITY)).json()
    response = await client.post(
        AVAILABILITY, json={"discordName": "leafybug", "notes": "hijack"}, headers=member.headers
    )
    assert response.status_code == 403
    response = await client.post(
        AVAILABILITY, json={"discordName": "nobody", "notes": "x"}, headers=member.headers
    )
    assert response.status_code == 403  # no probing of names for non-officers
    assert (await client.get(AVAILABILITY)).json() == before

    officer = await factory.officer(username="mito")
    response = await client.post(
        AVAILABILITY, json={"discordName": "nobody", "notes": "x"}, headers=officer.headers
    )
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "Member 'nobody' not found"}
    response = await client.post(
        AVAILABILITY,
        json={"discordName": "LeafyBug", "availability": {"sunday": True}},
        headers=officer.headers,
    )
    assert response.status_code == 200
    entry = response.json()["data"]
    assert [day for day in DAYS if entry[day]] == ["sunday"]
    assert entry["notes"] == "Saturdays I coach little league"


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"availability": {"monday": "yes"}}, 422, "availability"),
        ({"availability": "monday"}, 422, "availability"),
        ({"autoSignup": "true"}, 422, "autoSignup"),
        ({"notes": "x" * 1001}, 422, "notes"),
        ({"notes": 5}, 422, "notes"),
        ({"discordName": ""}, 422, "discordName"),
    ],
)
async def test_bad_availability_fields_are_422_and_change_nothing(
    client: httpx.AsyncClient,
    db: AsyncSession,
    factory: Factory,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    member = await factory.member(level=2, username="leafybug")
    response = await client.post(AVAILABILITY, json=body, headers=member.headers)
    assert response.status_code == status
    data = response.json()
    assert data["ok"] is False and f"'{field}'" in data["error"]
    assert data["details"][0]["field"] == field
    assert await count_rows(db, "common.member_availability") == 0


async def test_malformed_availability_bodies(
    client: httpx.AsyncClient, db: AsyncSession, factory: Factory
) -> None:
    member = await factory.member(level=2, username="leafybug")
    headers = {**member.headers, "Content-Type": "application/json"}
    for raw, status in ((b"{", 400), (b"[]", 400), (b"", 400)):
        response = await client.post(AVAILABILITY, content=raw, headers=headers)
        assert response.status_code == status, raw
        assert response.json()["ok"] is False
    response = await client.post(
        AVAILABILITY, content=b'{"notes": "' + b"x" * 9000 + b'"}', headers=headers
    )
    assert response.status_code == 413
    response = await client.post(
        AVAILABILITY, content=b"notes=x", headers={**member.headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert await count_rows(db, "common.member_availability") == 0


# -------------------------------------------------------------------------- the page
async def test_roster_view_page_is_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/roster-view")
    assert response.status_code == 200
    page = response.text
    assert "Pull All The Things Prog Raid Roster" in page
    for label in ("📅 Availability", "👥 Full Roster", "⚔️ Composition", "Mains only"):
        assert label in page
    assert 'data-initial-view="availability"' in page
    assert 'href="/roster"' in page and "📝 Sign Up / Update" in page
    assert "/static/legacy/roster-view.js" in page


@pytest.mark.parametrize(
    "query, view",
    [
        ("?view=roster", "roster"),
        ("?view=composition", "composition"),
        ("?view=availability", "availability"),
        ("?view=<script>", "availability"),
        ("", "availability"),
    ],
)
async def test_view_parameter_selects_the_first_view(
    client: httpx.AsyncClient, query: str, view: str
) -> None:
    page = (await client.get(f"/roster-view{query}")).text
    assert f'data-initial-view="{view}"' in page
    assert '<script>"' not in page


async def test_page_embeds_config_and_today_in_the_guild_time_zone(
    client: httpx.AsyncClient,
) -> None:
    clock.set_now(datetime(2025, 3, 6, 3, 30, tzinfo=UTC))  # Wednesday 22:30 Eastern
    page = (await client.get("/roster-view")).text
    assert '"today": "2025-03-05"' in page
    assert '"compositionTargets"' in page and '"dpsMin": 13' in page
    assert "scriptUrl" not in page and "channels" not in page


async def test_load_roster_gives_the_same_data_to_python_callers(
    app: Any, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await load_fixture(app)
    data = (await client.get(ROSTER_DATA)).json()
    roster = await availability.load_roster(db)
    assert roster.availability == data["availability"]
    assert roster.characters == data["characters"]
    assert roster.discord_ids == {
        "leafybug": "100000000000000002",
        "pewpewpat": None,
        "stabbyrae": None,
        "tankyhank": "100000000000000001",
    }


async def test_officers_cannot_change_the_week_of_higher_ranks(
    client: httpx.AsyncClient, db: AsyncSession, factory: Factory
) -> None:
    await factory.leader(username="guildmaster")
    await factory.officer(username="otherofficer")
    officer = await factory.officer(username="mito")
    for name in ("guildmaster", "otherofficer"):
        response = await client.post(
            AVAILABILITY, json={"discordName": name, "notes": "x"}, headers=officer.headers
        )
        assert response.status_code == 403, name
    assert await count_rows(db, "common.member_availability") == 0
