"""Campaign lifecycle: draft editing and entries, and the activate / close / archive
transitions (automatic transitions and the background checker are in `checker`).

Choices where the spec is silent:
- `type` cannot change after creation: sending a different value is 422.
- An approval campaign's `counting_method` is always `approval` (set from the type; any other
  value is 422), and `approval` is not a method a ranked-choice campaign can choose.
- Empty optional text (description, image URL, Discord channel) is stored as null.
- Moving an entry renumbers the campaign's sort orders 0…n−1.
- `start_at` must lie between the years 2000 and 9000 (422 otherwise) so `end_at` is computable.
- A draft's automatic start that is blocked (too few entries, or its end already passed) stays
  draft; the checker logs it once per process and the edit page explains it (`blocked_reason`).
- Transitions queue `campaign_activated` / `campaign_closed` events (`events`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from patt.campaigns import audit, counting, eligibility, results
from patt.campaigns.events import queue_event
from patt.campaigns.rules import STATUS_ORDER
from sv_common import clock
from sv_common.db.enums import CampaignType
from sv_common.db.models import Ballot, Campaign, CampaignEntry, GuildMember
from sv_common.errors import Conflict, Invalid, NotFound
from sv_common.identity import ranks as rank_service

log = logging.getLogger(__name__)

SessionFactory = async_sessionmaker[AsyncSession]
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
    "eligibility_snapshot",
    "quorum_percent",
    "allow_vote_change",
)
ENTRY_FIELDS = ("name", "description", "image_url", "sort_order", "associated_member_id")
EARLIEST_START = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_START = datetime(9000, 1, 1, tzinfo=UTC)


# ------------------------------------------------------------------------------- queries
def end_at_sql() -> Any:
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


# ---------------------------------------------------------------------------- validation
async def _check_fields(session: AsyncSession, values: dict[str, Any]) -> None:
    """Rules of 30 §6 that need the database or span several fields (merged values)."""
    _check_type_and_method(values.get("type"), values.get("counting_method"))
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
APPROVAL_METHOD_MESSAGE = (
    "Invalid value for 'counting_method': approval campaigns are always counted by approvals "
    "(leave counting_method out or send 'approval')"
)


def _check_type_and_method(kind: Any, method: Any) -> None:
    """The type is `ranked_choice` (counted by a chosen ranked method) or `approval` (counted
    by approvals only: the counting method is fixed by the type, never chosen)."""
    if kind not in (CampaignType.RANKED_CHOICE, CampaignType.APPROVAL):
        raise Invalid(
            f"Invalid value for 'type': must be 'ranked_choice' or 'approval', got '{kind}'"
        )
    if kind == CampaignType.APPROVAL:
        if method != counting.APPROVAL:
            raise Invalid(APPROVAL_METHOD_MESSAGE)
    elif method not in counting.METHODS:
        raise Invalid(
            f"Invalid value for 'counting_method': must be one of {', '.join(counting.METHODS)}"
        )


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
    values.setdefault(
        "counting_method",
        counting.APPROVAL if values["type"] == CampaignType.APPROVAL else "weighted",
    )
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
async def entry_count(session: AsyncSession, campaign_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count(CampaignEntry.id)).where(CampaignEntry.campaign_id == campaign_id)
        )
        or 0
    )


async def set_live(
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
    await eligibility.take_snapshot(session, campaign)
    queue_event(session, "campaign_activated", campaign.id, manual=manual)
    return True


async def set_closed(session: AsyncSession, campaign: Campaign, now: datetime, reason: str) -> bool:
    done = await session.scalar(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == "live")
        .values(status="closed", closed_at=now, close_reason=reason)
        .returning(Campaign.id)
    )
    if done is None:
        return False
    await session.refresh(campaign)
    await results.store_final_results(session, campaign, now=now)
    outcome = await audit.take_close_snapshot(session, campaign, now)
    queue_event(session, "campaign_closed", campaign.id, reason=reason, outcome=outcome)
    return True


async def activate(session: AsyncSession, *, campaign_id: int) -> Campaign:
    """Manual activation: draft → live, voting runs a full duration from now."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise Conflict(f"Campaign is already {campaign.status}, cannot activate")
    if len(campaign.entries) < campaign.picks_per_voter:
        raise Invalid(f"Add at least {campaign.picks_per_voter} entries before activating")
    await set_live(session, campaign, clock.now(), manual=True)
    return await get_campaign(session, campaign.id)


async def close(session: AsyncSession, *, campaign_id: int) -> Campaign:
    """Manual close: live → closed with final results in the same transaction."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "live":
        raise Conflict(f"Campaign is {campaign.status}, cannot close")
    await set_closed(session, campaign, clock.now(), "manual")
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
