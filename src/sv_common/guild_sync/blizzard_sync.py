"""One Blizzard roster sync from start to finish: a `sync_log` row, the network fetch (no
transaction open), then the roster write in one transaction under the `roster_write` lock.

The scheduler, the API trigger and the CLI all call `run_blizzard_sync`; they own the job lock
(`blizzard_sync`) and requesting the pipeline afterwards.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from sv_common.db import locks
from sv_common.db.enums import SyncSource, SyncStatus
from sv_common.guild_sync import sync_log
from sv_common.guild_sync.blizzard_client import BlizzardClient, BlizzardError
from sv_common.guild_sync.roster_sync import (
    DEFAULT_MIN_ROSTER_RATIO,
    RosterWriteResult,
    apply_roster_snapshot,
)

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_SECONDS = 1200.0
# The addon upload holds the same lock for at most a second or two; waiting a minute is plenty.
ROSTER_WRITE_WAIT_SECONDS = 60.0


async def run_blizzard_sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: BlizzardClient,
    *,
    engine: AsyncEngine,
    triggered_by: str | None,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    min_roster_ratio: float = DEFAULT_MIN_ROSTER_RATIO,
    force_removals: bool = False,
    log_id: int | None = None,
) -> RosterWriteResult:
    """Fetch the guild and write it; the outcome is logged in `sync_log` and returned. Blizzard
    failures give an `error` result (nothing written); unexpected exceptions propagate after
    the log row is marked `error`."""
    config = client.config
    async with sync_log.sync_run(
        sessionmaker, source=SyncSource.BLIZZARD_API, triggered_by=triggered_by, log_id=log_id
    ) as run:
        try:
            snapshot = await client.fetch_guild(deadline=client.clock() + deadline_seconds)
        except BlizzardError as exc:
            log.warning("Blizzard sync failed: %s", exc.message)
            result = RosterWriteResult(SyncStatus.ERROR, exc.message)
            result.fill(run)
            return result
        held = await locks.acquire_waiting(engine, locks.ROSTER_WRITE, ROSTER_WRITE_WAIT_SECONDS)
        if held is None:
            result = RosterWriteResult(SyncStatus.ERROR, "roster is busy (roster_write lock)")
            result.fill(run)
            return result
        try:
            async with sessionmaker() as session, session.begin():
                result = await apply_roster_snapshot(
                    session,
                    snapshot,
                    region=config.region,
                    home_realm_slug=config.guild_realm_slug,
                    home_realm_name=config.home_realm_name,
                    min_roster_ratio=min_roster_ratio,
                    force_removals=force_removals,
                )
        finally:
            await held.release()
        result.fill(run)
        log.info(
            "Blizzard sync %s: %s found, %s new, %s updated, %s removed",
            result.status, result.found, result.new, result.updated, result.removed,
        )  # fmt: skip
        return result
