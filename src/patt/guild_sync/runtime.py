"""Guild sync inside the app (and inside the one-shot CLI): the Blizzard client of this process,
the pipeline runner, and the sync jobs that the scheduler, the API triggers and the CLI share.

`GuildSync` is built once per app (`app.state.guild_sync`) or per CLI command. Its jobs take
their advisory job lock first, so a job never runs twice at once anywhere: a manual run that
finds the lock taken is 409 (CLI exit 3), a scheduled one is skipped quietly. The Blizzard
fetch happens with no database transaction open; the roster write is one transaction under the
`roster_write` lock. Every job ends by requesting the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patt.config import Settings
from patt.core import jobs
from patt.guild_sync.pipeline import LOCK_WAIT_SECONDS, PipelineRunner, run_pipeline
from sv_common.db import locks
from sv_common.db.enums import SyncSource
from sv_common.errors import Conflict, Unavailable
from sv_common.guild_sync import sync_log
from sv_common.guild_sync.blizzard_client import BlizzardClient, BlizzardConfig
from sv_common.guild_sync.blizzard_sync import run_blizzard_sync
from sv_common.guild_sync.roster_sync import RosterWriteResult

log = logging.getLogger(__name__)

NOT_CONFIGURED = "Blizzard sync is not configured."
ALREADY_RUNNING = "A Blizzard sync is already running."


def blizzard_config(settings: Settings) -> BlizzardConfig:
    """The client's configuration from the settings."""
    return BlizzardConfig(
        client_id=settings.blizzard_client_id.strip(),
        client_secret=settings.blizzard_client_secret.strip(),
        region=settings.blizzard_region,
        locale=settings.blizzard_locale,
        api_base_url=settings.blizzard_api_base_url.strip(),
        oauth_url=settings.blizzard_oauth_url,
        guild_realm_slug=settings.patt_guild_realm_slug,
        guild_name_slug=settings.patt_guild_name_slug,
        home_realm_name=settings.patt_guild_realm_name,
        game_rank_names=tuple(settings.game_rank_names),
        max_concurrency=settings.blizzard_max_concurrency,
        rate_per_second=max(1, int(settings.blizzard_rate_per_second)),
        hourly_budget=settings.blizzard_hourly_budget,
    )


class GuildSync:
    """The sync jobs of one process, with what they need."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        discord: Callable[[], Any],
        blizzard_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessionmaker = sessionmaker
        self._discord = discord
        self._transport = blizzard_transport
        self._blizzard: BlizzardClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.pipeline = PipelineRunner(self.run_pipeline_now)

    # ------------------------------------------------------------------ shared pieces
    @property
    def discord(self) -> Any:
        """The process's Discord service (null, fake or bot)."""
        return self._discord()

    @property
    def blizzard_configured(self) -> bool:
        """Both Blizzard credentials are set."""
        return self.settings.blizzard_configured

    def blizzard(self) -> BlizzardClient:
        """The process's Blizzard client, created on first use (its limits are per client, and
        only one process — the scheduler leader — runs scheduled syncs)."""
        if not self.blizzard_configured:
            raise Unavailable(NOT_CONFIGURED)
        if self._blizzard is None:
            self._blizzard = BlizzardClient(
                blizzard_config(self.settings), transport=self._transport
            )
        return self._blizzard

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `work` in the background, keeping a reference so it is never lost mid-run; its
        duration is logged under the job name (`blizzard-sync` → `blizzard`, as scheduled)."""

        async def timed_work() -> Any:
            async with jobs.timed(name.removesuffix("-sync")):
                return await work

        task = asyncio.create_task(timed_work(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background job %s failed", task.get_name(), exc_info=task.exception())

    async def wait_idle(self) -> None:
        """Until every background job of this process and the pipeline are done (tests, CLI)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.pipeline.wait_idle()

    async def run_pipeline_now(self, *, wait_seconds: float = LOCK_WAIT_SECONDS) -> Any:
        """One pipeline run (waiting for another process's run to finish first)."""
        return await run_pipeline(
            service=self.discord,
            sessionmaker=self.sessionmaker,
            engine=self.engine,
            settings=self.settings,
            wait_seconds=wait_seconds,
        )

    # ------------------------------------------------------------------ Blizzard
    async def begin_blizzard_sync(self, *, triggered_by: str) -> tuple[locks.HeldLock, int]:
        """Take the job lock and insert the `running` log row (for a trigger's 202 answer)."""
        self.blizzard()  # 503 before anything else when not configured
        held = await locks.try_acquire(self.engine, locks.BLIZZARD_SYNC)
        if held is None:
            raise Conflict(ALREADY_RUNNING)
        try:
            log_id = await sync_log.start_sync(
                self.sessionmaker, source=SyncSource.BLIZZARD_API, triggered_by=triggered_by
            )
        except BaseException:
            await held.release()
            raise
        return held, log_id

    async def blizzard_sync(
        self,
        *,
        triggered_by: str,
        force_removals: bool = False,
        scheduled: bool = False,
        held: locks.HeldLock | None = None,
        log_id: int | None = None,
        request_pipeline: bool = True,
    ) -> RosterWriteResult | None:
        """A whole Blizzard sync; None for a scheduled run that found another one running."""
        client = self.blizzard()
        if held is None:
            held = await locks.try_acquire(self.engine, locks.BLIZZARD_SYNC)
            if held is None:
                if scheduled:
                    return None
                raise Conflict(ALREADY_RUNNING)
        if force_removals:
            log.warning(
                "Blizzard sync with force_removals (%s): the safety rule is off", triggered_by
            )
        try:
            result = await run_blizzard_sync(
                self.sessionmaker,
                client,
                engine=self.engine,
                triggered_by=triggered_by,
                deadline_seconds=float(self.settings.blizzard_sync_deadline_seconds),
                min_roster_ratio=self.settings.blizzard_min_roster_ratio,
                force_removals=force_removals,
                log_id=log_id,
            )
        finally:
            await held.release()
        if request_pipeline and result.status != "error":
            self.pipeline.request("blizzard sync")
        return result

    # ------------------------------------------------------------------ housekeeping
    async def housekeeping(self) -> dict[str, int]:
        """Interrupted `running` rows become `error`; log rows past retention are deleted."""
        async with self.sessionmaker() as session, session.begin():
            interrupted = await sync_log.mark_interrupted(session)
            deleted = await sync_log.delete_old(session)
        if interrupted or deleted:
            log.info(
                "housekeeping: %s interrupted runs closed, %s old rows deleted",
                interrupted,
                deleted,
            )
        return {"interrupted": interrupted, "deleted": deleted}

    async def close(self) -> None:
        """Stop background work and close the Blizzard client."""
        await self.pipeline.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except BaseException:  # cancelled or failed: both are over now
                pass
        if self._blizzard is not None:
            await self._blizzard.aclose()
            self._blizzard = None
