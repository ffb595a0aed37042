"""Automatic campaign transitions: reconciliation before a request reads a campaign, early
close, and the background status checker (one pass at a time across processes), plus the
navigation's Vote link."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patt.campaigns import results
from patt.campaigns.rules import blocked_reason, end_at, viewer_level
from patt.campaigns.service import end_at_sql, entry_count, set_closed, set_live
from patt.core import jobs
from patt.core.caches import caches_of
from sv_common import clock
from sv_common.db import locks
from sv_common.db.models import Campaign, CampaignEntry, GuildMember

log = logging.getLogger(__name__)

SessionFactory = async_sessionmaker[AsyncSession]
FIRST_PASS_DELAY_SECONDS = 5


# ------------------------------------------------------------------------ reconciliation


async def _apply_due(session: AsyncSession, campaign: Campaign, now: datetime) -> str | None:
    """Auto-activate or expire one campaign already locked by the caller."""
    if campaign.status == "draft" and campaign.start_at <= now:
        entries = await entry_count(session, campaign.id)
        reason = blocked_reason(campaign, entries, now)
        if reason is not None:
            key = (campaign.id, "window" if end_at(campaign) <= now else f"entries{entries}")
            logged: set[tuple[int, str]] = caches_of(session).slot("campaign_blocked", set)
            if key not in logged:
                logged.add(key)
                log.warning("campaign %s not started automatically: %s", campaign.id, reason)
            return None
        if await set_live(session, campaign, now, manual=False):
            return "activated"
        return None
    if campaign.status == "live" and now >= end_at(campaign):
        if await set_closed(session, campaign, now, "expired"):
            return "closed"
    return None


def _is_due(status: str, start_at: datetime, duration_hours: int, now: datetime) -> bool:
    if status == "draft":
        return start_at <= now < start_at + timedelta(hours=duration_hours)
    return status == "live" and now >= start_at + timedelta(hours=duration_hours)


# Per session factory (so per app), what is already known to need no transition: a live
# campaign needs none before its end (its schedule is locked and no transition goes backwards),
# a closed or archived one never again. Drafts and live campaigns past their end are always read.
# Entries are trusted for QUIET_SECONDS only, so an out-of-band edit of the row (an operator's
# SQL) is picked up within seconds; under load this still saves nearly every read.
QUIET_SECONDS = 2.0


def _quiet_until(factory: SessionFactory) -> dict[int, tuple[datetime | None, float]]:
    return caches_of(factory).slot("campaign_quiet", dict)


async def _transition_due(factory: SessionFactory, campaign_id: int, now: datetime) -> bool:
    """The cheap check every request pays: nothing when the campaign is known to be quiet,
    else one statement, no transaction (autocommit)."""
    quiet = _quiet_until(factory)
    known = quiet.get(campaign_id)
    if known is not None and time.monotonic() - known[1] < QUIET_SECONDS:
        until = known[0]
        if until is None or now < until:
            return False
    query = select(Campaign.status, Campaign.start_at, Campaign.duration_hours).where(
        Campaign.id == campaign_id
    )
    bind = factory.kw.get("bind")
    if isinstance(bind, AsyncEngine):
        async with bind.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            row = (await autocommit.execute(query)).one_or_none()
    else:
        async with factory() as session:
            row = (await session.execute(query)).one_or_none()
    if row is None:
        return False
    if row.status in ("closed", "archived"):
        quiet[campaign_id] = (None, time.monotonic())
    elif row.status == "live":
        quiet[campaign_id] = (row.start_at + timedelta(hours=row.duration_hours), time.monotonic())
    return _is_due(row.status, row.start_at, row.duration_hours, now)


async def reconcile(
    factory: SessionFactory, campaign_id: int, *, now: datetime | None = None
) -> str | None:
    """Apply due automatic transitions (auto-activate, expire) to one campaign in its own short
    transaction, committed before the caller goes on. Returns "activated", "closed" or None."""
    moment = now or clock.now()
    if not await _transition_due(factory, campaign_id, moment):
        return None
    return await _locked_apply(factory, campaign_id, moment)


async def reconcile_entry_campaign(
    factory: SessionFactory, entry_id: int, *, now: datetime | None = None
) -> str | None:
    """`reconcile` the campaign an entry belongs to (nothing when the entry does not exist)."""
    async with factory() as session:
        campaign_id = await session.scalar(
            select(CampaignEntry.campaign_id).where(CampaignEntry.id == entry_id)
        )
    if campaign_id is None:
        return None
    return await reconcile(factory, campaign_id, now=now)


async def reconcile_due(factory: SessionFactory, *, now: datetime | None = None) -> None:
    """Reconcile every campaign whose automatic transition is due (before listing campaigns)."""
    moment = now or clock.now()
    async with factory() as session:
        ids = (
            await session.scalars(
                select(Campaign.id).where(
                    or_(
                        (Campaign.status == "draft")
                        & (Campaign.start_at <= moment)
                        & (end_at_sql() > moment),
                        (Campaign.status == "live") & (end_at_sql() <= moment),
                    )
                )
            )
        ).all()
    for campaign_id in ids:
        await reconcile(factory, campaign_id, now=moment)


async def check_early_close(
    factory: SessionFactory,
    campaign_id: int,
    *,
    skip_locked: bool = False,
    now: datetime | None = None,
) -> bool:
    """Close a live campaign with `early_close` when every eligible voter has voted (40 §6.5).

    Returns whether it closed the campaign. Never fires with zero eligible voters, nor at or
    after the campaign's end (`now`, default the clock's now; it is also the `closed_at`).
    """
    now = now or clock.now()
    async with factory() as session, session.begin():
        campaign = (
            await session.execute(
                select(Campaign)
                .where(
                    Campaign.id == campaign_id,
                    Campaign.status == "live",
                    Campaign.early_close_if_all_voted.is_(True),
                )
                .with_for_update(skip_locked=skip_locked)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if campaign is None or campaign.status != "live" or now >= end_at(campaign):
            return False
        stats = await results.get_vote_stats(session, campaign)
        if not stats["all_voted"]:
            return False
        return await set_closed(session, campaign, now, "early_close")


# ------------------------------------------------------------------------------- checker
async def run_status_pass(factory: SessionFactory, now: datetime | None = None) -> dict[str, Any]:
    """One checker pass (40 §5): auto-activate due drafts, expire live campaigns past their end,
    early-close live campaigns everyone voted in.

    Holds a transaction-level advisory lock for the whole pass so only one process acts; a pass
    that cannot take it returns at once with `"skipped": True`. Each campaign is handled in its
    own transaction (`FOR UPDATE SKIP LOCKED` + conditional updates); an error on one campaign
    is logged and the pass goes on.
    """
    moment = now or clock.now()
    outcome: dict[str, Any] = {"activated": [], "closed": [], "early_closed": [], "skipped": False}
    async with factory() as lock_session, lock_session.begin():
        if not await locks.try_transaction_lock(lock_session, locks.CAMPAIGN_CHECKER):
            outcome["skipped"] = True
            return outcome
        drafts = (
            await lock_session.scalars(
                select(Campaign.id)
                .where(Campaign.status == "draft", Campaign.start_at <= moment)
                .order_by(Campaign.id)
            )
        ).all()
        for campaign_id in drafts:
            if await _guarded(_locked_apply, factory, campaign_id, moment) == "activated":
                outcome["activated"].append(campaign_id)
        expired = (
            await lock_session.scalars(
                select(Campaign.id)
                .where(Campaign.status == "live", end_at_sql() <= moment)
                .order_by(Campaign.id)
            )
        ).all()
        for campaign_id in expired:
            if await _guarded(_locked_apply, factory, campaign_id, moment) == "closed":
                outcome["closed"].append(campaign_id)
        candidates = (
            await lock_session.scalars(
                select(Campaign.id)
                .where(
                    Campaign.status == "live",
                    Campaign.early_close_if_all_voted.is_(True),
                    end_at_sql() > moment,
                )
                .order_by(Campaign.id)
            )
        ).all()
        for campaign_id in candidates:
            if await _guarded(_early, factory, campaign_id, moment):
                outcome["early_closed"].append(campaign_id)
    return outcome


async def run_checker_pass(factory: SessionFactory) -> dict[str, Any]:
    """`run_status_pass` at the injectable clock's now (tests move it with set_now/advance)."""
    return await run_status_pass(factory, clock.now())


async def _guarded(work: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    try:
        return await work(*args)
    except Exception:
        log.exception("campaign checker: campaign %s failed", args[1])
        return None


async def _locked_apply(factory: SessionFactory, campaign_id: int, now: datetime) -> str | None:
    """Apply the due transition in its own transaction; None when another worker holds the row."""
    async with factory() as session, session.begin():
        campaign = (
            await session.execute(
                select(Campaign)
                .where(Campaign.id == campaign_id)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if campaign is None:  # someone else (checker, a close) holds it right now
            return None
        return await _apply_due(session, campaign, now)


async def _early(factory: SessionFactory, campaign_id: int, now: datetime) -> bool:
    return await check_early_close(factory, campaign_id, skip_locked=True, now=now)


async def _checker_loop(app: FastAPI) -> None:
    interval = app.state.settings.campaign_check_interval_seconds
    await asyncio.sleep(min(FIRST_PASS_DELAY_SECONDS, interval))
    while True:
        try:
            async with jobs.timed("campaign_checker", quiet=True):
                result = await run_checker_pass(app.state.sessionmaker)
            if result["activated"] or result["closed"] or result["early_closed"]:
                log.info("campaign checker: %s", result)
        except asyncio.CancelledError:
            raise
        except Exception:  # database outage etc.: log and retry on the next tick
            log.exception("campaign checker pass failed; retrying next interval")
        await asyncio.sleep(interval)


async def start_checker(app: FastAPI) -> None:
    """Startup hook: run the checker loop when `CAMPAIGN_CHECKER_ENABLED` (decision 10)."""
    if not app.state.settings.campaign_checker_enabled:
        return
    app.state.campaign_checker = asyncio.create_task(_checker_loop(app), name="campaign-checker")


async def stop_checker(app: FastAPI) -> None:
    """Shutdown hook: cancel the loop and wait for it."""
    task: asyncio.Task[Any] | None = getattr(app.state, "campaign_checker", None)
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    app.state.campaign_checker = None


# ---------------------------------------------------------------------------- navigation
async def nav_vote_url(factory: SessionFactory, member: GuildMember) -> str | None:
    """`/vote/{id}` of the visible live campaign that ends soonest, or None."""
    now = clock.now()
    level = viewer_level(member)
    async with factory() as session:
        campaign_id = await session.scalar(
            select(Campaign.id)
            .where(
                Campaign.status == "live",
                end_at_sql() > now,
                or_(Campaign.min_rank_to_view.is_(None), Campaign.min_rank_to_view <= level),
            )
            .order_by(end_at_sql(), Campaign.id)
            .limit(1)
        )
    return f"/vote/{campaign_id}" if campaign_id is not None else None


def install(app: FastAPI) -> None:
    """Checker start/stop hooks and the navigation's Vote link lookup."""

    async def lookup(request: Request, member: GuildMember) -> str | None:
        return await nav_vote_url(request.app.state.sessionmaker, member)

    app.state.nav_vote_lookup = lookup
    app.state.startup_hooks.append(start_checker)
    app.state.shutdown_hooks.append(stop_checker)
