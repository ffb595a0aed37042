"""Read side of guild sync: the status of every source and the sync history."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patt.config import Settings
from patt.guild_sync.pipeline import audit_channel_id
from patt.guild_sync.schemas import LastRun, SourceStatus, SyncLogRow, SyncStatus
from sv_common import clock
from sv_common.db.enums import SyncSource
from sv_common.db.enums import SyncStatus as RunStatus
from sv_common.db.models import SyncLog
from sv_common.guild_sync.sync_log import INTERRUPTED_AFTER
from sv_common.identity.integrity.issues import open_issue_counts


async def _last_runs(session: AsyncSession) -> dict[str, SyncLog]:
    """The newest row of every source (one query)."""
    newest = (
        select(SyncLog.source, func.max(SyncLog.id).label("id")).group_by(SyncLog.source).subquery()
    )
    rows = await session.scalars(select(SyncLog).join(newest, newest.c.id == SyncLog.id))
    return {row.source: row for row in rows}


async def _last_successes(session: AsyncSession) -> dict[str, datetime]:
    rows = await session.execute(
        select(SyncLog.source, func.max(SyncLog.completed_at))
        .where(SyncLog.status == RunStatus.SUCCESS)
        .group_by(SyncLog.source)
    )
    return {source: moment for source, moment in rows.all() if moment is not None}


def _last_run(row: SyncLog | None) -> LastRun | None:
    if row is None:
        return None
    return LastRun(
        id=row.id,
        status=row.status,
        started_at=row.started_at,
        completed_at=row.completed_at,
        duration_seconds=row.duration_seconds,
        found=row.characters_found,
        new=row.characters_new,
        updated=row.characters_updated,
        removed=row.characters_removed,
        error=row.error_message,
    )


def _running(row: SyncLog | None, now: datetime) -> bool:
    """A run is going when the newest row is `running` and not yet counted as interrupted."""
    return (
        row is not None
        and row.status == RunStatus.RUNNING
        and (now - row.started_at < INTERRUPTED_AFTER)
    )


async def sync_status(
    session: AsyncSession,
    *,
    settings: Settings,
    blizzard_configured: bool,
    next_blizzard_run: datetime | None,
    discord_state: str,
    discord_configured: bool,
) -> SyncStatus:
    """The state of every source, valid in any process (next runs come from the schedule)."""
    now = clock.now()
    last = await _last_runs(session)
    success = await _last_successes(session)
    discord_row = last.get(SyncSource.DISCORD_BOT)
    next_discord = None
    if discord_configured and settings.scheduler_enabled:
        interval = timedelta(minutes=settings.discord_sync_interval_minutes)
        next_discord = max(now, (discord_row.started_at + interval) if discord_row else now)
    sources = {
        SyncSource.BLIZZARD_API.value: SourceStatus(
            configured=blizzard_configured,
            running=_running(last.get(SyncSource.BLIZZARD_API), now),
            next_run_at=next_blizzard_run,
            last_success_at=success.get(SyncSource.BLIZZARD_API),
            last_run=_last_run(last.get(SyncSource.BLIZZARD_API)),
        ),
        SyncSource.DISCORD_BOT.value: SourceStatus(
            configured=discord_configured,
            state=discord_state,
            running=_running(discord_row, now),
            next_run_at=next_discord,
            last_success_at=success.get(SyncSource.DISCORD_BOT),
            last_run=_last_run(discord_row),
        ),
        SyncSource.ADDON_UPLOAD.value: SourceStatus(
            configured=bool(settings.patt_api_key),
            last_success_at=success.get(SyncSource.ADDON_UPLOAD),
            last_run=_last_run(last.get(SyncSource.ADDON_UPLOAD)),
        ),
    }
    return SyncStatus(
        sources=sources,
        audit_channel_configured=await audit_channel_id(session, settings) is not None,
        open_issues=await open_issue_counts(session),
    )


async def sync_log_rows(
    session: AsyncSession, *, source: str | None, limit: int, offset: int
) -> list[SyncLogRow]:
    """Sync history, newest first."""
    query = select(SyncLog)
    if source is not None:
        query = query.where(SyncLog.source == source)
    rows = await session.scalars(
        query.order_by(SyncLog.started_at.desc(), SyncLog.id.desc()).limit(limit).offset(offset)
    )
    return [SyncLogRow.model_validate(row) for row in rows]
