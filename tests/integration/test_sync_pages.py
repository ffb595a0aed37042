"""Guild-sync page /admin/sync (decision 2; 80 §7, §9; 85 §11.1–11.3): gates, what the status
cards and the history show, and the "Sync now" buttons with their flashes."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, MemberHandle, count_rows
from tests.identity_support import World

from patt.guild_sync.runtime import GuildSync
from sv_common import clock
from sv_common.db import locks
from sv_common.db.models import SyncLog
from sv_common.discord.fake import FakeDiscordService
from sv_common.guild_sync.fake_blizzard import FakeBlizzard

PAGE = "/admin/sync"
CSRF = "sync-pages-csrf-token"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BUTTONS = ["/admin/sync/blizzard", "/admin/sync/discord", "/admin/sync/match"]


def log_in(client: httpx.AsyncClient, who: MemberHandle) -> None:
    """The member's token as the page cookie, plus a known CSRF cookie."""
    client.cookies.set("patt_token", who.token or "")
    client.cookies.set("patt_csrf", CSRF)


async def press(client: httpx.AsyncClient, url: str, csrf: str | None = CSRF) -> httpx.Response:
    return await client.post(url, data={"csrf_token": csrf} if csrf is not None else {})


async def flash_after(client: httpx.AsyncClient, response: httpx.Response) -> str:
    """The flash message shown on the page a POST → 302 lands on."""
    assert response.status_code == 302, response.text
    assert response.headers["location"] == PAGE
    page = await client.get(PAGE)
    found = re.search(r'<span class="flash__text">(.*?)</span>', page.text, re.S)
    assert found, "no flash message on the page"
    return html_lib.unescape(found.group(1)).strip()


def card(html: str, key: str) -> str:
    start = html.index(f'id="source-{key}"')
    return html[start : html.index("</section>", start)]


@pytest.fixture
async def officer(factory: Factory, client: httpx.AsyncClient) -> MemberHandle:
    handle = await factory.officer(username="olga", display_name="Olga")
    log_in(client, handle)
    return handle


@pytest.fixture
async def fake_blizzard(app: Any) -> AsyncIterator[FakeBlizzard]:
    """Blizzard configured, answered by the fake (two characters on the roster)."""
    fake = FakeBlizzard()
    settings = app.state.settings.model_copy(
        update={"blizzard_client_id": fake.client_id, "blizzard_client_secret": fake.client_secret}
    )
    original = app.state.guild_sync
    guild_sync = GuildSync(
        settings=settings,
        engine=app.state.engine,
        sessionmaker=app.state.sessionmaker,
        discord=lambda: app.state.discord,
        blizzard_transport=fake.transport(),
    )
    app.state.guild_sync = guild_sync
    yield fake
    await guild_sync.wait_idle()
    await guild_sync.close()
    app.state.guild_sync = original


def discord_fake() -> FakeDiscordService:
    return FakeDiscordService.from_fixture(
        json.loads((FIXTURES / "discord_basic.json").read_text())
    )


# -------------------------------------------------------------------------------- gates
async def test_sync_page_needs_an_officer(client: httpx.AsyncClient, factory: Factory) -> None:
    anonymous = await client.get(PAGE)
    assert anonymous.status_code == 302
    assert anonymous.headers["location"] == "/login?next=/admin/sync"
    log_in(client, await factory.member(level=2))
    refused = await client.get(PAGE)
    assert refused.status_code == 403 and "Access Denied" in refused.text
    log_in(client, await factory.officer())
    allowed = await client.get(PAGE)
    assert allowed.status_code == 200
    assert "Guild Sync" in allowed.text
    assert 'href="/admin/sync"' in allowed.text and 'href="/admin/identity"' in allowed.text


@pytest.mark.parametrize("url", BUTTONS)
async def test_buttons_need_an_officer_and_the_csrf_token(
    client: httpx.AsyncClient, factory: Factory, db: AsyncSession, url: str
) -> None:
    anonymous = await press(client, url)
    assert anonymous.status_code == 302 and anonymous.headers["location"].startswith("/login")
    log_in(client, await factory.member(level=3))
    assert (await press(client, url)).status_code == 403
    log_in(client, await factory.officer())
    refused = await press(client, url, csrf=None)
    assert refused.status_code == 403
    wrong = await press(client, url, csrf="not-the-cookie")
    assert wrong.status_code == 403
    assert await count_rows(db, "guild_identity.sync_log") == 0
    assert await count_rows(db, "guild_identity.audit_issues") == 0


# ------------------------------------------------------------------------------ content
async def test_status_cards_history_and_open_issues(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle
) -> None:
    started = clock.now() - timedelta(hours=2)
    async with app.state.sessionmaker() as session, session.begin():
        session.add_all(
            [
                SyncLog(
                    source="blizzard_api",
                    status="success",
                    characters_found=812,
                    characters_new=2,
                    characters_updated=37,
                    characters_removed=1,
                    duration_seconds=13.94,
                    triggered_by="schedule",
                    started_at=started,
                    completed_at=started + timedelta(seconds=14),  # the last success
                ),
                SyncLog(
                    source="blizzard_api",
                    status="error",
                    error_message="<script>alert('x')</script> Blizzard answered 500",
                    duration_seconds=1.0,
                    triggered_by="manual:1",
                    started_at=started + timedelta(hours=1),
                    completed_at=started + timedelta(hours=1, seconds=1),
                ),
            ]
        )
    world = World(app)
    await world.character("Lonewolf")
    await world.check()

    response = await client.get(PAGE)
    assert response.status_code == 200
    html = response.text
    blizzard = card(html, "blizzard_api")
    assert "not configured" in blizzard  # no credentials in the tests
    assert "error" in blizzard and "Blizzard answered 500" in blizzard
    finished = started + timedelta(seconds=14)
    assert finished.strftime("%Y-%m-%d %H:%M") + " UTC" in blizzard  # last success
    assert "Discord members" in html and "Addon upload" in html
    # the history: newest first, counts, duration, who started it
    history = html[html.index('class="table table--dense sync-history"') :]
    assert history.index("manual:1") < history.index("schedule")
    assert ">812<" in history and ">37<" in history and "13.9 s" in history
    # escaped, never markup
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    # one open orphan issue, linked to the issues page filtered by type
    assert "Open issues (1)" in html
    assert 'href="/admin/identity/issues?type=orphan_wow"' in html
    assert re.search(r'data-issue-type="orphan_wow">1<', html)


async def test_history_shows_the_last_twenty_runs(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle
) -> None:
    base = clock.now() - timedelta(days=1)
    async with app.state.sessionmaker() as session, session.begin():
        session.add_all(
            SyncLog(
                source="discord_bot",
                status="success",
                characters_found=n,
                triggered_by=f"run-{n:02d}",
                started_at=base + timedelta(minutes=n),
            )
            for n in range(25)
        )
    html = (await client.get(PAGE)).text
    assert html.count('id="sync-log-') == 20
    assert "run-24" in html and "run-05" in html and "run-04" not in html


# ------------------------------------------------------------------------------ Blizzard
async def test_blizzard_button_without_credentials_says_not_configured(
    client: httpx.AsyncClient, officer: MemberHandle, db: AsyncSession
) -> None:
    response = await press(client, "/admin/sync/blizzard")
    assert await flash_after(client, response) == "Blizzard sync is not configured."
    assert await count_rows(db, "guild_identity.sync_log") == 0


async def test_blizzard_button_starts_a_sync(
    app: Any,
    client: httpx.AsyncClient,
    officer: MemberHandle,
    db: AsyncSession,
    fake_blizzard: FakeBlizzard,
) -> None:
    response = await press(client, "/admin/sync/blizzard")
    assert (await flash_after(client, response)).startswith("Blizzard sync started.")
    await app.state.guild_sync.wait_idle()
    row = (await db.scalars(select(SyncLog).where(SyncLog.source == "blizzard_api"))).one()
    assert (row.status, row.triggered_by) == ("success", f"manual:{officer.id}")
    assert row.characters_new == 2
    assert await count_rows(db, "common.characters") == 2
    # the finished run shows on the page
    html = (await client.get(PAGE)).text
    assert "configured" in card(html, "blizzard_api")
    assert f'id="sync-log-{row.id}"' in html


async def test_blizzard_button_while_a_sync_runs_says_already_running(
    app: Any,
    client: httpx.AsyncClient,
    officer: MemberHandle,
    db: AsyncSession,
    fake_blizzard: FakeBlizzard,
) -> None:
    held = await locks.try_acquire(app.state.engine, locks.BLIZZARD_SYNC)
    assert held is not None
    try:
        response = await press(client, "/admin/sync/blizzard")
    finally:
        await held.release()
    assert await flash_after(client, response) == "A Blizzard sync is already running."
    assert await count_rows(db, "guild_identity.sync_log") == 0


# ------------------------------------------------------------------------------- Discord
async def test_discord_button_without_discord_says_not_connected(
    client: httpx.AsyncClient, officer: MemberHandle, db: AsyncSession
) -> None:
    response = await press(client, "/admin/sync/discord")
    assert await flash_after(client, response) == "Discord is not connected."
    assert await count_rows(db, "guild_identity.sync_log") == 0


async def test_discord_button_starts_a_member_sync(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, db: AsyncSession
) -> None:
    app.state.discord = discord_fake()
    response = await press(client, "/admin/sync/discord")
    assert (await flash_after(client, response)).startswith("Discord sync started.")
    await app.state.guild_sync.wait_idle()
    row = (await db.scalars(select(SyncLog).where(SyncLog.source == "discord_bot"))).one()
    assert (row.status, row.triggered_by) == ("success", f"manual:{officer.id}")
    assert await count_rows(db, "guild_identity.discord_members") == 3


async def test_discord_button_while_a_sync_runs_says_already_running(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, db: AsyncSession
) -> None:
    app.state.discord = discord_fake()
    held = await locks.try_acquire(app.state.engine, locks.DISCORD_SYNC)
    assert held is not None
    try:
        response = await press(client, "/admin/sync/discord")
    finally:
        await held.release()
    assert await flash_after(client, response) == "A Discord sync is already running."
    assert await count_rows(db, "guild_identity.sync_log") == 0


# ------------------------------------------------------------------------------ matching
async def test_run_matching_links_and_reports_what_it_did(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, db: AsyncSession
) -> None:
    world = World(app)
    character_id = await world.character("Branix")
    await world.account("branix", role="Member")
    await world.character("Lonewolf")
    response = await press(client, "/admin/sync/match")
    assert await flash_after(client, response) == (
        "Matching done: 2 new links, 0 suggestions, 1 new issues, 0 resolved."
    )
    linked = await world.character_row(character_id)
    assert linked.member_id is not None
    assert await count_rows(db, "guild_identity.audit_issues", "issue_type = 'orphan_wow'") == 1


async def test_run_matching_while_the_pipeline_runs_says_already_running(
    app: Any, client: httpx.AsyncClient, officer: MemberHandle, db: AsyncSession
) -> None:
    await World(app).character("Lonewolf")
    held = await locks.try_acquire(app.state.engine, locks.PIPELINE)
    assert held is not None
    try:
        response = await press(client, "/admin/sync/match")
    finally:
        await held.release()
    assert await flash_after(client, response) == "The pipeline is already running."
    assert await count_rows(db, "guild_identity.audit_issues") == 0
