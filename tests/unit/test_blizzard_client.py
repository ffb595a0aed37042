"""BlizzardClient against the fake API (no network): token handling, roster and profile parsing,
name encoding, rate limits, retries and the sync deadline — limits checked in virtual time."""

from __future__ import annotations

import asyncio
import copy
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from tests.virtual_clock import VirtualClock

from sv_common import clock as wall_clock
from sv_common.guild_sync.blizzard_client import (
    BlizzardAuthError,
    BlizzardClient,
    BlizzardConfig,
    BlizzardError,
    parse_retry_after,
    profile_path,
)
from sv_common.guild_sync.blizzard_limits import RequestLimiter
from sv_common.guild_sync.blizzard_models import ProfileStatus, parse_profile, parse_roster
from sv_common.guild_sync.fake_blizzard import (
    FakeBlizzard,
    Reply,
    RosterMode,
    fixture_profiles,
    fixture_roster,
    generate_guild,
    max_in_window,
)

ROSTER = "/data/wow/guild/senjin/pull-all-the-things/roster"
ALDRAMETH = "/profile/wow/character/senjin/aldrameth"
ZOELLE = "/profile/wow/character/bleeding-hollow/zo%C3%ABlle"


def config(**overrides: Any) -> BlizzardConfig:
    values: dict[str, Any] = {"client_id": "fake-client-id", "client_secret": "fake-client-secret"}
    values.update(overrides)
    return BlizzardConfig(**values)


def make(
    fake: FakeBlizzard,
    vclock: VirtualClock,
    *,
    rng: Callable[[], float] = lambda: 1.0,
    **overrides: Any,
) -> BlizzardClient:
    """A client on the fake, in virtual time; backoff is deterministic (rng → its maximum)."""
    fake.clock, fake.sleep = vclock, vclock.sleep
    return BlizzardClient(
        config(**overrides), transport=fake.transport(), clock=vclock, sleep=vclock.sleep, rng=rng
    )


@pytest.fixture
def vclock() -> VirtualClock:
    return VirtualClock()


def big_fake(members: int, **options: Any) -> FakeBlizzard:
    guild = generate_guild(members, seed=7, not_found_fraction=0.0)
    return FakeBlizzard(roster=guild.roster, profiles=guild.profiles, **options)


# ------------------------------------------------------------------------------------ token
async def test_token_is_fetched_lazily_and_cached(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    client = make(fake, vclock)
    assert fake.token_requests == 0  # construction does no network I/O
    await client.get_roster()
    await client.get_profile("senjin", "Aldrameth")
    assert fake.token_requests == 1
    assert client.token_request_count == 1


async def test_token_refreshed_when_less_than_300_seconds_left(vclock: VirtualClock) -> None:
    fake = FakeBlizzard(token_expires_in=1000)
    client = make(fake, vclock)
    await client.get_roster()
    vclock.now += 699  # 301 s of validity left: still cached
    await client.get_roster()
    assert fake.token_requests == 1
    vclock.now += 2  # 299 s left: refreshed before use
    await client.get_roster()
    assert fake.token_requests == 2


async def test_token_refresh_is_single_flight_under_20_concurrent_calls(
    vclock: VirtualClock,
) -> None:
    fake = FakeBlizzard(latency=0.2)  # the token call is slow, so all 20 callers overlap it
    client = make(fake, vclock)
    results = await asyncio.gather(*(client.get_profile("senjin", "Aldrameth") for _ in range(20)))
    assert all(profile is not None for profile in results)
    assert fake.token_requests == 1


async def test_401_refreshes_the_token_and_retries_once(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    client = make(fake, vclock)
    await client.get_roster()
    fake.expire_tokens()  # Blizzard revoked it early: the next call gets a 401
    roster = await client.get_roster()
    assert len(roster.entries) == 2
    assert fake.token_requests == 2
    assert fake.statuses == [200, 401, 200]


async def test_second_401_is_an_auth_error(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    fake.script(ROSTER, 401, 401)
    client = make(fake, vclock)
    with pytest.raises(BlizzardAuthError, match="credentials rejected"):
        await client.get_roster()
    assert fake.requests == 2
    assert fake.token_requests == 2


async def test_bad_credentials_raise_auth_error_naming_the_settings(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    client = make(fake, vclock, client_secret="wrong")
    with pytest.raises(BlizzardAuthError) as caught:
        await client.get_roster()
    assert "BLIZZARD_CLIENT_ID" in str(caught.value)
    assert "BLIZZARD_CLIENT_SECRET" in str(caught.value)
    assert fake.token_requests == 1  # not retried
    assert fake.requests == 0
    # A whole sync's worth of pending calls does not hammer the token endpoint.
    with pytest.raises(BlizzardAuthError):
        await client.get_profile("senjin", "Aldrameth")
    assert fake.token_requests == 1


async def test_unconfigured_client_fails_without_network(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    client = make(fake, vclock, client_id="", client_secret="")
    assert not client.config.configured
    with pytest.raises(BlizzardAuthError, match="BLIZZARD_CLIENT_ID"):
        await client.get_roster()
    assert fake.token_requests == 0


async def test_token_endpoint_server_errors_are_retried(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    fake.script("/token", 503, 502)
    client = make(fake, vclock)
    await client.get_roster()
    assert fake.token_requests == 3
    assert vclock.sleeps[:2] == [1.0, 2.0]


async def test_token_sent_only_as_bearer_header(vclock: VirtualClock) -> None:
    seen: list[httpx.Request] = []
    fake = FakeBlizzard()

    async def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await fake(request)

    fake.clock, fake.sleep = vclock, vclock.sleep
    client = BlizzardClient(
        config(), transport=httpx.MockTransport(recording), clock=vclock, sleep=vclock.sleep
    )
    await client.get_roster()
    token_call, api_call = seen
    assert token_call.method == "POST"
    assert token_call.headers["Authorization"].startswith("Basic ")
    assert token_call.content == b"grant_type=client_credentials"
    assert api_call.headers["Authorization"].startswith("Bearer fake-token-")
    assert "access_token" not in str(api_call.url)
    assert api_call.url.params["namespace"] == "profile-us"
    assert api_call.url.params["locale"] == "en_US"
    assert str(api_call.url).startswith(
        "https://us.api.blizzard.com/data/wow/guild/senjin/pull-all-the-things/roster?"
    )


# ---------------------------------------------------------------------------------- parsing
async def test_roster_parsing_of_the_fixture(vclock: VirtualClock) -> None:
    client = make(FakeBlizzard(), vclock)
    roster = await client.get_roster()
    assert roster.guild_name == "Pull All The Things"
    first, second = roster.entries
    assert (first.blizzard_id, first.name, first.realm_slug) == (200000001, "Aldrameth", "senjin")
    assert (first.class_name, first.level, first.rank) == ("Druid", 80, 0)
    assert first.realm_name is None  # roster entries carry no realm name
    assert (second.name, second.realm_slug, second.class_name, second.rank) == (
        "Zoëlle",
        "bleeding-hollow",
        "Mage",
        3,
    )


def test_unknown_class_id_gives_no_class(caplog: pytest.LogCaptureFixture) -> None:
    roster = fixture_roster()
    roster["members"][0]["character"]["playable_class"]["id"] = 99
    with caplog.at_level(logging.WARNING):
        parsed = parse_roster(roster)
    assert parsed.entries[0].class_name is None
    assert parsed.entries[0].name == "Aldrameth"  # the member itself is kept
    assert "playable_class id 99" in caplog.text


def test_malformed_members_are_skipped_or_blanked_never_a_crash() -> None:
    roster = fixture_roster()
    good = roster["members"][0]
    odd_level = copy.deepcopy(good)
    odd_level["character"].update(id=300, name="Minus", level=-5)
    huge_level = copy.deepcopy(good)
    huge_level["character"].update(id=301, name="Huge", level=500)
    string_id = copy.deepcopy(good)
    string_id["character"].update(id="302", name="Stringid")
    no_name = copy.deepcopy(good)
    no_name["character"].update(id=303)
    del no_name["character"]["name"]
    bad_rank = copy.deepcopy(good)
    bad_rank["character"].update(id=304, name="Badrank", level="80")
    bad_rank["rank"] = "officer"
    roster["members"] = [
        good,
        "not a member",
        None,
        {"character": "nope"},
        odd_level,
        huge_level,
        string_id,
        no_name,
        bad_rank,
    ]
    parsed = parse_roster(roster)
    by_name = {entry.name: entry for entry in parsed.entries}
    assert set(by_name) == {"Aldrameth", "Minus", "Huge", "Badrank"}
    assert by_name["Minus"].level is None  # absurd values are dropped, not stored as 0
    assert by_name["Huge"].level is None
    assert by_name["Badrank"].level is None and by_name["Badrank"].rank is None
    assert parsed.skipped == 5
    assert parsed.unidentified_ids == {303}  # named nothing, but still in the guild


def test_roster_without_members_list_is_an_error() -> None:
    for document in ({"guild": {"name": "x"}}, {"members": "many"}, ["members"]):
        with pytest.raises(ValueError):
            parse_roster(document)


async def test_missing_members_empty_roster_and_404_guild_are_errors(vclock: VirtualClock) -> None:
    for mode, message in (
        (RosterMode.NO_MEMBERS, "no members list"),
        (RosterMode.EMPTY, "empty roster"),
        (RosterMode.NOT_FOUND, "guild not found: senjin/pull-all-the-things"),
    ):
        client = make(FakeBlizzard(roster_mode=mode), vclock)
        with pytest.raises(BlizzardError, match=message):
            await client.fetch_guild(deadline=vclock() + 60)


async def test_roster_server_error_fails_after_four_attempts(vclock: VirtualClock) -> None:
    fake = FakeBlizzard(roster_mode=RosterMode.SERVER_ERROR)
    client = make(fake, vclock)
    with pytest.raises(BlizzardError):
        await client.fetch_guild(deadline=vclock() + 600)
    assert fake.requests == 4


async def test_profile_parsing(vclock: VirtualClock) -> None:
    client = make(FakeBlizzard(), vclock)
    profile = await client.get_profile("senjin", "Aldrameth")
    assert profile is not None
    assert profile.class_name == "Druid"
    assert profile.active_spec == "Balance"
    assert profile.item_level == 624  # equipped, not average
    assert profile.average_item_level == 627
    assert profile.last_login_at == datetime(2026, 2, 21, 18, 53, 20, tzinfo=UTC)
    assert profile.realm_name == "Sen'jin"
    assert (profile.race, profile.gender, profile.guild_name) == (
        "Tauren",
        "Male",
        "Pull All The Things",
    )


def test_profile_without_active_spec_and_with_garbage() -> None:
    document = fixture_profiles()[("senjin", "aldrameth")]
    del document["active_spec"]
    document.update(level=0, equipped_item_level="high", last_login_timestamp=-1)
    document["character_class"] = {"name": 42}
    profile = parse_profile(document)
    assert profile.active_spec is None
    assert profile.level is None
    assert profile.item_level is None
    assert profile.last_login_at is None
    assert profile.class_name is None
    assert parse_profile("not an object").name is None


async def test_profile_404_is_none(vclock: VirtualClock) -> None:
    client = make(FakeBlizzard(), vclock)
    assert await client.get_profile("senjin", "Nobody") is None


async def test_profile_name_is_lowercased_and_percent_encoded(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    client = make(fake, vclock)
    profile = await client.get_profile("bleeding-hollow", "Zoëlle")
    assert profile is not None and profile.name == "Zoëlle"
    assert fake.paths == [ZOELLE]
    assert profile_path("senjin", "Brañix") == "/profile/wow/character/senjin/bra%C3%B1ix"
    assert profile_path("senjin", "Ka'lor") == "/profile/wow/character/senjin/ka%27lor"


# ------------------------------------------------------------------------------ fetch_guild
async def test_fetch_guild_merges_roster_and_profiles(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    del fake.profiles[("bleeding-hollow", "zoëlle")]
    client = make(fake, vclock)
    snapshot = await client.fetch_guild(deadline=vclock() + 60)
    aldrameth, zoelle = snapshot.characters
    assert aldrameth.profile_status is ProfileStatus.OK
    assert (aldrameth.active_spec, aldrameth.item_level, aldrameth.realm_name) == (
        "Balance",
        624,
        "Sen'jin",
    )
    assert (aldrameth.game_rank, aldrameth.game_rank_name) == (0, "Guild Leader")
    assert zoelle.profile_status is ProfileStatus.MISSING
    assert (zoelle.class_name, zoelle.level, zoelle.realm_name) == ("Mage", 80, None)
    assert (zoelle.game_rank, zoelle.game_rank_name) == (3, "Member")
    assert zoelle.active_spec is None and zoelle.item_level is None
    assert (snapshot.profiles_ok, snapshot.profiles_missing, snapshot.profiles_failed) == (1, 1, 0)
    assert snapshot.requests == 3
    assert not snapshot.deadline_hit


async def test_fetch_guild_home_realm_name_and_unknown_rank_names(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    fake.roster["members"][0]["rank"] = 7
    fake.script(ALDRAMETH, 500, 500, 500, 500)  # profile fails for good
    client = make(fake, vclock)
    snapshot = await client.fetch_guild(deadline=vclock() + 600)
    aldrameth = snapshot.characters[0]
    assert aldrameth.profile_status is ProfileStatus.FAILED
    assert aldrameth.realm_name == "Sen'jin"  # home realm, named from the settings
    assert aldrameth.game_rank_name == "Rank 7"
    assert snapshot.profiles_failed == 1


async def test_fetch_guild_keeps_the_first_of_duplicate_entries(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    duplicate = copy.deepcopy(fake.roster["members"][0])
    duplicate["character"]["id"] = 999
    duplicate["rank"] = 4
    fake.roster["members"].append(duplicate)
    client = make(fake, vclock)
    snapshot = await client.fetch_guild(deadline=vclock() + 60)
    assert [c.blizzard_id for c in snapshot.characters] == [200000001, 200000002]
    assert snapshot.duplicates == 1


async def test_deadline_cancels_outstanding_profiles(vclock: VirtualClock) -> None:
    fake = big_fake(20, latency=1.0)
    client = make(fake, vclock, max_concurrency=2)
    start = vclock()
    snapshot = await client.fetch_guild(deadline=start + 4.5)
    # Token 0-1 s, roster 1-2 s, then two profiles per second until the cut at 4.5 s.
    assert snapshot.deadline_hit
    assert snapshot.profiles_ok == 4
    assert snapshot.profiles_failed == 16
    assert len(snapshot.characters) == 20
    assert vclock() - start == pytest.approx(4.5)
    failed = [c for c in snapshot.characters if c.profile_status is ProfileStatus.FAILED]
    assert all(c.item_level is None and c.name for c in failed)


async def test_deadline_before_the_roster_is_an_error(vclock: VirtualClock) -> None:
    client = make(FakeBlizzard(latency=5.0), vclock)
    with pytest.raises(BlizzardError, match="deadline"):
        await client.fetch_guild(deadline=vclock() + 2)


# ----------------------------------------------------------------------------------- limits
async def test_thousand_members_stay_within_rate_and_concurrency(vclock: VirtualClock) -> None:
    fake = big_fake(1000, latency=0.05, limit_per_second=100)
    client = make(fake, vclock)
    snapshot = await client.fetch_guild(deadline=vclock() + 1200)
    assert snapshot.profiles_ok == 1000
    assert fake.requests == 1001 and snapshot.requests == 1001
    assert fake.throttled == 0  # Blizzard never had to say 429
    assert max_in_window(fake.sent_at, 1.0) <= 90
    assert fake.max_in_flight <= 16 and client.max_in_flight <= 16
    # 1,001 requests at 90/s need just over 11 s; nothing slower than that.
    assert 11.0 <= vclock.elapsed < 11.5


async def test_sends_are_paced_not_bunched(vclock: VirtualClock) -> None:
    paced = big_fake(300, latency=0.05)
    await make(paced, vclock).fetch_guild(deadline=vclock() + 600)
    # At most a tenth of a second's burst; otherwise one request every 1/90 s.
    assert max_in_window(paced.sent_at, 0.1) <= 18
    bunched = big_fake(300, latency=0.05)
    other_clock = VirtualClock()
    await make(bunched, other_clock, burst=90).fetch_guild(deadline=other_clock() + 600)
    assert max_in_window(bunched.sent_at, 0.1) >= 30  # what the pacing avoids
    assert max_in_window(bunched.sent_at, 1.0) <= 90  # still within the limit, just bunched


@pytest.mark.parametrize("burst", [90, None])
async def test_limiter_holds_the_rate_with_slow_spread_out_callers(
    vclock: VirtualClock, burst: int | None
) -> None:
    """Bursts after idle gaps are where a token bucket as large as the rate would let twice
    the rate through in one second."""
    fake = big_fake(1, latency=0.0)
    client = make(fake, vclock, max_concurrency=200, burst=burst)

    async def caller(delay: float) -> None:
        await vclock.sleep(delay)
        await client.get_profile("senjin", "nobody")

    delays = [0.0] * 90 + [0.5 + i * 0.005 for i in range(100)] + [1.2] * 60 + [5.0] * 150
    await asyncio.gather(*(caller(d) for d in delays))
    assert fake.requests == len(delays)
    assert max_in_window(fake.sent_at, 1.0) <= 90


@pytest.mark.parametrize("seed", range(6))
async def test_limiter_invariants_under_random_load(seed: int) -> None:
    """Random arrivals, bursts and 429 cooldowns straight at the limiter: the windows hold."""
    rng = random.Random(seed)
    vclock = VirtualClock()
    limiter = RequestLimiter(
        rate_per_second=90,
        hourly_budget=rng.choice((400, 2000)),
        burst=rng.choice((1, 9, 90)),
        clock=vclock,
        sleep=vclock.sleep,
    )
    granted: list[float] = []

    async def sender(start: float) -> None:
        await vclock.sleep(start)
        if rng.random() < 0.01:
            limiter.pause_until(vclock() + rng.uniform(0, 3))
        granted.append(await limiter.acquire())

    starts = [rng.choice((0.0, rng.uniform(0, 30), rng.expovariate(0.2))) for _ in range(1500)]
    await asyncio.gather(*(sender(start) for start in starts))
    assert len(granted) == 1500
    assert max_in_window(granted, 1.0) <= 90
    assert max_in_window(granted, 3600.0) <= limiter.hourly_budget


async def test_hourly_budget_is_held(vclock: VirtualClock) -> None:
    fake = big_fake(1, latency=0.0)
    client = make(fake, vclock, hourly_budget=50)
    await asyncio.gather(*(client.get_profile("senjin", f"n{i}") for i in range(120)))
    assert fake.requests == 120
    assert max_in_window(fake.sent_at, 3600.0) <= 50
    assert max_in_window(fake.sent_at, 1.0) <= 50
    # 50 now, 50 an hour later, 20 two hours later.
    assert 7200.0 <= vclock.elapsed < 7201.0


async def test_concurrency_never_exceeds_the_semaphore(vclock: VirtualClock) -> None:
    fake = big_fake(50, latency=0.5)
    client = make(fake, vclock, max_concurrency=4)
    await client.fetch_guild(deadline=vclock() + 600)
    assert fake.max_in_flight == 4
    assert client.max_in_flight == 4


async def test_429_with_retry_after_pauses_all_workers(vclock: VirtualClock) -> None:
    fake = big_fake(200, latency=0.0)
    member = fake.roster["members"][5]["character"]
    throttled_path = profile_path(member["realm"]["slug"], member["name"])
    fake.script(throttled_path, Reply(429, retry_after="2"))
    client = make(fake, vclock)
    snapshot = await client.fetch_guild(deadline=vclock() + 600)
    assert snapshot.profiles_ok == 200
    throttled_at = fake.sent_at[fake.statuses.index(429)]
    later = [t for t in fake.sent_at if t > throttled_at]
    assert later, "work continued after the pause"
    assert min(later) >= throttled_at + 2.0  # nobody sent anything during the cooldown
    assert max_in_window(fake.sent_at, 1.0) <= 90


async def test_429_without_retry_after_backs_off(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    fake.script(ALDRAMETH, 429, 429)
    client = make(fake, vclock, rng=lambda: 0.5)
    assert await client.get_profile("senjin", "Aldrameth") is not None
    first, second, third = fake.sent_at
    assert second - first == pytest.approx(0.5)  # random(0, 1) with rng 0.5
    assert third - second == pytest.approx(1.0)  # random(0, 2)


async def test_503_503_200_succeeds(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    fake.script(ALDRAMETH, 503, 503, 200)
    client = make(fake, vclock)
    profile = await client.get_profile("senjin", "Aldrameth")
    assert profile is not None and profile.active_spec == "Balance"
    assert fake.requests == 3
    assert vclock.sleeps == [1.0, 2.0]  # full jitter at its maximum: 2^0, 2^1


async def test_five_429s_fail(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    fake.script(ALDRAMETH, *[Reply(429, retry_after="1")] * 5)
    client = make(fake, vclock)
    with pytest.raises(BlizzardError) as caught:
        await client.get_profile("senjin", "Aldrameth")
    assert caught.value.status == 429
    assert fake.requests == 5


async def test_four_server_errors_fail(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    fake.script(ALDRAMETH, 500, 502, 504, 503, 200)
    client = make(fake, vclock)
    with pytest.raises(BlizzardError):
        await client.get_profile("senjin", "Aldrameth")
    assert fake.requests == 4


@pytest.mark.parametrize("status", [400, 403, 418])
async def test_other_4xx_not_retried(vclock: VirtualClock, status: int) -> None:
    fake = FakeBlizzard()
    fake.script(ALDRAMETH, status)
    client = make(fake, vclock)
    with pytest.raises(BlizzardError) as caught:
        await client.get_profile("senjin", "Aldrameth")
    assert caught.value.status == status
    assert caught.value.path == ALDRAMETH
    assert fake.requests == 1


async def test_unparsable_2xx_body_is_retried_like_a_server_error(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    fake.script(ROSTER, Reply(200, body=b"<html>maintenance</html>"), Reply(200, body=b"[1, 2]"))
    client = make(fake, vclock)
    roster = await client.get_roster()
    assert len(roster.entries) == 2
    assert fake.requests == 3


async def test_timeouts_and_connection_errors_are_retried(vclock: VirtualClock) -> None:
    fake = FakeBlizzard()
    fake.clock, fake.sleep = vclock, vclock.sleep
    failures = [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")]

    async def flaky(request: httpx.Request) -> httpx.Response:
        if "/profile/" in request.url.path and failures:
            raise failures.pop(0)
        return await fake(request)

    client = BlizzardClient(
        config(), transport=httpx.MockTransport(flaky), clock=vclock, sleep=vclock.sleep
    )
    assert await client.get_profile("senjin", "Aldrameth") is not None
    assert client.request_count == 3


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("3600") == 120.0  # capped
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    wall_clock.set_now(datetime(2026, 2, 21, 18, 0, tzinfo=UTC))
    try:
        in_30s = format_datetime(wall_clock.now() + timedelta(seconds=30), usegmt=True)
        assert parse_retry_after(in_30s) == pytest.approx(30.0)
    finally:
        wall_clock.reset()


def test_config_defaults_and_validation() -> None:
    default = BlizzardConfig()
    assert not default.configured
    assert default.base_url == "https://us.api.blizzard.com"
    assert BlizzardConfig(region="eu").namespace == "profile-eu"
    assert BlizzardConfig(api_base_url="http://127.0.0.1:9/").base_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError):
        BlizzardConfig(rate_per_second=0)
    assert BlizzardConfig().burst_size == 9
    assert BlizzardConfig(rate_per_second=5).burst_size == 1
    with pytest.raises(ValueError):
        BlizzardConfig(burst=91)
