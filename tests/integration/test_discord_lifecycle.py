"""Discord inside the running app: the app never waits for Discord, and the file-backed fake
(`DISCORD_BACKEND=fake`) drives the whole flow end to end through `patt sync discord`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import discord
import httpx
import psycopg
import pytest
from sqlalchemy import text as sa_text
from tests.conftest import _psycopg_dsn, make_settings

from patt import cli
from patt.app import create_app
from patt.config import Settings
from patt.discord import runtime as discord_runtime
from sv_common.auth.jwt import create_access_token
from sv_common.db.models import ALL_TABLES
from sv_common.discord.bot import DiscordBotService
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.interface import DiscordMemberInfo, DiscordRole
from sv_common.discord.null import NullDiscordService
from sv_common.identity import accounts

GUILD = "400000000000000001"
CHANNEL = "300000000000000001"


async def serve(app: Any, paths: list[str]) -> dict[str, httpx.Response]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return {path: await http.get(path) for path in paths}


# ------------------------------------------------------------------- no token / bad token
def test_every_app_has_a_null_service_before_startup(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path), database_url=database_url)
    assert isinstance(app.state.discord, NullDiscordService)


@pytest.mark.parametrize(
    ("backend", "token", "guild"),
    [("null", "token", GUILD), ("auto", "", GUILD), ("auto", "token", ""), ("auto", "t", "12")],
)
def test_service_choice(tmp_path: Path, backend: str, token: str, guild: str) -> None:
    settings = make_settings(
        tmp_path, discord_backend=backend, discord_bot_token=token, discord_guild_id=guild
    )
    assert isinstance(discord_runtime.build_service(settings), NullDiscordService)
    good = make_settings(
        tmp_path, discord_backend="auto", discord_bot_token="t", discord_guild_id=GUILD
    )
    assert isinstance(discord_runtime.build_service(good), DiscordBotService)


async def test_app_with_unreachable_discord_starts_serves_and_stops_quickly(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    logins: list[str] = []

    async def hang(self: Any, token: str) -> Any:  # Discord unreachable: login never answers
        logins.append(token)
        await asyncio.sleep(3600)

    monkeypatch.setattr(discord.http.HTTPClient, "static_login", hang)
    settings = make_settings(
        tmp_path,
        discord_backend="auto",
        discord_bot_token="unreachable-token",
        discord_guild_id=GUILD,
        patt_audit_channel_id=CHANNEL,
    )
    app = create_app(settings, database_url=database_url)
    started = time.monotonic()
    async with app.router.lifespan_context(app):
        assert time.monotonic() - started < 5  # startup did not wait for Discord
        responses = await serve(app, ["/api/health", "/", "/login"])
        assert logins == ["unreachable-token"]
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 12  # shutdown bounded (10 s close + cancel)
    health = responses["/api/health"].json()["data"]
    assert health["discord"] == "connecting" and health["db"] == "connected"
    assert responses["/"].status_code == 200 and responses["/login"].status_code == 200
    # the single discord_config row was created from the settings
    with psycopg.connect(_psycopg_dsn(database_url)) as conn:
        row = conn.execute(
            "SELECT guild_discord_id, audit_channel_id FROM common.discord_config"
        ).fetchone()
        conn.execute("DELETE FROM common.discord_config")
    assert row == (GUILD, CHANNEL)
    await app.state.engine.dispose()


async def test_app_with_a_bad_token_reports_error_and_keeps_serving(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(self: Any, token: str) -> Any:
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(discord.http.HTTPClient, "static_login", refuse)
    settings = make_settings(
        tmp_path, discord_backend="auto", discord_bot_token="bad", discord_guild_id=GUILD
    )
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app):
        await app.state.discord_runtime.bot_task  # the login attempt ends quickly
        responses = await serve(app, ["/api/health", "/"])
    assert responses["/api/health"].json()["data"]["discord"] == "error"
    assert responses["/"].status_code == 200
    with psycopg.connect(_psycopg_dsn(database_url)) as conn:
        conn.execute("DELETE FROM common.discord_config")
    await app.state.engine.dispose()


async def test_fake_backend_reports_fake_in_health(tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "discord.json"
    source.write_text(json.dumps({"roles": [], "members": []}))
    settings = make_settings(tmp_path, discord_backend="fake", discord_fake_file=str(source))
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.discord, FakeDiscordService)
        responses = await serve(app, ["/api/health"])
    assert responses["/api/health"].json()["data"]["discord"] == "fake"
    await app.state.engine.dispose()


def test_demo_file_is_a_valid_fixture_with_every_default_role() -> None:
    service = FakeDiscordService.from_file(discord_runtime.DEMO_FILE)
    assert service.state == "ready"
    role_names = {r.name for r in service._roles}
    assert {"GM", "Officer", "Veteran", "Member", "Initiate"} <= role_names
    assert len(service.members) >= 10


# --------------------------------------------------------------- file-backed end to end
ROLES = [
    {"id": "200000000000000001", "name": "GM", "position": 10},
    {"id": "200000000000000002", "name": "Officer", "position": 9},
    {"id": "200000000000000003", "name": "Veteran", "position": 8},
    {"id": "200000000000000004", "name": "Member", "position": 7},
    {"id": "200000000000000005", "name": "Initiate", "position": 6},
    {"id": "200000000000000009", "name": "Server Booster", "position": 2},
]


def people(roles: dict[str, list[str]]) -> dict[str, Any]:
    ids = {"stonehoof": "1", "moonbeard": "2", "branix": "3", "quietguest": "4"}
    members: list[dict[str, Any]] = [
        {
            "id": f"10000000000000000{ids[name]}",
            "username": name,
            "global_name": name.title(),
            "roles": role_ids,
        }
        for name, role_ids in roles.items()
    ]
    members.append({"id": "100000000000000099", "username": "raidhelper", "roles": [], "bot": True})
    return {"roles": ROLES, "members": members}


def ranks(dsn: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT m.discord_username, r.name, m.rank_source FROM common.guild_members m "
            "JOIN common.guild_ranks r ON r.id = m.rank_id"
        ).fetchall()
    return {username: (rank, source) for username, rank, source in rows}


def outbox_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def send_invite(settings: Settings, url: str, username: str) -> dict[str, Any]:
    """Start the app with the file-backed fake and send an invite through the real endpoint."""
    app = create_app(settings, database_url=url)
    try:
        async with app.router.lifespan_context(app):
            async with app.state.sessionmaker() as session, session.begin():
                leader = await accounts.create_guild_leader(
                    session, discord_username="stonehoof", password="correct-horse-battery"
                )
                member_id = await session.scalar(
                    sa_text("SELECT id FROM common.guild_members WHERE discord_username = :u"),
                    {"u": username},
                )
                assert leader.user_id is not None
                token = create_access_token(
                    app.state.jwt_secret,
                    user_id=leader.user_id,
                    member_id=leader.id,
                    rank_level=5,
                    expires_minutes=5,
                )
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.post(
                    f"/api/v1/admin/members/{member_id}/send-invite",
                    headers={"Authorization": f"Bearer {token}"},
                )
        assert response.status_code == 200, response.text
        return response.json()["data"]  # type: ignore[no-any-return]
    finally:
        await app.state.engine.dispose()


def test_file_backed_fake_end_to_end_through_patt_sync(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = _psycopg_dsn(database_url)
    with psycopg.connect(dsn) as conn:
        conn.execute(f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE")
    source, outbox = tmp_path / "discord.json", tmp_path / "outbox.jsonl"
    source.write_text(
        json.dumps(
            people(
                {
                    "stonehoof": ["200000000000000001"],
                    "moonbeard": ["200000000000000002"],
                    "branix": ["200000000000000004", "200000000000000009"],
                    "quietguest": [],
                }
            )
        )
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        patt_data_dir=tmp_path,
        app_env="testing",
        jwt_secret_key="discord-e2e-secret-0123456789abcdef0123456789",
        discord_backend="fake",
        discord_fake_file=str(source),
        discord_fake_outbox=str(outbox),
        patt_audit_channel_id=CHANNEL,
        scheduler_enabled=False,
        public_base_url="https://guild.example.org",
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["seed"]) == 0

    assert cli.main(["sync", "discord"]) == 0
    out = capsys.readouterr().out
    assert "found 4, new 4" in out and "Role sync: updated 0, created 3" in out
    # the three role holders have no character in the guild yet: one issue each, reported,
    # and new issues make the sync notable, so the summary follows
    assert "Audit report: 3 new issues posted" in out and "Sync summary posted" in out
    first_posts = [line for line in outbox_lines(outbox) if line["kind"] == "post"]
    assert len(first_posts) == 2
    assert "Discord members with no character (3)" in first_posts[0]["embeds"][1]["title"]
    assert ranks(dsn) == {
        "stonehoof": ("Guild Leader", "discord_sync"),
        "moonbeard": ("Officer", "discord_sync"),
        "branix": ("Member", "discord_sync"),
    }

    # The operator edits the file: promotions, a demotion, a new guild member, a guest stays out,
    # and the Guild Leader loses the GM role (never demoted: an audit issue instead).
    source.write_text(
        json.dumps(
            people(
                {
                    "stonehoof": ["200000000000000004"],
                    "moonbeard": ["200000000000000004"],
                    "branix": ["200000000000000003"],
                    "quietguest": ["200000000000000005"],
                }
            )
        )
    )
    assert cli.main(["sync", "discord"]) == 0
    out = capsys.readouterr().out
    assert "Role sync: updated 2, created 1, unchanged 0, skipped 0, errors 0, protected 1" in out
    assert ranks(dsn) == {
        "stonehoof": ("Guild Leader", "discord_sync"),
        "moonbeard": ("Member", "discord_sync"),
        "branix": ("Veteran", "discord_sync"),
        "quietguest": ("Initiate", "discord_sync"),
    }
    # new this time: the Guild Leader's lost role, and the guest who became a guild member
    assert "Audit report: 2 new issues posted" in out and "Sync summary posted" in out
    posts = [line for line in outbox_lines(outbox) if line["kind"] == "post"][2:]
    assert len(posts) == 2 and {p["to"] for p in posts} == {CHANNEL}
    titles = [embed["title"] for embed in posts[0]["embeds"]]  # the new issues were reported
    assert titles[0] == "🔍 Guild Identity Audit"
    assert "⚠️ In-game rank ≠ Discord role (1)" in titles
    mismatch = posts[0]["embeds"][titles.index("⚠️ In-game rank ≠ Discord role (1)")]
    assert "Stonehoof" in mismatch["description"]
    [summary] = posts[1]["embeds"]  # then the sync summary (70 §8.5)
    assert summary["title"] == "📡 Sync finished: Discord" and summary["colour"] == 0x2ECC71
    assert summary["description"] == "**4** accounts | **2** new issues"
    assert summary["footer"].startswith("Took ") and summary["footer"].endswith("s")

    assert cli.main(["sync", "report", "--full"]) == 0
    assert "Reported 5 open issues" in capsys.readouterr().out
    assert len([x for x in outbox_lines(outbox) if x["kind"] == "post"]) == 5
    assert cli.main(["sync", "report"]) == 0
    assert "No new issues to report" in capsys.readouterr().out

    data = asyncio.run(send_invite(settings, database_url, "branix"))
    assert data["dm_status"] == "sent"
    dms = [line for line in outbox_lines(outbox) if line["kind"] == "dm"]
    assert len(dms) == 1 and dms[0]["to"] == "100000000000000003"
    assert f"**{data['code']}**" in dms[0]["content"]
    assert f"https://guild.example.org/register?code={data['code']}" in dms[0]["content"]

    source.write_text("{broken")  # a malformed file: clear error, nothing written
    before = ranks(dsn)
    assert cli.main(["sync", "discord"]) == 1
    err = capsys.readouterr().err
    assert "not valid JSON" in err and "discord.json" in err
    assert ranks(dsn) == before
    with psycopg.connect(dsn) as conn:
        present = conn.execute(
            "SELECT count(*) FROM guild_identity.discord_members WHERE is_present"
        ).fetchone()
    assert present == (4,)


def test_sync_commands_without_discord_exit_4_with_a_clear_message(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        patt_data_dir=tmp_path,
        app_env="testing",
        jwt_secret_key="discord-e2e-secret-0123456789abcdef0123456789",
        discord_backend="null",
        patt_audit_channel_id=CHANNEL,
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["sync", "discord"]) == 4
    assert "Discord is not configured" in capsys.readouterr().err
    assert cli.main(["sync", "report"]) == 4
    assert "Discord is not configured" in capsys.readouterr().err
    no_channel = settings.model_copy(update={"patt_audit_channel_id": ""})
    monkeypatch.setattr(cli, "get_settings", lambda: no_channel)
    with psycopg.connect(_psycopg_dsn(database_url)) as conn:
        conn.execute("DELETE FROM common.discord_config")
    assert cli.main(["sync", "report"]) == 4
    assert "No audit channel" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sync", "report", "--bogus"])
    assert exit_info.value.code == 2


async def test_scheduled_sync_and_event_pipeline_run_in_the_background(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, outbox = tmp_path / "discord.json", tmp_path / "outbox.jsonl"
    source.write_text(json.dumps(people({"branix": ["200000000000000004"]})))
    settings = make_settings(
        tmp_path,
        discord_backend="fake",
        discord_fake_file=str(source),
        discord_fake_outbox=str(outbox),
        patt_audit_channel_id=CHANNEL,
        scheduler_enabled=True,
    )
    app = create_app(settings, database_url=database_url)
    app.state.scheduler.discord_first_delay = 0.0  # instead of 60 s after Discord is ready
    app.state.guild_sync.pipeline.debounce_seconds = 0.0
    dsn = _psycopg_dsn(database_url)
    with psycopg.connect(dsn) as conn:
        conn.execute(f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE")
    try:
        async with app.router.lifespan_context(app):
            scheduler = app.state.scheduler
            for _ in range(100):  # the leader's first sync runs by itself shortly after startup
                if scheduler.job_runs["discord"]:  # finished, follow-ups included
                    break
                await asyncio.sleep(0.05)
            assert scheduler.is_leader
            # Branix holds a guild role but has no character: reported, then the summary
            first = [line for line in outbox_lines(outbox) if line["kind"] == "post"]
            assert len(first) == 2 and "Branix" in first[0]["embeds"][1]["description"]
            with psycopg.connect(dsn) as conn:
                row = conn.execute(
                    "SELECT triggered_by, status FROM guild_identity.sync_log"
                ).fetchone()
            assert row == ("startup", "success")
            # a newcomer with the Member role: the event pipeline finds and reports them
            newcomer = DiscordMemberInfo(
                id="100000000000000007",
                username="newt",
                roles=(DiscordRole(id="200000000000000004", name="Member", position=7),),
            )
            await app.state.discord.emit_join(newcomer)  # requests the debounced pipeline
            for _ in range(100):
                if len([x for x in outbox_lines(outbox) if x["kind"] == "post"]) > 2:
                    break
                await asyncio.sleep(0.05)
        posts = [line for line in outbox_lines(outbox) if line["kind"] == "post"][2:]
        assert len(posts) == 1 and "'newt'" in posts[0]["embeds"][1]["description"]
        with psycopg.connect(dsn) as conn:
            assert conn.execute(
                "SELECT is_present FROM guild_identity.discord_members WHERE discord_id = %s",
                (newcomer.id,),
            ).fetchone() == (True,)
    finally:
        await app.state.engine.dispose()
