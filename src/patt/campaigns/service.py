"""Campaign lifecycle (40 §1–2, §5, §7): draft editing and entries, activate / close / archive,
clock reconciliation, early close, the background status checker, visibility and API shapes.

Choices where the spec is silent:
- `type` cannot change after creation: sending a different value is 422.
- Empty optional text (description, image URL, Discord channel) is stored as null.
- Moving an entry renumbers the campaign's sort orders 0…n−1.
- `start_at` must lie between the years 2000 and 9000 (422 otherwise) so `end_at` is computable.
- A draft's automatic start that is blocked (too few entries, or its end already passed) stays
  draft; the checker logs it once per process and the edit page explains it (`blocked_reason`).
- Events (`campaign_activated`, `campaign_closed`) are delivered to listeners registered with
  `add_event_listener` after the transaction that caused them commits; a failing listener is
  logged and never undoes the transition.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import Select, case, event, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, selectinload

from patt.campaigns import counting
from patt.campaigns import voting as vote_service
from patt.campaigns.voting import end_at
from sv_common import clock
from sv_common.db.models import (
    Ballot,
    Campaign,
    CampaignEntry,
    GuildMember,
)
from sv_common.errors import Conflict, Invalid, NotFound
from sv_common.identity import ranks as rank_service
from sv_common.identity.serialize import iso

log = logging.getLogger(__name__)

SessionFactory = async_sessionmaker[AsyncSession]
CHECKER_LOCK_KEY = 0x5041545443414D50  # "PATTCAMP": one checker pass at a time across processes
FIRST_PASS_DELAY_SECONDS = 5
STATUS_ORDER = {"live": 0, "draft": 1, "closed": 2, "archived": 3}
NOT_DRAFT_EDIT = "Campaign can only be edited while in draft status"
NOT_DRAFT_ENTRIES = "Entries can only be added while campaign is in draft status"
NOT_DRAFT_ENTRY_CHANGE = "Entries can only be changed while campaign is in draft status"
CAMPAIGN_FIELDS = (
    "title",
    "description",
    "type",
    "picks_per_voter",
    "min_rank_to_vote",
    "min_rank_to_view",
    "start_at",
    "duration_hours",
    "early_close_if_all_voted",
    "discord_channel_id",
    "counting_method",
)
ENTRY_FIELDS = ("name", "description", "image_url", "sort_order", "associated_member_id")
EARLIEST_START = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_START = datetime(9000, 1, 1, tzinfo=UTC)


# ------------------------------------------------------------------------------ events
EventListener = Callable[[dict[str, Any]], Awaitable[None] | None]
_listeners: list[EventListener] = []
_listener_tasks: set[asyncio.Task[Any]] = set()
_EVENTS_KEY = "patt_campaign_events"


def add_event_listener(listener: EventListener) -> None:
    """Receive `{"event": "campaign_activated"|"campaign_closed", "campaign_id", …}` dicts."""
    _listeners.append(listener)


def remove_event_listener(listener: EventListener) -> None:
    """Stop delivering events to `listener`."""
    with contextlib.suppress(ValueError):
        _listeners.remove(listener)


def _queue_event(session: AsyncSession, name: str, campaign_id: int, **data: Any) -> None:
    session.info.setdefault(_EVENTS_KEY, []).append(
        {"event": name, "campaign_id": campaign_id, **data}
    )


def _deliver(events: list[dict[str, Any]]) -> None:
    for payload in events:
        log.info("%s: campaign %s %s", payload["event"], payload["campaign_id"], payload)
        for listener in list(_listeners):
            try:
                result = listener(payload)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    _listener_tasks.add(task)
                    task.add_done_callback(_listener_done)
            except Exception:
                log.exception("campaign event listener failed for %s", payload["event"])


def _listener_done(task: asyncio.Task[Any]) -> None:
    _listener_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("campaign event listener failed", exc_info=task.exception())


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    events = session.info.pop(_EVENTS_KEY, None)
    if events:
        _deliver(events)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(_EVENTS_KEY, None)


# ------------------------------------------------------------------- visibility and shapes
def viewer_level(member: GuildMember | None) -> int:
    """Current rank level, 0 when anonymous."""
    return member.rank.level if member is not None else 0


def can_view(campaign: Campaign, level: int) -> bool:
    """`min_rank_to_view` is null (public) or the viewer's level reaches it."""
    return campaign.min_rank_to_view is None or level >= campaign.min_rank_to_view


def can_vote(campaign: Campaign, member: GuildMember | None) -> bool:
    """Logged in and level ≥ `min_rank_to_vote`."""
    return member is not None and member.rank.level >= campaign.min_rank_to_vote


def entry_dict(entry: CampaignEntry, *, with_campaign: bool = False) -> dict[str, Any]:
    """Entry shape (30 §1.1); the create response adds `campaign_id`."""
    data: dict[str, Any] = {"id": entry.id}
    if with_campaign:
        data["campaign_id"] = entry.campaign_id
    data.update(
        {
            "name": entry.name,
            "description": entry.description,
            "image_url": entry.image_url,
            "sort_order": entry.sort_order,
            "associated_member_id": entry.associated_member_id,
        }
    )
    return data


def campaign_dict(campaign: Campaign, *, show_entries: bool = True) -> dict[str, Any]:
    """Campaign shape (30 §1.1) plus `counting_method`; entries hidden when `show_entries` is false."""
    return {
        "id": campaign.id,
        "title": campaign.title,
        "description": campaign.description,
        "type": campaign.type,
        "counting_method": campaign.counting_method,
        "picks_per_voter": campaign.picks_per_voter,
        "min_rank_to_vote": campaign.min_rank_to_vote,
        "min_rank_to_view": campaign.min_rank_to_view,
        "start_at": iso(campaign.start_at),
        "end_at": iso(end_at(campaign)),
        "duration_hours": campaign.duration_hours,
        "status": campaign.status,
        "early_close_if_all_voted": campaign.early_close_if_all_voted,
        "discord_channel_id": campaign.discord_channel_id,
        "created_by": campaign.created_by,
        "closed_at": iso(campaign.closed_at),
        "close_reason": campaign.close_reason,
        "entries": [entry_dict(e) for e in campaign.entries] if show_entries else [],
    }


def public_campaign_dict(campaign: Campaign, *, officer: bool) -> dict[str, Any]:
    """Campaign for the public API: drafts show no entries to non-officers (hardened)."""
    return campaign_dict(campaign, show_entries=officer or campaign.status != "draft")


# ------------------------------------------------------------------------------- queries
def _end_at_sql() -> Any:
    return Campaign.start_at + func.make_interval(0, 0, 0, 0, Campaign.duration_hours)


def _campaign_query() -> Select[Campaign]:
    return select(Campaign).options(selectinload(Campaign.entries))


async def get_campaign(
    session: AsyncSession,
    campaign_id: int,
    *,
    lock: bool = False,
    message: str | None = None,
    with_entries: bool = True,
) -> Campaign:
    """One campaign (entries loaded unless `with_entries` is false — then don't touch them);
    NotFound ("Campaign {id} not found" unless `message`)."""
    query = (
        (_campaign_query() if with_entries else select(Campaign))
        .where(Campaign.id == campaign_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update(of=Campaign)
    campaign = (await session.execute(query)).scalar_one_or_none()
    if campaign is None:
        raise NotFound(message or f"Campaign {campaign_id} not found")
    return campaign


async def list_campaigns(
    session: AsyncSession,
    *,
    viewer_level: int | None = None,
    status: str | None = None,
    include_archived: bool = True,
) -> list[Campaign]:
    """Campaigns ordered live, draft, closed, archived, then newest start first.

    `viewer_level` None lists everything (admin); otherwise only campaigns that level can view.
    """
    query = _campaign_query().order_by(
        case(STATUS_ORDER, value=Campaign.status, else_=9), Campaign.start_at.desc(), Campaign.id
    )
    if status is not None:
        query = query.where(Campaign.status == status)
    elif not include_archived:
        query = query.where(Campaign.status != "archived")
    if viewer_level is not None:
        query = query.where(
            or_(Campaign.min_rank_to_view.is_(None), Campaign.min_rank_to_view <= viewer_level)
        )
    return list((await session.scalars(query)).all())


async def ballot_counts(session: AsyncSession, campaign_ids: list[int]) -> dict[int, int]:
    """Ballots per campaign (one query)."""
    if not campaign_ids:
        return {}
    rows = await session.execute(
        select(Ballot.campaign_id, func.count(Ballot.id))
        .where(Ballot.campaign_id.in_(campaign_ids))
        .group_by(Ballot.campaign_id)
    )
    counts = {cid: int(n) for cid, n in rows.all()}
    return {cid: counts.get(cid, 0) for cid in campaign_ids}


def blocked_reason(campaign: Campaign, entry_count: int, now: datetime | None = None) -> str | None:
    """Why a draft whose scheduled start has passed did not open automatically (or None)."""
    moment = now or clock.now()
    if campaign.status != "draft" or campaign.start_at > moment:
        return None
    if end_at(campaign) <= moment:
        return (
            "The scheduled voting window has already ended, so this draft will not open by "
            "itself. Edit the start time or duration, or activate it manually."
        )
    if entry_count < campaign.picks_per_voter:
        return (
            f"The scheduled start has passed but the campaign has {entry_count} of the "
            f"{campaign.picks_per_voter} entries it needs. Add entries and it opens within a "
            "minute, or edit the schedule."
        )
    return None


# ---------------------------------------------------------------------------- validation
async def _check_fields(session: AsyncSession, values: dict[str, Any]) -> None:
    """Rules of 30 §6 that need the database or span several fields (merged values)."""
    kind = values.get("type")
    if kind == "approval":
        raise Invalid("Campaign type 'approval' is not supported yet")
    if kind != "ranked_choice":
        raise Invalid(f"Invalid value for 'type': must be 'ranked_choice', got '{kind}'")
    method = values.get("counting_method")
    if method not in counting.METHODS:
        raise Invalid(
            f"Invalid value for 'counting_method': must be one of {', '.join(counting.METHODS)}"
        )
    vote_level = values.get("min_rank_to_vote")
    if vote_level is None or not await rank_service.level_exists(session, vote_level):
        raise Invalid("Invalid value for 'min_rank_to_vote': must be an existing rank level")
    view_level = values.get("min_rank_to_view")
    if view_level is not None:
        if not await rank_service.level_exists(session, view_level):
            raise Invalid("Invalid value for 'min_rank_to_view': must be an existing rank level")
        if view_level > vote_level:
            raise Invalid(
                "Invalid value for 'min_rank_to_view': must not be above min_rank_to_vote"
            )
    start = values.get("start_at")
    if not isinstance(start, datetime):
        raise Invalid("Invalid value for 'start_at': a date and time is required")
    if not EARLIEST_START <= start <= LATEST_START:
        raise Invalid(START_RANGE_MESSAGE)


START_RANGE_MESSAGE = "Invalid value for 'start_at': must be between the years 2000 and 9000"


def _utc(value: Any) -> Any:
    """A datetime in UTC (naive taken as UTC); one whose UTC moment falls outside the years
    1–9999 (e.g. `0001-01-01T00:00+01:00`) is the start_at range error, not an OverflowError."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise Invalid(START_RANGE_MESSAGE) from exc
    return value


# -------------------------------------------------------------------------------- writes
async def create_campaign(
    session: AsyncSession, *, actor: GuildMember, fields: dict[str, Any]
) -> Campaign:
    """New draft campaign created by `actor` (fields already validated by the schema)."""
    values = {name: fields[name] for name in CAMPAIGN_FIELDS if name in fields}
    values.setdefault("type", "ranked_choice")
    values.setdefault("counting_method", "weighted")
    values["start_at"] = _utc(values.get("start_at"))
    await _check_fields(session, values)
    campaign = Campaign(**values, status="draft", created_by=actor.id)
    session.add(campaign)
    await session.flush()
    return await get_campaign(session, campaign.id)


async def update_campaign(
    session: AsyncSession, *, campaign_id: int, changes: dict[str, Any]
) -> Campaign:
    """Edit a draft (409 otherwise); omitted fields stay, `type` cannot change."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise Conflict(NOT_DRAFT_EDIT)
    if "type" in changes and changes["type"] != campaign.type:
        raise Invalid("Invalid value for 'type': the type cannot be changed after creation")
    if "start_at" in changes:
        changes = {**changes, "start_at": _utc(changes["start_at"])}
    merged = {name: getattr(campaign, name) for name in CAMPAIGN_FIELDS}
    merged.update({k: v for k, v in changes.items() if k in CAMPAIGN_FIELDS})
    await _check_fields(session, merged)
    for name in CAMPAIGN_FIELDS:
        if name in changes and name != "type":
            setattr(campaign, name, merged[name])
    await session.flush()
    return await get_campaign(session, campaign.id)


async def _draft_for_entries(session: AsyncSession, campaign_id: int, message: str) -> Campaign:
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise Conflict(message)
    return campaign


async def _check_member(session: AsyncSession, member_id: int | None) -> None:
    if member_id is not None and await session.get(GuildMember, member_id) is None:
        raise Invalid(f"Invalid value for 'associated_member_id': member {member_id} not found")


async def add_entry(
    session: AsyncSession, *, campaign_id: int, fields: dict[str, Any]
) -> CampaignEntry:
    """New entry of a draft campaign; sort_order defaults to after the last entry."""
    campaign = await _draft_for_entries(session, campaign_id, NOT_DRAFT_ENTRIES)
    await _check_member(session, fields.get("associated_member_id"))
    sort_order = fields.get("sort_order")
    if sort_order is None:
        sort_order = max((e.sort_order for e in campaign.entries), default=-1) + 1
    entry = CampaignEntry(
        campaign_id=campaign.id,
        name=fields["name"],
        description=fields.get("description"),
        image_url=fields.get("image_url"),
        sort_order=sort_order,
        associated_member_id=fields.get("associated_member_id"),
    )
    session.add(entry)
    await session.flush()
    await session.refresh(entry)
    return entry


async def get_entry(session: AsyncSession, entry_id: int) -> CampaignEntry:
    """One entry; NotFound "Entry {id} not found"."""
    entry = await session.get(CampaignEntry, entry_id, populate_existing=True)
    if entry is None:
        raise NotFound(f"Entry {entry_id} not found")
    return entry


async def update_entry(
    session: AsyncSession, *, entry_id: int, changes: dict[str, Any], campaign_id: int | None = None
) -> CampaignEntry:
    """Edit an entry of a draft campaign (404 entry, 409 not draft)."""
    entry = await get_entry(session, entry_id)
    if campaign_id is not None and entry.campaign_id != campaign_id:
        raise NotFound(f"Entry {entry_id} not found in campaign {campaign_id}")
    await _draft_for_entries(session, entry.campaign_id, NOT_DRAFT_ENTRY_CHANGE)
    if "associated_member_id" in changes:
        await _check_member(session, changes["associated_member_id"])
    for name in ENTRY_FIELDS:
        if name in changes:
            setattr(entry, name, changes[name])
    await session.flush()
    await session.refresh(entry)
    return entry


async def delete_entry(session: AsyncSession, *, campaign_id: int, entry_id: int) -> None:
    """Remove an entry of a draft campaign."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    entry = await session.get(CampaignEntry, entry_id)
    if entry is None or entry.campaign_id != campaign.id:
        raise NotFound(f"Entry {entry_id} not found in campaign {campaign_id}")
    if campaign.status != "draft":
        raise Conflict(NOT_DRAFT_ENTRY_CHANGE)
    await session.delete(entry)
    await session.flush()


async def move_entry(
    session: AsyncSession, *, campaign_id: int, entry_id: int, direction: str
) -> None:
    """Move an entry up or down one place; sort orders are renumbered 0…n−1."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    entries = list(campaign.entries)
    index = next((i for i, e in enumerate(entries) if e.id == entry_id), None)
    if index is None:
        raise NotFound(f"Entry {entry_id} not found in campaign {campaign_id}")
    if campaign.status != "draft":
        raise Conflict(NOT_DRAFT_ENTRY_CHANGE)
    if direction not in ("up", "down"):
        raise Invalid("direction must be 'up' or 'down'")
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(entries):
        entries[index], entries[target] = entries[target], entries[index]
    for position, entry in enumerate(entries):
        entry.sort_order = position
    await session.flush()


# --------------------------------------------------------------------------- transitions
async def _entry_count(session: AsyncSession, campaign_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count(CampaignEntry.id)).where(CampaignEntry.campaign_id == campaign_id)
        )
        or 0
    )


async def _set_live(
    session: AsyncSession, campaign: Campaign, now: datetime, *, manual: bool
) -> bool:
    values: dict[str, Any] = {"status": "live", "activated_at": now}
    if manual:
        values["start_at"] = now
    done = await session.scalar(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == "draft")
        .values(**values)
        .returning(Campaign.id)
    )
    if done is None:
        return False
    await session.refresh(campaign)
    _queue_event(session, "campaign_activated", campaign.id, manual=manual)
    return True


async def _set_closed(
    session: AsyncSession, campaign: Campaign, now: datetime, reason: str
) -> bool:
    done = await session.scalar(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == "live")
        .values(status="closed", closed_at=now, close_reason=reason)
        .returning(Campaign.id)
    )
    if done is None:
        return False
    await session.refresh(campaign)
    await vote_service.store_final_results(session, campaign, now=now)
    _queue_event(session, "campaign_closed", campaign.id, reason=reason)
    return True


async def activate(session: AsyncSession, *, campaign_id: int) -> Campaign:
    """Manual activation: draft → live, voting runs a full duration from now."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise Conflict(f"Campaign is already {campaign.status}, cannot activate")
    if len(campaign.entries) < campaign.picks_per_voter:
        raise Invalid(f"Add at least {campaign.picks_per_voter} entries before activating")
    await _set_live(session, campaign, clock.now(), manual=True)
    return await get_campaign(session, campaign.id)


async def close(session: AsyncSession, *, campaign_id: int) -> Campaign:
    """Manual close: live → closed with final results in the same transaction."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "live":
        raise Conflict(f"Campaign is {campaign.status}, cannot close")
    await _set_closed(session, campaign, clock.now(), "manual")
    return await get_campaign(session, campaign.id)


async def archive(session: AsyncSession, *, campaign_id: int) -> Campaign:
    """closed → archived."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "closed":
        raise Conflict("Only closed campaigns can be archived")
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == "closed")
        .values(status="archived")
    )
    return await get_campaign(session, campaign.id)


# ------------------------------------------------------------------------ reconciliation
_blocked_logged: set[tuple[int, str]] = set()


async def _apply_due(session: AsyncSession, campaign: Campaign, now: datetime) -> str | None:
    """Auto-activate or expire one campaign already locked by the caller."""
    if campaign.status == "draft" and campaign.start_at <= now:
        entries = await _entry_count(session, campaign.id)
        reason = blocked_reason(campaign, entries, now)
        if reason is not None:
            key = (campaign.id, "window" if end_at(campaign) <= now else f"entries{entries}")
            if key not in _blocked_logged:
                _blocked_logged.add(key)
                log.warning("campaign %s not started automatically: %s", campaign.id, reason)
            return None
        if await _set_live(session, campaign, now, manual=False):
            return "activated"
        return None
    if campaign.status == "live" and now >= end_at(campaign):
        if await _set_closed(session, campaign, now, "expired"):
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
_QUIET: weakref.WeakKeyDictionary[Any, dict[int, tuple[datetime | None, float]]] = (
    weakref.WeakKeyDictionary()
)


def _quiet_until(factory: SessionFactory) -> dict[int, tuple[datetime | None, float]]:
    known = _QUIET.get(factory)
    if known is None:
        known = _QUIET[factory] = {}
    return known


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
                        & (_end_at_sql() > moment),
                        (Campaign.status == "live") & (_end_at_sql() <= moment),
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
        stats = await vote_service.get_vote_stats(session, campaign)
        if not stats["all_voted"]:
            return False
        return await _set_closed(session, campaign, now, "early_close")


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
        got_lock = await lock_session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": CHECKER_LOCK_KEY}
        )
        if not got_lock:
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
                .where(Campaign.status == "live", _end_at_sql() <= moment)
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
                    _end_at_sql() > moment,
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
                _end_at_sql() > now,
                or_(Campaign.min_rank_to_view.is_(None), Campaign.min_rank_to_view <= level),
            )
            .order_by(_end_at_sql(), Campaign.id)
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
