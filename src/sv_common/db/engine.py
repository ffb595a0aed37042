"""Async engine and session factory; database URL resolution (configured or embedded)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def to_async_url(url: str) -> str:
    """Normalise any postgres URL to the asyncpg driver."""
    for prefix in (
        "postgresql+psycopg://",
        "postgresql+asyncpg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def to_sync_url(url: str) -> str:
    """Normalise any postgres URL to the psycopg (sync) driver, used by Alembic."""
    return "postgresql+psycopg://" + to_async_url(url)[len("postgresql+asyncpg://") :]


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine (asyncpg) for `url`."""
    options: dict[str, Any] = {"pool_size": 10, "max_overflow": 10, "connect_args": {"timeout": 5}}
    options.update(kwargs)
    return create_async_engine(to_async_url(url), **options)


def make_sessionmaker(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Session factory: no expiry on commit, so objects stay readable after a transaction.
    `info` is copied into every session's `info` (the app attaches its caches there)."""
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session in one transaction: committed on success, rolled back on any error."""
    async with factory() as session, session.begin():
        yield session
