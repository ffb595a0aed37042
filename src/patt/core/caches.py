"""Per-process caches of read-mostly documents, validated against a cheap table fingerprint.

The fingerprint of a set of tables changes whenever one of their rows is inserted, updated or
deleted: each written row version carries a new transaction id (`xmin`), and a deleted row drops
out of both the count and the sum. Reading it costs one small scan, far less than rebuilding a
large JSON document, and it stays correct with several app processes (no invalidation messages
are needed). The fingerprint is read before the document, so a cached document is never older
than the state its fingerprint describes; a concurrent write costs at most one extra rebuild.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any


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
