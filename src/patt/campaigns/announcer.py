"""Campaign announcements in Discord: voting is open, turnout milestones (25, 50 and 75 % of
the eligible voters) and the result, each posted once to the campaign's channel.

How "once" holds with restarts and several processes: before posting, a pass inserts the
announcement's `patt.contest_agent_log` row (unique per campaign and event type) with status
`pending` and commits; only the pass whose insert went through posts, then stores the message
id (`posted`). Choices:
- A post Discord refuses (missing channel or permission, a message over the limits) is
  recorded as `failed` with the reason and is **not retried**: officers see it on the campaign
  page and in `GET /api/v1/admin/campaigns/{id}/discord`. When Discord is unreachable at that
  moment (the bot reconnecting), nothing was posted: the claim is released and the next pass
  tries again while the post is still due. A process that dies between the claim and the post
  leaves the row `pending` (at most once, never twice).
- Discord not configured (the null service), no channel (neither the campaign's, nor
  `DISCORD_CHANNEL_ANNOUNCEMENT`, nor `discord_config.default_announcement_channel_id`), or
  `announce_in_discord` off: nothing is posted and nothing recorded, no error. Discord
  configured but not connected yet: the pass waits for the next tick, claiming nothing.
- Milestones reached together (e.g. the first check already sees 80 %): only the highest is
  posted; the lower ones are recorded as `skipped`.
- Only live campaigns get the opening and milestone posts; the result is posted for campaigns
  closed less than `RESULTS_WINDOW` ago, so turning the feature on never floods a channel with
  old results. An early close is reported in the result post.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patt.campaigns import audit, results
from patt.campaigns.rules import end_at
from patt.config import Settings
from patt.discord.runtime import is_configured, usable
from sv_common import clock
from sv_common.db.enums import AnnouncementStatus, CampaignOutcome, ContestEvent
from sv_common.db.models import Campaign, ContestAgentLog, DiscordConfig
from sv_common.discord.dm import escape_markdown
from sv_common.discord.interface import DiscordError, DiscordUnavailable

log = logging.getLogger(__name__)

SessionFactory = async_sessionmaker[AsyncSession]
MILESTONES = (
    (75, ContestEvent.MILESTONE_75),
    (50, ContestEvent.MILESTONE_50),
    (25, ContestEvent.MILESTONE_25),
)
RESULTS_WINDOW = timedelta(hours=24)
TITLE_LIMIT = 150


@dataclass(frozen=True)
class Announcement:
    """One post to make: its event type and text."""

    event: ContestEvent
    message: str


# --------------------------------------------------------------------------------- texts
def _title(campaign: Campaign) -> str:
    title = " ".join(campaign.title.split())
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1] + "…"
    return escape_markdown(title)


def vote_url(settings: Settings, campaign_id: int) -> str:
    """The campaign's public page (vote form, standings or results)."""
    return f"{settings.base_url}/vote/{campaign_id}"


def launch_text(campaign: Campaign, settings: Settings) -> str:
    """Voting is open: title, end time (absolute and relative), link."""
    epoch = int(end_at(campaign).timestamp())
    return (
        f"🗳️ **Voting is open: {_title(campaign)}**\n"
        f"Voting closes <t:{epoch}:F> (<t:{epoch}:R>).\n"
        f"Cast your vote: {vote_url(settings, campaign.id)}"
    )


def milestone_text(
    campaign: Campaign, settings: Settings, *, percent: int, voted: int, eligible: int
) -> str:
    """Turnout reached `percent` of the eligible voters."""
    epoch = int(end_at(campaign).timestamp())
    return (
        f"📊 **{_title(campaign)}**: {percent}% of eligible members have voted "
        f"({voted} of {eligible}). Voting closes <t:{epoch}:R>.\n"
        f"Not voted yet? {vote_url(settings, campaign.id)}"
    )


def results_text(campaign: Campaign, settings: Settings, winners: list[str]) -> str:
    """Voting closed: the winner(s), "no result" below the quorum, or no votes at all."""
    title = _title(campaign)
    link = f"Results: {vote_url(settings, campaign.id)}"
    early = (
        " early: every eligible member has voted" if campaign.close_reason == "early_close" else ""
    )
    if campaign.outcome == CampaignOutcome.NO_QUORUM:
        return (
            f"🏁 **{title}** has closed{early} with **no result**: turnout stayed below the "
            f"{campaign.quorum_percent}% quorum.\n{link}"
        )
    if not winners:
        return f"🏁 **{title}** has closed{early} without any votes.\n{link}"
    names = ", ".join(f"**{escape_markdown(' '.join(name.split()))}**" for name in winners)
    if len(winners) == 1:
        return f"🏆 **{title}** has closed{early}. Winner: {names}!\n{link}"
    return f"🏆 **{title}** has closed{early}. Tie for first: {names}.\n{link}"


# ----------------------------------------------------------------------------- deciding
async def announcement_channel(
    session: AsyncSession, campaign: Campaign, settings: Settings
) -> str | None:
    """The campaign's channel, else `DISCORD_CHANNEL_ANNOUNCEMENT`, else the default
    announcement channel of `discord_config`, else None."""
    if campaign.discord_channel_id:
        return campaign.discord_channel_id
    configured = settings.discord_channel_announcement.strip()
    if configured:
        return configured
    return await session.scalar(
        select(DiscordConfig.default_announcement_channel_id).where(DiscordConfig.id == 1)
    )


async def _claimed(session: AsyncSession, campaign_id: int) -> set[str]:
    rows = await session.scalars(
        select(ContestAgentLog.event_type).where(ContestAgentLog.campaign_id == campaign_id)
    )
    return set(rows.all())


async def due_announcements(
    session: AsyncSession, campaign: Campaign, settings: Settings, now: datetime
) -> tuple[list[Announcement], list[ContestEvent]]:
    """What to post for this campaign now, and the milestones to record as skipped."""
    done = await _claimed(session, campaign.id)
    posts: list[Announcement] = []
    skipped: list[ContestEvent] = []
    if campaign.status == "live":
        if ContestEvent.LAUNCH not in done:
            posts.append(Announcement(ContestEvent.LAUNCH, launch_text(campaign, settings)))
        eligible, voted = await audit.eligible_voted(session, campaign)
        reached = [
            (percent, event)
            for percent, event in MILESTONES
            if eligible > 0 and voted * 100 >= percent * eligible and event not in done
        ]
        if reached:
            percent, event = reached[0]
            text = milestone_text(
                campaign, settings, percent=percent, voted=voted, eligible=eligible
            )
            posts.append(Announcement(event, text))
            skipped = [event for _, event in reached[1:]]
    elif (
        campaign.status in ("closed", "archived")
        and ContestEvent.RESULTS not in done
        and campaign.closed_at is not None
        and campaign.closed_at >= now - RESULTS_WINDOW
    ):
        rows = await results.get_results(session, campaign)
        winners = [row["entry"]["name"] for row in rows if row["final_rank"] == 1]
        if not any(row["weighted_score"] for row in rows):  # nobody voted: no winner
            winners = []
        posts.append(Announcement(ContestEvent.RESULTS, results_text(campaign, settings, winners)))
    return posts, skipped


# ------------------------------------------------------------------------------- posting
async def _claim(
    factory: SessionFactory, campaign_id: int, event: ContestEvent, message: str, status: str
) -> int | None:
    """Insert the announcement's row (committed at once); None when it was already claimed."""
    async with factory() as session, session.begin():
        return await session.scalar(
            insert(ContestAgentLog)
            .values(campaign_id=campaign_id, event_type=event.value, message=message, status=status)
            .on_conflict_do_nothing(index_elements=["campaign_id", "event_type"])
            .returning(ContestAgentLog.id)
        )


async def _finish(factory: SessionFactory, row_id: int, **values: Any) -> None:
    async with factory() as session, session.begin():
        await session.execute(
            update(ContestAgentLog).where(ContestAgentLog.id == row_id).values(**values)
        )


async def _post(
    factory: SessionFactory, service: Any, channel: str, campaign_id: int, item: Announcement
) -> str | None:
    """Claim, post, record. Returns the outcome status, or None when another pass had it or
    Discord was unreachable (claim released)."""
    row_id = await _claim(
        factory, campaign_id, item.event, item.message, AnnouncementStatus.PENDING
    )
    if row_id is None:
        return None
    try:
        message_id = await service.post(channel, item.message)
    except DiscordUnavailable:
        log.info(
            "campaign %s: Discord unreachable; %s retried later", campaign_id, item.event.value
        )
        async with factory() as session, session.begin():
            await session.execute(delete(ContestAgentLog).where(ContestAgentLog.id == row_id))
        return None
    except (DiscordError, ValueError) as exc:
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        log.warning("campaign %s: %s post failed: %s", campaign_id, item.event.value, reason)
        await _finish(factory, row_id, status=AnnouncementStatus.FAILED, error=reason[:500])
        return AnnouncementStatus.FAILED
    except Exception:
        log.exception("campaign %s: %s post failed", campaign_id, item.event.value)
        await _finish(factory, row_id, status=AnnouncementStatus.FAILED, error="unexpected error")
        return AnnouncementStatus.FAILED
    await _finish(
        factory,
        row_id,
        status=AnnouncementStatus.POSTED,
        discord_message_id=str(message_id)[:25],
        posted_at=clock.now(),
    )
    return AnnouncementStatus.POSTED


async def _candidates(factory: SessionFactory, now: datetime) -> list[Campaign]:
    async with factory() as session:
        query = select(Campaign).where(
            Campaign.announce_in_discord.is_(True),
            or_(
                Campaign.status == "live",
                Campaign.status.in_(("closed", "archived"))
                & (Campaign.closed_at >= now - RESULTS_WINDOW),
            ),
        )
        return list((await session.scalars(query.order_by(Campaign.id))).all())


async def announce_campaign(
    factory: SessionFactory, service: Any, settings: Settings, campaign: Campaign, now: datetime
) -> dict[str, str]:
    """Post what is due for one campaign: `{event_type: outcome}` of the posts this pass made."""
    async with factory() as session:
        channel = await announcement_channel(session, campaign, settings)
        if not channel:
            return {}
        posts, skipped = await due_announcements(session, campaign, settings, now)
    outcome: dict[str, str] = {}
    for item in posts:
        status = await _post(factory, service, channel, campaign.id, item)
        if status is not None:
            outcome[item.event.value] = status
    for event in skipped:
        if await _claim(factory, campaign.id, event, "overtaken by a higher milestone", "skipped"):
            outcome[event.value] = AnnouncementStatus.SKIPPED
    return outcome


async def run_announcement_pass(
    factory: SessionFactory, service: Any, settings: Settings, now: datetime | None = None
) -> dict[int, dict[str, str]]:
    """One pass over the campaigns that may need a post: `{campaign_id: {event: outcome}}`.
    Safe to run in several processes at once (the claims decide who posts)."""
    if not is_configured(service) or not usable(service):
        return {}
    moment = now or clock.now()
    done: dict[int, dict[str, str]] = {}
    for campaign in await _candidates(factory, moment):
        try:
            outcome = await announce_campaign(factory, service, settings, campaign, moment)
        except Exception:  # one campaign's problem never stops the others
            log.exception("campaign %s: announcements failed", campaign.id)
            continue
        if outcome:
            done[campaign.id] = outcome
    return done
