"""Scheduled background work, run by exactly one process: the scheduler leader.

Every process tries the leader lock (a session advisory lock on its own connection) at start
and every 30 s. The holder runs the jobs and the Discord gateway; it checks its connection on
every tick and steps down when it is lost — the lock dies with the connection, so another
process takes over within a minute. No job runs twice at once anywhere: each job also takes
its own job lock.

| job | when (UTC) |
|-----|------------|
| Blizzard roster sync | at `BLIZZARD_SYNC_HOURS` (01, 07, 13, 19 by default); also 2 min after becoming leader when the last success is more than 6 h old; a run missed by less than an hour still runs |
| Discord member + role sync | 60 s after Discord is ready, then every `DISCORD_SYNC_INTERVAL_MINUTES` |
| housekeeping | daily at 03:30, and at leader start (interrupted runs, old log rows) |

The pipeline is not scheduled: every job requests it when it finishes. A job that fails is
logged and the scheduler carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, text

from patt.core import jobs
from patt.discord.flows import sync_discord
from patt.discord.runtime import usable
from patt.guild_sync.runtime import GuildSync
from sv_common import clock
from sv_common.db import locks
from sv_common.db.enums import SyncSource, SyncStatus
from sv_common.db.models import SyncLog
from sv_common.guild_sync import sync_log

log = logging.getLogger(__name__)

LEADER_CHECK_SECONDS = 30.0
BLIZZARD_CATCH_UP_DELAY = 120.0
BLIZZARD_STALE_AFTER = timedelta(hours=6)
BLIZZARD_MISFIRE_GRACE = timedelta(hours=1)
DISCORD_FIRST_DELAY = 60.0
HOUSEKEEPING_AT = time(3, 30)

Hook = Callable[[], Awaitable[None]]


def next_at_hours(now: datetime, hours: list[int]) -> datetime:
    """The next whole UTC hour in `hours` strictly after `now`."""
    day = now.replace(minute=0, second=0, microsecond=0)
    for offset in range(0, 49):
        moment = day + timedelta(hours=offset)
        if moment > now and moment.hour in hours:
            return moment
    raise ValueError("no sync hours configured")


def previous_at_hours(now: datetime, hours: list[int]) -> datetime:
    """The latest whole UTC hour in `hours` at or before `now`."""
    moment = now.replace(minute=0, second=0, microsecond=0)
    for _ in range(49):
        if moment.hour in hours:
            return moment
        moment -= timedelta(hours=1)
    raise ValueError("no sync hours configured")


def next_daily(now: datetime, at: time) -> datetime:
    """The next `at` (UTC) strictly after `now`."""
    moment = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return moment if moment > now else moment + timedelta(days=1)


async def last_success(guild_sync: GuildSync, source: str) -> datetime | None:
    """When the source last finished successfully (any process)."""
    async with guild_sync.sessionmaker() as session:
        return await session.scalar(
            select(func.max(SyncLog.completed_at)).where(
                SyncLog.source == source, SyncLog.status == SyncStatus.SUCCESS
            )
        )


class Scheduler:
    """Leadership and, while leader, the scheduled jobs."""

    def __init__(
        self,
        guild_sync: GuildSync,
        *,
        on_lead: Hook | None = None,
        on_follow: Hook | None = None,
    ) -> None:
        self.guild_sync = guild_sync
        self.on_lead = on_lead
        self.on_follow = on_follow
        self.check_seconds = LEADER_CHECK_SECONDS
        self.blizzard_catch_up_delay = BLIZZARD_CATCH_UP_DELAY
        self.discord_first_delay = DISCORD_FIRST_DELAY
        self._leader: locks.HeldLock | None = None
        self._elector: asyncio.Task[None] | None = None
        self._jobs: list[asyncio.Task[None]] = []
        self.job_runs: dict[str, int] = {"blizzard": 0, "discord": 0, "housekeeping": 0}

    @property
    def is_leader(self) -> bool:
        """This process holds the leader lock."""
        return self._leader is not None

    @property
    def settings(self) -> Any:
        return self.guild_sync.settings

    # ------------------------------------------------------------------ leadership
    async def start(self) -> None:
        """Begin trying for leadership (nothing at all when SCHEDULER_ENABLED is false)."""
        if self.settings.scheduler_enabled and self._elector is None:
            self._elector = asyncio.create_task(self._elect(), name="scheduler-leader")

    async def stop(self) -> None:
        """Stop trying, stop the jobs and give leadership up."""
        if self._elector is not None:
            self._elector.cancel()
            with contextlib.suppress(BaseException):
                await self._elector
            self._elector = None
        await self._step_down()

    async def _elect(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database outage: try again on the next tick
                log.warning("scheduler leadership check failed", exc_info=True)
            await asyncio.sleep(self.check_seconds)

    async def tick(self) -> None:
        """One leadership check: take the lock when free, or confirm the held one still lives."""
        if self._leader is None:
            held = await locks.try_acquire(self.guild_sync.engine, locks.LEADER)
            if held is not None:
                self._leader = held
                log.info("this process is now the scheduler leader")
                await self._become_leader()
            return
        try:
            await self._leader.connection.execute(text("SELECT 1"))
            await self._leader.connection.commit()
        except Exception:
            log.warning("scheduler leader lost its database connection; stepping down")
            await self._step_down()

    async def _become_leader(self) -> None:
        try:
            await self.guild_sync.housekeeping()
        except Exception:
            log.exception("housekeeping at leader start failed")
        self._jobs = [
            asyncio.create_task(self._blizzard_job(), name="job-blizzard"),
            asyncio.create_task(self._discord_job(), name="job-discord"),
            asyncio.create_task(self._housekeeping_job(), name="job-housekeeping"),
        ]
        if self.on_lead is not None:
            await self.on_lead()

    async def _step_down(self) -> None:
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.cancel()
        for job in jobs:
            with contextlib.suppress(BaseException):
                await job
        if self._leader is not None:
            held, self._leader = self._leader, None
            await held.release()
            if self.on_follow is not None:
                await self.on_follow()

    # ------------------------------------------------------------------ jobs
    async def _sleep_until(self, moment: datetime) -> None:
        # asyncio sleeps on the monotonic clock, so this may end a little before `moment` on
        # the wall clock (NTP slewing): callers compute the next slot from `moment`, not now.
        await asyncio.sleep(max(0.0, (moment - clock.now()).total_seconds()))

    async def _guarded(self, name: str, work: Callable[[], Awaitable[Any]]) -> None:
        try:
            async with jobs.timed(name):
                await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduled %s job failed", name)
        self.job_runs[name] += 1

    async def _blizzard_job(self) -> None:
        if not self.guild_sync.blizzard_configured:
            return  # skipped runs of an unconfigured service write no log row
        hours = self.settings.sync_hours
        now = clock.now()
        latest = await last_success(self.guild_sync, SyncSource.BLIZZARD_API)
        missed = previous_at_hours(now, hours)
        if latest is None or now - latest > BLIZZARD_STALE_AFTER:
            await asyncio.sleep(self.blizzard_catch_up_delay)
            await self._guarded("blizzard", self._run_blizzard)
        elif latest < missed and now - missed < BLIZZARD_MISFIRE_GRACE:
            await self._guarded("blizzard", self._run_blizzard)
        slot = clock.now()
        while True:
            slot = next_at_hours(max(clock.now(), slot), hours)
            await self._sleep_until(slot)
            await self._guarded("blizzard", self._run_blizzard)

    async def _run_blizzard(self) -> None:
        await self.guild_sync.blizzard_sync(triggered_by="schedule", scheduled=True)

    async def _discord_job(self) -> None:
        first = True
        while True:
            service = self.guild_sync.discord
            if not usable(service):
                await service.wait_ready(30)
                if not usable(service):
                    await asyncio.sleep(5)
                    continue
            interval = self.settings.discord_sync_interval_minutes * 60
            await asyncio.sleep(self.discord_first_delay if first else interval)

            async def run(trigger: str = "startup" if first else "schedule") -> None:
                await sync_discord(
                    service=self.guild_sync.discord,
                    sessionmaker=self.guild_sync.sessionmaker,
                    engine=self.guild_sync.engine,
                    settings=self.settings,
                    triggered_by=trigger,
                    scheduled=True,
                )

            await self._guarded("discord", run)
            first = False

    async def _housekeeping_job(self) -> None:
        slot = clock.now()
        while True:
            slot = next_daily(max(clock.now(), slot), HOUSEKEEPING_AT)
            await self._sleep_until(slot)
            await self._guarded("housekeeping", self._logged_housekeeping)

    async def _logged_housekeeping(self) -> None:
        """The daily housekeeping, with its own sync_log row (status, counts, duration)."""
        async with sync_log.sync_run(
            self.guild_sync.sessionmaker, source=SyncSource.HOUSEKEEPING, triggered_by="schedule"
        ) as run:
            run.details = await self.guild_sync.housekeeping()

    # ------------------------------------------------------------------ status
    def next_blizzard_run(self, now: datetime | None = None) -> datetime | None:
        """When the next scheduled Blizzard sync is due (computable in any process)."""
        if not self.guild_sync.blizzard_configured or not self.settings.scheduler_enabled:
            return None
        return next_at_hours(now or clock.now(), self.settings.sync_hours)


# ---------------------------------------------------------------------- in the app
def demo_blizzard_transport(settings: Any) -> Any:
    """In demo mode without credentials, the bundled fake Blizzard API answers in-process."""
    from sv_common.guild_sync.fake_blizzard import FakeBlizzard, generate_guild

    guild = generate_guild(40, seed=7)
    fake = FakeBlizzard(
        roster=guild.roster,
        profiles=guild.profiles,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        guild_realm_slug=settings.patt_guild_realm_slug,
        guild_name_slug=settings.patt_guild_name_slug,
    )
    return fake.transport()


DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo-client-secret"


def install(app: FastAPI) -> None:
    """`app.state.guild_sync` and `app.state.scheduler`; the scheduler starts with the app
    (after the Discord service is built) and hands the Discord gateway to the leader."""
    settings = app.state.settings
    transport = None
    if settings.demo_mode and not settings.blizzard_configured and not settings.is_production:
        settings = settings.model_copy(
            update={
                "blizzard_client_id": DEMO_CLIENT_ID,
                "blizzard_client_secret": DEMO_CLIENT_SECRET,
            }
        )
        transport = demo_blizzard_transport(settings)
    guild_sync = GuildSync(
        settings=settings,
        engine=app.state.engine,
        sessionmaker=app.state.sessionmaker,
        discord=lambda: app.state.discord,
        blizzard_transport=transport,
    )
    app.state.guild_sync = guild_sync

    async def lead() -> None:
        await app.state.discord_runtime.start_gateway()

    async def follow() -> None:
        await app.state.discord_runtime.stop_gateway()

    scheduler = Scheduler(guild_sync, on_lead=lead, on_follow=follow)
    app.state.scheduler = scheduler

    async def start(_: FastAPI) -> None:
        await scheduler.start()

    async def stop(_: FastAPI) -> None:
        await scheduler.stop()
        await guild_sync.close()

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
