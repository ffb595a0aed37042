"""`POST /api/v1/guild/roster-submit` (60 §9.3) and the sign-up page `/roster` (60 §4): create and
update, one main per member, absent keys keep stored values, the sheet-style errors, takeover
protections, CSRF, size/type limits and the hourly rate limit — every failure writes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, MemberHandle, count_rows

SUBMIT = "/api/v1/guild/roster-submit"
CSRF = "csrf-token-for-tests-0123456789"
TABLES = (
    "common.guild_members",
    "common.characters",
    "common.member_availability",
    "guild_identity.identity_links",
    "guild_identity.link_rejections",
)


def form(**overrides: Any) -> dict[str, Any]:
    """A complete form body (the page always sends every key)."""
    body: dict[str, Any] = {
        "discordName": "stabbyrae",
        "characterName": "Shivvy",
        "class": "Rogue",
        "spec": "Outlaw",
        "role": "Melee",
        "mainAlt": "Main",
        "availability": {
            "monday": False,
            "tuesday": False,
            "wednesday": False,
            "thursday": True,
            "friday": True,
            "saturday": False,
            "sunday": False,
        },
        "autoSignup": True,
        "wantsReminders": False,
        "notes": "Back from holiday in March",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


async def post(
    client: httpx.AsyncClient,
    body: Any,
    *,
    csrf: bool = True,
    cookie_token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST as a page would: the CSRF cookie and the matching header (and a login cookie)."""
    client.cookies.clear()
    sent_headers = {"X-Forwarded-For": "203.0.113.9"}
    if csrf:
        client.cookies.set("patt_csrf", CSRF)
        sent_headers["X-CSRF-Token"] = CSRF
    if cookie_token:
        client.cookies.set("patt_token", cookie_token)
    sent_headers.update(headers or {})
    if isinstance(body, bytes | str):
        sent_headers.setdefault("Content-Type", "application/json")
        return await client.post(SUBMIT, content=body, headers=sent_headers)
    return await client.post(SUBMIT, json=body, headers=sent_headers)


async def counts(db: AsyncSession) -> dict[str, int]:
    await db.rollback()
    return {table: await count_rows(db, table) for table in TABLES}


async def rows(db: AsyncSession, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    await db.rollback()
    return [tuple(r) for r in (await db.execute(text(sql), params)).all()]


async def characters_of(db: AsyncSession, username: str) -> list[tuple[Any, ...]]:
    return await rows(
        db,
        "SELECT c.name, c.class, c.spec, c.role, c.main_alt FROM common.characters c JOIN "
        "common.guild_members m ON m.id = c.member_id WHERE m.discord_username = :u "
        "ORDER BY c.name",
        u=username,
    )


async def week_of(db: AsyncSession, username: str) -> dict[str, Any]:
    data = await rows(
        db,
        "SELECT a.day_of_week, a.available, a.notes, a.auto_signup, a.wants_reminders FROM "
        "common.member_availability a JOIN common.guild_members m ON m.id = a.member_id "
        "WHERE m.discord_username = :u",
        u=username,
    )
    return {
        "days": sorted(day for day, available, *_ in data if available),
        "rows": len(data),
        "notes": {r[2] for r in data},
        "auto": {r[3] for r in data},
        "reminders": {r[4] for r in data},
    }


async def add_character(
    app: Any, *, member_id: int | None, name: str, wow_class: str, armory: bool = False
) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO common.characters (name, realm_slug, realm_name, class, main_alt, "
                "origin, member_id, blizzard_last_sync) VALUES (:n, 'senjin', 'Sen''jin', :c, "
                "'main', 'blizzard_sync', :m, CASE WHEN :a THEN now() END)"
            ),
            {"n": name, "c": wow_class, "m": member_id, "a": armory},
        )


# ------------------------------------------------------------------------- the page
async def test_roster_page_is_public_and_sets_the_csrf_cookie(client: httpx.AsyncClient) -> None:
    response = await client.get("/roster")
    assert response.status_code == 200
    page = response.text
    assert "⚔️ PATT Prog Raid Roster" in page
    assert "Raids are Thursday, Friday and Saturday at 9 pm Eastern" in page
    assert 'id="roster-form"' in page and "Join the Roster" in page
    for label in ("Select class…", "Death Knight", "Warrior", "Select spec…", "Melee DPS"):
        assert label in page
    assert "notes are visible on the public roster view" in page.lower()
    assert '<script type="application/json" id="class-table">' in page
    assert "/static/legacy/roster.js" in page
    assert "patt_csrf=" in response.headers.get("set-cookie", "")
    assert "onclick" not in page and "<script>" not in page


async def test_roster_page_prefills_a_logged_in_members_username(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(level=2, username="leafybug")
    client.cookies.set("patt_token", member.token or "")
    response = await client.get("/roster")
    assert 'value="leafybug"' in response.text


async def test_the_legacy_scripts_and_styles_are_served(client: httpx.AsyncClient) -> None:
    for path in (
        "/static/legacy/roster.js",
        "/static/legacy/roster-view.js",
        "/static/legacy/tools.css",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "innerHTML" not in response.text


# ------------------------------------------------------------------------ creation
async def test_anonymous_signup_creates_member_character_and_week(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    response = await post(client, form())
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Roster entry saved.",
        "created": {"member": True, "character": True},
    }
    member = await rows(
        db,
        "SELECT m.discord_username, m.display_name, r.name, m.rank_source, m.on_raid_roster, "
        "m.user_id FROM common.guild_members m JOIN common.guild_ranks r ON r.id = m.rank_id",
    )
    assert member == [("stabbyrae", "stabbyrae", "Initiate", "manual", True, None)]
    character = await rows(
        db,
        "SELECT name, realm_name, realm_slug, class, spec, role, main_alt, origin, armory_url "
        "FROM common.characters",
    )
    assert character == [
        (
            "Shivvy",
            "Sen'jin",
            "senjin",
            "Rogue",
            "Outlaw",
            "melee_dps",
            "main",
            "roster_form",
            "https://worldofwarcraft.blizzard.com/en-us/character/us/senjin/shivvy",
        )
    ]
    week = await week_of(db, "stabbyrae")
    assert week == {
        "days": ["friday", "thursday"],
        "rows": 7,
        "notes": {"Back from holiday in March"},
        "auto": {True},
        "reminders": {False},
    }
    links = await rows(
        db, "SELECT source, confidence, confirmed, confirmed_by FROM guild_identity.identity_links"
    )
    assert links == [("roster_form", "medium", False, None)]


async def test_sending_the_same_form_twice_updates_without_duplicates(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    assert (await post(client, form())).status_code == 200
    before = await counts(db)
    response = await post(client, form(discordName="StabbyRae", characterName="shivvy", notes="x"))
    assert response.status_code == 200
    assert response.json()["created"] == {"member": False, "character": False}
    assert await counts(db) == before
    assert (await week_of(db, "stabbyrae"))["notes"] == {"x"}


async def test_alt_then_new_main_keeps_one_main(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await post(client, form())
    await post(client, form(characterName="glowbert", **{"class": "Paladin"}, spec="Holy",
                            role="Healer", mainAlt="Alt"))  # fmt: skip
    assert await characters_of(db, "stabbyrae") == [
        ("Glowbert", "Paladin", "Holy", "healer", "alt"),
        ("Shivvy", "Rogue", "Outlaw", "melee_dps", "main"),
    ]
    await post(client, form(characterName="Moonpie", **{"class": "Druid"}, spec="Balance",
                            role="Ranged", mainAlt="Main"))  # fmt: skip
    assert await characters_of(db, "stabbyrae") == [
        ("Glowbert", "Paladin", "Holy", "healer", "alt"),
        ("Moonpie", "Druid", "Balance", "ranged_dps", "main"),
        ("Shivvy", "Rogue", "Outlaw", "melee_dps", "alt"),
    ]


async def test_absent_week_keys_keep_the_stored_values(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await post(client, form())
    body = form(characterName="Glowbert", **{"class": "Paladin"}, spec="Holy", role="Healer",
                mainAlt="Alt", availability=..., autoSignup=..., wantsReminders=..., notes=...)  # fmt: skip
    assert (await post(client, body)).status_code == 200
    week = await week_of(db, "stabbyrae")
    assert week["days"] == ["friday", "thursday"]
    assert week["notes"] == {"Back from holiday in March"}
    assert week["auto"] == {True}
    # A present availability object replaces the week; missing days are false.
    await post(client, form(availability={"sunday": True, "holiday": True}))
    assert (await week_of(db, "stabbyrae"))["days"] == ["sunday"]


async def test_a_new_member_without_week_keys_gets_an_empty_week(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    body = form(availability=..., autoSignup=..., wantsReminders=..., notes=...)
    assert (await post(client, body)).status_code == 200
    assert await week_of(db, "stabbyrae") == {
        "days": [],
        "rows": 7,
        "notes": {""},
        "auto": {False},
        "reminders": {False},
    }


@pytest.mark.parametrize(
    "wow_class, spec, role, stored",
    [
        ("Mage", "Frost", ..., "ranged_dps"),
        ("Death Knight", "Frost", "DPS", "melee_dps"),
        ("priest", "holy", ..., "healer"),
        ("Paladin", "Protection", "", "tank"),
        ("Hunter", "Survival", ..., "melee_dps"),
        ("Warrior", ..., ..., "ranged_dps"),
        ("Warrior", "Arms", "tank", "tank"),
        ("deathknight", "blood", "melee dps", "melee_dps"),
    ],
)
async def test_role_comes_from_class_and_spec_when_not_given(
    client: httpx.AsyncClient, db: AsyncSession, wow_class: str, spec: Any, role: Any, stored: str
) -> None:
    response = await post(client, form(**{"class": wow_class}, spec=spec, role=role))
    assert response.status_code == 200, response.text
    assert (await rows(db, "SELECT role FROM common.characters")) == [(stored,)]


async def test_missing_main_alt_is_main_first_then_alt(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await post(client, form(mainAlt=...))
    await post(client, form(characterName="Glowbert", mainAlt=...))
    await post(client, form(mainAlt=...))  # the existing main stays main
    assert [(c[0], c[4]) for c in await characters_of(db, "stabbyrae")] == [
        ("Glowbert", "alt"),
        ("Shivvy", "main"),
    ]


async def test_name_forms_are_normalised(client: httpx.AsyncClient, db: AsyncSession) -> None:
    assert (await post(client, form(discordName=" @LeafyBug "))).status_code == 200
    assert (
        await post(client, form(discordName="Old Timer#0042", characterName="zoëlle"))
    ).status_code == 200
    names = await rows(db, "SELECT discord_username FROM common.guild_members ORDER BY id")
    assert names == [("leafybug",), ("Old Timer#0042",)]
    chars = await rows(db, "SELECT name, armory_url FROM common.characters ORDER BY id")
    assert chars[1] == (
        "Zoëlle",
        "https://worldofwarcraft.blizzard.com/en-us/character/us/senjin/zo%C3%ABlle",
    )


async def test_notes_are_stored_as_plain_text(client: httpx.AsyncClient, db: AsyncSession) -> None:
    script = "<img src=x onerror=alert(1)>\u0007 line two\r\nline three "
    assert (await post(client, form(notes=script))).status_code == 200
    assert (await week_of(db, "stabbyrae"))["notes"] == {
        "<img src=x onerror=alert(1)> line two\nline three"
    }
    data = (await client.get("/api/v1/guild/roster-data")).json()
    assert data["availability"][0]["notes"] == "<img src=x onerror=alert(1)> line two\nline three"


async def test_an_orphan_character_is_claimed_and_linked(
    app: Any, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await add_character(app, member_id=None, name="Shivvy", wow_class="Rogue", armory=True)
    response = await post(client, form())
    assert response.json()["created"] == {"member": True, "character": False}
    assert await characters_of(db, "stabbyrae") == [
        ("Shivvy", "Rogue", "Outlaw", "melee_dps", "main")
    ]
    assert await count_rows(db, "common.characters") == 1
    assert await rows(db, "SELECT source FROM guild_identity.identity_links") == [("roster_form",)]


# ------------------------------------------------------------------- bad input → 422
async def test_every_bad_field_is_reported_and_nothing_is_written(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    before = await counts(db)
    body = form(
        discordName="Leafy Bug",
        characterName="Shiv vy2",
        spec="Holy",
        role="Bard",
        mainAlt="Both",
        availability={"monday": "yes"},
        autoSignup="true",
        notes="x" * 1001,
    )
    response = await post(client, body)
    assert response.status_code == 422
    data = response.json()
    assert data["success"] is False
    assert data["error"] == "Please fix the highlighted fields."
    assert set(data["fields"]) == {
        "discordName",
        "characterName",
        "spec",
        "role",
        "mainAlt",
        "availability",
        "autoSignup",
        "notes",
    }
    assert data["fields"]["discordName"] == "use your Discord username, not your display name"
    assert await counts(db) == before


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"discordName": ""}, "discordName"),
        ({"discordName": ...}, "discordName"),
        ({"discordName": "a"}, "discordName"),
        ({"discordName": "x" * 33}, "discordName"),
        ({"discordName": "name#12345"}, "discordName"),
        ({"discordName": 42}, "discordName"),
        ({"characterName": ...}, "characterName"),
        ({"characterName": "Abcdefghijklm"}, "characterName"),
        ({"characterName": "O'Neil"}, "characterName"),
        ({"class": "Bard"}, "class"),
        ({"class": ...}, "class"),
        ({"class": "Warrior", "spec": "Frost"}, "spec"),
        ({"spec": "x" * 31}, "spec"),
        ({"notes": ["list"]}, "notes"),
        ({"availability": ["monday"]}, "availability"),
        ({"wantsReminders": 1}, "wantsReminders"),
    ],
)
async def test_single_bad_fields_are_named(
    client: httpx.AsyncClient, db: AsyncSession, overrides: dict[str, Any], field: str
) -> None:
    response = await post(client, form(**overrides))
    assert response.status_code == 422, response.text
    assert list(response.json()["fields"]) == [field]
    assert await counts(db) == {table: 0 for table in TABLES}


async def test_malformed_and_wrong_bodies_are_400_413_415(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    for body in (b'{"discordName": "x"', b"[1, 2]", b'"text"', b"", b"[" * 5000 + b"]" * 5000):
        response = await post(client, body[:8000])
        assert response.status_code in (400, 413), body[:20]
        data = response.json()
        assert data["success"] is False and data["error"]
    oversize = form(notes="x" * 9000)
    response = await post(client, json.dumps(oversize))
    assert response.status_code == 413
    assert response.json()["success"] is False
    response = await post(
        client, "discordName=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 415
    assert response.json() == {"success": False, "error": "Request body must be application/json."}
    assert await counts(db) == {table: 0 for table in TABLES}


async def test_missing_or_wrong_csrf_is_403_and_writes_nothing(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    response = await post(client, form(), csrf=False)
    assert response.status_code == 403
    assert response.json() == {"success": False, "error": "CSRF token missing or invalid."}
    client.cookies.set("patt_csrf", CSRF)
    response = await client.post(SUBMIT, json=form(), headers={"X-CSRF-Token": "other"})
    assert response.status_code == 403
    assert await counts(db) == {table: 0 for table in TABLES}


async def test_no_ranks_is_409(app: Any, client: httpx.AsyncClient, db: AsyncSession) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("DELETE FROM common.guild_ranks"))
    response = await post(client, form())
    assert response.status_code == 409
    assert response.json() == {"success": False, "error": "Guild ranks are not set up yet."}
    assert await counts(db) == {table: 0 for table in TABLES}


# ---------------------------------------------------------------- takeover protections
async def test_a_registered_members_name_needs_their_login(
    client: httpx.AsyncClient, db: AsyncSession, factory: Factory
) -> None:
    member = await factory.member(level=2, username="leafybug")
    before = await counts(db)
    response = await post(client, form(discordName="LeafyBug"))
    assert response.status_code == 403
    assert response.json() == {
        "success": False,
        "error": "This Discord name belongs to a registered member — log in to update it.",
    }
    assert await counts(db) == before
    other = await factory.member(level=2, username="someone")
    before = await counts(db)
    response = await post(client, form(discordName="leafybug"), cookie_token=other.token)
    assert response.status_code == 403
    assert await counts(db) == before

    response = await post(client, form(discordName="leafybug"), cookie_token=member.token)
    assert response.status_code == 200
    links = await rows(
        db, "SELECT source, confidence, confirmed, confirmed_by FROM guild_identity.identity_links"
    )
    assert links == [("roster_form", "high", True, "Leafybug")]


async def test_an_officer_may_file_for_a_registered_member(
    client: httpx.AsyncClient, db: AsyncSession, factory: Factory
) -> None:
    await factory.member(level=2, username="leafybug")
    officer = await factory.officer(username="mito")
    response = await client.post(
        SUBMIT, json=form(discordName="leafybug"), headers=officer.headers
    )  # bearer tokens need no CSRF header
    assert response.status_code == 200
    assert await rows(db, "SELECT source, confirmed_by FROM guild_identity.identity_links") == [
        ("manual", "Mito")
    ]


async def test_another_members_character_is_409_unless_officer(
    app: Any, client: httpx.AsyncClient, db: AsyncSession, factory: Factory
) -> None:
    owner = await factory.member(level=2, username="tankyhank", registered=False)
    await add_character(app, member_id=owner.id, name="Shivvy", wow_class="Rogue")
    before = await counts(db)
    response = await post(client, form())
    assert response.status_code == 409
    assert response.json() == {
        "success": False,
        "error": "That character is already claimed by another member.",
    }
    assert await counts(db) == before
    assert await characters_of(db, "tankyhank") == [("Shivvy", "Rogue", None, None, "main")]

    officer: MemberHandle = await factory.officer(username="mito")
    response = await client.post(SUBMIT, json=form(), headers=officer.headers)
    assert response.status_code == 200
    assert await characters_of(db, "tankyhank") == []
    assert await characters_of(db, "stabbyrae") == [
        ("Shivvy", "Rogue", "Outlaw", "melee_dps", "main")
    ]
    assert await rows(db, "SELECT source FROM guild_identity.identity_links") == [("manual",)]
    assert await rows(db, "SELECT member_id FROM guild_identity.link_rejections") == [(owner.id,)]


async def test_armory_class_mismatch_is_409(
    app: Any, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await add_character(app, member_id=None, name="Shivvy", wow_class="Monk", armory=True)
    before = await counts(db)
    response = await post(client, form())
    assert response.status_code == 409
    assert response.json() == {"success": False, "error": "Class does not match the armory (Monk)."}
    assert await counts(db) == before


async def test_a_stale_login_cookie_counts_as_anonymous_but_a_bad_bearer_is_401(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    response = await post(client, form(), cookie_token="not-a-jwt")
    assert response.status_code == 200
    response = await client.post(SUBMIT, json=form(), headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["success"] is False


# ----------------------------------------------------------------------- rate limit
async def test_the_31st_submission_in_an_hour_is_429_with_retry_after(
    client: httpx.AsyncClient, db: AsyncSession, factory: Factory
) -> None:
    for number in range(30):
        response = await post(client, form(notes=f"try {number}"))
        assert response.status_code == 200, number
    before = await counts(db)
    response = await post(client, form(notes="one too many"))
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 3600
    data = response.json()
    assert data["success"] is False and "Try again in" in data["error"]
    assert data["retryAfter"] == retry_after
    assert await counts(db) == before
    assert (await week_of(db, "stabbyrae"))["notes"] == {"try 29"}

    # another client address is not affected; officers are exempt
    other = await post(client, form(notes="elsewhere"), headers={"X-Forwarded-For": "198.51.100.4"})
    assert other.status_code == 200  # the test peer 127.0.0.1 is a trusted proxy
    officer = await factory.officer(username="mito")
    response = await client.post(SUBMIT, json=form(notes="officer"), headers=officer.headers)
    assert response.status_code == 200


# ------------------------------------------------------------------ old write path
async def test_posting_to_roster_data_is_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/guild/roster-data", json={"x": 1})
    assert response.status_code == 405
    assert response.json() == {"success": False, "error": "Not supported"}


async def test_officers_cannot_act_for_members_at_or_above_their_rank(
    app: Any, client: httpx.AsyncClient, db: AsyncSession, factory: Factory
) -> None:
    leader = await factory.leader(username="guildmaster")
    await add_character(app, member_id=leader.id, name="Shivvy", wow_class="Rogue")
    officer = await factory.officer(username="mito")
    before = await counts(db)
    response = await client.post(
        SUBMIT, json=form(discordName="guildmaster", characterName="Other"), headers=officer.headers
    )
    assert response.status_code == 403
    assert response.json()["success"] is False
    response = await client.post(SUBMIT, json=form(), headers=officer.headers)  # GM's character
    assert response.status_code == 403
    assert await counts(db) == before
    # the Guild Leader may take it back for someone else
    response = await client.post(SUBMIT, json=form(), headers=leader.headers)
    assert response.status_code == 200
    assert await characters_of(db, "stabbyrae") == [
        ("Shivvy", "Rogue", "Outlaw", "melee_dps", "main")
    ]
