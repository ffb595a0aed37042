"""Sliding-window throttles shared by every app process through PostgreSQL.

One row of `common.throttle_hits` per (throttle, key) holds the times of the key's latest hits
inside the window — at most `limit` of them — so workers of one server and several hosts behind
one proxy count together. Each change is one atomic upsert: concurrent hits on one key queue on
its row and none is lost.

- Keys (addresses, usernames) are stored as sha256 hex: nothing readable is kept, every key has
  the same size whatever a client sends.
- Asking (`retry_after`) stores nothing, and a refused `take` adds nothing, so a client that
  keeps trying while held back does not grow the table.
- Every statement runs in its own short transaction on the store's own small connection pool:
  a failure is counted even when the request that failed rolls back, and a request never waits
  for a second connection from the pool it already holds one of.
- Rows whose last hit has left the window are deleted by the store itself, at most once every
  `PRUNE_SECONDS` per process.
"""

from __future__ import annotations

import hashlib
import math
import time
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sv_common import clock

PRUNE_SECONDS = 300.0

# The new list of hits: the old ones still inside the window plus this one, newest first,
# at most `limit` of them (older ones can never decide a refusal again).
_KEPT_HITS = (
    "ARRAY(SELECT h FROM unnest(array_append(t.hits, CAST(:now AS timestamptz))) AS h "
    "WHERE h > :cutoff ORDER BY h DESC LIMIT :limit)"
)
_UPSERT = f"""
INSERT INTO common.throttle_hits AS t (bucket, key_hash, hits, expires_at)
VALUES (:bucket, :key, ARRAY[CAST(:now AS timestamptz)], :expires)
ON CONFLICT (bucket, key_hash) DO UPDATE
SET hits = {_KEPT_HITS}, expires_at = GREATEST(t.expires_at, :expires)
"""
# The same upsert, but only while fewer than `limit` hits are inside the window: a row comes
# back when the hit was counted, none when it was refused (the row is left as it was).
_TAKE = (
    _UPSERT
    + "WHERE (SELECT count(*) FROM unnest(t.hits) AS h WHERE h > :cutoff) < :limit RETURNING 1"
)
_HITS = "SELECT hits FROM common.throttle_hits WHERE bucket = :bucket AND key_hash = :key"
_CLEAR = "DELETE FROM common.throttle_hits WHERE bucket = :bucket AND key_hash = :key"
_PRUNE = "DELETE FROM common.throttle_hits WHERE expires_at <= :now"


def key_hash(key: str) -> str:
    """The stored form of a throttle key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class ThrottleStore:
    """The throttles of one app, kept in PostgreSQL through `engine` (a small dedicated pool)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._next_prune = 0.0

    def window(self, name: str, limit: int, window_seconds: int) -> SharedWindow:
        """A throttle allowing `limit` hits per key within `window_seconds`."""
        return SharedWindow(self, name, limit, window_seconds)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete every row whose last hit has left its window; returns how many."""
        async with self.engine.begin() as connection:
            result = await connection.execute(text(_PRUNE), {"now": now or clock.now()})
        return int(result.rowcount or 0)

    async def prune_now_and_then(self, now: datetime) -> None:
        """`prune()` at most once every PRUNE_SECONDS in this process."""
        moment = time.monotonic()
        if moment < self._next_prune:
            return
        self._next_prune = moment + PRUNE_SECONDS
        await self.prune(now)

    async def retry_after_any(self, checks: list[tuple[SharedWindow, str]]) -> int:
        """The longest wait of several (throttle, key) checks, on one connection (0 = allowed)."""
        now = clock.now()
        waits = [0]
        async with self.engine.connect() as connection:
            for window, key in checks:
                hits = await connection.scalar(text(_HITS), window._params(key, now))
                waits.append(window._wait(hits, now))
        return max(waits)

    async def hit_each(self, hits: list[tuple[SharedWindow, str]]) -> None:
        """Record one hit on each (throttle, key), in one transaction."""
        now = clock.now()
        async with self.engine.begin() as connection:
            for window, key in hits:
                await connection.execute(text(_UPSERT), window._params(key, now))
        await self.prune_now_and_then(now)

    async def count(self, name: str | None = None) -> int:
        """Rows stored (for one throttle, or all): tests and operators."""
        where = " WHERE bucket = :bucket" if name else ""
        async with self.engine.connect() as connection:
            value = await connection.scalar(
                text(f"SELECT count(*) FROM common.throttle_hits{where}"), {"bucket": name}
            )
        return int(value or 0)


class SharedWindow:
    """At most `limit` hits per key within `window_seconds`, counted by every process."""

    def __init__(self, store: ThrottleStore, name: str, limit: int, window_seconds: int) -> None:
        self.store = store
        self.name = name
        self.limit = limit
        self.window = window_seconds

    def _params(self, key: str, now: datetime) -> dict[str, object]:
        return {
            "bucket": self.name,
            "key": key_hash(key),
            "now": now,
            "cutoff": now - timedelta(seconds=self.window),
            "expires": now + timedelta(seconds=self.window),
            "limit": self.limit,
        }

    def _wait(self, hits: list[datetime] | None, now: datetime) -> int:
        cutoff = now - timedelta(seconds=self.window)
        live = sorted((h for h in hits or [] if h > cutoff), reverse=True)
        if len(live) < self.limit:
            return 0
        oldest_deciding = live[self.limit - 1]
        return max(1, math.ceil((oldest_deciding - cutoff).total_seconds()))

    async def retry_after(self, key: str) -> int:
        """Seconds until another hit is allowed (0 = allowed now). Stores nothing."""
        now = clock.now()
        async with self.store.engine.connect() as connection:
            hits = await connection.scalar(text(_HITS), {"bucket": self.name, "key": key_hash(key)})
        return self._wait(hits, now)

    async def hit(self, key: str) -> None:
        """Record one event (a failure, or a request where every request counts)."""
        now = clock.now()
        async with self.store.engine.begin() as connection:
            await connection.execute(text(_UPSERT), self._params(key, now))
        await self.store.prune_now_and_then(now)

    async def take(self, key: str) -> int:
        """Check and record in one step: 0 when the hit was allowed and counted, else the
        seconds to wait (and nothing stored). Of several processes racing, only `limit` win."""
        now = clock.now()
        params = self._params(key, now)
        async with self.store.engine.begin() as connection:
            counted = (await connection.execute(text(_TAKE), params)).first()
            if counted is None:
                hits = await connection.scalar(text(_HITS), params)
                return max(1, self._wait(hits, now))
        await self.store.prune_now_and_then(now)
        return 0

    async def clear(self, key: str) -> None:
        """Forget a key (a successful login clears its counter)."""
        async with self.store.engine.begin() as connection:
            await connection.execute(text(_CLEAR), {"bucket": self.name, "key": key_hash(key)})

    async def count(self) -> int:
        """Keys currently stored for this throttle (tests and operators)."""
        return await self.store.count(self.name)
