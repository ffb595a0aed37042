"""Campaigns in Discord, run in the app: the background loop that posts announcements
(`announcer`) and sends reminder DMs (`reminders`), and what officers see of both.

The loop runs every `CAMPAIGN_CHECK_INTERVAL_SECONDS` when `CAMPAIGN_CHECKER_ENABLED`, in
every process (the claims in the database make several processes safe), and it is woken at
once by the `campaign_activated` / `campaign_closed` events so the opening and result posts do
not wait for the next tick. A pass does nothing while Discord is not configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patt.campaigns import announcer, events, reminders
from patt.config import Settings
from patt.core import jobs
from patt.discord.runtime import is_configured
from sv_common.db.enums import ReminderKind, ReminderStatus
from sv_common.db.models import Campaign, CampaignReminder, ContestAgentLog, GuildMember
from sv_common.discord.dm import dm_outcome_message

log = logging.getLogger(__name__)

FIRST_PASS_DELAY_SECONDS = 5
DM_FAILURES = (
    ReminderStatus.DMS_CLOSED,
    ReminderStatus.UNKNOWN_USER,
    ReminderStatus.BOT_UNAVAILABLE,
    ReminderStatus.FAILED,
)
NO_DISCORD_MESSAGE = "No Discord account is linked to this member; no reminder was sent."


# ------------------------------------------------------------------------ officers' view
async def discord_report(
    session: AsyncSession, campaign: Campaign, *, settings: Settings, service: Any
) -> dict[str, Any]:
    """Announcements posted (or failed), reminder counts by kind and outcome, and the members a
    reminder did not reach (DM failures and members without Discord), by name."""
    posts = (
        await session.scalars(
            select(ContestAgentLog)
            .where(ContestAgentLog.campaign_id == campaign.id)
            .order_by(ContestAgentLog.id)
        )
    ).all()
    rows = (
        await session.execute(
            select(CampaignReminder, GuildMember.display_name)
            .join(GuildMember, GuildMember.id == CampaignReminder.member_id)
            .where(CampaignReminder.campaign_id == campaign.id)
            .order_by(CampaignReminder.kind, GuildMember.display_name, CampaignReminder.id)
        )
    ).all()
    counts = {kind.value: {status.value: 0 for status in ReminderStatus} for kind in ReminderKind}
    unreached = []
    for reminder, name in rows:
        counts[reminder.kind][reminder.status] += 1
        if reminder.status in DM_FAILURES or reminder.status == ReminderStatus.NO_DISCORD:
            unreached.append(
                {
                    "member_id": reminder.member_id,
                    "display_name": name,
                    "kind": reminder.kind,
                    "status": reminder.status,
                    "message": NO_DISCORD_MESSAGE
                    if reminder.status == ReminderStatus.NO_DISCORD
                    else dm_outcome_message(reminder.status),
                    "at": reminder.finished_at or reminder.created_at,
                }
            )
    return {
        "campaign_id": campaign.id,
        "announce_in_discord": campaign.announce_in_discord,
        "discord_configured": is_configured(service),
        "channel_id": await announcer.announcement_channel(session, campaign, settings),
        "announcements": [
            {
                "event_type": post.event_type,
                "status": post.status,
                "message": post.message,
                "discord_message_id": post.discord_message_id,
                "error": post.error,
                "posted_at": post.posted_at,
            }
            for post in posts
        ],
        "reminders": counts,
        "dm_failures": [row for row in unreached if row["status"] != ReminderStatus.NO_DISCORD],
        "no_discord": [row for row in unreached if row["status"] == ReminderStatus.NO_DISCORD],
    }


# ------------------------------------------------------------------------------ the loop
async def run_pass(app: FastAPI) -> dict[str, Any]:
    """Announcements, then reminders, with the app's Discord service and settings."""
    factory = app.state.sessionmaker
    service = app.state.discord
    settings = app.state.settings
    posted = await announcer.run_announcement_pass(factory, service, settings)
    reminded = await reminders.run_reminder_pass(factory, service, settings)
    return {"announcements": posted, "reminders": reminded}


class ReachLoop:
    """The app's announcement and reminder loop, woken early by campaign events."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def on_event(self, payload: dict[str, Any]) -> None:
        """A campaign opened or closed somewhere: run a pass now rather than at the next tick."""
        self.wake.set()

    async def _loop(self) -> None:
        interval = self.app.state.settings.campaign_check_interval_seconds
        with contextlib.suppress(TimeoutError):  # an event may start the first pass earlier
            await asyncio.wait_for(self.wake.wait(), min(FIRST_PASS_DELAY_SECONDS, interval))
        while True:
            self.wake.clear()
            if is_configured(self.app.state.discord):
                try:
                    async with jobs.timed("campaign_discord", quiet=True):
                        outcome = await run_pass(self.app)
                    if outcome["announcements"] or outcome["reminders"]:
                        log.info("campaign discord: %s", outcome)
                except asyncio.CancelledError:
                    raise
                except Exception:  # database outage etc.: log and retry on the next tick
                    log.exception("campaign discord pass failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), interval)

    async def start(self, app: FastAPI) -> None:
        """Startup hook: listen to campaign events and run the loop (`CAMPAIGN_CHECKER_ENABLED`)."""
        if not app.state.settings.campaign_checker_enabled:
            return
        events.add_event_listener(self.on_event)
        self.task = asyncio.create_task(self._loop(), name="campaign-discord")

    async def stop(self, app: FastAPI) -> None:
        """Shutdown hook: stop listening, cancel the loop and wait for it."""
        events.remove_event_listener(self.on_event)
        if self.task is None:
            return
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.task = None


def install(app: FastAPI) -> None:
    """Start/stop hooks of the announcement and reminder loop."""
    loop = ReachLoop(app)
    app.state.campaign_reach = loop
    app.state.startup_hooks.append(loop.start)
    app.state.shutdown_hooks.append(loop.stop)
