"""Reminder DMs to eligible members who have not voted, 24 hours and 1 hour before a campaign
closes.

Eligible means what the campaign counts for turnout: its activation snapshot when it keeps
one, else registered active members whose current rank may vote. Each (campaign, member, kind)
is sent at most once, also with several processes running the pass at the same time: one
statement inserts a `patt.campaign_reminders` row for every eligible non-voter (`ON CONFLICT DO
NOTHING RETURNING`) and commits; a pass DMs only the rows its own insert returned, then stores
each DM's outcome (`sent`, `dms_closed`, `unknown_user`, `failed`). A DM that fails is
recorded for officers and not retried (a closed inbox stays closed). When Discord is
unreachable (`bot_unavailable`, e.g. the bot reconnecting) nothing was sent: the pass stops and
releases the claims it has not sent yet, and the next pass tries again inside the window.

Choices:
- The Discord account is the member's `discord_id`, else their present linked Discord account.
  Members with neither are recorded as `no_discord` (counted and listed for officers), no DM.
- A reminder is due in its window (24 h: from 24 h to 1 h before the close; 1 h: the last
  hour) and only for campaigns that opened before the window began, so a 12-hour poll gets
  no "24 hours left" DM right after its opening announcement. A process that was down at the
  start of a window still sends when it comes back inside it; the DM names the real close time.
- Nothing is sent or recorded when Discord is not configured or not connected (the next pass
  tries again), or when the campaign's `announce_in_discord` is off.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patt.campaigns import eligibility
from patt.campaigns.announcer import vote_url
from patt.campaigns.rules import end_at
from patt.config import Settings
from patt.discord.runtime import is_configured, usable
from sv_common import clock
from sv_common.db.enums import ReminderKind, ReminderStatus
from sv_common.db.models import Ballot, Campaign, CampaignReminder, DiscordMember, GuildMember
from sv_common.discord.dm import escape_markdown
from sv_common.discord.interface import DMStatus

log = logging.getLogger(__name__)

SessionFactory = async_sessionmaker[AsyncSession]
LEAD_TIMES: dict[ReminderKind, timedelta] = {
    ReminderKind.DAY: timedelta(hours=24),
    ReminderKind.HOUR: timedelta(hours=1),
}
NAME_LIMIT = 80
TITLE_LIMIT = 150


def due_kind(campaign: Campaign, now: datetime) -> ReminderKind | None:
    """The reminder whose window `now` is in, if the campaign opened before that window."""
    close = end_at(campaign)
    opened = campaign.activated_at or campaign.start_at
    if campaign.status != "live" or now >= close:
        return None
    if now >= close - LEAD_TIMES[ReminderKind.HOUR]:
        kind = ReminderKind.HOUR
    elif now >= close - LEAD_TIMES[ReminderKind.DAY]:
        kind = ReminderKind.DAY
    else:
        return None
    return kind if opened < close - LEAD_TIMES[kind] else None


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reminder_text(
    *, display_name: str, campaign: Campaign, settings: Settings, guild_name: str
) -> str:
    """Greeting, which vote, when it closes (Discord relative time), the link."""
    epoch = int(end_at(campaign).timestamp())
    name = escape_markdown(_shorten(display_name, NAME_LIMIT) or "there")
    title = escape_markdown(_shorten(campaign.title, TITLE_LIMIT))
    guild = escape_markdown(_shorten(guild_name, 100))
    return (
        f"Hi {name}!\n\n"
        f"Voting in the {guild} campaign **{title}** closes <t:{epoch}:R> "
        f"(<t:{epoch}:F>) and you have not voted yet.\n"
        f"Cast your vote: {vote_url(settings, campaign.id)}\n\n"
        "You get this reminder because you may vote in this campaign."
    )


def _discord_target() -> Any:
    """The member's snowflake, else their present linked Discord account's (SQL expression)."""
    linked = (
        select(DiscordMember.discord_id)
        .where(DiscordMember.member_id == GuildMember.id, DiscordMember.is_present.is_(True))
        .order_by(DiscordMember.last_sync.desc().nulls_last(), DiscordMember.id)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(GuildMember.discord_id, linked)


async def claim(
    factory: SessionFactory, campaign_id: int, kind: ReminderKind
) -> list[tuple[int, int, str | None, str, str]]:
    """Insert this kind's rows for every eligible non-voter not yet claimed, in one statement
    (committed at once); returns `(row id, member id, discord id, status, display name)` of the
    rows this call inserted. Nothing when the campaign is no longer live."""
    async with factory() as session, session.begin():
        campaign = (
            await session.execute(
                select(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status == "live")
                .with_for_update(read=True)
            )
        ).scalar_one_or_none()
        if campaign is None:
            return []
        eligible = eligibility.eligible_ids(campaign).subquery()
        target = _discord_target()
        candidates = select(
            literal(campaign.id),
            GuildMember.id,
            literal(kind.value),
            target,
            case(
                (target.is_(None), ReminderStatus.NO_DISCORD.value),
                else_=ReminderStatus.SENDING.value,
            ),
        ).where(
            GuildMember.id.in_(select(eligible.c.id)),
            ~exists().where(Ballot.campaign_id == campaign.id, Ballot.member_id == GuildMember.id),
        )
        inserted = (
            await session.execute(
                insert(CampaignReminder)
                .from_select(
                    ["campaign_id", "member_id", "kind", "discord_id", "status"], candidates
                )
                .on_conflict_do_nothing(constraint="uq_campaign_reminders_campaign_member_kind")
                .returning(
                    CampaignReminder.id,
                    CampaignReminder.member_id,
                    CampaignReminder.discord_id,
                    CampaignReminder.status,
                )
            )
        ).all()
        if not inserted:
            return []
        names = dict(
            (
                await session.execute(
                    select(GuildMember.id, GuildMember.display_name).where(
                        GuildMember.id.in_([row.member_id for row in inserted])
                    )
                )
            ).all()
        )
    return [
        (row.id, row.member_id, row.discord_id, row.status, names.get(row.member_id, ""))
        for row in inserted
    ]


async def _send(service: Any, discord_id: str, text: str, member_id: int) -> DMStatus:
    try:
        return DMStatus(await service.send_dm(discord_id, text))
    except Exception:  # send_dm never raises; a broken backend is a failed DM, not a crash
        log.exception("reminder DM to member %s failed", member_id)
        return DMStatus.FAILED


async def _release(factory: SessionFactory, row_ids: list[int]) -> None:
    """Drop claims whose DM was never sent, so a later pass sends them."""
    async with factory() as session, session.begin():
        await session.execute(delete(CampaignReminder).where(CampaignReminder.id.in_(row_ids)))


async def remind_campaign(
    factory: SessionFactory, service: Any, settings: Settings, campaign: Campaign, now: datetime
) -> dict[str, int]:
    """Claim and send the due reminder of one campaign; counts of this pass's outcomes."""
    kind = due_kind(campaign, now)
    if kind is None:
        return {}
    counts: dict[str, int] = {}
    claimed = await claim(factory, campaign.id, kind)
    for index, (row_id, member_id, discord_id, status, name) in enumerate(claimed):
        if status == ReminderStatus.SENDING and discord_id:
            text = reminder_text(
                display_name=name,
                campaign=campaign,
                settings=settings,
                guild_name=settings.patt_guild_name,
            )
            status = (await _send(service, discord_id, text, member_id)).value
            if status == ReminderStatus.BOT_UNAVAILABLE:
                unsent = [row[0] for row in claimed[index:] if row[3] == ReminderStatus.SENDING]
                await _release(factory, unsent)
                log.info(
                    "reminders of campaign %s: Discord unreachable; retried later", campaign.id
                )
                break
            async with factory() as session, session.begin():
                await session.execute(
                    update(CampaignReminder)
                    .where(CampaignReminder.id == row_id)
                    .values(status=status, finished_at=clock.now())
                )
            if status != ReminderStatus.SENT:
                log.info("reminder DM to member %s: %s", member_id, status)
        counts[status] = counts.get(status, 0) + 1
    return counts


async def run_reminder_pass(
    factory: SessionFactory, service: Any, settings: Settings, now: datetime | None = None
) -> dict[int, dict[str, int]]:
    """One pass over the live campaigns: `{campaign_id: {status: count}}` of the reminders this
    pass claimed. Safe to run in several processes at once."""
    if not is_configured(service) or not usable(service):
        return {}
    moment = now or clock.now()
    async with factory() as session:
        campaigns = (
            await session.scalars(
                select(Campaign)
                .where(Campaign.status == "live", Campaign.announce_in_discord.is_(True))
                .order_by(Campaign.id)
            )
        ).all()
    done: dict[int, dict[str, int]] = {}
    for campaign in campaigns:
        try:
            counts = await remind_campaign(factory, service, settings, campaign, moment)
        except Exception:  # one campaign's problem never stops the others
            log.exception("campaign %s: reminders failed", campaign.id)
            continue
        if counts:
            done[campaign.id] = counts
    return done
