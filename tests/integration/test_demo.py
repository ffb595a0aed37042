"""The demo guild loader (00 §9, decision 17): loads, is idempotent, refuses foreign data, and
its printed accounts (one per rank) can log in."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, count_rows

from patt.config import Settings
from patt.demo import loader as demo
from sv_common.db.models import (
    Ballot,
    Campaign,
    CampaignEntry,
    CampaignResult,
    Character,
    DiscordMember,
    GuildMember,
    GuildRank,
    MemberAvailability,
    MitoQuote,
    MitoTitle,
)
from sv_common.errors import Conflict
from sv_common.identity import classes

TABLES = (
    "common.guild_members",
    "common.users",
    "common.characters",
    "common.member_availability",
    "guild_identity.discord_members",
    "guild_identity.identity_links",
    "patt.campaigns",
    "patt.ballots",
    "patt.votes",
    "patt.campaign_results",
    "patt.mito_quotes",
)


async def snapshot(db: AsyncSession) -> dict[str, int]:
    return {table: await count_rows(db, table) for table in TABLES}


async def scalar(db: AsyncSession, query: Any) -> Any:
    return (await db.execute(query)).scalar_one()


async def test_demo_loads_a_whole_guild(
    app: Any, db: AsyncSession, database_url: str, settings: Settings
) -> None:
    text = await demo.load_demo_async(database_url, settings, only_if_empty=False)
    assert text is not None and text.startswith("Loaded the demo guild")
    for username, password in demo.DEMO_ACCOUNTS.values():
        assert f"{username}" in text and password in text

    members = await scalar(db, select(func.count()).select_from(GuildMember))
    assert 35 <= members <= 45
    levels = (
        await db.execute(
            select(GuildRank.level, func.count())
            .join(GuildMember, GuildMember.rank_id == GuildRank.id)
            .group_by(GuildRank.level)
        )
    ).all()
    assert {level for level, _ in levels} == {1, 2, 3, 4, 5}

    rows = (await db.execute(select(Character))).scalars().all()
    assert 90 <= len(rows) <= 110
    assert {c.origin for c in rows} == {"demo"}
    assert {c.character_class for c in rows} == set(classes.CLASSES)
    assert {c.role for c in rows} == set(classes.ROLES)
    assert sum(1 for c in rows if c.member_id is None) >= 3
    mains = [c.member_id for c in rows if c.main_alt == "main" and c.member_id is not None]
    assert len(mains) == len(set(mains)) == members  # exactly one main each

    unlinked_discord = await scalar(
        db, select(func.count()).select_from(DiscordMember).where(DiscordMember.member_id.is_(None))
    )
    assert unlinked_discord >= 3
    assert await count_rows(db, "common.member_availability") % 7 == 0
    assert await scalar(db, select(func.count()).select_from(MemberAvailability)) >= 140
    assert await scalar(db, select(func.count()).select_from(MitoQuote)) >= 5
    assert await scalar(db, select(func.count()).select_from(MitoTitle)) >= 3

    campaigns = {c.status: c for c in (await db.execute(select(Campaign))).scalars().all()}
    assert set(campaigns) == {"live", "closed", "draft"}
    live, closed = campaigns["live"], campaigns["closed"]
    images = (
        await db.execute(
            select(CampaignEntry.image_url).where(CampaignEntry.campaign_id == live.id)
        )
    ).scalars()
    assert all(url and url.startswith("/static/img/demo/") for url in images)
    live_ballots = await scalar(
        db, select(func.count()).select_from(Ballot).where(Ballot.campaign_id == live.id)
    )
    assert live_ballots > 0
    entries = await scalar(
        db,
        select(func.count())
        .select_from(CampaignEntry)
        .where(CampaignEntry.campaign_id == closed.id),
    )
    results = (
        (
            await db.execute(
                select(CampaignResult)
                .where(CampaignResult.campaign_id == closed.id)
                .order_by(CampaignResult.final_rank)
            )
        )
        .scalars()
        .all()
    )
    assert len(results) == entries and results[0].final_rank == 1
    assert closed.closed_at is not None and closed.close_reason == "expired"


async def test_demo_art_is_bundled(app: Any, client: httpx.AsyncClient) -> None:
    for name in ("dragon-banner", "phoenix-crest", "gryphon-shield", "mount-owl"):
        response = await client.get(f"/static/img/demo/{name}.svg")
        assert response.status_code == 200 and "<svg" in response.text


async def test_demo_is_idempotent(
    app: Any, db: AsyncSession, database_url: str, settings: Settings
) -> None:
    await asyncio.to_thread(demo.load_demo, database_url, settings)
    before = await snapshot(db)
    again = await asyncio.to_thread(demo.load_demo, database_url, settings)
    assert again.startswith("The demo guild is already loaded")
    assert "demo-guild-leader" in again
    assert await snapshot(db) == before
    assert await asyncio.to_thread(demo.load_demo_if_empty, database_url, settings) is not None
    assert await snapshot(db) == before


async def test_demo_refuses_a_database_with_real_data(
    app: Any, db: AsyncSession, factory: Factory, database_url: str, settings: Settings
) -> None:
    await factory.member(username="realperson", registered=False)
    with pytest.raises(Conflict, match="not the demo guild"):
        await demo.load_demo_async(database_url, settings, only_if_empty=False)
    assert await demo.load_demo_async(database_url, settings, only_if_empty=True) is None
    assert await count_rows(db, "common.guild_members") == 1
    assert await count_rows(db, "common.characters") == 0


async def test_a_registered_account_alone_counts_as_real_data(
    app: Any, factory: Factory, database_url: str, settings: Settings
) -> None:
    await factory.leader(username="theboss")
    assert await demo.load_demo_async(database_url, settings, only_if_empty=True) is None


async def test_demo_is_never_loaded_in_production(database_url: str, settings: Settings) -> None:
    production = settings.model_copy(update={"app_env": "production"})
    with pytest.raises(Conflict, match="production"):
        await demo.load_demo_async(database_url, production, only_if_empty=True)


async def test_one_account_per_rank_can_log_in(
    app: Any, client: httpx.AsyncClient, database_url: str, settings: Settings
) -> None:
    await demo.load_demo_async(database_url, settings, only_if_empty=False)
    seen_levels = set()
    for level, (username, password) in demo.DEMO_ACCOUNTS.items():
        response = await client.post(
            "/api/v1/auth/login", json={"discord_username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        token = response.json()["data"]["token"]
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        seen_levels.add(me.json()["data"]["rank"]["level"])
        assert me.json()["data"]["rank"]["level"] == level
    assert seen_levels == {1, 2, 3, 4, 5}


def test_prepare_demo_environment_uses_the_bundled_fake(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    for name in ("DISCORD_BACKEND", "DISCORD_FAKE_FILE", "DISCORD_FAKE_OUTBOX"):
        # setenv first so monkeypatch restores (removes) what prepare_demo_environment sets
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    development = settings.model_copy(update={"discord_backend": "auto", "app_env": "development"})
    demo.prepare_demo_environment(development)
    import os

    if demo.DEMO_DISCORD_FILE.exists():
        assert os.environ["DISCORD_BACKEND"] == "fake"
        assert os.environ["DISCORD_FAKE_FILE"] == str(demo.DEMO_DISCORD_FILE)
        assert os.environ["DISCORD_FAKE_OUTBOX"].startswith(str(settings.patt_data_dir.resolve()))
    else:
        assert "DISCORD_BACKEND" not in os.environ


def test_prepare_demo_environment_leaves_configured_discord_and_production_alone(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    import os

    for name in ("DISCORD_BACKEND", "DISCORD_FAKE_FILE", "DISCORD_FAKE_OUTBOX"):
        # setenv first so monkeypatch restores (removes) what prepare_demo_environment sets
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    demo.prepare_demo_environment(settings.model_copy(update={"app_env": "production"}))
    assert "DISCORD_BACKEND" not in os.environ
    demo.prepare_demo_environment(
        settings.model_copy(update={"discord_backend": "auto", "discord_bot_token": "x" * 40})
    )
    assert "DISCORD_BACKEND" not in os.environ
