"""Async engine and session factory; database URL resolution (configured or embedded)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

T = TypeVar("T")

# Set while `read_retrying` checks a connection out: that read skips the ping on checkout,
# because it retries once on a fresh connection instead (see `read_retrying`).
_SKIP_PING: ContextVar[bool] = ContextVar("sv_common_skip_ping", default=False)


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
    """Create the async engine (asyncpg) for `url`.

    Pooled connections are checked before use with one trivial statement (one round trip; the
    driver's own pre-ping wraps it in a transaction and takes three), so the first request after
    a PostgreSQL restart gets a fresh connection instead of an error. Reads made through
    `read_retrying` skip that check and retry instead. Statement parameters are never written
    into error messages (`hide_parameters`) — they can hold password hashes and invite codes,
    and errors end up in logs.
    """
    # 20 connections are kept open: under load one process easily has 16 requests waiting on
    # the database at once, and a pool smaller than that opens and closes an overflow
    # connection (a full PostgreSQL login) for every few requests. With the 10 of overflow a
    # process holds at most 30, so three workers stay under PostgreSQL's default 100.
    options: dict[str, Any] = {
        "pool_size": 20,
        "max_overflow": 10,
        "hide_parameters": True,
        "connect_args": {"timeout": 5},
    }
    options.update(kwargs)
    engine = create_async_engine(to_async_url(url), **options)
    event.listen(engine.sync_engine, "checkout", _ping_on_checkout)
    return engine


def _ping_on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout: one trivial statement proves the pooled connection still works. A dead one
    raises DisconnectionError, on which the pool discards it and connects afresh (it tries
    three times before the error reaches the caller)."""
    if _SKIP_PING.get():
        return
    driver = record.driver_connection
    try:
        await_only(driver.execute("SELECT 1"))
    except Exception as exc:  # any failure: this connection cannot be trusted
        raise DisconnectionError("pooled connection failed its check") from exc


async def read_retrying(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` on a pooled connection in autocommit mode (no BEGIN / ROLLBACK round trips)
    without the checkout ping: when the connection turns out to be dead (a PostgreSQL restart
    closed it while it sat in the pool), the whole pool generation is discarded and `work` runs
    once more on a fresh connection. For the hottest read paths; `work` must be safe to run
    twice (reads, or idempotent writes such as the last-seen mark)."""
    for attempt in (1, 2):
        skip = _SKIP_PING.set(True)
        try:
            connection = await engine.connect().start()
        finally:
            _SKIP_PING.reset(skip)
        try:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await work(autocommit)
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
        finally:
            await connection.close()
    raise AssertionError("unreachable")  # the loop returns or raises


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


# SQLSTATE classes and codes that mean "the database cannot be reached right now" rather than
# "this request is wrong": connection exceptions (08), shutdown / cannot connect now (57P0x),
# too many connections (53300).
_OUTAGE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_OUTAGE_NAMES = (
    "ConnectionDoesNotExistError",
    "ConnectionFailureError",
    "CannotConnectNowError",
    "InterfaceError",
    "InternalClientError",
)


def is_outage(exc: BaseException) -> bool:
    """Whether an exception (or anything it was raised from) means the database is unreachable."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if getattr(current, "connection_invalidated", False):
            return True
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if isinstance(current, OSError) and _raised_by_driver(current):
            # e.g. FileNotFoundError: the Unix socket of a stopped server (the embedded one)
            return True
        state = str(getattr(current, "sqlstate", "") or "")
        if state and state.startswith(_OUTAGE_STATES):
            return True
        if type(current).__name__ in _OUTAGE_NAMES and "asyncpg" in type(current).__module__:
            return True
        for linked in (current.__cause__, current.__context__, getattr(current, "orig", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return False


def _raised_by_driver(exc: BaseException) -> bool:
    """Whether the exception was raised inside the database driver (asyncpg connecting), as
    opposed to an unrelated file or network error in the request's own code."""
    frame = exc.__traceback__
    while frame is not None:
        if str(frame.tb_frame.f_globals.get("__name__", "")).startswith("asyncpg."):
            return True
        frame = frame.tb_next
    return False
