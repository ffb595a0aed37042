"""Per-process caches: one registry per app, and the fingerprint-validated document cache.

`ProcessCaches` holds every per-process cache of one app (`app.state.caches`). It is attached
to the app's session factory too, so a service that only sees a session or a session factory
finds its app's caches (`caches_of`), and two apps in one process (tests, CLI) never share
one. `clear()` empties them all — after out-of-band database edits, or between tests.

`FingerprintCache` keeps a read-mostly document, validated against a cheap table fingerprint.

The fingerprint of a set of tables changes whenever one of their rows is inserted, updated or
deleted: each written row version carries a new transaction id (`xmin`), and a deleted row drops
out of both the count and the sum. Reading it costs one small scan, far less than rebuilding a
large JSON document, and it stays correct with several app processes (no invalidation messages
are needed). The fingerprint is read before the document, so a cached document is never older
than the state its fingerprint describes; a concurrent write costs at most one extra rebuild.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")
INFO_KEY = "patt_caches"


class ProcessCaches:
    """Named caches of one app in this process, created on first use."""

    def __init__(self) -> None:
        self._slots: dict[str, Any] = {}

    def slot(self, name: str, factory: Callable[[], T]) -> T:
        """The cache called `name`, created with `factory()` the first time."""
        value = self._slots.get(name)
        if value is None:
            value = self._slots[name] = factory()
        return value  # type: ignore[no-any-return]

    def clear(self) -> None:
        """Forget everything: every cache is rebuilt on its next use."""
        self._slots.clear()

    def session_info(self) -> dict[str, Any]:
        """The `info` that attaches these caches to a session factory's sessions."""
        return {INFO_KEY: self}


# Sessions of factories made without an app (one-shot CLI work) share this registry.
_DETACHED = ProcessCaches()


def caches_of(source: AsyncSession | async_sessionmaker[AsyncSession]) -> ProcessCaches:
    """The caches of the app a session (or session factory) belongs to."""
    if isinstance(source, AsyncSession):
        info = source.info
    else:
        info = source.kw.get("info") or {}
    caches = info.get(INFO_KEY)
    return caches if isinstance(caches, ProcessCaches) else _DETACHED


def fingerprint_sql(tables: Sequence[str]) -> str:
    """One statement returning a text value that changes with any write to `tables`."""
    parts = ",\n    ".join(
        f"(SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) FROM {table})"
        for table in tables
    )
    return f"SELECT concat_ws('/',\n    {parts})"


class FingerprintCache:
    """One cached value per process, rebuilt when the tables' fingerprint changes."""

    def __init__(self, tables: Sequence[str]) -> None:
        self.sql = fingerprint_sql(tables)
        self._fingerprint: str | None = None
        self._value: Any = None

    async def get(self, connection: Any, build: Callable[[Any], Awaitable[Any]]) -> Any:
        """The cached value, or `await build(connection)` when the tables changed."""
        fingerprint = str((await connection.exec_driver_sql(self.sql)).scalar_one())
        if fingerprint == self._fingerprint and self._value is not None:
            return self._value
        value = await build(connection)
        self._fingerprint, self._value = fingerprint, value
        return value
