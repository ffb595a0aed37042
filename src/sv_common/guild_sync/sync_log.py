"""`guild_identity.sync_log` rows (80 §7): insert `running` first, finalise in a `finally`.

Each write is its own short transaction, so the `running` row is visible while the work runs
and the final status survives a rolled-back sync.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sv_common import clock
from sv_common.db.models import SyncLog

INTERRUPTED_AFTER = timedelta(hours=2)
RETENTION = timedelta(days=365)


@dataclass
class SyncRun:
    """What a running sync fills in; written to its row when the run ends."""

    log_id: int
    status: str = "success"
    found: int | None = None
    new: int | None = None
    updated: int | None = None
    removed: int | None = None
    error_message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


async def start_sync(
    sessionmaker: async_sessionmaker[AsyncSession], *, source: str, triggered_by: str | None
) -> int:
    """Insert a `running` row and return its id."""
    async with sessionmaker() as session, session.begin():
        row = SyncLog(
            source=source, status="running", triggered_by=triggered_by, started_at=clock.now()
        )
        session.add(row)
        await session.flush()
        return row.id


async def finish_sync(
    sessionmaker: async_sessionmaker[AsyncSession], run: SyncRun, *, duration: float
) -> None:
    """Write the run's final status, counts and duration."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(SyncLog)
            .where(SyncLog.id == run.log_id)
            .values(
                status=run.status,
                characters_found=run.found,
                characters_new=run.new,
                characters_updated=run.updated,
                characters_removed=run.removed,
                error_message=run.error_message,
                details=run.details or None,
                duration_seconds=duration,
                completed_at=clock.now(),
            )
        )


@asynccontextmanager
async def sync_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    source: str,
    triggered_by: str | None,
    log_id: int | None = None,
) -> AsyncIterator[SyncRun]:
    """A logged run: `running` row before, final row after (an exception ⇒ `error`, re-raised).
    `log_id` continues a row the caller already inserted (a trigger answers with its id)."""
    started = time.monotonic()
    if log_id is None:
        log_id = await start_sync(sessionmaker, source=source, triggered_by=triggered_by)
    run = SyncRun(log_id=log_id)
    try:
        yield run
    except BaseException as exc:
        run.status = "error"
        run.error_message = run.error_message or (str(exc) or type(exc).__name__)[:500]
        raise
    finally:
        await finish_sync(sessionmaker, run, duration=time.monotonic() - started)


async def mark_interrupted(session: AsyncSession) -> int:
    """Rows still `running` after 2 h become `error` ("interrupted"); returns how many."""
    result = await session.execute(
        update(SyncLog)
        .where(SyncLog.status == "running", SyncLog.started_at < clock.now() - INTERRUPTED_AFTER)
        .values(status="error", error_message="interrupted", completed_at=clock.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_old(session: AsyncSession) -> int:
    """Housekeeping: delete rows older than 365 days; returns how many."""
    result = await session.execute(
        delete(SyncLog).where(SyncLog.started_at < clock.now() - RETENTION)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def last_run(session: AsyncSession, source: str) -> SyncLog | None:
    """The newest row of a source."""
    return (
        await session.scalars(
            select(SyncLog)
            .where(SyncLog.source == source)
            .order_by(SyncLog.started_at.desc(), SyncLog.id.desc())
            .limit(1)
        )
    ).first()


async def add_details(
    sessionmaker: async_sessionmaker[AsyncSession], log_id: int, extra: dict[str, Any]
) -> None:
    """Merge `extra` into a finished row's `details` (the steps that followed the sync)."""
    async with sessionmaker() as session, session.begin():
        row = await session.get(SyncLog, log_id, with_for_update=True)
        if row is not None:
            row.details = {**(row.details or {}), **extra}
