"""Raid admin dashboard over HTTP (60 §6, §9.6, §9.7, decision 7): page gates, the schedule and
its exact commands for the spec's fixture, Raid-Helper event creation against the fake, the
not-configured answers, Discord ID mapping and raid-roster maintenance — and that bad input
changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, make_settings

from patt.config import Settings
from patt.raid.raid_helper import FakeRaidHelper, HttpRaidHelper, NotConfiguredRaidHelper
from patt.roster.availability import WeekFields, save_availability
from sv_common import clock
from sv_common.identity import characters, classes, members

API = "/api/v1/guild"
SERVER_ID = "200000000000000000"
SIGNUP_CHANNEL = "300000000000000001"
EVENT_CHANNEL = "300000000000000002"
VOICE_CHANNEL = "300000000000000003"
SECRET_KEY = "rh-top-secret-key-0123456789"
NOON_EASTERN = datetime(2025, 3, 5, 17, 0, tzinfo=UTC)  # Wednesday 12:00 in New York

THURSDAY_SIGNUPS = (
    "# Auto-signed up (1):\n"
    "/adduser [EVENT_ID] @tankyhank class:Warrior spec:Tank\n"
    "\n"
    "# Tentative (1):\n"
    "/adduser [EVENT_ID] @leafybug class:Druid spec:Tentative\n"
    "\n"
    "# Marked absent (1):\n"
    "/adduser [EVENT_ID] @pewpewpat status:Absence\n"
    "\n"
    "# Wants 5pm reminder (1): leafybug"
)

# discord, discord id, available days (None = no availability), auto, reminders, notes, characters
FIXTURE: list[tuple[str, str | None, set[str] | None, bool, bool, str, list[tuple[str, ...]]]] = [
    (
        "tankyhank",
        "100000000000000001",
        {"thursday", "friday", "saturday"},
        True,
        False,
        "",
        [
            ("Shieldwall", "Warrior", "Protection", "tank", "main"),
            ("Moonpie", "Druid", "Balance", "ranged_dps", "alt"),
        ],
    ),
    (
        "leafybug",
        "100000000000000002",
        {"monday", "thursday", "friday"},
        False,
        True,
        "Saturdays I coach little league",
        [("Leafybug", "Druid", "Restoration", "healer", "main")],
    ),
    (
        "pewpewpat",
        None,
        {"friday", "saturday", "sunday"},
        False,
        False,
        "Late on Fridays (work)",
        [("Arrowmancer", "Hunter", "Survival", "melee_dps", "main")],
    ),
    (
        "stabbyrae",
        None,
        None,
        False,
        False,
        "",
        [("Shivvy", "Rogue", "Outlaw", "melee_dps", "main")],
    ),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Raid-Helper fully configured on the server side (the key is replaced by the fake)."""
    return make_settings(
        tmp_path,
        discord_guild_id=SERVER_ID,
        discord_channel_raid_signup=SIGNUP_CHANNEL,
        discord_channel_event_signup=EVENT_CHANNEL,
        discord_channel_voice=VOICE_CHANNEL,
        raid_helper_api_key=SECRET_KEY,
    )


@pytest.fixture
def fake(app: Any) -> FakeRaidHelper:
    """The in-memory Raid-Helper in place of the real client."""
    helper = FakeRaidHelper()
    app.state.raid_helper = helper
    return helper


@pytest.fixture
async def roster(app: Any) -> None:
    """The spec's sheet fixture (60 §10.9) created through the services; clock at Wed noon."""
    clock.set_now(NOON_EASTERN)
    async with app.state.sessionmaker() as session, session.begin():
        rank_id = await session.scalar(text("SELECT id FROM common.guild_ranks WHERE level = 2"))
        for discord, snowflake, days, auto, reminders, notes, chars in FIXTURE:
            member = await members.create_member(
                session,
                actor=None,
                discord_username=discord,
                display_name=discord,
                rank_id=rank_id,
                discord_id=snowflake,
                on_raid_roster=True,
            )
            for name, cls, spec, role, main_alt in chars:
                await characters.add_character(
                    session,
                    actor=None,
                    member_id=member.id,
                    name=name,
                    realm="Sen'jin",
                    wow_class=cls,
                    spec=spec,
                    role=role,
                    main_alt=main_alt,
                    origin="sheet_import",
                )
            if days is not None:
                await save_availability(
                    session,
                    member_id=member.id,
                    week=WeekFields(
                        days={day: day in days for day in classes.DAYS},
                        auto_signup=auto,
                        wants_reminders=reminders,
                        notes=notes,
                    ),
                )


async def snapshot(db: AsyncSession) -> list[Any]:
    """Everything these endpoints may write, for 'nothing changed' checks."""
    db.expire_all()
    queries = [
        "SELECT id, discord_username, discord_id, on_raid_roster FROM common.guild_members ORDER BY id",
        "SELECT id, name, main_alt, member_id, removed_at FROM common.characters ORDER BY id",
        "SELECT member_id, day_of_week, available, notes FROM common.member_availability "
        "ORDER BY member_id, day_of_week",
        "SELECT count(*) FROM guild_identity.identity_links",
    ]
    return [(await db.execute(text(q))).all() for q in queries]


async def officer_headers(factory: Factory) -> dict[str, str]:
    officer = await factory.officer(username="officerbob", discord_id="100000000000000099")
    return officer.headers


# ----------------------------------------------------------------------------- gates
async def test_raid_admin_page_sends_anonymous_visitors_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/raid-admin")
    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=/raid-admin"


async def test_raid_admin_page_is_forbidden_below_officer(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member(level=3)
    client.cookies.set("patt_token", member.token or "")
    response = await client.get("/raid-admin")
    assert response.status_code == 403
    assert "Raid Admin" not in response.text


async def test_raid_admin_page_renders_for_officers_without_the_key(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer(discord_id="100000000000000099")
    client.cookies.set("patt_token", officer.token or "")
    response = await client.get("/raid-admin")
    assert response.status_code == 200
    assert '<meta name="robots" content="noindex">' in response.text
    assert "Schedule Raid" in response.text and "Discord ID Mapping" in response.text
    assert "/static/legacy/raid-admin.js" in response.text
    assert SECRET_KEY not in response.text
    assert '"raidHelperConfigured": true' in response.text
    assert '"leaderId": "100000000000000099"' in response.text  # the officer's own ID


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/raid-schedule", None),
        ("POST", "/raid-events", {"date": "2025-03-06"}),
        ("POST", "/guild-events", {"type": "social", "title": "x", "date": "2025-03-06"}),
        ("PUT", "/discord-ids", {"mapping": {"pewpewpat": "100000000000000003"}}),
        ("POST", "/raid-roster/main", {"discord": "tankyhank", "character": "Moonpie"}),
        ("DELETE", "/raid-roster/pewpewpat", None),
    ],
)
async def test_raid_admin_api_is_officer_only(
    client: httpx.AsyncClient,
    factory: Factory,
    db: AsyncSession,
    roster: None,
    fake: FakeRaidHelper,
    method: str,
    path: str,
    body: Any,
) -> None:
    veteran = await factory.member(level=3)
    before = await snapshot(db)
    anonymous = await client.request(method, API + path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["ok"] is False
    refused = await client.request(method, API + path, json=body, headers=veteran.headers)
    assert refused.status_code == 403
    assert await snapshot(db) == before
    assert fake.calls == []


async def test_cookie_writes_need_the_csrf_header(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None
) -> None:
    officer = await factory.officer()
    client.cookies.set("patt_token", officer.token or "")
    client.cookies.set("patt_csrf", "csrf-token-value")
    before = await snapshot(db)
    missing = await client.delete(f"{API}/raid-roster/pewpewpat")
    assert missing.status_code == 403
    wrong = await client.delete(
        f"{API}/raid-roster/pewpewpat", headers={"X-CSRF-Token": "something-else"}
    )
    assert wrong.status_code == 403
    assert await snapshot(db) == before
    accepted = await client.delete(
        f"{API}/raid-roster/pewpewpat", headers={"X-CSRF-Token": "csrf-token-value"}
    )
    assert accepted.status_code == 200


# -------------------------------------------------------------------------- schedule
async def test_schedule_for_the_fixture_matches_the_spec(
    client: httpx.AsyncClient, factory: Factory, roster: None
) -> None:
    response = await client.get(f"{API}/raid-schedule", headers=await officer_headers(factory))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    data = response.json()["data"]
    assert data["today"] == "2025-03-05"
    assert data["timezone"] == "America/New_York"
    assert data["withoutCharacters"] == 0
    days = {d["day"]: d for d in data["days"]}
    assert [d["day"] for d in data["days"]] == [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ]
    assert [d["date"] for d in data["days"]] == [
        "2025-03-09",
        "2025-03-10",
        "2025-03-11",
        "2025-03-12",
        "2025-03-06",
        "2025-03-07",
        "2025-03-08",
    ]
    assert {k: d["rank"] for k, d in days.items() if d["rank"]} == {
        "friday": 1,
        "thursday": 2,
        "saturday": 3,
    }
    assert days["friday"]["counts"] == {"tank": 1, "healer": 1, "melee": 1, "ranged": 0}
    thursday = days["thursday"]
    assert thursday["dateDisplay"] == "Mar 6"
    assert thursday["counts"] == {"tank": 1, "healer": 1, "melee": 0, "ranged": 0}
    assert thursday["createCommand"] == (
        "/create title:Heroic Raid date:2025-03-06 time:21:00 duration:120 template:wowretail2"
    )
    assert thursday["signupCommands"] == THURSDAY_SIGNUPS
    assert thursday["available"][0] == {
        "discord": "leafybug",
        "character": "Leafybug",
        "class": "Druid",
        "spec": "Restoration",
        "role": "Healer",
        "autoSignup": False,
        "wantsReminders": True,
        "hasDiscordId": True,
    }
    assert [p["discord"] for p in thursday["unavailable"]] == ["pewpewpat"]
    assert thursday["unavailable"][0]["reason"] == "Late on Fridays (work)"
    # stabbyrae has characters but no availability: not in the schedule at all
    assert all(
        p["discord"] != "stabbyrae" for d in data["days"] for p in d["available"] + d["unavailable"]
    )


async def test_schedule_uses_the_officers_settings_and_counts_people_without_characters(
    app: Any, client: httpx.AsyncClient, factory: Factory, roster: None
) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        loner = await members.create_member(
            session, actor=None, discord_username="nochars", on_raid_roster=True
        )
        await save_availability(
            session,
            member_id=loner.id,
            week=WeekFields(days={day: day == "friday" for day in classes.DAYS}, notes=""),
        )
    headers = await officer_headers(factory)
    response = await client.get(
        f"{API}/raid-schedule",
        params={"title": "Mythic Prog", "time": "20:30", "duration": "180", "template": "x-1"},
        headers=headers,
    )
    data = response.json()["data"]
    assert data["withoutCharacters"] == 1
    friday = next(d for d in data["days"] if d["day"] == "friday")
    assert friday["createCommand"] == (
        "/create title:Mythic Prog date:2025-03-07 time:20:30 duration:180 template:x-1"
    )


@pytest.mark.parametrize(
    "params",
    [
        {"time": "9pm"},
        {"duration": "abc"},
        {"duration": "10"},
        {"template": "bad template!"},
        {"title": "x" * 101},
    ],
)
async def test_schedule_rejects_bad_settings_with_422(
    client: httpx.AsyncClient, factory: Factory, params: dict[str, str]
) -> None:
    response = await client.get(
        f"{API}/raid-schedule", params=params, headers=await officer_headers(factory)
    )
    assert response.status_code == 422
    assert response.json()["ok"] is False and response.json()["error"]


async def test_schedule_on_an_empty_roster(client: httpx.AsyncClient, factory: Factory) -> None:
    response = await client.get(f"{API}/raid-schedule", headers=await officer_headers(factory))
    data = response.json()["data"]
    assert len(data["days"]) == 7
    assert all(d["rank"] is None for d in data["days"])
    assert data["days"][0]["signupCommands"] == "No signup commands (no roster data)"


# ------------------------------------------------------------------------ raid events
async def test_creating_the_thursday_raid_sends_the_event_and_signups(
    client: httpx.AsyncClient,
    factory: Factory,
    db: AsyncSession,
    roster: None,
    fake: FakeRaidHelper,
) -> None:
    headers = await officer_headers(factory)
    before = await snapshot(db)
    response = await client.post(
        f"{API}/raid-events",
        json={"date": "2025-03-06", "addSignups": True},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "data": {
            "eventId": "1234567890",
            "available": 2,
            "signups": {"attempted": 2, "succeeded": 2, "failed": []},
            "skippedNoDiscordId": ["pewpewpat"],
        },
    }
    assert len(fake.creates) == 1
    create = fake.creates[0]
    assert create["server_id"] == SERVER_ID and create["channel_id"] == SIGNUP_CHANNEL
    assert create["payload"] == {
        "leaderId": "100000000000000099",  # the officer's own Discord ID
        "templateId": "wowretail2",
        "date": "2025-03-06",
        "time": "21:00",
        "title": "Heroic Raid",
        "description": "Roster auto-generated. 2 available.",
        "channelId": SIGNUP_CHANNEL,
        "advancedSettings": {
            "duration": 120,
            "create_discordevent": True,
            "attendance": "true",
            "use_nicknames": True,
            "voice_channel": VOICE_CHANNEL,
        },
    }
    assert [c["payload"] for c in fake.signups] == [
        {"userId": "100000000000000001", "className": "Tank", "specName": "Protection"},
        {"userId": "100000000000000002", "className": "Tentative"},
    ]
    assert all(c["event_id"] == "1234567890" for c in fake.signups)
    assert await snapshot(db) == before  # creating an event writes nothing locally


async def test_officer_values_override_the_defaults(
    client: httpx.AsyncClient, factory: Factory, roster: None, fake: FakeRaidHelper
) -> None:
    response = await client.post(
        f"{API}/raid-events",
        json={
            "date": "2025-03-07",
            "title": "Mythic Prog",
            "time": "20:00",
            "duration": 180,
            "templateId": "wowclassic",
            "channelId": "400000000000000001",
            "voiceChannelId": "",
            "leaderId": "100000000000000055",
            "addSignups": False,
        },
        headers=await officer_headers(factory),
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["available"] == 3 and data["signups"]["attempted"] == 0
    payload = fake.creates[0]["payload"]
    assert fake.creates[0]["channel_id"] == "400000000000000001"
    assert payload["title"] == "Mythic Prog" and payload["time"] == "20:00"
    assert payload["leaderId"] == "100000000000000055"
    assert payload["advancedSettings"]["duration"] == 180
    assert payload["advancedSettings"]["voice_channel"] == VOICE_CHANNEL  # config fallback
    assert payload["description"] == "Roster auto-generated. 3 available."
    assert fake.signups == []


async def test_raid_helper_refusing_the_event_is_a_502_with_its_answer(
    client: httpx.AsyncClient, factory: Factory, roster: None, fake: FakeRaidHelper
) -> None:
    fake.fail_create = (403, "Missing permissions in channel " + "x" * 300)
    response = await client.post(
        f"{API}/raid-events", json={"date": "2025-03-06"}, headers=await officer_headers(factory)
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error.startswith("Raid-Helper returned 403: Missing permissions in channel")
    assert len(error) == len("Raid-Helper returned 403: ") + 200
    assert fake.signups == []


async def test_failed_signups_are_reported_but_the_event_stands(
    client: httpx.AsyncClient, factory: Factory, roster: None, fake: FakeRaidHelper
) -> None:
    fake.fail_signups = {"100000000000000002": (400, "User not in server")}
    response = await client.post(
        f"{API}/raid-events", json={"date": "2025-03-06"}, headers=await officer_headers(factory)
    )
    assert response.status_code == 200
    assert response.json()["data"]["signups"] == {
        "attempted": 2,
        "succeeded": 1,
        "failed": [{"discord": "leafybug", "status": 400, "error": "User not in server"}],
    }


async def test_no_event_id_in_the_reply_means_no_signups_and_a_warning(
    client: httpx.AsyncClient, factory: Factory, roster: None, fake: FakeRaidHelper
) -> None:
    fake.create_body = {"status": "created"}
    response = await client.post(
        f"{API}/raid-events", json={"date": "2025-03-06"}, headers=await officer_headers(factory)
    )
    data = response.json()["data"]
    assert response.status_code == 200 and data["eventId"] is None
    assert "warning" in data and fake.signups == []


async def test_missing_api_key_is_503_and_nothing_is_sent(
    app: Any, client: httpx.AsyncClient, factory: Factory, roster: None
) -> None:
    app.state.raid_helper = NotConfiguredRaidHelper()
    response = await client.post(
        f"{API}/raid-events", json={"date": "2025-03-06"}, headers=await officer_headers(factory)
    )
    assert response.status_code == 503
    assert response.json()["error"] == (
        "Raid-Helper is not configured: Raid-Helper API key (server)"
    )


async def test_missing_server_id_is_503(
    app: Any, client: httpx.AsyncClient, factory: Factory, roster: None, fake: FakeRaidHelper
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"discord_guild_id": "", "discord_channel_raid_signup": ""}
    )
    response = await client.post(
        f"{API}/raid-events", json={"date": "2025-03-06"}, headers=await officer_headers(factory)
    )
    assert response.status_code == 503
    assert response.json()["error"] == (
        "Raid-Helper is not configured: Server ID (server), Signup Channel ID"
    )
    assert fake.calls == []


async def test_missing_signup_channel_only_is_422(
    app: Any, client: httpx.AsyncClient, factory: Factory, roster: None, fake: FakeRaidHelper
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"discord_channel_raid_signup": ""})
    response = await client.post(
        f"{API}/raid-events", json={"date": "2025-03-06"}, headers=await officer_headers(factory)
    )
    assert response.status_code == 422
    assert response.json()["error"] == "Raid-Helper is not configured: Signup Channel ID"
    assert fake.calls == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "date"),
        ({"date": "2025-03-04"}, "date"),
        ({"date": "06/03/2025"}, "date"),
        ({"date": "2025-03-06", "time": "25:00"}, "time"),
        ({"date": "2025-03-06", "duration": 500}, "duration"),
        ({"date": "2025-03-06", "duration": "two hours"}, "duration"),
        ({"date": "2025-03-06", "title": "x" * 101}, "title"),
        ({"date": "2025-03-06", "title": "line\nbreak"}, "title"),
        ({"date": "2025-03-06", "templateId": "no spaces"}, "templateId"),
        ({"date": "2025-03-06", "channelId": "12345"}, "channelId"),
        ({"date": "2025-03-06", "leaderId": "abc"}, "leaderId"),
    ],
)
async def test_bad_raid_event_input_is_422_and_nothing_is_sent(
    client: httpx.AsyncClient,
    factory: Factory,
    roster: None,
    fake: FakeRaidHelper,
    body: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(
        f"{API}/raid-events", json=body, headers=await officer_headers(factory)
    )
    assert response.status_code == 422
    assert field in response.json()["error"]
    assert fake.calls == []


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"date=2025-03-06", "application/x-www-form-urlencoded", 415),
        (b'{"date": "' + b"x" * 70000 + b'"}', "application/json", 413),
    ],
)
async def test_malformed_bodies_get_clear_errors(
    client: httpx.AsyncClient,
    factory: Factory,
    fake: FakeRaidHelper,
    content: bytes,
    content_type: str,
    status: int,
) -> None:
    headers = {**(await officer_headers(factory)), "Content-Type": content_type}
    response = await client.post(f"{API}/raid-events", content=content, headers=headers)
    assert response.status_code == status
    assert response.json()["ok"] is False
    assert fake.calls == []


async def test_the_key_never_reaches_a_response_even_if_raid_helper_echoes_it(
    app: Any, client: httpx.AsyncClient, factory: Factory, roster: None
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=f"Invalid key {request.headers['authorization']}")

    app.state.raid_helper = HttpRaidHelper(
        api_key=SECRET_KEY, base_url="https://rh.test/api/v2", transport=httpx.MockTransport(echo)
    )
    headers = await officer_headers(factory)
    failed = await client.post(f"{API}/raid-events", json={"date": "2025-03-06"}, headers=headers)
    assert failed.status_code == 502
    assert SECRET_KEY not in failed.text and "[redacted]" in failed.text
    for path in ("/raid-schedule",):
        assert SECRET_KEY not in (await client.get(API + path, headers=headers)).text


# ----------------------------------------------------------------------- guild events
async def test_pacific_evening_event_rolls_over_to_the_next_eastern_day(
    client: httpx.AsyncClient, factory: Factory, fake: FakeRaidHelper
) -> None:
    clock.set_now(NOON_EASTERN)
    response = await client.post(
        f"{API}/guild-events",
        json={
            "type": "social",
            "title": "Social Night",
            "description": "🎉 Hang out <b>together</b>",
            "date": "2025-03-07",
            "time": "22:30",
            "timezone": "PST",
            "duration": 90,
        },
        headers=await officer_headers(factory),
    )
    assert response.status_code == 200
    assert response.json()["data"] == {
        "eventId": "1234567890",
        "date": "2025-03-08",
        "time": "01:30",
        "channelId": EVENT_CHANNEL,
    }
    create = fake.creates[0]
    assert create["channel_id"] == EVENT_CHANNEL
    assert create["payload"]["description"] == "🎉 Hang out <b>together</b>"
    assert create["payload"]["advancedSettings"] == {
        "duration": 90,
        "create_discordevent": True,
        "use_nicknames": True,
        "voice_channel": VOICE_CHANNEL,
    }
    assert fake.signups == []


async def test_guild_event_falls_back_to_the_raid_signup_channel(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeRaidHelper
) -> None:
    clock.set_now(NOON_EASTERN)
    app.state.settings = app.state.settings.model_copy(update={"discord_channel_event_signup": ""})
    response = await client.post(
        f"{API}/guild-events",
        json={
            "type": "mythicPlus",
            "title": "Mythic+ Night",
            "date": "2025-03-07",
            "time": "19:00",
        },
        headers=await officer_headers(factory),
    )
    assert response.json()["data"]["channelId"] == SIGNUP_CHANNEL
    assert fake.creates[0]["payload"]["time"] == "19:00"
    assert "Guild key night" in fake.creates[0]["payload"]["description"]  # template default


async def test_guild_event_without_any_channel_is_422(
    app: Any, client: httpx.AsyncClient, factory: Factory, fake: FakeRaidHelper
) -> None:
    clock.set_now(NOON_EASTERN)
    app.state.settings = app.state.settings.model_copy(
        update={"discord_channel_event_signup": "", "discord_channel_raid_signup": ""}
    )
    response = await client.post(
        f"{API}/guild-events",
        json={"type": "pvp", "title": "PvP Night", "date": "2025-03-07"},
        headers=await officer_headers(factory),
    )
    assert response.status_code == 422
    assert response.json()["error"] == "No event channel configured"
    assert fake.calls == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "raid", "title": "x", "date": "2025-03-07"}, "type"),
        ({"type": "pvp", "title": "", "date": "2025-03-07"}, "title"),
        ({"type": "pvp", "title": "x"}, "date"),
        ({"type": "pvp", "title": "x", "date": "2025-03-07", "timezone": "GMT"}, "timezone"),
        ({"type": "pvp", "title": "x", "date": "2025-03-07", "duration": 45}, "duration"),
        ({"type": "pvp", "title": "x", "date": "2025-03-07", "description": "d" * 2001}, "desc"),
    ],
)
async def test_bad_guild_event_input_is_422_and_nothing_is_sent(
    client: httpx.AsyncClient,
    factory: Factory,
    fake: FakeRaidHelper,
    body: dict[str, Any],
    field: str,
) -> None:
    clock.set_now(NOON_EASTERN)
    response = await client.post(
        f"{API}/guild-events", json=body, headers=await officer_headers(factory)
    )
    assert response.status_code == 422
    assert field in response.json()["error"]
    assert fake.calls == []


# ------------------------------------------------------------------------ Discord IDs
async def discord_ids(db: AsyncSession) -> dict[str, str | None]:
    db.expire_all()
    rows = await db.execute(text("SELECT discord_username, discord_id FROM common.guild_members"))
    return {name: snowflake for name, snowflake in rows.all()}


async def test_saving_the_mapping_sets_clears_and_counts(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None
) -> None:
    response = await client.put(
        f"{API}/discord-ids",
        json={
            "mapping": {
                "PewPewPat": "100000000000000003",
                "leafybug": "",
                "tankyhank": "100000000000000001",
            }
        },
        headers=await officer_headers(factory),
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"set": 1, "cleared": 1, "unchanged": 1}
    ids = await discord_ids(db)
    assert ids["pewpewpat"] == "100000000000000003"
    assert ids["leafybug"] is None
    assert ids["tankyhank"] == "100000000000000001"


async def test_two_members_can_swap_ids_in_one_save(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None
) -> None:
    response = await client.put(
        f"{API}/discord-ids",
        json={"mapping": {"tankyhank": "100000000000000002", "leafybug": "100000000000000001"}},
        headers=await officer_headers(factory),
    )
    assert response.status_code == 200
    ids = await discord_ids(db)
    assert ids["tankyhank"] == "100000000000000002" and ids["leafybug"] == "100000000000000001"


@pytest.mark.parametrize(
    ("mapping", "status", "names"),
    [
        ({"pewpewpat": "12345", "stabbyrae": "100000000000000004"}, 422, ["pewpewpat"]),
        ({"nobodyhere": "100000000000000004"}, 422, ["nobodyhere"]),
        ({"pewpewpat": 100000000000000003}, 422, ["pewpewpat"]),
        ({"stabbyrae": "100000000000000001"}, 409, ["tankyhank", "stabbyrae"]),
        ({"stabbyrae": "100000000000000005", "pewpewpat": "100000000000000005"}, 409, []),
    ],
)
async def test_bad_mappings_save_nothing(
    client: httpx.AsyncClient,
    factory: Factory,
    db: AsyncSession,
    roster: None,
    mapping: dict[str, Any],
    status: int,
    names: list[str],
) -> None:
    headers = await officer_headers(factory)
    before = await snapshot(db)
    response = await client.put(f"{API}/discord-ids", json={"mapping": mapping}, headers=headers)
    assert response.status_code == status
    for name in names:
        assert name in response.json()["error"]
    assert await snapshot(db) == before


async def test_officers_cannot_change_ids_of_members_at_or_above_their_rank(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None
) -> None:
    await factory.leader(username="theboss")
    headers = await officer_headers(factory)
    before = await snapshot(db)
    response = await client.put(
        f"{API}/discord-ids",
        json={"mapping": {"theboss": "100000000000000077", "pewpewpat": "100000000000000003"}},
        headers=headers,
    )
    assert response.status_code == 403
    assert "theboss" in response.json()["error"]
    assert await snapshot(db) == before


async def test_mapping_body_must_be_an_object(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None
) -> None:
    headers = await officer_headers(factory)
    before = await snapshot(db)
    response = await client.put(f"{API}/discord-ids", json={"mapping": ["x"]}, headers=headers)
    assert response.status_code == 422
    assert await snapshot(db) == before


# -------------------------------------------------------------------- roster upkeep
async def test_make_main_switches_the_main(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None
) -> None:
    response = await client.post(
        f"{API}/raid-roster/main",
        json={"discord": "TankyHank", "character": "moonpie"},
        headers=await officer_headers(factory),
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"discord": "tankyhank", "main": "Moonpie"}
    db.expire_all()
    rows = await db.execute(
        text("SELECT name, main_alt FROM common.characters WHERE name IN ('Moonpie','Shieldwall')")
    )
    assert dict(rows.all()) == {"Moonpie": "main", "Shieldwall": "alt"}


@pytest.mark.parametrize(
    "body",
    [
        {"discord": "nobody", "character": "Moonpie"},
        {"discord": "leafybug", "character": "Moonpie"},  # not leafybug's character
        {"discord": "tankyhank", "character": "Ghost"},
    ],
)
async def test_make_main_with_unknown_names_is_404(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None, body: Any
) -> None:
    headers = await officer_headers(factory)
    before = await snapshot(db)
    response = await client.post(f"{API}/raid-roster/main", json=body, headers=headers)
    assert response.status_code == 404
    assert await snapshot(db) == before


async def test_make_main_needs_both_names(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None
) -> None:
    headers = await officer_headers(factory)
    before = await snapshot(db)
    response = await client.post(
        f"{API}/raid-roster/main",
        json={"discord": "tankyhank"},
        headers=headers,
    )
    assert response.status_code == 422
    assert await snapshot(db) == before


async def test_removing_from_the_raid_roster_hides_them_from_the_schedule(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None
) -> None:
    headers = await officer_headers(factory)
    response = await client.delete(f"{API}/raid-roster/pewpewpat", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "data": {"deleted": True}}
    db.expire_all()
    flag = await db.scalar(
        text("SELECT on_raid_roster FROM common.guild_members WHERE discord_username='pewpewpat'")
    )
    assert flag is False
    rows = await db.scalar(
        text(
            "SELECT count(*) FROM common.member_availability a JOIN common.guild_members m "
            "ON m.id = a.member_id WHERE m.discord_username = 'pewpewpat'"
        )
    )
    assert rows == 0
    assert await db.scalar(text("SELECT count(*) FROM common.characters")) == 5
    schedule = (await client.get(f"{API}/raid-schedule", headers=headers)).json()["data"]
    names = {p["discord"] for d in schedule["days"] for p in d["available"] + d["unavailable"]}
    assert names == {"tankyhank", "leafybug"}


async def test_removing_an_unknown_member_is_404(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, roster: None
) -> None:
    headers = await officer_headers(factory)
    before = await snapshot(db)
    response = await client.delete(f"{API}/raid-roster/nobody", headers=headers)
    assert response.status_code == 404
    assert response.json()["error"] == "Member 'nobody' not found"
    assert await snapshot(db) == before


async def test_no_database_transaction_is_open_while_raid_helper_answers(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    roster: None,
    fake: FakeRaidHelper,
    database_url: str,
) -> None:
    # A slow third party must not hold database connections: while Raid-Helper is being
    # called, no session of this database may sit inside a transaction.
    import psycopg
    from tests.conftest import _psycopg_dsn

    seen: list[int] = []
    real_create = fake.create_event

    async def create_and_look(**kwargs: Any) -> Any:
        with psycopg.connect(_psycopg_dsn(database_url), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            ).fetchone()
        seen.append(int(row[0]) if row else -1)
        return await real_create(**kwargs)

    fake.create_event = create_and_look  # type: ignore[method-assign]
    headers = await officer_headers(factory)
    for path, body in (
        ("/raid-events", {"date": "2025-03-06", "addSignups": True}),
        ("/guild-events", {"type": "pvp", "title": "PvP Night", "date": "2025-03-07"}),
    ):
        response = await client.post(f"{API}{path}", json=body, headers=headers)
        assert response.status_code == 200, response.text
    assert seen == [0, 0]
