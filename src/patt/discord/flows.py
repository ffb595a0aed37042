"""Discord sync steps: the member + role sync with its follow-ups, the audit report and the
"📡 Sync finished: Discord" summary.

A sync is followed by the dependent steps (decision 12): the pipeline (matching, the integrity
check, the report of new audit issues — `patt.guild_sync.pipeline`), then
the summary in the audit channel when accounts departed or there are new issues (new accounts
alone are not notable; no audit channel or Discord down ⇒ silently skipped). The summary is
posted where the follow-ups run (scheduled sync, trigger endpoint and page, CLI); when a
scheduled sync hands its follow-ups to the scheduler's pipeline (`app.state.request_pipeline`),
that pipeline owns the summary.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patt.config import Settings
from patt.guild_sync.pipeline import audit_channel_id, run_pipeline
from sv_common.db import locks
from sv_common.db.models import DiscordConfig
from sv_common.discord.interface import DiscordUnavailable
from sv_common.errors import Conflict, Unavailable
from sv_common.guild_sync import sync_log
from sv_common.guild_sync.discord_sync import MemberSyncStats, run_discord_sync
from sv_common.guild_sync.reporter import post_sync_summary
from sv_common.identity.realms import is_snowflake

log = logging.getLogger(__name__)

NOT_CONNECTED = "Discord is not connected."
NO_CHANNEL = "No audit channel is configured (PATT_AUDIT_CHANNEL_ID)."
SUMMARY_LABEL = "Discord"


async def ensure_discord_config(session: AsyncSession, settings: Settings) -> None:
    """Create the single `discord_config` row from the settings when a bot is configured."""
    if not settings.discord_bot_token or not is_snowflake(settings.discord_guild_id):
        return
    channel = settings.patt_audit_channel_id.strip()
    await session.execute(
        insert(DiscordConfig)
        .values(
            id=1,
            guild_discord_id=settings.discord_guild_id,
            audit_channel_id=channel if is_snowflake(channel) else None,
        )
        .on_conflict_do_nothing(index_elements=[DiscordConfig.id])
    )


# ---------------------------------------------------------------------- the steps
async def take_sync_lock(engine: AsyncEngine, *, scheduled: bool) -> locks.HeldLock | None:
    """The Discord sync job lock; None for a scheduled run when busy, Conflict for a manual one."""
    held = await locks.try_acquire(engine, locks.DISCORD_SYNC)
    if held is None and not scheduled:
        raise Conflict("A Discord sync is already running.")
    return held


async def sync_discord(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    settings: Settings,
    triggered_by: str,
    scheduled: bool = False,
    followups: bool = True,
    held: locks.HeldLock | None = None,
    log_id: int | None = None,
) -> dict[str, Any] | None:
    """A full Discord sync under its job lock, then the pipeline (matching → integrity →
    report) when anything changed, then the "Sync finished" summary (with `followups`;
    `result["summary"]` is "posted" or why not). A trigger that already took the lock and
    inserted the log row passes them as `held` and `log_id`.

    Manual runs: Conflict when another sync holds the lock, Unavailable when Discord is down.
    Scheduled runs return None instead of raising.
    """
    started = time.monotonic()
    if held is None:
        held = await take_sync_lock(engine, scheduled=scheduled)
        if held is None:
            return None
    try:
        stats: MemberSyncStats | None = await run_discord_sync(
            service,
            sessionmaker,
            triggered_by=triggered_by,
            scheduled=scheduled,
            game_rank_names=settings.game_rank_names,
            log_id=log_id,
        )
    except DiscordUnavailable as exc:
        raise Unavailable(exc.message) from exc
    finally:
        await held.release()
    if stats is None:
        return None
    result: dict[str, Any] = {"sync": stats.as_dict(), "changed": stats.changed}
    if not followups:
        return result
    if stats.changed or not scheduled:
        outcome = await run_pipeline(
            service=service, sessionmaker=sessionmaker, engine=engine, settings=settings
        )
        result["pipeline"] = outcome or {"skipped": "pipeline already running"}
        if stats.sync_log_id is not None:
            await sync_log.add_details(
                sessionmaker, stats.sync_log_id, {"pipeline": result["pipeline"]}
            )
    result["summary"] = await post_summary(
        service=service,
        sessionmaker=sessionmaker,
        settings=settings,
        stats=stats,
        issues=int(result.get("pipeline", {}).get("new_issues", 0)),
        seconds=time.monotonic() - started,
    )
    return result


async def post_summary(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stats: MemberSyncStats,
    issues: int,
    seconds: float,
) -> str:
    """The "📡 Sync finished: Discord" message (70 §8.5) when accounts left or issues are new."""
    try:
        async with sessionmaker() as session:
            channel = await audit_channel_id(session, settings)
    except Exception:
        log.exception("sync summary: could not read the audit channel")
        return "failed: could not read the audit channel"
    return await post_sync_summary(
        service,
        channel,
        source_label=SUMMARY_LABEL,
        found=stats.found,
        new=stats.new,
        departed=stats.departed,
        issues=issues,
        seconds=seconds,
        noun="accounts",
        new_is_notable=False,
    )
