"""Discord sync follow-ups and set-up: the sync summary (70 §8.5) from every place a full sync
runs, `patt sync` on a fresh database, the fake backend without a file, the skipped-report
message, and DMs after a sync failed on a broken fake file."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import (
    Factory,
    _psycopg_dsn,
    _server_admin_url,
    _with_database,
    count_rows,
    make_settings,
)

from patt import cli
from patt.app import create_app
from patt.config import Settings
from patt.discord import runtime as discord_runtime
from sv_common.db.models import ALL_TABLES, AuditIssue, GuildMember, SyncLog
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.null import NullDiscordService
from sv_common.discord.role_sync import issue_hash

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHANNEL = "300000000000000001"
BRANIX = "100000000000000002"
SUMMARY_TITLE = "📡 Sync finished: Discord"
REPORT_TITLE = "🔍 Guild Identity Audit"


def basic() -> dict[str, Any]:
    return json.loads((FIXTURES / "discord_basic.json").read_text())


def without(data: dict[str, Any], username: str) -> dict[str, Any]:
    data["members"] = [m for m in data["members"] if m["username"] != username]
    return data


def titles(service: FakeDiscordService) -> list[str]:
    return [embeds[0].title for _, _, embeds in service.posts]


def with_channel(app: Any, channel: str = CHANNEL) -> None:
    app.state.settings = app.state.settings.model_copy(update={"patt_audit_channel_id": channel})


async def add_issue(db: AsyncSession) -> None:
    db.add(
        AuditIssue(
            issue_type="orphan_discord",
            severity="info",
            summary="Discord member 'Guest' has no character in the guild",
            issue_hash=issue_hash("followups", 1),
        )
    )
    await db.commit()


async def trigger(client: httpx.AsyncClient, officer: Any) -> httpx.Response:
    """The trigger; the sync itself runs in the background (see `outcome`)."""
    return await client.post("/api/guild-sync/discord/trigger", headers=officer.headers)


async def outcome(app: Any, response: httpx.Response) -> dict[str, Any]:
    """Wait for the triggered sync and read what it did from its log row."""
    assert response.status_code == 202, response.text
    await app.state.guild_sync.wait_idle()
    async with app.state.sessionmaker() as session:
        row = await session.get(SyncLog, response.json()["data"]["sync_log_id"])
    assert row is not None
    details = row.details or {}
    stats = {
        "status": row.status,
        "found": row.characters_found,
        "new": row.characters_new,
        "departed": row.characters_removed,
        "error": row.error_message,
    }
    return {"stats": stats, "pipeline": details.get("pipeline", {})}


async def orphan_accounts(db: AsyncSession) -> int:
    """Open issues for Discord role holders with no character (the engine raises them)."""
    return await count_rows(
        db, "guild_identity.audit_issues", "issue_type = 'orphan_discord' AND resolved_at IS NULL"
    )


# ------------------------------------------------------------------ sync summary (70 §8.5)
async def test_trigger_posts_the_summary_when_a_member_left_and_not_otherwise(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    with_channel(app)
    service = FakeDiscordService.from_fixture(basic())
    app.state.discord = service
    first = await outcome(app, await trigger(client, officer))
    assert first["stats"]["new"] == 3
    # the two role holders have no character: their issues are new, so report + summary
    assert titles(service) == [REPORT_TITLE, SUMMARY_TITLE]
    again = await outcome(app, await trigger(client, officer))
    assert again["stats"]["new"] == 0 and len(service.posts) == 2  # nothing changed

    service.set_members([m for m in service.members if m.id != BRANIX])
    left = await outcome(app, await trigger(client, officer))
    assert left["stats"]["departed"] == 1
    [(channel, content, embeds)] = service.posts[2:]
    assert channel == CHANNEL and content is None and len(embeds) == 1
    summary = embeds[0]
    assert summary.title == SUMMARY_TITLE and summary.colour == 0x2ECC71
    assert summary.description == "**2** accounts | **1** left"
    assert summary.footer is not None and summary.footer.startswith("Took ")
    # Branix's issue closed itself when the account left; the Guild Leader's stays open
    assert await orphan_accounts(db) == 1


async def test_trigger_posts_report_then_summary_for_new_issues(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    with_channel(app)
    service = FakeDiscordService.from_fixture(basic())
    app.state.discord = service
    result = await outcome(app, await trigger(client, officer))
    pipeline = result["pipeline"]
    assert pipeline["reported"] == 2 and pipeline["new_issues"] == 2
    assert pipeline["integrity"]["orphan_discord"] == 2
    assert titles(service) == [REPORT_TITLE, SUMMARY_TITLE]
    assert service.posts[1][2][0].description == "**3** accounts | **3** new | **2** new issues"
    # a later sync with nothing new posts nothing (the issues are notified now)
    await outcome(app, await trigger(client, officer))
    assert len(service.posts) == 2


async def test_summary_is_skipped_silently_without_an_audit_channel(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    service = FakeDiscordService.from_fixture(basic())
    app.state.discord = service
    await outcome(app, await trigger(client, officer))
    service.set_members([m for m in service.members if m.id != BRANIX])
    data = await outcome(app, await trigger(client, officer))
    assert data["stats"]["departed"] == 1
    assert data["pipeline"]["report_skipped"] == "no audit channel configured"
    assert service.posts == []
    notified = (await db.scalars(select(AuditIssue.notified_at))).all()
    assert notified and set(notified) == {None}


async def test_scheduled_sync_posts_the_summary(app: Any, db: AsyncSession) -> None:
    with_channel(app)
    service = FakeDiscordService.from_fixture(basic())
    app.state.discord = service
    runtime: discord_runtime.DiscordRuntime = app.state.discord_runtime
    await runtime.sync_now(triggered_by="startup", scheduled=True)
    assert titles(service) == [REPORT_TITLE, SUMMARY_TITLE]  # the role holders' new issues
    service.set_members([m for m in service.members if m.id != BRANIX])
    await runtime.sync_now(triggered_by="schedule", scheduled=True)
    assert titles(service)[2:] == [SUMMARY_TITLE]
    await runtime.sync_now(triggered_by="schedule", scheduled=True)  # unchanged: no post
    assert len(service.posts) == 3


# --------------------------------------------------- `patt sync` on a fresh database
@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    """An empty database (no migrations, no ranks), as on a fresh PATT_DATA_DIR."""
    admin = _server_admin_url()
    name = f"patt_fresh_{secrets.token_hex(4)}"
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(admin, name)
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli_settings(url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "patt_data_dir": tmp_path,
        "app_env": "testing",
        "jwt_secret_key": "discord-followups-secret-0123456789abcdef0123456789",
        "scheduler_enabled": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_patt_sync_discord_on_a_fresh_database_migrates_and_seeds_first(
    fresh_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "discord.json"
    source.write_text(json.dumps(basic()))
    settings = cli_settings(
        fresh_database_url, tmp_path, discord_backend="fake", discord_fake_file=str(source)
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["sync", "discord"]) == 0
    out = capsys.readouterr().out
    assert "Role sync: updated 0, created 2" in out
    with psycopg.connect(_psycopg_dsn(fresh_database_url)) as conn:
        assert conn.execute("SELECT count(*) FROM common.guild_ranks").fetchone() == (5,)
        rows = conn.execute(
            "SELECT m.discord_username, r.name FROM common.guild_members m "
            "JOIN common.guild_ranks r ON r.id = m.rank_id ORDER BY 1"
        ).fetchall()
    assert rows == [("branix", "Member"), ("stonehoof", "Guild Leader")]


def test_patt_sync_report_on_a_fresh_database_migrates_and_seeds_first(
    fresh_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "discord.json"
    source.write_text(json.dumps(basic()))
    settings = cli_settings(
        fresh_database_url,
        tmp_path,
        discord_backend="fake",
        discord_fake_file=str(source),
        patt_audit_channel_id=CHANNEL,
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["sync", "report"]) == 0
    assert "No new issues to report." in capsys.readouterr().out
    with psycopg.connect(_psycopg_dsn(fresh_database_url)) as conn:
        assert conn.execute("SELECT count(*) FROM common.guild_ranks").fetchone() == (5,)


def test_patt_sync_discord_says_why_the_report_was_skipped(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with psycopg.connect(_psycopg_dsn(database_url)) as conn:
        conn.execute(f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE")
    source, outbox = tmp_path / "discord.json", tmp_path / "outbox.jsonl"
    source.write_text(json.dumps(basic()))
    settings = cli_settings(
        database_url,
        tmp_path,
        discord_backend="fake",
        discord_fake_file=str(source),
        discord_fake_outbox=str(outbox),
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["sync", "discord"]) == 0
    out = capsys.readouterr().out
    assert "Audit report skipped: no audit channel configured." in out
    assert "Audit report: " not in out
    source.write_text(json.dumps(without(basic(), "branix")))  # departed, but no channel
    assert cli.main(["sync", "discord"]) == 0
    out = capsys.readouterr().out
    assert "departed 1" in out and "Sync summary" not in out
    assert not outbox.exists()


# ------------------------------------------------- DISCORD_BACKEND=fake without a file
def test_fake_backend_without_a_file_uses_the_demo_server_only_in_demo_mode(
    tmp_path: Path,
) -> None:
    plain = make_settings(tmp_path, discord_backend="fake")
    assert isinstance(discord_runtime.build_service(plain), NullDiscordService)
    demo = make_settings(tmp_path, discord_backend="fake", demo_mode=True)
    service = discord_runtime.build_service(demo)
    assert isinstance(service, FakeDiscordService)
    assert service.source_file == discord_runtime.DEMO_FILE
    auto_demo = make_settings(tmp_path, discord_backend="auto", demo_mode=True)
    assert isinstance(discord_runtime.build_service(auto_demo), FakeDiscordService)


async def test_app_with_fake_backend_without_a_file_runs_with_discord_disabled(
    tmp_path: Path, database_url: str
) -> None:
    app = create_app(make_settings(tmp_path, discord_backend="fake"), database_url=database_url)
    try:
        async with app.router.lifespan_context(app):
            assert isinstance(app.state.discord, NullDiscordService)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                health = (await http.get("/api/health")).json()["data"]
        assert health["discord"] == "disabled"
    finally:
        await app.state.engine.dispose()


def test_sync_commands_with_fake_backend_without_a_file_exit_4(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with psycopg.connect(_psycopg_dsn(database_url)) as conn:
        conn.execute(f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE")
    settings = cli_settings(
        database_url, tmp_path, discord_backend="fake", patt_audit_channel_id=CHANNEL
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["sync", "discord"]) == 4
    assert "DISCORD_BACKEND=fake needs DISCORD_FAKE_FILE" in capsys.readouterr().err
    assert cli.main(["sync", "report"]) == 4
    assert "DISCORD_BACKEND=fake needs DISCORD_FAKE_FILE" in capsys.readouterr().err
    with psycopg.connect(_psycopg_dsn(database_url)) as conn:
        assert conn.execute("SELECT count(*) FROM common.guild_members").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM guild_identity.discord_members").fetchone() == (
            0,
        )


# ------------------------------------------- DMs after a sync failed on a broken fake file
async def send_invite(client: httpx.AsyncClient, officer: Any, member_id: int) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/admin/members/{member_id}/send-invite", headers=officer.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def test_invites_still_dm_after_a_sync_failed_on_a_broken_fake_file(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession, tmp_path: Path
) -> None:
    officer = await factory.officer()
    source = tmp_path / "discord.json"
    source.write_text(json.dumps(basic()))
    service = FakeDiscordService.from_file(source)
    app.state.discord = service
    await outcome(app, await trigger(client, officer))
    source.write_text("{broken")
    failed = await outcome(app, await trigger(client, officer))
    assert failed["stats"]["status"] == "error" and "not valid JSON" in failed["stats"]["error"]
    branix = await db.scalar(select(GuildMember.id).where(GuildMember.discord_id == BRANIX))
    assert branix is not None
    data = await send_invite(client, officer, branix)
    assert data["dm_sent"] is True and data["dm_status"] == "sent"
    assert [user for user, _, _ in service.sent_dms] == [BRANIX]


async def test_invites_report_bot_unavailable_when_the_fake_file_never_loaded(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession, tmp_path: Path
) -> None:
    officer = await factory.officer()
    target = await factory.member(username="branix", registered=False, discord_id=BRANIX)
    source = tmp_path / "discord.json"
    source.write_text("{broken")
    app.state.discord = FakeDiscordService.from_file(source)
    assert (await outcome(app, await trigger(client, officer)))["stats"]["status"] == "error"
    data = await send_invite(client, officer, target.id)
    assert data["dm_sent"] is False and data["dm_status"] == "bot_unavailable"
    assert data["code"]
    assert await count_rows(db, "common.invite_codes", "member_id = :m", m=target.id) == 1
