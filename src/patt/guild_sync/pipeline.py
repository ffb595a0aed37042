"""The pipeline that follows every sync, upload, import and manual link change: matching →
integrity check → report of new issues to the officers' audit channel.

One run at a time across every process (advisory lock `PIPELINE`). `PipelineRunner` coalesces
requests: while a run is going, any number of new requests schedule exactly one more run
afterwards; debounced requests (Discord member events) start 60 s after the last one. A run
requested in a process that is not the scheduler leader still runs there (the lock keeps it
single); it reports only when that process has a working Discord connection — otherwise the
issues stay un-notified and the leader's next run reports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patt.config import Settings
from patt.core import jobs
from sv_common.db import locks
from sv_common.db.models import DiscordConfig
from sv_common.guild_sync.reporter import NO_ISSUES, ReportResult, deliver_issue_report
from sv_common.identity.integrity.checker import run_integrity_check
from sv_common.identity.matching import run_matching

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 60.0
NOT_RUNNING_AGAIN = "The pipeline is already running."
# A requested run waits this long for another process's run to finish before giving up.
LOCK_WAIT_SECONDS = 300.0


async def audit_channel_id(session: AsyncSession, settings: Settings) -> str | None:
    """PATT_AUDIT_CHANNEL_ID, else `common.discord_config.audit_channel_id`, else None."""
    if settings.patt_audit_channel_id.strip():
        return settings.patt_audit_channel_id.strip()
    return await session.scalar(select(DiscordConfig.audit_channel_id).where(DiscordConfig.id == 1))


async def report_new_issues(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    full: bool = False,
) -> ReportResult:
    """Post the audit report (new issues, or all open ones with `full`) in its own transaction."""
    async with sessionmaker() as session, session.begin():
        channel = await audit_channel_id(session, settings)
        return await deliver_issue_report(
            session, service, channel, full=full, guild_name=settings.patt_guild_name
        )


async def run_steps(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    report: bool = True,
    matching: bool = True,
) -> dict[str, Any]:
    """Matching (unless `matching` is false: `patt sync integrity`), the integrity check and
    (with `report`) the report, each in its own transaction. The caller holds the lock."""
    outcome: dict[str, Any] = {}
    if matching:
        async with sessionmaker() as session, session.begin():
            stats = await run_matching(
                session,
                fuzzy_auto_link=settings.fuzzy_auto_link,
                fuzzy_suggest=settings.fuzzy_suggest,
            )
        outcome["matching"] = stats.as_dict()
    async with sessionmaker() as session, session.begin():
        integrity = await run_integrity_check(
            session,
            stale_days=settings.stale_character_days,
            rank_change_expiry_days=settings.rank_change_expiry_days,
            game_rank_names=tuple(settings.game_rank_names),
            admin_rank_level=settings.admin_rank_level,
        )
    outcome["integrity"] = integrity.as_dict()
    if not report:
        return outcome
    result = await report_new_issues(service=service, sessionmaker=sessionmaker, settings=settings)
    outcome["reported"] = result.reported
    if result.skipped:
        outcome["report_skipped"] = result.skipped
    if result.skipped in (None, NO_ISSUES):  # the report looked: its un-notified issues
        outcome["new_issues"] = result.total
    if result.error:
        outcome["report_error"] = result.error
    return outcome


async def run_pipeline(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    settings: Settings,
    wait_seconds: float = 0.0,
    report: bool = True,
    matching: bool = True,
) -> dict[str, Any] | None:
    """One pipeline run under the lock; None when another run holds it (after `wait_seconds`)."""
    held = (
        await locks.acquire_waiting(engine, locks.PIPELINE, wait_seconds)
        if wait_seconds > 0
        else await locks.try_acquire(engine, locks.PIPELINE)
    )
    if held is None:
        return None
    try:
        return await run_steps(
            service=service,
            sessionmaker=sessionmaker,
            settings=settings,
            report=report,
            matching=matching,
        )
    finally:
        await held.release()


class PipelineRunner:
    """Runs requested pipelines in the background: coalesced, optionally debounced."""

    def __init__(
        self,
        run: Callable[[], Any],
        *,
        debounce_seconds: float = DEBOUNCE_SECONDS,
    ) -> None:
        self._run = run  # an async callable doing one run
        self.debounce_seconds = debounce_seconds
        self._task: asyncio.Task[None] | None = None
        self._debounce: asyncio.Task[None] | None = None
        self._again = False
        self.runs_done = 0
        self.last_outcome: dict[str, Any] | None = None
        self.reasons: list[str] = []

    @property
    def running(self) -> bool:
        """A run is going (or about to start) in this process."""
        return self._task is not None and not self._task.done()

    def request(self, reason: str, *, debounce: bool = False) -> None:
        """Ask for a run: now, or `debounce_seconds` after the last debounced request."""
        self.reasons.append(reason)
        del self.reasons[:-20]
        if debounce:
            if self._debounce is not None and not self._debounce.done():
                self._debounce.cancel()
            self._debounce = asyncio.create_task(self._after_quiet(), name="pipeline-debounce")
            return
        if self.running:
            self._again = True  # exactly one more run after the current one
            return
        self._task = asyncio.create_task(self._loop(), name="pipeline")

    async def _after_quiet(self) -> None:
        await asyncio.sleep(self.debounce_seconds)
        self.request("debounced")

    async def _loop(self) -> None:
        while True:
            self._again = False
            try:
                async with jobs.timed("pipeline"):
                    self.last_outcome = await self._run()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed run never stops later ones
                log.exception("pipeline run failed")
            self.runs_done += 1
            if not self._again:
                return

    async def wait_idle(self) -> None:
        """Until the current run (and its coalesced follow-up) is done."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Cancel pending and running work (shutdown)."""
        for task in (self._debounce, self._task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
