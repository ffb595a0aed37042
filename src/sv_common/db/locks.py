"""Every PostgreSQL advisory lock of the application, in one registry.

All keys share the namespace 1346458708 ("PATT"), so `pg_locks` shows them side by side:

| n | lock | kind | held |
|---|------|------|------|
| 1 | scheduler leader | session | for the life of the leader's dedicated connection |
| 2 | Blizzard sync | session | whole run |
| 3 | Discord sync | session | whole run |
| 4 | pipeline (matching → integrity → report) | session | whole run |
| 5 | roster write | session | Blizzard DB write and addon ingestion |
| 6 | sheet import | transaction | whole import |
| 7 | campaign status checker | transaction | one checker pass |
| 8 | first Guild Leader set-up | transaction | one set-up submission |
| 9 | demo loader | transaction | loading the demo guild |

Session locks are taken on a dedicated connection (never a request's transaction) and released
in `finally`; if the unlock itself fails the connection is invalidated, so the lock dies with it
instead of going back to the pool still held. Transaction locks end with their transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

NAMESPACE = 1346458708  # "PATT"
LEADER = 1
BLIZZARD_SYNC = 2
DISCORD_SYNC = 3
PIPELINE = 4
ROSTER_WRITE = 5
SHEET_IMPORT = 6
CAMPAIGN_CHECKER = 7
SETUP = 8
DEMO_LOAD = 9

_TRY = text("SELECT pg_try_advisory_lock(:ns, :n)")
_TRY_XACT = text("SELECT pg_try_advisory_xact_lock(:ns, :n)")
_XACT = text("SELECT pg_advisory_xact_lock(:ns, :n)")
_UNLOCK = text("SELECT pg_advisory_unlock(:ns, :n)")


_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid::bigint = :ns AND objid::bigint = :n AND objsubid = 2)"
)


async def is_held(connection: AsyncConnection, number: int) -> bool:
    """Some session of this database holds the lock now (health, tests)."""
    return bool(await connection.scalar(_HELD, {"ns": NAMESPACE, "n": number}))


class HeldLock:
    """A held advisory lock on its own connection; `release()` is idempotent."""

    def __init__(self, connection: AsyncConnection, number: int) -> None:
        self.connection = connection
        self.number = number
        self.released = False

    async def release(self) -> None:
        """Unlock and return the connection (invalidated when the unlock fails)."""
        if self.released:
            return
        self.released = True
        try:
            await self.connection.execute(_UNLOCK, {"ns": NAMESPACE, "n": self.number})
            await self.connection.commit()
        except Exception:
            log.warning("advisory unlock %s failed; dropping the connection", self.number)
            try:
                await self.connection.invalidate()
            except Exception:  # the connection is gone either way
                pass
        finally:
            await self.connection.close()


async def try_acquire(engine: AsyncEngine, number: int) -> HeldLock | None:
    """Take lock `number` now, or None when another session holds it."""
    connection = await engine.connect()
    try:
        acquired = bool(
            (await connection.execute(_TRY, {"ns": NAMESPACE, "n": number})).scalar_one()
        )
        await connection.commit()
    except BaseException:
        await connection.close()
        raise
    if not acquired:
        await connection.close()
        return None
    return HeldLock(connection, number)


async def acquire_waiting(engine: AsyncEngine, number: int, wait_seconds: float) -> HeldLock | None:
    """Take lock `number`, retrying for up to `wait_seconds` (addon uploads wait ≤ 30 s)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        held = await try_acquire(engine, number)
        if held is not None or time.monotonic() >= deadline:
            return held
        await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


@asynccontextmanager
async def advisory_lock(engine: AsyncEngine, number: int) -> AsyncIterator[bool]:
    """`async with advisory_lock(engine, DISCORD_SYNC) as acquired:` — False when busy."""
    held = await try_acquire(engine, number)
    try:
        yield held is not None
    finally:
        if held is not None:
            await held.release()


async def try_transaction_lock(session: AsyncSession, number: int) -> bool:
    """Take lock `number` until the session's transaction ends; False when another holds it."""
    return bool(await session.scalar(_TRY_XACT, {"ns": NAMESPACE, "n": number}))


async def transaction_lock(session: AsyncSession, number: int) -> None:
    """Wait for lock `number` and hold it until the session's transaction ends."""
    await session.execute(_XACT, {"ns": NAMESPACE, "n": number})
