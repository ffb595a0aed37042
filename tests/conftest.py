"""Shared fixtures: a real PostgreSQL database per test session (embedded unless
TEST_DATABASE_URL is set), a fresh app and clean tables per test, and data factories that go
through the services."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from patt.app import create_app
from patt.config import Settings
from sv_common import clock
from sv_common.auth import passwords
from sv_common.auth.jwt import create_access_token
from sv_common.db import migrate
from sv_common.db.engine import to_sync_url
from sv_common.db.models import ALL_TABLES, GuildRank, User
from sv_common.db.seed import seed_ranks
from sv_common.identity import members

ROOT = Path(__file__).resolve().parents[1]
# bcrypt cost 4 in tests (production uses 12; test_default_cost_is_12 checks that default)
passwords.set_rounds(4)
TEST_SECRET = "unit-tests-only-secret-0123456789abcdef0123456789"
DEFAULT_PASSWORD = "correct-horse-battery"


def _server_admin_url() -> str:
    """An admin URL (database `postgres`) of the server the tests use."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return configured
    from sv_common.db.embedded import start_embedded

    return start_embedded(ROOT / ".patt-test-data", database="postgres")


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    prefix = base.rsplit("/", 1)[0]
    return f"{prefix}/{name}" + (f"?{query}" if query else "")


def _psycopg_dsn(url: str) -> str:
    return to_sync_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A freshly migrated database for this test session, dropped at the end."""
    admin = _server_admin_url()
    name = f"patt_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin, name)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Test settings: fixed secret, no background work, no Discord."""
    values: dict[str, Any] = {
        "app_env": "testing",
        "jwt_secret_key": TEST_SECRET,
        "patt_data_dir": tmp_path,
        "scheduler_enabled": False,
        "campaign_checker_enabled": False,
        "discord_backend": "null",
        "public_base_url": "http://guild.test",
        "cookie_secure": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def reset_database(app: Any) -> None:
    """Empty every table and re-seed the default ranks."""
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text(f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE"))
        await seed_ranks(session)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for this test (override fields with `settings.model_copy(update=...)`)."""
    return make_settings(tmp_path)


@pytest.fixture
async def app(database_url: str, settings: Settings) -> AsyncIterator[Any]:
    """A fresh app on clean tables; the clock is real unless a test moves it."""
    clock.reset()
    application = create_app(settings, database_url=database_url)
    await reset_database(application)
    yield application
    clock.reset()
    await application.state.engine.dispose()
    await application.state.state_engine.dispose()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client talking to the app in-process (no lifespan: hooks are called by tests)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def db(app: Any) -> AsyncIterator[AsyncSession]:
    """A session for reading back what the app wrote (autocommits nothing)."""
    async with app.state.sessionmaker() as session:
        yield session


@dataclass
class MemberHandle:
    """A member created for a test, with a bearer token when registered."""

    id: int
    discord_username: str
    display_name: str
    rank_level: int
    user_id: int | None
    password: str
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Factory:
    """Creates members and accounts through the services."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counter = 0

    async def member(
        self,
        *,
        level: int = 2,
        username: str | None = None,
        display_name: str | None = None,
        registered: bool = True,
        password: str = DEFAULT_PASSWORD,
        discord_id: str | None = None,
    ) -> MemberHandle:
        """A member at the rank with this level; registered members get a password and a token."""
        self.counter += 1
        username = username or f"member{self.counter}"
        async with self.app.state.sessionmaker() as session, session.begin():
            rank_id = await session.scalar(
                text("SELECT id FROM common.guild_ranks WHERE level = :l"), {"l": level}
            )
            assert rank_id is not None, f"no rank with level {level}"
            member = await members.create_member(
                session,
                actor=None,
                discord_username=username,
                display_name=display_name or username.title(),
                rank_id=rank_id,
                discord_id=discord_id,
            )
            user_id = None
            if registered:
                user = User(password_hash=passwords.hash_password(password), is_active=True)
                session.add(user)
                await session.flush()
                member.user_id = user.id
                member.registered_at = clock.now()
                user_id = user.id
            await session.flush()
        handle = MemberHandle(
            id=member.id,
            discord_username=username,
            display_name=display_name or username.title(),
            rank_level=level,
            user_id=user_id,
            password=password,
        )
        if user_id is not None:
            handle.token = create_access_token(
                self.app.state.jwt_secret,
                user_id=user_id,
                member_id=member.id,
                rank_level=level,
                expires_minutes=60,
            )
            handle.headers = {"Authorization": f"Bearer {handle.token}"}
        return handle

    async def officer(self, **kwargs: Any) -> MemberHandle:
        """A registered Officer (level 4)."""
        return await self.member(level=4, **kwargs)

    async def leader(self, **kwargs: Any) -> MemberHandle:
        """A registered Guild Leader (level 5)."""
        return await self.member(level=5, **kwargs)

    async def rank_id(self, level: int) -> int:
        """The id of the rank with this level."""
        async with self.app.state.sessionmaker() as session:
            rank = (
                await session.execute(
                    text("SELECT id FROM common.guild_ranks WHERE level = :l"), {"l": level}
                )
            ).scalar_one()
            return int(rank)


@pytest.fixture
def factory(app: Any) -> Factory:
    """Data factory bound to this test's app."""
    return Factory(app)


async def count_rows(session: AsyncSession, table: str, where: str = "true", **params: Any) -> int:
    """Row count of a table (for 'nothing changed' assertions)."""
    return int(
        (
            await session.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params)
        ).scalar_one()
    )


__all__ = [
    "DEFAULT_PASSWORD",
    "Factory",
    "GuildRank",
    "MemberHandle",
    "count_rows",
    "make_settings",
]
