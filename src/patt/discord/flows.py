"""Discord sync steps: the member + role sync with its follow-ups, the audit report and the
"📡 Sync finished: Discord" summary.

A sync is followed by the dependent steps (decision 12): the report of new audit issues, then
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

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patt.config import Settings
from sv_common.db import locks
from sv_common.db.models import DiscordConfig
from sv_common.discord.interface import DiscordUnavailable
from sv_common.errors import Conflict, Unavailable
from sv_common.guild_sync.discord_sync import MemberSyncStats, run_discord_sync
from sv_common.guild_sync.reporter import (
    NO_ISSUES,
    ReportResult,
    deliver_issue_report,
    post_sync_summary,
)
from sv_common.identity.realms import is_snowflake

log = logging.getLogger(__name__)

NOT_CONNECTED = "Discord is not connected."
NO_CHANNEL = "No audit channel is configured (PATT_AUDIT_CHANNEL_ID)."
SUMMARY_LABEL = "Discord"


def game_rank_names(settings: Settings) -> list[str]:
    """PATT_GAME_RANK_NAMES as a list (index = in-game rank)."""
    return [n.strip() for n in settings.patt_game_rank_names.split(",") if n.strip()]


async def audit_channel_id(session: AsyncSession, settings: Settings) -> str | None:
    """PATT_AUDIT_CHANNEL_ID, else `common.discord_config.audit_channel_id`, else None."""
    if settings.patt_audit_channel_id.strip():
        return settings.patt_audit_channel_id.strip()
    return await session.scalar(select(DiscordConfig.audit_channel_id).where(DiscordConfig.id == 1))


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


async def run_followups(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    settings: Settings,
) -> dict[str, Any]:
    """The steps that follow a sync, under the pipeline lock: the report of new audit issues."""
    held = await locks.try_acquire(engine, locks.PIPELINE)
    if held is None:
        return {"skipped": "pipeline already running"}
    outcome: dict[str, Any] = {}
    try:
        report = await report_new_issues(
            service=service, sessionmaker=sessionmaker, settings=settings
        )
        outcome["reported"] = report.reported
        if report.skipped:
            outcome["report_skipped"] = report.skipped
        if report.skipped in (None, NO_ISSUES):  # the report looked: its un-notified issues
            outcome["new_issues"] = report.total
        if report.error:
            outcome["report_error"] = report.error
    finally:
        await held.release()
    return outcome


async def sync_discord(
    *,
    service: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    settings: Settings,
    triggered_by: str,
    scheduled: bool = False,
    followups: bool = True,
) -> dict[str, Any] | None:
    """A full Discord sync under lock 3, then its dependent steps when anything changed, then
    the §8.5 summary (with `followups`; `result["summary"]` is "posted" or why not).

    Manual runs: Conflict when another sync holds the lock, Unavailable when Discord is down.
    Scheduled runs return None instead of raising.
    """
    started = time.monotonic()
    held = await locks.try_acquire(engine, locks.DISCORD_SYNC)
    if held is None:
        if scheduled:
            return None
        raise Conflict("A Discord sync is already running.")
    try:
        stats: MemberSyncStats | None = await run_discord_sync(
            service,
            sessionmaker,
            triggered_by=triggered_by,
            scheduled=scheduled,
            game_rank_names=game_rank_names(settings),
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
        result["pipeline"] = await run_followups(
            service=service, sessionmaker=sessionmaker, engine=engine, settings=settings
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
