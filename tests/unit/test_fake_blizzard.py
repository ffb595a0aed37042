"""The fake Blizzard API behaves like the real one where client bugs would show: shapes, OAuth,
request validation, scripted failures, roster modes, the generated guild, the HTTP server and
the command line."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest

from sv_common.guild_sync import fake_blizzard
from sv_common.guild_sync.blizzard_client import BlizzardClient, BlizzardConfig
from sv_common.guild_sync.fake_blizzard import (
    FakeBlizzard,
    FakeBlizzardServer,
    Reply,
    RosterMode,
    fixture_profiles,
    fixture_roster,
    generate_guild,
    max_in_window,
)

API = "https://us.api.blizzard.com"
ROSTER = f"{API}/data/wow/guild/senjin/pull-all-the-things/roster"
QUERY = {"namespace": "profile-us", "locale": "en_US"}


def basic(client_id: str = "fake-client-id", secret: str = "fake-client-secret") -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def token_for(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "https://oauth.battle.net/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic()},
    )
    assert response.status_code == 200
    return str(response.json()["access_token"])


@pytest.fixture
async def http() -> Any:
    fake = FakeBlizzard()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        client.fake = fake  # type: ignore[attr-defined]
        yield client


def test_fixture_shapes_match_blizzard() -> None:
    roster = fixture_roster()
    assert roster["_links"]["self"]["href"].startswith(API)
    assert roster["guild"]["name"] == "Pull All The Things"
    assert roster["guild"]["realm"]["slug"] == "senjin"
    first = roster["members"][0]
    assert first["character"]["key"]["href"].startswith(API)
    assert first["character"]["playable_race"]["id"] == 6
    assert "name" not in first["character"]["realm"]  # roster entries carry no realm name
    assert roster["members"][1]["character"]["name"] == "Zoëlle"
    profile = fixture_profiles()[("senjin", "aldrameth")]
    assert profile["last_login_timestamp"] == 1771700000000
    assert profile["active_spec"]["name"] == "Balance"
    assert (profile["equipped_item_level"], profile["average_item_level"]) == (624, 627)


async def test_oauth_endpoint_checks_client_credentials(http: httpx.AsyncClient) -> None:
    url = "https://oauth.battle.net/token"
    form = {"grant_type": "client_credentials"}
    wrong = await http.post(url, data=form, headers={"Authorization": basic(secret="nope")})
    assert wrong.status_code == 401
    bad_grant = await http.post(
        url, data={"grant_type": "password"}, headers={"Authorization": basic()}
    )
    assert bad_grant.status_code == 400
    good = await http.post(url, data=form, headers={"Authorization": basic()})
    body = good.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 86399
    assert http.fake.token_requests == 3  # type: ignore[attr-defined]


async def test_api_requires_bearer_token_namespace_and_locale(http: httpx.AsyncClient) -> None:
    token = await token_for(http)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await http.get(ROSTER, params=QUERY)).status_code == 401
    assert (
        await http.get(ROSTER, params=QUERY, headers={"Authorization": "Bearer x"})
    ).status_code == 401
    in_query = await http.get(ROSTER, params={**QUERY, "access_token": token}, headers=bearer)
    assert in_query.status_code == 400
    wrong_namespace = await http.get(
        ROSTER, params={**QUERY, "namespace": "static-us"}, headers=bearer
    )
    assert wrong_namespace.status_code == 404
    no_locale = await http.get(ROSTER, params={"namespace": "profile-us"}, headers=bearer)
    assert no_locale.status_code == 400
    ok = await http.get(ROSTER, params=QUERY, headers=bearer)
    assert ok.status_code == 200
    assert len(ok.json()["members"]) == 2


async def test_expired_tokens_are_refused(http: httpx.AsyncClient) -> None:
    fake: FakeBlizzard = http.fake  # type: ignore[attr-defined]
    now = [0.0]
    fake.clock = lambda: now[0]
    fake.token_expires_in = 100
    bearer = {"Authorization": f"Bearer {await token_for(http)}"}
    now[0] = 99.0
    assert (await http.get(ROSTER, params=QUERY, headers=bearer)).status_code == 200
    now[0] = 100.0
    assert (await http.get(ROSTER, params=QUERY, headers=bearer)).status_code == 401


async def test_profile_names_must_be_lowercase_and_percent_encoded(http: httpx.AsyncClient) -> None:
    bearer = {"Authorization": f"Bearer {await token_for(http)}"}
    base = f"{API}/profile/wow/character/bleeding-hollow/"
    assert (await http.get(base + "zo%C3%ABlle", params=QUERY, headers=bearer)).status_code == 200
    assert (await http.get(base + "zo%c3%ablle", params=QUERY, headers=bearer)).status_code == 200
    assert (await http.get(base + "Zo%C3%ABlle", params=QUERY, headers=bearer)).status_code == 404
    assert (
        await http.get(base + "zo%25C3%25ABlle", params=QUERY, headers=bearer)
    ).status_code == 404
    caps_realm = f"{API}/profile/wow/character/Bleeding-Hollow/zo%C3%ABlle"
    assert (await http.get(caps_realm, params=QUERY, headers=bearer)).status_code == 404


def test_strict_encoding_rule() -> None:
    assert fake_blizzard._strictly_encoded("ka%27lor", "ka'lor")
    assert not fake_blizzard._strictly_encoded("ka'lor", "ka'lor")


async def test_scripted_replies_then_normal(http: httpx.AsyncClient) -> None:
    fake: FakeBlizzard = http.fake  # type: ignore[attr-defined]
    bearer = {"Authorization": f"Bearer {await token_for(http)}"}
    fake.script(
        "/data/wow/guild/senjin/pull-all-the-things/roster",
        Reply(429, retry_after="2"),
        503,
        Reply(200, body=b"garbage"),
    )
    first = await http.get(ROSTER, params=QUERY, headers=bearer)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert (await http.get(ROSTER, params=QUERY, headers=bearer)).status_code == 503
    assert (await http.get(ROSTER, params=QUERY, headers=bearer)).content == b"garbage"
    assert (await http.get(ROSTER, params=QUERY, headers=bearer)).status_code == 200
    assert fake.requests == 4
    assert fake.statuses == [429, 503, 200, 200]


@pytest.mark.parametrize(
    ("mode", "status", "members"),
    [
        (RosterMode.NOT_FOUND, 404, None),
        (RosterMode.SERVER_ERROR, 500, None),
        (RosterMode.EMPTY, 200, 0),
        (RosterMode.SHRUNK, 200, 1),
        (RosterMode.NO_MEMBERS, 200, None),
    ],
)
async def test_roster_failure_modes(mode: RosterMode, status: int, members: int | None) -> None:
    fake = FakeBlizzard(roster_mode=mode, shrink_to=1)
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        bearer = {"Authorization": f"Bearer {await token_for(http)}"}
        response = await http.get(ROSTER, params=QUERY, headers=bearer)
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert (len(body["members"]) if "members" in body else None) == members


async def test_enforces_100_requests_per_second() -> None:
    fake = FakeBlizzard(limit_per_second=100, clock=lambda: 5.0)
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        bearer = {"Authorization": f"Bearer {await token_for(http)}"}
        statuses = [
            (await http.get(ROSTER, params=QUERY, headers=bearer)).status_code for _ in range(101)
        ]
    assert statuses.count(200) == 100
    assert statuses[-1] == 429
    assert fake.throttled == 1


def test_generated_guild_is_deterministic_and_varied() -> None:
    guild = generate_guild(500, seed=3, not_found_fraction=0.1)
    again = generate_guild(500, seed=3, not_found_fraction=0.1)
    assert guild.roster == again.roster and guild.profiles == again.profiles
    members = guild.roster["members"]
    assert len(members) == 500
    keys = {(m["character"]["name"].lower(), m["character"]["realm"]["slug"]) for m in members}
    assert len(keys) == 500  # unique characters
    realms = {slug for _, slug in keys}
    assert {"senjin", "bleeding-hollow"} <= realms and len(realms) >= 4
    names = [m["character"]["name"] for m in members]
    assert any(not name.isascii() for name in names)  # accents
    assert any("'" in name for name in names)  # apostrophes, to exercise URL encoding
    assert all(1 <= len(name) <= 12 for name in names)
    assert {m["rank"] for m in members} >= {0, 1, 2, 3, 4, 5}
    assert len({m["character"]["playable_class"]["id"] for m in members}) == 13
    assert len(guild.profiles) == 500 - guild.missing_profiles
    assert 20 <= guild.missing_profiles <= 80
    assert any("active_spec" not in p for p in guild.profiles.values())  # low-level, no spec
    assert generate_guild(500, seed=4).roster != guild.roster


def test_max_in_window() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([0.0, 0.5, 0.999, 1.0, 1.5]) == 3
    assert max_in_window([0.0, 1.0, 2.0]) == 1
    assert max_in_window([0.0, 10.0, 3599.9, 3600.0], window=3600.0) == 3


async def test_http_server_serves_the_real_client() -> None:
    guild = generate_guild(30, seed=5, not_found_fraction=0.1)
    fake = FakeBlizzard(roster=guild.roster, profiles=guild.profiles, latency=0.01)
    with FakeBlizzardServer(fake) as server:
        config = BlizzardConfig(
            client_id="fake-client-id",
            client_secret="fake-client-secret",
            api_base_url=server.url,
            oauth_url=server.oauth_url,
        )
        async with BlizzardClient(config) as client:
            snapshot = await client.fetch_guild(deadline=time.monotonic() + 30)
        async with httpx.AsyncClient() as http:
            stats = (await http.get(server.url + "/_fake/stats")).json()
    assert len(snapshot.characters) == 30
    assert snapshot.profiles_missing == guild.missing_profiles
    assert snapshot.profiles_ok == 30 - guild.missing_profiles
    assert fake.requests == 31 and fake.token_requests == 1
    assert any("%27" in path or "%C3" in path for path in fake.paths)
    assert stats["requests"] == 31 and stats["token_requests"] == 1
    assert stats["throttled"] == 0 and 1 <= stats["max_per_second"] <= 31


def test_command_line_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        fake_blizzard.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for option in ("--members", "--latency-ms", "--port", "--roster-mode"):
        assert option in out
