"""Guild ranks: list, create, update, delete, and rank checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common.db.models import Campaign, GuildMember, GuildRank
from sv_common.errors import Conflict, Forbidden, Invalid, NotFound

DUPLICATE_RANK = "A rank with that name or level already exists."


async def list_ranks(session: AsyncSession) -> list[GuildRank]:
    """All ranks ordered by level."""
    return list((await session.scalars(select(GuildRank).order_by(GuildRank.level))).all())


async def get_rank(session: AsyncSession, rank_id: int) -> GuildRank:
    """One rank; NotFound when missing."""
    rank = await session.get(GuildRank, rank_id)
    if rank is None:
        raise NotFound(f"Rank {rank_id} not found")
    return rank


async def find_rank(session: AsyncSession, rank_id: int) -> GuildRank:
    """A rank referenced from a request body: unknown → 422 (30 §4)."""
    rank = await session.get(GuildRank, rank_id)
    if rank is None:
        raise Invalid(f"Unknown rank_id {rank_id}.")
    return rank


async def lowest_rank(session: AsyncSession) -> GuildRank | None:
    """The lowest-level rank (default for new members)."""
    return (await session.scalars(select(GuildRank).order_by(GuildRank.level).limit(1))).first()


async def top_rank(session: AsyncSession) -> GuildRank | None:
    """The highest-level rank (Guild Leader)."""
    return (
        await session.scalars(select(GuildRank).order_by(GuildRank.level.desc()).limit(1))
    ).first()


async def top_level(session: AsyncSession) -> int:
    """Level of the top rank (0 when there are no ranks)."""
    return int(await session.scalar(select(func.coalesce(func.max(GuildRank.level), 0))) or 0)


async def level_exists(session: AsyncSession, level: int) -> bool:
    """True when some rank has this level."""
    return bool(await session.scalar(select(func.count()).where(GuildRank.level == level)))


async def _flush_or_conflict(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(DUPLICATE_RANK) from exc


async def create_rank(
    session: AsyncSession,
    *,
    name: str,
    level: int,
    description: str | None = None,
    discord_role_id: str | None = None,
) -> GuildRank:
    """New rank; 409 on a duplicate name (case-insensitive), level or role id."""
    rank = GuildRank(
        name=name, level=level, description=description, discord_role_id=discord_role_id
    )
    session.add(rank)
    await _flush_or_conflict(session)
    await session.refresh(rank)
    return rank


async def update_rank(session: AsyncSession, rank_id: int, changes: dict[str, Any]) -> GuildRank:
    """Apply the given fields (campaigns follow a level change through ON UPDATE CASCADE)."""
    rank = await get_rank(session, rank_id)
    for field in ("name", "level", "description", "discord_role_id"):
        if field in changes:
            setattr(rank, field, changes[field])
    await _flush_or_conflict(session)
    await session.refresh(rank)
    return rank


async def delete_rank(session: AsyncSession, rank_id: int) -> None:
    """Delete an unused rank; 409 when members or campaigns use it, or it is the last one."""
    rank = await get_rank(session, rank_id)
    members = await session.scalar(select(func.count()).where(GuildMember.rank_id == rank.id))
    campaigns = await session.scalar(
        select(func.count()).where(
            (Campaign.min_rank_to_vote == rank.level) | (Campaign.min_rank_to_view == rank.level)
        )
    )
    if members or campaigns:
        raise Conflict("Rank is in use by members or campaigns.")
    if await session.scalar(select(func.count()).select_from(GuildRank)) == 1:
        raise Conflict("The last remaining rank cannot be deleted.")
    await session.delete(rank)
    await session.flush()


async def member_meets_rank_requirement(
    session: AsyncSession, member_id: int, required_level: int
) -> bool:
    """True iff the member exists and its current rank level ≥ `required_level`."""
    level = await session.scalar(
        select(GuildRank.level)
        .join(GuildMember, GuildMember.rank_id == GuildRank.id)
        .where(GuildMember.id == member_id)
    )
    return level is not None and level >= required_level


async def set_rank_role_ids(session: AsyncSession, mapping: dict[int, str | None]) -> None:
    """Set several ranks' Discord role ids at once (admin ranks page)."""
    for rank_id, role_id in mapping.items():
        await session.execute(
            update(GuildRank).where(GuildRank.id == rank_id).values(discord_role_id=role_id)
        )
    await _flush_or_conflict(session)


async def member_counts(session: AsyncSession) -> dict[int, int]:
    """How many members hold each rank (rank id → count; unused ranks are absent)."""
    rows = await session.execute(
        select(GuildMember.rank_id, func.count()).group_by(GuildMember.rank_id)
    )
    return {rank_id: int(count) for rank_id, count in rows.all()}


async def check_top_rank(session: AsyncSession, member: GuildMember) -> None:
    """403 unless the member holds the top rank (rank management is theirs alone)."""
    top = await top_level(session)
    if member.rank.level < top:
        raise Forbidden(f"Requires rank level {top} or higher.")


async def check_keeps_top_rank(session: AsyncSession, rank_id: int) -> None:
    """409 when the rank `rank_id` is no longer the top rank (a Guild Leader's rank write must
    not leave them below the top: nobody could manage ranks any more)."""
    level = await session.scalar(select(GuildRank.level).where(GuildRank.id == rank_id))
    if level is None or level < await top_level(session):
        raise Conflict(
            "That change would leave you below the top rank; promote someone else first."
        )
