"""Raid planner rules without a database: exact Raid-Helper command text (60 §6.4), day ranking
(§6.3), dates in the guild time zone, signup bodies (§6.5), time-zone conversion (§6.7) and the
real Raid-Helper HTTP client's headers, URLs and retry rules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from patt.raid import rules as rp
from patt.raid import schemas
from patt.raid.raid_helper import (
    FakeRaidHelper,
    HttpRaidHelper,
    NotConfiguredRaidHelper,
    event_id_from,
    make_raid_helper,
)
from sv_common.errors import Invalid, Unavailable

TODAY = date(2025, 3, 5)  # a Wednesday, as in the spec's fixture
DEFAULTS = rp.RaidOptions(title="Heroic Raid", time="21:00", duration=120, template="wowretail2")


def entry(
    member_id: int,
    discord: str,
    days: set[str],
    *,
    discord_id: str | None = None,
    auto: bool = False,
    reminders: bool = False,
    notes: str = "",
) -> rp.AvailabilityEntry:
    return rp.AvailabilityEntry(
        member_id=member_id,
        discord=discord,
        discord_id=discord_id,
        days=frozenset(days),
        auto_signup=auto,
        wants_reminders=reminders,
        notes=notes,
    )


def char(
    member_id: int, name: str, cls: str, spec: str, role: str | None, main: bool
) -> rp.RosterCharacter:
    return rp.RosterCharacter(
        member_id=member_id,
        name=name,
        class_name=cls,
        spec=spec,
        role=rp.legacy_role(cls, spec, role),
        is_main=main,
    )


def fixture_people() -> tuple[list[rp.Person], int]:
    """The roster of the spec's sheet fixture (60 §10.9) after import."""
    entries = [
        entry(
            1,
            "tankyhank",
            {"thursday", "friday", "saturday"},
            discord_id="100000000000000001",
            auto=True,
        ),
        entry(
            2,
            "leafybug",
            {"monday", "thursday", "friday"},
            discord_id="100000000000000002",
            reminders=True,
            notes="Saturdays I coach little league",
        ),
        entry(3, "pewpewpat", {"friday", "saturday", "sunday"}, notes="Late on Fridays (work)"),
    ]
    characters = [
        char(1, "Shieldwall", "Warrior", "Protection", "tank", True),
        char(1, "Moonpie", "Druid", "Balance", "ranged_dps", False),
        char(2, "Leafybug", "Druid", "Restoration", "healer", True),
        char(3, "Arrowmancer", "Hunter", "Survival", "melee_dps", True),
        char(4, "Shivvy", "Rogue", "Outlaw", "melee_dps", True),  # stabbyrae: no availability
    ]
    return rp.build_people(entries, characters)


def fixture_schedule() -> dict[str, Any]:
    people, without = fixture_people()
    return rp.build_schedule(
        people,
        today=TODAY,
        options=DEFAULTS,
        timezone="America/New_York",
        without_characters=without,
    )


def day(schedule: dict[str, Any], key: str) -> dict[str, Any]:
    return next(d for d in schedule["days"] if d["day"] == key)


# ----------------------------------------------------------------------- command text
def test_thursday_create_command_is_exact() -> None:
    thursday = day(fixture_schedule(), "thursday")
    assert thursday["createCommand"] == (
        "/create title:Heroic Raid date:2025-03-06 time:21:00 duration:120 template:wowretail2"
    )


def test_thursday_signup_block_is_exact_to_the_character() -> None:
    thursday = day(fixture_schedule(), "thursday")
    assert thursday["signupCommands"] == (
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


def test_empty_sections_are_left_out_and_names_follow_roster_order() -> None:
    people, _ = rp.build_people(
        [
            entry(1, "Zed", {"friday"}, auto=True, reminders=True),
            entry(2, "amy", {"friday"}, auto=True, reminders=True),
        ],
        [
            char(1, "Zedd", "Mage", "Fire", None, True),
            char(2, "Amyy", "Priest", "Holy", None, True),
        ],
    )
    available, unavailable = rp.split_day(people, "friday")
    assert rp.signup_commands(available, unavailable) == (
        "# Auto-signed up (2):\n"
        "/adduser [EVENT_ID] @amy class:Priest spec:Healer\n"
        "/adduser [EVENT_ID] @Zed class:Mage spec:Ranged\n"
        "\n"
        "# Wants 5pm reminder (2): amy, Zed"
    )


def test_no_people_gives_the_single_placeholder_line() -> None:
    assert rp.signup_commands([], []) == "No signup commands (no roster data)"


def test_create_command_uses_the_given_settings() -> None:
    options = rp.RaidOptions(title="Mythic Prog", time="20:30", duration=180, template="wowclassic")
    assert rp.create_command(options, date(2025, 3, 7)) == (
        "/create title:Mythic Prog date:2025-03-07 time:20:30 duration:180 template:wowclassic"
    )


def test_unknown_class_and_role_fall_back_in_commands() -> None:
    person = rp.Person(
        member_id=1,
        discord="odd",
        discord_id=None,
        character="Odd",
        class_name="",
        spec="",
        role="",
        days=frozenset({"friday"}),
        auto_signup=True,
        wants_reminders=False,
        notes="",
    )
    assert rp.signup_commands([person], []) == (
        "# Auto-signed up (1):\n/adduser [EVENT_ID] @odd class:Unknown spec:Melee"
    )


# --------------------------------------------------------------------- days and ranking
def test_days_run_sunday_to_saturday_with_dates_strictly_after_today() -> None:
    schedule = fixture_schedule()
    assert [d["day"] for d in schedule["days"]] == list(rp.GRID_DAYS)
    assert [d["dateDisplay"] for d in schedule["days"]] == [
        "Mar 9",
        "Mar 10",
        "Mar 11",
        "Mar 12",  # Wednesday = today's weekday → next week
        "Mar 6",
        "Mar 7",
        "Mar 8",
    ]
    assert schedule["today"] == "2025-03-05"


def test_fixture_ranks_friday_thursday_saturday() -> None:
    schedule = fixture_schedule()
    ranks = {d["day"]: d["rank"] for d in schedule["days"]}
    assert ranks == {
        "friday": 1,
        "thursday": 2,
        "saturday": 3,
        "sunday": None,
        "monday": None,
        "tuesday": None,
        "wednesday": None,
    }
    assert day(schedule, "friday")["counts"] == {"tank": 1, "healer": 1, "melee": 1, "ranged": 0}
    assert day(schedule, "thursday")["counts"] == {"tank": 1, "healer": 1, "melee": 0, "ranged": 0}
    assert day(schedule, "saturday")["counts"] == {"tank": 1, "healer": 0, "melee": 1, "ranged": 0}


def test_ranking_breaks_ties_by_coverage_then_earlier_date() -> None:
    # Monday and Tuesday: 2 tanks + 1 healer (coverage 3). Sunday: 3 melee (coverage 3).
    entries = [
        entry(1, "a", {"monday", "tuesday"}),
        entry(2, "b", {"monday", "tuesday"}),
        entry(3, "c", {"monday", "tuesday"}),
        entry(4, "d", {"sunday"}),
        entry(5, "e", {"sunday"}),
        entry(6, "f", {"sunday"}),
    ]
    characters = [
        char(1, "Tanka", "Warrior", "Protection", None, True),
        char(2, "Tankb", "Paladin", "Protection", None, True),
        char(3, "Healc", "Priest", "Holy", None, True),
        char(4, "Stabd", "Rogue", "Outlaw", None, True),
        char(5, "Stabe", "Rogue", "Subtlety", None, True),
        char(6, "Stabf", "Rogue", "Assassination", None, True),
    ]
    people, _ = rp.build_people(entries, characters)
    schedule = rp.build_schedule(people, today=TODAY, options=DEFAULTS, timezone="America/New_York")
    ranked = sorted((d for d in schedule["days"] if d["rank"]), key=lambda d: d["rank"])
    # All three days have 3 people and coverage 3: earliest date first (Sun 9, Mon 10, Tue 11).
    assert [d["day"] for d in ranked] == ["sunday", "monday", "tuesday"]

    # Now make Sunday's coverage lower than Monday's: its people become three tanks (cap 2).
    tanks = [
        char(4, "Stabd", "Warrior", "Protection", None, True),
        char(5, "Stabe", "Druid", "Guardian", None, True),
        char(6, "Stabf", "Monk", "Brewmaster", None, True),
    ]
    people, _ = rp.build_people(entries, characters[:3] + tanks)
    schedule = rp.build_schedule(people, today=TODAY, options=DEFAULTS, timezone="America/New_York")
    ranked = sorted((d for d in schedule["days"] if d["rank"]), key=lambda d: d["rank"])
    assert [d["day"] for d in ranked] == ["monday", "tuesday", "sunday"]
    assert day(schedule, "sunday")["coverage"] == 2


def test_count_beats_coverage() -> None:
    entries = [entry(1, "a", {"friday"}), entry(2, "b", {"friday", "saturday"})]
    entries.append(entry(3, "c", {"friday"}))
    characters = [
        char(1, "Onea", "Rogue", "Outlaw", None, True),
        char(2, "Twob", "Warrior", "Protection", None, True),
        char(3, "Threec", "Rogue", "Subtlety", None, True),
    ]
    people, _ = rp.build_people(entries, characters)
    schedule = rp.build_schedule(people, today=TODAY, options=DEFAULTS, timezone="America/New_York")
    assert day(schedule, "friday")["rank"] == 1
    assert day(schedule, "saturday")["rank"] == 2


def test_days_with_nobody_available_get_no_rank() -> None:
    schedule = rp.build_schedule([], today=TODAY, options=DEFAULTS, timezone="America/New_York")
    assert all(d["rank"] is None for d in schedule["days"])
    assert all(d["signupCommands"] == rp.NO_SIGNUPS_TEXT for d in schedule["days"])


def test_representative_is_the_main_else_the_first_character_by_name() -> None:
    people, without = rp.build_people(
        [entry(1, "x", {"friday"}), entry(2, "y", {"friday"}), entry(3, "nochar", {"friday"})],
        [
            char(1, "Zalt", "Mage", "Fire", None, False),
            char(1, "Mainy", "Priest", "Holy", None, True),
            char(2, "Bravo", "Rogue", "Outlaw", None, False),
            char(2, "alpha", "Warrior", "Protection", None, False),
        ],
    )
    assert [(p.discord, p.character) for p in people] == [("x", "Mainy"), ("y", "alpha")]
    assert without == 1


def test_unavailable_people_carry_their_reason() -> None:
    thursday = day(fixture_schedule(), "thursday")
    assert thursday["unavailable"] == [
        {
            "discord": "pewpewpat",
            "character": "Arrowmancer",
            "class": "Hunter",
            "spec": "Survival",
            "role": "Melee",
            "autoSignup": False,
            "wantsReminders": False,
            "hasDiscordId": False,
            "reason": "Late on Fridays (work)",
        }
    ]
    monday = day(fixture_schedule(), "monday")
    assert {p["discord"]: p["reason"] for p in monday["unavailable"]}["tankyhank"] == (
        "Not available"
    )


# --------------------------------------------------------------------------- dates
def test_today_is_taken_in_the_guild_time_zone_not_utc() -> None:
    evening = datetime(2025, 3, 6, 3, 30, tzinfo=UTC)  # 22:30 on Mar 5 in New York
    assert rp.guild_today(evening, "America/New_York") == date(2025, 3, 5)
    assert rp.guild_today(evening, "UTC") == date(2025, 3, 6)


def test_bad_timezone_setting_falls_back_to_eastern() -> None:
    assert rp.guild_zone("Not/AZone").key == "America/New_York"


def test_next_occurrence_of_todays_weekday_is_next_week() -> None:
    assert rp.next_occurrence(TODAY, "wednesday") == date(2025, 3, 12)
    assert rp.next_occurrence(TODAY, "thursday") == date(2025, 3, 6)


@pytest.mark.parametrize(
    ("zone", "clock_time", "expected"),
    [
        ("EST", "22:30", datetime(2025, 3, 7, 22, 30)),
        ("CST", "22:30", datetime(2025, 3, 7, 23, 30)),
        ("MST", "19:00", datetime(2025, 3, 7, 21, 0)),
        ("PST", "22:30", datetime(2025, 3, 8, 1, 30)),  # rolls over to the next day
    ],
)
def test_event_time_converts_to_eastern(zone: str, clock_time: str, expected: datetime) -> None:
    converted = rp.to_guild_time(date(2025, 3, 7), clock_time, zone, "America/New_York")
    assert converted.replace(tzinfo=None) == expected


# ---------------------------------------------------------------------- signup bodies
def test_signup_bodies_for_thursday_match_the_spec() -> None:
    people, _ = fixture_people()
    available, unavailable = rp.split_day(people, "thursday")
    payloads, skipped = rp.signup_payloads(available, unavailable)
    assert payloads == [
        (
            "tankyhank",
            {"userId": "100000000000000001", "className": "Tank", "specName": "Protection"},
        ),
        ("leafybug", {"userId": "100000000000000002", "className": "Tentative"}),
    ]
    assert skipped == ["pewpewpat"]


def test_absent_people_with_an_id_get_absence_and_class_specific_spec_names() -> None:
    people, _ = rp.build_people(
        [
            entry(1, "pally", {"friday"}, discord_id="100000000000000011", auto=True),
            entry(2, "gone", {"monday"}, discord_id="100000000000000012"),
        ],
        [
            char(1, "Holyone", "Paladin", "Holy", None, True),
            char(2, "Away", "Mage", "Frost", None, True),
        ],
    )
    available, unavailable = rp.split_day(people, "friday")
    payloads, skipped = rp.signup_payloads(available, unavailable)
    assert payloads == [
        ("pally", {"userId": "100000000000000011", "className": "Healer", "specName": "Holy1"}),
        ("gone", {"userId": "100000000000000012", "className": "Absence"}),
    ]
    assert skipped == []


# ------------------------------------------------------------------------- validation
def test_problems_raise_one_422_listing_every_field() -> None:
    problems = schemas.Problems()
    schemas.clean_time("9pm", "21:00", problems)
    schemas.clean_duration(10, 120, problems)
    schemas.clean_title("two\nlines", "x", problems)
    with pytest.raises(Invalid) as caught:
        problems.raise_if_any()
    assert caught.value.message == "Invalid value for 'time': use HH:MM (24-hour)"
    assert [d["field"] for d in caught.value.details or []] == ["time", "duration", "title"]


def test_dates_must_be_iso_and_not_in_the_past() -> None:
    problems = schemas.Problems()
    assert schemas.clean_date("2025-03-05", TODAY, problems) == TODAY
    assert schemas.clean_date("2025-03-04", TODAY, problems) is None
    assert schemas.clean_date("03/06/2025", TODAY, problems) is None
    assert schemas.clean_date("2025-02-30", TODAY, problems) is None
    assert len(problems.items) == 3


# ------------------------------------------------------------------ Raid-Helper client
class Recorder:
    """An httpx transport answering from a queue and recording every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(recorder: Recorder, sleeps: list[float]) -> HttpRaidHelper:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return HttpRaidHelper(
        api_key="rh-secret-key",
        base_url="https://rh.test/api/v2/",
        transport=httpx.MockTransport(recorder),
        sleep=sleep,
    )


async def test_create_event_sends_the_raw_key_to_the_right_url() -> None:
    recorder = Recorder(httpx.Response(200, json={"event": {"id": 987654321}}))
    client = client_for(recorder, [])
    reply = await client.create_event(
        server_id="200000000000000000", channel_id="300000000000000001", payload={"title": "X"}
    )
    assert reply.ok and event_id_from(reply.body) == "987654321"
    request = recorder.requests[0]
    assert str(request.url) == (
        "https://rh.test/api/v2/servers/200000000000000000/channels/300000000000000001/event"
    )
    assert request.headers["authorization"] == "rh-secret-key"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"title": "X"}


async def test_create_event_retries_once_only_after_429() -> None:
    sleeps: list[float] = []
    recorder = Recorder(
        httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(201, json={"id": "5"})
    )
    reply = await client_for(recorder, sleeps).create_event(
        server_id="1", channel_id="2", payload={}
    )
    assert reply.status == 201 and len(recorder.requests) == 2 and sleeps == [2.0]


async def test_create_event_is_never_retried_after_5xx_or_timeout() -> None:
    recorder = Recorder(httpx.Response(500, text="boom"))
    reply = await client_for(recorder, []).create_event(server_id="1", channel_id="2", payload={})
    assert reply.status == 500 and len(recorder.requests) == 1
    recorder = Recorder(httpx.ReadTimeout("slow"))
    reply = await client_for(recorder, []).create_event(server_id="1", channel_id="2", payload={})
    assert reply.status is None and reply.short_text() == "timed out"
    assert len(recorder.requests) == 1


async def test_signup_retries_once_on_5xx_and_network_errors_but_not_other_4xx() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(502), httpx.Response(200, json={}))
    reply = await client_for(recorder, sleeps).add_signup(event_id="9", payload={"userId": "1"})
    assert reply.ok and len(recorder.requests) == 2 and sleeps == [1.0]
    assert str(recorder.requests[0].url) == "https://rh.test/api/v2/events/9/signups"

    recorder = Recorder(httpx.ConnectError("down"), httpx.Response(200, json={}))
    reply = await client_for(recorder, []).add_signup(event_id="9", payload={})
    assert reply.ok and len(recorder.requests) == 2

    recorder = Recorder(httpx.Response(404, text="no such user"))
    reply = await client_for(recorder, []).add_signup(event_id="9", payload={})
    assert reply.status == 404 and len(recorder.requests) == 1


async def test_reply_text_never_contains_the_key() -> None:
    recorder = Recorder(httpx.Response(401, text="bad key rh-secret-key for server"))
    reply = await client_for(recorder, []).create_event(server_id="1", channel_id="2", payload={})
    assert "rh-secret-key" not in reply.short_text()
    assert "rh-secret-key" not in repr(client_for(Recorder(), []))


def test_event_id_comes_from_id_then_event_id_then_nested() -> None:
    assert event_id_from({"id": "", "eventId": "77"}) == "77"
    assert event_id_from({"event": {"id": "88"}}) == "88"
    assert event_id_from({"status": "ok"}) is None
    assert event_id_from(["id"]) is None


async def test_not_configured_client_refuses_with_503() -> None:
    client = make_raid_helper("  ", "https://rh.test")
    assert isinstance(client, NotConfiguredRaidHelper) and not client.configured
    with pytest.raises(Unavailable):
        await client.create_event(server_id="1", channel_id="2", payload={})
    assert isinstance(make_raid_helper("key", "https://rh.test"), HttpRaidHelper)


async def test_fake_records_calls_and_fails_on_request() -> None:
    fake = FakeRaidHelper(fail_signups={"1": (400, "unknown user")})
    created = await fake.create_event(server_id="s", channel_id="c", payload={"a": 1})
    assert event_id_from(created.body) == "1234567890"
    failed = await fake.add_signup(event_id="1234567890", payload={"userId": "1"})
    assert failed.status == 400 and not failed.ok
    assert [c["kind"] for c in fake.calls] == ["create", "signup"]
