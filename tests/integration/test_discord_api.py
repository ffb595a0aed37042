"""Discord triggers (85 §11.1) and the admin Discord page /admin/discord (decision 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, MemberHandle, count_rows

from sv_common.db import locks
from sv_common.db.models import AuditIssue, GuildRank, SyncLog
from sv_common.discord.fake import FakeDiscordService
from sv_common.discord.role_sync import issue_hash

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHANNEL = "300000000000000001"
CSRF = "test-csrf-token-value"


def basic_fake() -> FakeDiscordService:
    return FakeDiscordService.from_fixture(
        json.loads((FIXTURES / "discord_basic.json").read_text())
    )


def with_channel(app: Any, channel: str = CHANNEL) -> None:
    app.state.settings = app.state.settings.model_copy(update={"patt_audit_channel_id": channel})


async def add_issue(db: AsyncSession, n: int = 1, **values: Any) -> None:
    for i in range(n):
        row: dict[str, Any] = {
            "issue_type": "orphan_wow",
            "severity": "warning",
            "summary": f"Character 'Hero{i}' is not linked to any member",
            "issue_hash": issue_hash("test", i, sorted(values.items())),
        }
        row.update(values)
        db.add(AuditIssue(**row))
    await db.commit()


def page_login(client: httpx.AsyncClient, who: MemberHandle) -> None:
    client.cookies.set("patt_token", who.token or "")
    client.cookies.set("patt_csrf", CSRF)


# -------------------------------------------------------------------- discord trigger
async def test_discord_trigger_requires_an_officer(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    assert (await client.post("/api/guild-sync/discord/trigger")).status_code == 401
    member = await factory.member(level=3)
    response = await client.post("/api/guild-sync/discord/trigger", headers=member.headers)
    assert response.status_code == 403 and response.json()["ok"] is False


async def test_discord_trigger_without_discord_is_503(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    response = await client.post("/api/guild-sync/discord/trigger", headers=officer.headers)
    assert response.status_code == 503
    assert response.json() == {"ok": False, "error": "Discord is not connected."}


async def test_discord_trigger_starts_the_sync_in_the_background(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    app.state.discord = basic_fake()
    response = await client.post("/api/guild-sync/discord/trigger", headers=officer.headers)
    assert response.status_code == 202
    data = response.json()["data"]
    assert data["status"] == "started"
    await app.state.guild_sync.wait_idle()
    log_row = await db.get(SyncLog, data["sync_log_id"])
    assert log_row is not None and log_row.triggered_by == f"manual:{officer.id}"
    await db.refresh(log_row)
    assert log_row.status == "success"
    assert log_row.characters_found == 3 and log_row.characters_new == 3
    assert log_row.details["role_sync"]["created"] == 2
    assert await count_rows(db, "guild_identity.discord_members") == 3


async def test_discord_trigger_while_a_sync_runs_is_409(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    app.state.discord = basic_fake()
    held = await locks.try_acquire(app.state.engine, locks.DISCORD_SYNC)
    assert held is not None
    try:
        response = await client.post("/api/guild-sync/discord/trigger", headers=officer.headers)
    finally:
        await held.release()
    assert response.status_code == 409
    assert response.json()["error"] == "A Discord sync is already running."
    assert await count_rows(db, "guild_identity.sync_log") == 0


async def test_discord_trigger_with_cookie_needs_csrf(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    app.state.discord = basic_fake()
    client.cookies.set("patt_token", officer.token or "")
    response = await client.post("/api/guild-sync/discord/trigger")
    assert response.status_code == 403


async def test_discord_trigger_with_a_broken_fake_file_logs_the_error(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession, tmp_path: Path
) -> None:
    officer = await factory.officer()
    source = tmp_path / "discord.json"
    source.write_text('{"roles": [], "members": [{"id": "12", "username": "x"}]}')
    app.state.discord = FakeDiscordService.from_file(source)
    response = await client.post("/api/guild-sync/discord/trigger", headers=officer.headers)
    assert response.status_code == 202
    await app.state.guild_sync.wait_idle()
    assert await count_rows(db, "guild_identity.discord_members") == 0
    row = (await db.scalars(select(SyncLog))).one()
    await db.refresh(row)
    assert row.status == "error" and "not a snowflake" in (row.error_message or "")


# --------------------------------------------------------------------- report trigger
async def test_report_trigger_posts_all_open_issues_by_default(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    service = FakeDiscordService()
    app.state.discord = service
    with_channel(app)
    await add_issue(db, 2)
    await add_issue(db, 1, notified_at=None, severity="critical", issue_type="role_mismatch")
    response = await client.post("/api/guild-sync/report/trigger", headers=officer.headers)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "data": {"reported": 3}}
    again = await client.post(
        "/api/guild-sync/report/trigger", headers=officer.headers, json={"full": False}
    )
    assert again.json()["data"]["reported"] == 0
    full = await client.post(
        "/api/guild-sync/report/trigger", headers=officer.headers, json={"full": True}
    )
    assert full.json()["data"]["reported"] == 3
    assert len(service.posts) == 2


async def test_report_trigger_uses_the_channel_from_discord_config(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    service = FakeDiscordService()
    app.state.discord = service
    await db.execute(
        text(
            "INSERT INTO common.discord_config (id, guild_discord_id, audit_channel_id) "
            "VALUES (1, '400000000000000001', '300000000000000042')"
        )
    )
    await db.commit()
    await add_issue(db)
    response = await client.post("/api/guild-sync/report/trigger", headers=officer.headers)
    assert response.json()["data"]["reported"] == 1
    assert service.posts[0][0] == "300000000000000042"


async def test_report_trigger_503_without_channel_or_discord(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    await add_issue(db)
    app.state.discord = FakeDiscordService()
    response = await client.post("/api/guild-sync/report/trigger", headers=officer.headers)
    assert response.status_code == 503 and "audit channel" in response.json()["error"]
    with_channel(app)
    app.state.discord = FakeDiscordService(available=False)
    response = await client.post("/api/guild-sync/report/trigger", headers=officer.headers)
    assert response.status_code == 503 and response.json()["error"] == "Discord is not connected."
    assert await count_rows(db, "guild_identity.audit_issues", "notified_at IS NOT NULL") == 0


async def test_report_trigger_502_when_discord_refuses_and_nothing_is_marked(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    service = FakeDiscordService()
    service.fail_posts_with = 50001
    app.state.discord = service
    with_channel(app)
    await add_issue(db, 2)
    response = await client.post("/api/guild-sync/report/trigger", headers=officer.headers)
    assert response.status_code == 502
    assert "Missing Access" in response.json()["error"]
    assert await count_rows(db, "guild_identity.audit_issues", "notified_at IS NOT NULL") == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"full": "yes"}, 422),
        ({"full": 1}, 422),
        ({"full": None}, 422),
        ("[1, 2]", 422),
        ("{not json", 400),
    ],
)
async def test_report_trigger_rejects_bad_bodies(
    app: Any, client: httpx.AsyncClient, factory: Factory, body: Any, status: int
) -> None:
    officer = await factory.officer()
    app.state.discord = FakeDiscordService()
    with_channel(app)
    content = body if isinstance(body, str) else json.dumps(body)
    response = await client.post(
        "/api/guild-sync/report/trigger",
        headers={**officer.headers, "Content-Type": "application/json"},
        content=content,
    )
    assert response.status_code == status and response.json()["ok"] is False


async def test_report_trigger_non_json_body_is_415(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    response = await client.post(
        "/api/guild-sync/report/trigger",
        headers={**officer.headers, "Content-Type": "text/plain"},
        content="full=true",
    )
    assert response.status_code == 415


# ------------------------------------------------------------------------ admin page
async def test_discord_page_access(client: httpx.AsyncClient, factory: Factory) -> None:
    response = await client.get("/admin/discord")
    assert response.status_code == 302 and response.headers["location"].startswith("/login")
    veteran = await factory.member(level=3)
    page_login(client, veteran)
    assert (await client.get("/admin/discord")).status_code == 403


async def test_officer_sees_status_and_mapping_read_only(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    page_login(client, officer)
    response = await client.get("/admin/discord")
    assert response.status_code == 200
    body = response.text
    assert 'data-discord-state="disabled"' in body
    assert "Only the Guild Leader can change the mapping" in body
    assert "by name: Guild Leader or GM" in body
    assert 'name="role_' not in body


async def test_leader_picks_roles_from_the_server_list(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    leader = await factory.leader()
    app.state.discord = basic_fake()
    page_login(client, leader)
    page = await client.get("/admin/discord")
    assert 'data-discord-state="ready"' in page.text
    assert "<select" in page.text and "Server Booster (200000000000000009)" in page.text
    assert "by name: GM" in page.text  # the top rank matches the GM role today
    officer_rank = (await db.scalars(select(GuildRank.id).where(GuildRank.name == "Officer"))).one()
    response = await client.post(
        "/admin/discord/roles",
        data={"csrf_token": CSRF, f"role_{officer_rank}": "200000000000000002"},
    )
    assert response.status_code == 302
    db.expire_all()
    assert (await db.get(GuildRank, officer_rank)).discord_role_id == "200000000000000002"  # type: ignore[union-attr]
    after = await client.get("/admin/discord")
    assert "Discord role mapping saved" in after.text


async def test_leader_types_role_ids_while_discord_is_off(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    leader = await factory.leader()
    page_login(client, leader)
    page = await client.get("/admin/discord")
    assert "data-discord-id" in page.text and "<select" not in page.text
    ranks = {r.name: r.id for r in (await db.scalars(select(GuildRank))).all()}
    response = await client.post(
        "/admin/discord/roles",
        data={
            "csrf_token": CSRF,
            f"role_{ranks['Member']}": " 200000000000000004 ",
            f"role_{ranks['Initiate']}": "",
        },
    )
    assert response.status_code == 302
    db.expire_all()
    assert (await db.get(GuildRank, ranks["Member"])).discord_role_id == "200000000000000004"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("12345", "a role ID is 17–20 digits"),
        ("2000000000000000x4", "a role ID is 17–20 digits"),
        ("٢٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٤", "a role ID is 17–20 digits"),  # Arabic-Indic digits
        ("200000000000000004\u200b", "a role ID is 17–20 digits"),
        ("DUPLICATE", "Two ranks cannot use the same Discord role"),
    ],
)
async def test_bad_role_ids_save_nothing(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, value: str, error: str
) -> None:
    leader = await factory.leader()
    page_login(client, leader)
    ranks = {r.name: r.id for r in (await db.scalars(select(GuildRank))).all()}
    data = {"csrf_token": CSRF, f"role_{ranks['Veteran']}": "200000000000000003"}
    if value == "DUPLICATE":
        data[f"role_{ranks['Member']}"] = "200000000000000003"
    else:
        data[f"role_{ranks['Member']}"] = value
    response = await client.post("/admin/discord/roles", data=data)
    assert response.status_code == 302
    assert error in (await client.get("/admin/discord")).text
    assert await count_rows(db, "common.guild_ranks", "discord_role_id IS NOT NULL") == 0


async def test_officer_cannot_change_the_mapping(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    page_login(client, officer)
    rank_id = (await db.scalars(select(GuildRank.id).where(GuildRank.level == 1))).one()
    response = await client.post(
        "/admin/discord/roles", data={"csrf_token": CSRF, f"role_{rank_id}": "200000000000000005"}
    )
    assert response.status_code == 302
    assert "Only the Guild Leader" in (await client.get("/admin/discord")).text
    assert await count_rows(db, "common.guild_ranks", "discord_role_id IS NOT NULL") == 0


async def test_page_posts_need_the_csrf_token(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    leader = await factory.leader()
    page_login(client, leader)
    rank_id = (await db.scalars(select(GuildRank.id).where(GuildRank.level == 1))).one()
    response = await client.post(
        "/admin/discord/roles",
        data={"csrf_token": "wrong", f"role_{rank_id}": "200000000000000005"},
    )
    assert response.status_code == 403
    assert (await client.post("/admin/discord/sync", data={})).status_code == 403
    assert await count_rows(db, "common.guild_ranks", "discord_role_id IS NOT NULL") == 0


async def test_sync_and_report_buttons(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    officer = await factory.officer()
    page_login(client, officer)
    off = await client.post("/admin/discord/sync", data={"csrf_token": CSRF})
    assert off.status_code == 302
    assert "Discord is not connected" in (await client.get("/admin/discord")).text
    service = basic_fake()
    app.state.discord = service
    with_channel(app)
    done = await client.post("/admin/discord/sync", data={"csrf_token": CSRF})
    assert done.status_code == 302
    page = await client.get("/admin/discord")
    assert "Discord sync success: 3 members, 3 new" in page.text
    await add_issue(db, 2)
    # the sync's pipeline already opened issues of its own (accounts without characters)
    open_issues = await count_rows(db, "guild_identity.audit_issues", "resolved_at IS NULL")
    assert open_issues >= 2
    await client.post("/admin/discord/report", data={"csrf_token": CSRF})
    assert f"Reported {open_issues} open issues" in (await client.get("/admin/discord")).text
    assert service.posts[-1][0] == CHANNEL


async def test_a_broken_fake_file_shows_as_broken_without_revealing_its_path(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: AsyncSession, tmp_path: Path
) -> None:
    officer = await factory.officer()
    source = tmp_path / "discord.json"
    source.write_text("{broken")
    app.state.discord = FakeDiscordService.from_file(source)
    health = (await client.get("/api/health")).json()["data"]
    assert health["discord"] == "error"
    response = await client.post("/api/guild-sync/discord/trigger", headers=officer.headers)
    assert response.status_code == 202
    await app.state.guild_sync.wait_idle()
    row = (await db.scalars(select(SyncLog))).one()
    await db.refresh(row)
    assert "discord.json" in (row.error_message or "")
    assert str(tmp_path) not in (row.error_message or "")
    log_page = await client.get("/api/guild-sync/log", headers=officer.headers)
    assert str(tmp_path) not in log_page.text
    source.write_text('{"roles": [], "members": []}')
    await app.state.discord.list_members()  # the file is fixed: the fake recovers
    assert (await client.get("/api/health")).json()["data"]["discord"] == "fake"
