"""The migrated schema matches the models exactly, and the migrations downgrade cleanly."""

from __future__ import annotations

import os
import secrets

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from tests.conftest import _psycopg_dsn, _server_admin_url, _with_database

from sv_common.db import migrate
from sv_common.db.engine import to_sync_url
from sv_common.db.models import Base


def test_models_match_migrated_database(database_url: str) -> None:
    engine = create_engine(to_sync_url(database_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_schemas": True, "compare_type": True}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_every_spec_table_exists(database_url: str) -> None:
    engine = create_engine(to_sync_url(database_url))
    inspector = inspect(engine)
    tables = {
        s: set(inspector.get_table_names(schema=s)) for s in ("common", "patt", "guild_identity")
    }
    engine.dispose()
    assert tables["common"] == {
        "guild_ranks",
        "users",
        "guild_members",
        "characters",
        "discord_config",
        "invite_codes",
        "member_availability",
        "throttle_hits",
        "setup_token",
    }
    assert tables["patt"] == {
        "campaigns",
        "campaign_entries",
        "ballots",
        "votes",
        "campaign_results",
        "campaign_eligible_voters",
        "contest_agent_log",
        "campaign_reminders",
        "mito_quotes",
        "mito_titles",
    }
    assert tables["guild_identity"] == {
        "discord_members",
        "identity_links",
        "link_rejections",
        "audit_issues",
        "sync_log",
    }


def test_downgrade_removes_everything_and_upgrade_restores() -> None:
    admin = os.environ.get("TEST_DATABASE_URL") or _server_admin_url()
    name = f"patt_mig_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin, name)
    try:
        migrate.upgrade(url)
        assert migrate.current_revision(url) == migrate.head_revision()
        migrate.downgrade(url, "base")
        engine = create_engine(to_sync_url(url))
        schemas = set(inspect(engine).get_schema_names())
        engine.dispose()
        assert not {"common", "patt", "guild_identity"} & schemas
        migrate.upgrade(url)
        assert migrate.current_revision(url) == migrate.head_revision()
    finally:
        with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_updated_at_trigger_stamps_writes_but_keeps_explicit_values(app: object) -> None:
    from sqlalchemy import text

    async with app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        await session.execute(
            text(
                "UPDATE common.guild_ranks SET updated_at = '2020-01-01T00:00:00+00:00' WHERE level = 1"
            )
        )
    async with app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        kept = await session.scalar(
            text("SELECT updated_at FROM common.guild_ranks WHERE level = 1")
        )
        assert kept.year == 2020  # an explicitly written value is kept
        await session.execute(
            text("UPDATE common.guild_ranks SET name = 'Recruit' WHERE level = 1")
        )
    async with app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        stamped = await session.scalar(
            text("SELECT updated_at FROM common.guild_ranks WHERE level = 1")
        )
        assert stamped.year >= 2025  # a write that does not set it gets now()
